/* The calling client's I/O and call flow: a TCP signalling connection to
 * the server, the UDP media socket (whose public address STUN finds out),
 * signals, timers and stdin, all on one libevent loop.
 *
 * Call states, from this side:
 *   IDLE -> INVITING (INVITE sent) -> ANSWERED (ACCEPTED) -> IDLE
 *   IDLE -> ALERTING (INCOMING)    -> ANSWERED (ACCEPT)   -> IDLE
 * A caller exits when its one call ends; a waiting client goes back to
 * IDLE (or exits with --once). */
#include "p2pcall/client.h"
#include "p2pcall/audio_dev.h"
#include "p2pcall/callsec.h"
#include "p2pcall/clock.h"
#include "p2pcall/events.h"
#include "p2pcall/log.h"
#include "p2pcall/media.h"
#include "p2pcall/mediacrypt.h"
#include "p2pcall/natdetect.h"
#include "p2pcall/netaddr.h"
#include "p2pcall/oncall.h"
#include "p2pcall/path.h"
#include "p2pcall/relay.h"
#include "p2pcall/turn_io.h"
#include "p2pcall/ice.h"
#include "p2pcall/rtp.h"
#include "p2pcall/sig.h"
#include "p2pcall/sig_parser.h"
#include "p2pcall/statusline.h"
#include "p2pcall/stun.h"
#include "p2pcall/tui.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

enum sig_state { S_CONNECTING, S_GREETING, S_REGISTERING, S_READY, S_DOWN };
enum call_state { C_IDLE, C_INVITING, C_ALERTING, C_ANSWERED };

#define STUN_TRIES 5          /* at 0, 0.25, 0.75, 1.75, 3.75 s */
#define MAX_CANDS 16
/* auto: the relay is used when no direct path is up this long after the
 * answer (goal: relayed audio within 1.5 s); a call with no path at all
 * after SETUP_LIMIT ends with reason network. */
#define RELAY_FALLBACK_US 1000000
#define SETUP_LIMIT_S 12
/* While a call is up, the public address is re-checked this often: when
 * our NAT rebinds, the peer's NAT (if it filters) would drop us from the
 * new address until we signal it (UPDATE). */
#define RESTUN_INTERVAL_MS 1000
static const uint8_t PROBE[] = "p2pcall-relay-probe";
#define BACKOFF_MIN_MS 500
#define BACKOFF_MAX_MS 30000

struct client {
	const struct cli *cli;
	struct event_base *base;
	char server_str[NETADDR_STRLEN];
	struct sockaddr_storage server;
	socklen_t server_len;
	struct sockaddr_storage stun;     /* where STUN requests go */
	socklen_t stun_len;
	char stun_str[NETADDR_STRLEN];

	/* media socket and STUN */
	int udp;
	struct event *udp_ev, *stun_timer;
	uint8_t stun_txid[STUN_TXID_LEN];
	int stun_tries;
	bool stun_done;
	char mapped[NETADDR_STRLEN]; /* empty: unknown */

	/* signalling */
	struct bufferevent *bev;
	struct sig_parser parser;
	enum sig_state sstate;
	unsigned keepalive_s;
	struct event *keepalive_timer, *reconnect_timer;
	bool announced;          /* registered event sent for this connection */
	bool ever_registered;
	unsigned backoff_ms;
	char local_ip[NETADDR_STRLEN];

	/* the call */
	enum call_state cstate;
	bool called;             /* a caller places one call only */
	bool answer_pending;     /* answer once STUN has settled */
	unsigned long long call_id;
	char peer[40];
	char peer_seen[NETADDR_STRLEN];
	uint64_t call_start_us, answered_us;
	uint64_t answer_seen_us; /* when the answer was sent or received */
	struct event *duration_timer, *stdin_ev;

	/* the media path: per-call credentials and candidates */
	struct path *path;
	bool controlling;        /* we placed the call */
	char ufrag[9], pwd[40];
	char local_cands[MAX_CANDS][64];
	size_t n_local;
	char remote_ufrag[65], remote_pwd[129]; /* empty: peer offered none */
	char remote_cands[MAX_CANDS][64];
	size_t n_remote;
	const char *via;          /* "direct", "relay", or NULL before connected */
	bool orphaned;            /* the server forgot the call; the path carries it */
	struct oncall *oncall;    /* --on-call CMD */
	/* hard NATs: our NAT's mapping (natdetect.h) and the peer's nat= */
	struct natdetect *natd;
	char remote_nat[8];

	/* --turn: our allocation, and the peers whose packets came through it
	 * (answered, and sent to, the same way: from the relayed address) */
	struct turn_io *turn;
	bool turn_settled;        /* allocated, failed, or waited long enough */
	char turn_relayed[NETADDR_STRLEN];
	struct sockaddr_storage turn_peers[8];
	size_t n_turn_peers;
	bool path_via_turn;       /* the selected path goes through TURN */
	struct event *turn_wait_timer;
	uint64_t last_probe_us;   /* media from a new address was last checked */

	/* the relay at the server: our token, and how far it got */
	uint8_t relay_tok[RELAY_TOKEN_LEN];
	bool has_relay, relay_bound, relay_heard_peer, fallback_due;
	uint64_t relay_started_us;
	struct event *relay_timer, *fallback_timer, *setup_timer, *restun_timer;

	/* end-to-end security (callsec.h): our identity, known peers, and
	 * this call's handshake and keys */
	struct callsec *sec;
	char challenge[64];       /* from the server's HELLO; empty: none */
	bool secure;              /* this call is (being) encrypted */

	/* audio: opened at start, runs while a call with a path is connected */
	struct media *media;
	struct event *stats_timer;

	/* in a terminal (tui.h): keys always read, a live status line */
	bool tui;
	struct event *ui_timer;
	struct media_stats last_stats;
	bool have_stats;

	/* leaving */
	struct event *sigint, *sigterm, *exit_timer;
	bool finishing;
	int status;
};

static double since_s(uint64_t t) { return (double)(clock_now_us() - t) / 1e6; }

/* --- leaving --- */

static void on_exit_timer(evutil_socket_t fd, short what, void *arg)
{
	struct client *cl = arg;
	event_base_loopexit(cl->base, NULL);
}

/* Ends the program with STATUS once queued signalling output is written
 * (at most 2 s), so a final HANGUP or CANCEL reaches the server. */
static void finish(struct client *cl, int status)
{
	if (cl->finishing)
		return;
	cl->finishing = true;
	cl->status = status;
	if (!cl->bev || cl->sstate == S_DOWN ||
	    evbuffer_get_length(bufferevent_get_output(cl->bev)) == 0) {
		event_base_loopexit(cl->base, NULL);
		return;
	}
	bufferevent_disable(cl->bev, EV_READ);
	struct timeval tv = { 2, 0 };
	event_add(cl->exit_timer, &tv);
}

/* --- signalling output --- */

static void send_msg(struct client *cl, struct sig_writer *w)
{
	int n = sig_writer_finish(w);
	if (n < 0) {
		log_error("internal: a signalling message grew over %d bytes", SIG_MAX_LINE);
		return;
	}
	if (cl->bev && cl->sstate != S_DOWN && cl->sstate != S_CONNECTING)
		bufferevent_write(cl->bev, w->buf, (size_t)n);
}

static void send_call_verb(struct client *cl, const char *verb, const char *reason)
{
	struct sig_writer w;
	sig_writer_init(&w, verb);
	sig_writer_addf(&w, "call", "%llu", cl->call_id);
	sig_writer_add(&w, "reason", reason);
	send_msg(cl, &w);
}

/* Writes candidate TYPE/IP/PORT into OUT (64 bytes) from ADDR, "ip:port"
 * or "[ip]:port". False if ADDR is not of that form. */
static bool cand_from_addr(char *out, const char *type, const char *addr)
{
	char ip[NETADDR_STRLEN];
	snprintf(ip, sizeof(ip), "%s", addr);
	char *colon = strrchr(ip, ':');
	if (!colon)
		return false;
	*colon = '\0';
	char *host = ip;
	if (*host == '[') {
		host++;
		host[strlen(host) - 1] = '\0';
	}
	snprintf(out, 64, "%.5s/%.46s/%.5s", type, host, colon + 1);
	return true;
}

/* Our candidates for this call: every interface address with the media
 * socket's port (loopback only when the server is on loopback, as in
 * tests), and the public address STUN reported. */
static void gather_candidates(struct client *cl)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	cl->n_local = 0;
	if (getsockname(cl->udp, (struct sockaddr *)&ss, &len) < 0)
		return;
	uint16_t port = netaddr_port((struct sockaddr *)&ss);
	const struct sockaddr_in *s4 = (const struct sockaddr_in *)&cl->server;
	bool loopback = cl->server.ss_family == AF_INET
		? (ntohl(s4->sin_addr.s_addr) >> 24) == 127
		: IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)&cl->server)->sin6_addr);
	cl->n_local = path_host_candidates(cl->server.ss_family, port, loopback, cl->local_cands, MAX_CANDS - 2);
	if (cl->mapped[0] && cand_from_addr(cl->local_cands[cl->n_local], "srflx", cl->mapped))
		cl->n_local++;
	if (cl->turn_relayed[0] && cand_from_addr(cl->local_cands[cl->n_local], "relay", cl->turn_relayed))
		cl->n_local++;
}

/* Adds our credentials and candidates to an INVITE or ACCEPT. */
static void add_media_fields(struct client *cl, struct sig_writer *w)
{
	sig_writer_add(w, "ufrag", cl->ufrag);
	sig_writer_add(w, "pwd", cl->pwd);
	if (cl->cli->relay == RELAY_ALWAYS) {
		/* Reveal nothing: no candidates, and the server keeps our
		 * observed address to itself. */
		sig_writer_add(w, "private", "1");
		return;
	}
	for (size_t i = 0; i < cl->n_local; i++)
		sig_writer_add(w, "cand", cl->local_cands[i]);
	if (natdetect_name(natdetect_get(cl->natd)))
		sig_writer_add(w, "nat", natdetect_name(natdetect_get(cl->natd)));
}

/* A progress line only a person at a terminal sees (the lines of pipes
 * and --json stay as they are). */
__attribute__((format(printf, 2, 3)))
static void tui_progress(const struct client *cl, const char *fmt, ...)
{
	if (!cl->tui)
		return;
	char text[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	tui_note(text);
}

/* --- the call --- */

static void stdin_watch(struct client *cl, bool on)
{
	if (cl->stdin_ev && !cl->tui) /* in a terminal, keys matter in every state */
		on ? event_add(cl->stdin_ev, NULL) : event_del(cl->stdin_ev);
}

/* The call is over for REASON. A caller, or a --once callee, exits with
 * STATUS; a waiting client listens for the next call. */
static void end_call(struct client *cl, const char *reason, int status)
{
	double dur = cl->cstate == C_ANSWERED && cl->answered_us ? since_s(cl->answered_us) : 0;
	/* Audio first, while the path can still carry its last packets. */
	struct media_stats ms;
	bool had_media = media_running(cl->media);
	if (had_media) {
		media_stop(cl->media);
		media_call_stats(cl->media, &ms);
		ms.bad_packets += callsec_refused(cl->sec); /* forged or replayed */
		event_del(cl->stats_timer);
	}
	callsec_end(cl->sec); /* the call's keys are wiped */
	cl->secure = false;
	path_free(cl->path);
	cl->path = NULL;
	cl->answered_us = 0;
	cl->via = NULL;
	cl->orphaned = false;
	cl->path_via_turn = false;
	cl->n_turn_peers = 0;
	cl->has_relay = cl->relay_bound = cl->relay_heard_peer = cl->fallback_due = false;
	event_del(cl->relay_timer);
	event_del(cl->fallback_timer);
	event_del(cl->setup_timer);
	event_del(cl->restun_timer);
	ev_ended(cl->peer, reason, dur, status, had_media ? &ms : NULL);
	cl->cstate = C_IDLE;
	cl->call_id = 0;
	cl->answer_pending = false;
	event_del(cl->duration_timer);
	event_del(cl->ui_timer);
	stdin_watch(cl, false);
	if (cl->cli->peer[0] || cl->cli->once)
		finish(cl, status);
}

/* How the path in use was found (events' "method"): the direct path's
 * own (host, srflx, prflx, birthday), or relay. */
static const char *path_method_of(const struct client *cl)
{
	if (!cl->via || strcmp(cl->via, "relay") == 0 || cl->path_via_turn)
		return cl->via ? "relay" : NULL;
	return cl->path ? path_method(cl->path) : NULL;
}

/* The code of an encrypted call whose keys are agreed, else NULL. */
static const char *call_sas(const struct client *cl)
{
	return cl->secure && callsec_ready(cl->sec) ? callsec_sas(cl->sec) : NULL;
}

/* The call is up: PATH is "direct" or "relay", or NULL for a peer that
 * offered no media credentials (a plain signalling client). */
static void connected(struct client *cl, const char *path, const char *remote)
{
	cl->via = path;
	event_del(cl->setup_timer);
	if (path && strcmp(path, "direct") == 0) {
		struct timeval tv = { 0, RESTUN_INTERVAL_MS * 1000 };
		event_add(cl->restun_timer, &tv);
	}
	cl->cstate = C_ANSWERED;
	cl->answered_us = clock_now_us();
	stdin_watch(cl, false);
	/* A direct path through our TURN allocation is a relayed one. */
	ev_connected(cl->peer, cl->path_via_turn && path && !strcmp(path, "direct") ? "relay" : path, remote,
		     since_s(cl->call_start_us) * 1000, since_s(cl->answer_seen_us) * 1000, path_method_of(cl),
		     call_sas(cl));
	cl->have_stats = false;
	if (cl->tui)
		event_active(cl->ui_timer, EV_TIMEOUT, 0);
	if (cl->media && path) {
		char err[512];
		if (media_start(cl->media, err, sizeof(err)) < 0) {
			ev_error("%s", err);
			send_call_verb(cl, "HANGUP", NULL);
			end_call(cl, "hangup", EXIT_AUDIO);
			return;
		}
		struct timeval tv = { 1, 0 };
		event_add(cl->stats_timer, &tv);
	}
	if (cl->cli->duration_s > 0) {
		double d = cl->cli->duration_s;
		struct timeval tv = { (time_t)d, (suseconds_t)((d - (double)(time_t)d) * 1e6) };
		event_add(cl->duration_timer, &tv);
	}
}

/* Hangs up whatever state the call is in, as the local user asked. */
static void hang_up(struct client *cl)
{
	switch (cl->cstate) {
	case C_ANSWERED:
		send_call_verb(cl, "HANGUP", NULL);
		end_call(cl, "hangup", EXIT_OK);
		break;
	case C_INVITING:
		if (cl->call_id)
			send_call_verb(cl, "CANCEL", NULL);
		end_call(cl, "cancelled", EXIT_CANCELLED);
		break;
	case C_ALERTING:
		send_call_verb(cl, "REJECT", NULL);
		end_call(cl, "rejected", EXIT_REJECTED);
		break;
	case C_IDLE:
		break;
	}
}

/* True while the call runs on a direct path that does not need the
 * server: it can outlive the signalling connection (our NAT rebinding
 * often kills that TCP connection too) and ends by hangup or by consent
 * loss on the path. */
static bool call_survives_server(const struct client *cl)
{
	return cl->cstate == C_ANSWERED && cl->via && strcmp(cl->via, "direct") == 0;
}

/* The call cannot carry media: tell the server (so the peer learns it
 * now, not when we leave) and end it with reason network. */
static void fail_call(struct client *cl)
{
	if (cl->cstate == C_ANSWERED && cl->call_id)
		send_call_verb(cl, "HANGUP", NULL);
	end_call(cl, "network", EXIT_NETWORK);
}

/* --- TURN routing --- */

/* Is A one of the relay candidates the peer offered (its TURN address)? */
static bool offered_as_relay(const struct client *cl, const struct sockaddr *a)
{
	char ip[NETADDR_STRLEN], want[NETADDR_STRLEN + 16];
	netaddr_ip_str(a, ip, sizeof(ip));
	snprintf(want, sizeof(want), "relay/%s/%u", ip, (unsigned)netaddr_port(a));
	for (size_t i = 0; i < cl->n_remote; i++)
		if (strcmp(cl->remote_cands[i], want) == 0)
			return true;
	return false;
}

static bool is_turn_peer(const struct client *cl, const struct sockaddr *a)
{
	for (size_t i = 0; i < cl->n_turn_peers; i++)
		if (netaddr_equal((const struct sockaddr *)&cl->turn_peers[i], a))
			return true;
	return false;
}

/* Sends to a peer: through our TURN allocation if that is how the peer
 * reaches us (its checks must be answered from the relayed address, and
 * our media must come from there), else straight from the socket. */
static void send_to_peer(void *ctx, const struct sockaddr *dest, const uint8_t *buf, size_t len)
{
	struct client *cl = ctx;
	if (cl->path && path_send_routed(cl->path, dest, buf, len))
		return; /* through the birthday socket the path opened */
	if (cl->turn && is_turn_peer(cl, dest)) {
		if (turn_io_send(cl->turn, dest, buf, len) < 0)
			log_debug("TURN: cannot send to the peer");
		return;
	}
	if (sendto(cl->udp, buf, len, 0, dest, netaddr_len(dest)) < 0)
		log_debug("sendto: %s", strerror(errno));
}

/* --- the relay --- */

static void relay_send(struct client *cl, const uint8_t *payload, size_t n)
{
	uint8_t buf[RELAY_HDR + RELAY_TOKEN_LEN + 1500];
	if (n > 1500)
		return;
	buf[0] = RELAY_TO_SERVER;
	buf[1] = buf[2] = buf[3] = 0;
	memcpy(buf + RELAY_HDR, cl->relay_tok, RELAY_TOKEN_LEN);
	if (n > 0) /* a bind frame has no payload (and may pass NULL) */
		memcpy(buf + RELAY_HDR + RELAY_TOKEN_LEN, payload, n);
	sendto(cl->udp, buf, RELAY_HDR + RELAY_TOKEN_LEN + n, 0, (struct sockaddr *)&cl->server, cl->server_len);
}

/* An encrypted call carries media only once both ends hold its keys. */
static bool keys_ready(const struct client *cl)
{
	return !cl->secure || callsec_ready(cl->sec);
}

/* The callee answered an encrypted call: the caller's key (its UPDATE)
 * is still to come. (A secured caller holds the keys from ACCEPTED on.) */
static bool awaiting_reveal(const struct client *cl)
{
	return cl->secure && cl->cstate == C_ANSWERED && !callsec_ready(cl->sec);
}

/* Uses the relay once it carries the peer's packets, if the mode asks for
 * it now: always at once; auto once the fallback is due (no direct path
 * in time, or checks failed). */
static void maybe_use_relay(struct client *cl)
{
	if (cl->via || !cl->relay_heard_peer || cl->cstate != C_ANSWERED || !keys_ready(cl))
		return;
	if (cl->cli->relay == RELAY_ALWAYS || (cl->cli->relay == RELAY_AUTO && cl->fallback_due))
		connected(cl, "relay", cl->server_str);
}

/* Binds to the relay and probes through it until the peer's probe comes
 * back; then keeps the binding (and the NAT mapping) alive. */
static void on_relay_timer(evutil_socket_t fd, short what, void *arg)
{
	struct client *cl = arg;
	if (!cl->relay_bound)
		relay_send(cl, NULL, 0);
	else
		relay_send(cl, PROBE, sizeof(PROBE) - 1);
	/* Probing continues a few seconds after the peer was heard, so the
	 * peer hears us too even if our first probes found it unbound. */
	bool settling = !cl->relay_heard_peer || clock_now_us() - cl->relay_started_us < 5000000;
	struct timeval tv = { settling ? 0 : 10, settling ? 200000 : 0 };
	event_add(cl->relay_timer, &tv);
}

static void relay_start(struct client *cl, const char *tok_hex)
{
	if (cl->cli->relay == RELAY_NEVER || !tok_hex || strlen(tok_hex) != 2 * RELAY_TOKEN_LEN)
		return;
	for (int i = 0; i < RELAY_TOKEN_LEN; i++) {
		unsigned v;
		if (sscanf(tok_hex + 2 * i, "%2x", &v) != 1)
			return;
		cl->relay_tok[i] = (uint8_t)v;
	}
	cl->has_relay = true;
	cl->relay_started_us = clock_now_us();
	event_active(cl->relay_timer, EV_TIMEOUT, 0);
}

/* Plays a packet of the peer's media; in an encrypted call only one that
 * authenticates (decrypted in place). False if it was refused. */
static bool media_from_peer(struct client *cl, uint8_t *pkt, size_t len)
{
	if (cl->secure) {
		if (!callsec_ready(cl->sec))
			return false; /* too early: not counted, not an attack */
		int n = callsec_unprotect(cl->sec, pkt, len);
		if (n < 0)
			return false; /* tampered, replayed or garbage: counted */
		len = (size_t)n;
	}
	media_input(cl->media, pkt, len);
	return true;
}

/* A datagram from the server that is a relay frame. */
static void relay_input(struct client *cl, const uint8_t *buf, size_t n)
{
	if (!cl->has_relay || n < RELAY_HDR)
		return;
	if (buf[0] == RELAY_BOUND && n >= RELAY_HDR + RELAY_TOKEN_LEN &&
	    memcmp(buf + RELAY_HDR, cl->relay_tok, RELAY_TOKEN_LEN) == 0) {
		cl->relay_bound = true;
		return;
	}
	if (buf[0] != RELAY_FROM_PEER)
		return;
	const uint8_t *payload = buf + RELAY_HDR;
	size_t len = n - RELAY_HDR;
	if (rtp_demux_is_rtp(payload, len)) {
		uint8_t pkt[1500];
		if (len <= sizeof(pkt)) {
			memcpy(pkt, payload, len);
			media_from_peer(cl, pkt, len);
		}
		return;
	}
	if (len == sizeof(PROBE) - 1 && memcmp(payload, PROBE, len) == 0 && !cl->relay_heard_peer) {
		cl->relay_heard_peer = true;
		log_debug("relay: the peer's probe arrived through %s", cl->server_str);
		maybe_use_relay(cl);
	}
}

static void on_fallback(evutil_socket_t fd, short what, void *arg)
{
	struct client *cl = arg;
	cl->fallback_due = true;
	maybe_use_relay(cl);
}

static void on_setup_limit(evutil_socket_t fd, short what, void *arg)
{
	struct client *cl = arg;
	if (cl->via)
		return;
	if (awaiting_reveal(cl)) {
		ev_error("%s did not complete the key exchange within %d s", cl->peer, SETUP_LIMIT_S);
		return fail_call(cl);
	}
	ev_error("no path to %s could be opened within %d s%s", cl->peer, SETUP_LIMIT_S,
		 cl->cli->relay == RELAY_NEVER ? " (the relay is off: --relay never)" : "");
	fail_call(cl);
}

static void on_path(void *ctx, enum path_event ev, const struct sockaddr *remote, const char *reason)
{
	struct client *cl = ctx;
	char addr[NETADDR_STRLEN] = "";
	if (remote)
		netaddr_str(remote, addr, sizeof(addr));
	switch (ev) {
	case PATH_UP:
		/* Through our TURN allocation, or to the peer's: relayed. */
		cl->path_via_turn = remote && (is_turn_peer(cl, remote) || offered_as_relay(cl, remote));
		if (!cl->via) {
			connected(cl, "direct", addr);
		} else if (strcmp(cl->via, "relay") == 0) {
			/* The hole opened after all: leave the relay. */
			cl->via = "direct";
			ev_path("direct", addr, path_method_of(cl));
			struct timeval tv = { 0, RESTUN_INTERVAL_MS * 1000 };
			event_add(cl->restun_timer, &tv);
		}
		break;
	case PATH_CHANGED:
		log_info("the peer's address changed to %s (NAT rebinding); following it", addr);
		if (cl->via && strcmp(cl->via, "direct") == 0)
			ev_path("direct", addr, path_method_of(cl));
		break;
	case PATH_FAILED:
	case PATH_LOST:
		if (cl->cli->relay == RELAY_AUTO && cl->has_relay) {
			log_info("no direct path to %s (%s); using the relay", cl->peer, reason);
			cl->fallback_due = true;
			if (cl->via && strcmp(cl->via, "direct") == 0) {
				cl->via = NULL; /* connected() below reports the relay */
				if (cl->relay_heard_peer) {
					cl->via = "relay";
					ev_path("relay", cl->server_str, "relay");
				}
			}
			maybe_use_relay(cl);
			break;
		}
		if (ev == PATH_FAILED && cl->via)
			break;
		ev_error("%s to %s (%s)", ev == PATH_FAILED ? "no direct path could be opened" : "the path was lost",
			 cl->peer, reason);
		fail_call(cl);
		break;
	}
}

static void udp_input(struct client *cl, struct sockaddr_storage *from, uint8_t *buf, size_t n);

/* The peer's datagram on a socket of the path's own (birthday). */
static void path_input(void *ctx, const struct sockaddr *from, uint8_t *buf, size_t len)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	memcpy(&ss, from, netaddr_len(from));
	udp_input(ctx, &ss, buf, len);
}

/* (Re)creates this call's path with our credentials and candidates. */
static int make_path(struct client *cl)
{
	static const struct path_cbs cbs = { .event = on_path, .send = send_to_peer, .input = path_input };
	path_free(cl->path);
	cl->path = NULL;
	struct path_config pc = { .controlling = cl->controlling, .local_ufrag = cl->ufrag, .local_pwd = cl->pwd };
	int rc = path_new(&cl->path, cl->base, cl->udp, &pc, &cbs, cl);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < cl->n_local; i++)
		path_add_local(cl->path, cl->local_cands[i]);
	return 0;
}

/* Creates this call's path with fresh credentials and our candidates. */
static int open_path(struct client *cl, bool controlling)
{
	cl->controlling = controlling;
	path_random_token(cl->ufrag, 8);
	path_random_token(cl->pwd, 24);
	gather_candidates(cl);
	return make_path(cl);
}

/* The call cannot be secured the way the user asked: say why, loudly, and
 * end it (VERB tells the server and so the peer). */
static void refuse_call(struct client *cl, const char *why, const char *verb)
{
	ev_error("%s", why);
	if (cl->call_id)
		send_call_verb(cl, verb, NULL);
	end_call(cl, "security", EXIT_SECURITY);
}

/* Both ends hold the call's keys: show the code the two people compare,
 * and key the connectivity checks with the call's keys, so that only the
 * two ends (not the server, which saw the signalling) can answer them. */
static int secured(struct client *cl)
{
	const char *sas = callsec_sas(cl->sec);
	ev_secured(cl->peer, sas, callsec_peer_key(cl->sec), callsec_peer_key_status(cl->sec));
	tui_progress(cl, "the call is encrypted: compare the code \"%s\" with %s", sas, cl->peer);
	char remote[64];
	callsec_ice_pwds(cl->sec, cl->pwd, remote);
	snprintf(cl->remote_pwd, sizeof(cl->remote_pwd), "%s", remote);
	return make_path(cl);
}

/* Does the peer's answer to "encrypt?" let the call go on? A peer with no
 * media at all (a plain signalling client) has nothing to encrypt. */
static bool security_acceptable(const struct client *cl, enum callsec_verdict v)
{
	if (v == CALLSEC_SECURE)
		return true;
	if (v != CALLSEC_PLAIN)
		return false;
	if (!cl->remote_ufrag[0])
		return true;
	if (cl->cli->insecure)
		log_warn("the call with %s is NOT encrypted (--insecure)", cl->peer);
	return cl->cli->insecure;
}

/* Keeps what the peer offered in its INVITE or ACCEPT. */
static void store_offer(struct client *cl, const struct sig_msg *m)
{
	const char *ufrag = sig_msg_get(m, "ufrag"), *pwd = sig_msg_get(m, "pwd"), *cand;
	snprintf(cl->remote_ufrag, sizeof(cl->remote_ufrag), "%s", ufrag ? ufrag : "");
	snprintf(cl->remote_pwd, sizeof(cl->remote_pwd), "%s", pwd ? pwd : "");
	const char *nat = sig_msg_get(m, "nat");
	snprintf(cl->remote_nat, sizeof(cl->remote_nat), "%s", nat && strlen(nat) < 8 ? nat : "");
	size_t pos = 0;
	cl->n_remote = 0;
	while ((cand = sig_msg_next(m, "cand", &pos)) && cl->n_remote < MAX_CANDS)
		if (strlen(cand) < 64)
			snprintf(cl->remote_cands[cl->n_remote++], 64, "%s", cand);
	/* Let the peer's addresses reach us through our TURN allocation. */
	for (size_t i = 0; cl->turn && i < cl->n_remote; i++) {
		struct ice_cand c;
		if (ice_cand_parse(cl->remote_cands[i], &c) == 0 && c.type != ICE_CAND_HOST)
			turn_io_permit(cl->turn, (struct sockaddr *)&c.addr);
	}
}

/* The call was answered: start the checks with what the peer offered, or,
 * if it offered no credentials (a plain signalling client), call the call
 * connected without a media path. */
static void start_path(struct client *cl, const char *relay_tok)
{
	if (cl->cstate != C_ANSWERED) {
		cl->cstate = C_ANSWERED;
		cl->answer_seen_us = clock_now_us();
		media_listen(cl->media);
	}
	if (!cl->remote_ufrag[0] || !cl->remote_pwd[0] || !cl->path ||
	    path_set_remote(cl->path, cl->remote_ufrag, cl->remote_pwd) < 0) {
		connected(cl, NULL, cl->peer_seen);
		return;
	}
	struct timeval limit = { SETUP_LIMIT_S, 0 }, fallback = { 0, RELAY_FALLBACK_US };
	event_add(cl->setup_timer, &limit);
	relay_start(cl, relay_tok);
	if (cl->cli->relay == RELAY_ALWAYS) {
		if (!cl->has_relay && relay_tok) {
			ev_error("the server offered no usable relay, and --relay always forbids a direct path");
			end_call(cl, "network", EXIT_NETWORK);
		} else {
			tui_progress(cl, "connecting to %s through the relay at %s", cl->peer, cl->server_str);
			maybe_use_relay(cl); /* its probe may have come before the keys */
		}
		return; /* no checks: the peers never learn each other's address */
	}
	if (cl->cli->relay == RELAY_AUTO)
		event_add(cl->fallback_timer, &fallback);
	for (size_t i = 0; i < cl->n_remote; i++)
		if (path_add_remote(cl->path, cl->remote_cands[i]) < 0)
			log_debug("ignoring candidate `%s'", cl->remote_cands[i]);
	if (path_start(cl->path) < 0) {
		ev_error("cannot start connectivity checks");
		end_call(cl, "network", EXIT_NETWORK);
		return;
	}
	/* Exactly one symmetric NAT: birthday probing (path.h). */
	if (path_birthday(cl->path, natdetect_get(cl->natd) == NATDETECT_EDM, !strcmp(cl->remote_nat, "edm")) < 0)
		log_warn("cannot start birthday probing");
	tui_progress(cl, "connecting to %s: trying %zu direct address%s%s", cl->peer, cl->n_remote,
		     cl->n_remote == 1 ? "" : "es",
		     cl->cli->relay == RELAY_AUTO ? ", then the relay" : " (no relay: --relay never)");
}

static void answer(struct client *cl)
{
	/* Our public address must be in the ACCEPT: without it, a peer
	 * behind a NAT has nothing to punch towards. STUN settles within
	 * a few seconds at worst (answer or give up). */
	if (!cl->stun_done || (cl->turn && !cl->turn_settled) || !natdetect_done(cl->natd)) {
		cl->answer_pending = true;
		return;
	}
	cl->answer_pending = false;
	if (cl->cstate != C_ALERTING)
		return;
	/* Candidates are gathered now that the public address is known. */
	if (open_path(cl, false) < 0) {
		send_call_verb(cl, "REJECT", NULL);
		end_call(cl, "error", EXIT_ERROR);
		return;
	}
	struct sig_writer w;
	sig_writer_init(&w, "ACCEPT");
	sig_writer_addf(&w, "call", "%llu", cl->call_id);
	add_media_fields(cl, &w);
	if (cl->secure && callsec_accept_fields(cl->sec, &w) < 0)
		return refuse_call(cl, "cannot take part in the caller's key exchange", "REJECT");
	send_msg(cl, &w);
	stdin_watch(cl, false);
	if (cl->secure) {
		/* The checks wait for the caller's key (its UPDATE), from
		 * which their passwords derive. */
		cl->cstate = C_ANSWERED;
		cl->answer_seen_us = clock_now_us();
		media_listen(cl->media);
		struct timeval limit = { SETUP_LIMIT_S, 0 };
		event_add(cl->setup_timer, &limit);
		return;
	}
	/* Our relay token comes with the server's OK to this ACCEPT. */
	start_path(cl, NULL);
}

static void place_call(struct client *cl)
{
	cl->called = true;
	cl->cstate = C_INVITING;
	cl->call_start_us = clock_now_us();
	snprintf(cl->peer, sizeof(cl->peer), "%s", cl->cli->peer);
	if (open_path(cl, true) < 0) {
		ev_error("out of memory");
		return finish(cl, EXIT_ERROR);
	}
	struct sig_writer w;
	sig_writer_init(&w, "INVITE");
	sig_writer_add(&w, "to", cl->peer);
	add_media_fields(cl, &w);
	if (callsec_invite(cl->sec, cl->cli->name, cl->peer, &w) < 0) {
		ev_error("cannot start the key exchange");
		return finish(cl, EXIT_ERROR);
	}
	send_msg(cl, &w);
	ev_calling(cl->peer);
}

/* Registered and STUN settled: tell the user, then call if asked to. */
static void maybe_ready(struct client *cl)
{
	bool settled = cl->stun_done && (!cl->turn || cl->turn_settled) && natdetect_done(cl->natd);
	if (settled && cl->answer_pending)
		answer(cl);
	if (cl->sstate != S_READY || !settled || cl->announced)
		return;
	cl->announced = true;
	ev_registered(cl->cli->name, cl->server_str, cl->mapped[0] ? cl->mapped : NULL);
	if (cl->cli->peer[0] && !cl->called)
		place_call(cl);
}

/* --- STUN on the media socket --- */

static void stun_send(struct client *cl)
{
	uint8_t buf[128];
	ssize_t n = stun_build_binding_request(buf, sizeof(buf), cl->stun_txid, NULL);
	if (n > 0 && sendto(cl->udp, buf, (size_t)n, 0, (struct sockaddr *)&cl->stun, cl->stun_len) < 0)
		log_debug("STUN request: %s", strerror(errno));
}

static void stun_start(struct client *cl)
{
	getrandom(cl->stun_txid, sizeof(cl->stun_txid), 0);
	cl->stun_tries = 0;
	cl->stun_done = false;
	event_active(cl->stun_timer, EV_TIMEOUT, 0);
}

static void on_stun_timer(evutil_socket_t fd, short what, void *arg)
{
	struct client *cl = arg;
	if (cl->stun_done)
		return;
	if (cl->stun_tries == STUN_TRIES) {
		log_warn("no STUN answer from %s over UDP; the public address is unknown",
			 cl->stun_str);
		cl->stun_done = true;
		maybe_ready(cl);
		return;
	}
	stun_send(cl);
	struct timeval tv = { 0, 250000 << cl->stun_tries };
	tv.tv_sec = tv.tv_usec / 1000000;
	tv.tv_usec %= 1000000;
	cl->stun_tries++;
	event_add(cl->stun_timer, &tv);
}

/* Our NAT gave the media socket a new public address during a call:
 * tell the peer, whose NAT may otherwise drop us (doc/protocol.md). */
static void public_address_changed(struct client *cl, const char *before)
{
	log_info("our public address changed from %s to %s (NAT rebinding)", before, cl->mapped);
	if (cl->cstate != C_ANSWERED || !cl->call_id || !cl->path)
		return;
	gather_candidates(cl);
	struct sig_writer w;
	sig_writer_init(&w, "UPDATE");
	sig_writer_addf(&w, "call", "%llu", cl->call_id);
	for (size_t i = 0; i < cl->n_local; i++)
		if (strncmp(cl->local_cands[i], "srflx/", 6) == 0)
			sig_writer_add(&w, "cand", cl->local_cands[i]);
	send_msg(cl, &w);
}

static void on_restun(evutil_socket_t fd, short what, void *arg)
{
	struct client *cl = arg;
	if (cl->stun_done) /* the previous round is over */
		stun_start(cl);
	struct timeval tv = { 0, RESTUN_INTERVAL_MS * 1000 };
	event_add(cl->restun_timer, &tv);
}

/* Media from an address that is not the path's: perhaps the peer's NAT
 * rebound. Check that address at once (an authenticated round trip moves
 * the call there; a stranger cannot answer it), at most every 200 ms so a
 * flood of strangers' packets causes no flood of checks. */
static void media_from_elsewhere(struct client *cl, const struct sockaddr *from)
{
	uint64_t now = clock_now_us();
	if (now - cl->last_probe_us < 200000)
		return;
	cl->last_probe_us = now;
	char ip[NETADDR_STRLEN], cand[96];
	netaddr_ip_str(from, ip, sizeof(ip));
	snprintf(cand, sizeof(cand), "prflx/%s/%u", ip, netaddr_port(from));
	if (path_probe_remote(cl->path, cand) < 0)
		log_debug("cannot check %s", cand);
}

/* Is FROM one of the candidates the peer offered ("TYPE/IP/PORT")? */
static bool offered_by_peer(const struct client *cl, const struct sockaddr *from)
{
	char ip[NETADDR_STRLEN], want[NETADDR_STRLEN + 8];
	netaddr_ip_str(from, ip, sizeof(ip));
	snprintf(want, sizeof(want), "/%s/%u", ip, (unsigned)netaddr_port(from));
	for (size_t i = 0; i < cl->n_remote; i++) {
		const char *slash = strchr(cl->remote_cands[i], '/');
		if (slash && strcmp(slash, want) == 0)
			return true;
	}
	return false;
}

/* One datagram for the call's socket, or one that came through our TURN
 * allocation (then FROM is the peer's address). */
static void udp_input(struct client *cl, struct sockaddr_storage *from, uint8_t *buf, size_t n)
{
	if (cl->path && path_packet(cl->path, (struct sockaddr *)from, buf, n))
		return;
	if (rtp_demux_is_rtp(buf, n)) {
		/* Media only from where the path says the peer is, or,
		 * while our side of the path is not up yet (the peer's
		 * may be), from an address the peer offered. */
		const struct sockaddr *peer = cl->path ? path_remote(cl->path) : NULL;
		if (peer ? netaddr_equal((struct sockaddr *)from, peer)
			 : cl->cstate == C_ANSWERED && !cl->via && offered_by_peer(cl, (struct sockaddr *)from))
			media_from_peer(cl, buf, n);
		else if (peer && (!cl->secure || media_from_peer(cl, buf, n)))
			/* Encrypted media that authenticates is the peer's
			 * for sure; a check still decides the path. */
			media_from_elsewhere(cl, (struct sockaddr *)from);
		return;
	}
	bool from_server = netaddr_equal((struct sockaddr *)from, (struct sockaddr *)&cl->server);
	if (from_server && n >= RELAY_HDR && (buf[0] == RELAY_FROM_PEER || buf[0] == RELAY_BOUND)) {
		relay_input(cl, buf, n);
		return;
	}
	struct sockaddr_storage mapped;
	if (cl->stun_done || !netaddr_equal((struct sockaddr *)from, (struct sockaddr *)&cl->stun) ||
	    stun_parse_binding_response(buf, n, cl->stun_txid, &mapped, NULL) < 0)
		return; /* not the answer we wait for */
	char before[NETADDR_STRLEN];
	snprintf(before, sizeof(before), "%s", cl->mapped);
	netaddr_str((struct sockaddr *)&mapped, cl->mapped, sizeof(cl->mapped));
	cl->stun_done = true;
	event_del(cl->stun_timer);
	log_debug("STUN: public address %s", cl->mapped);
	if (before[0] && strcmp(before, cl->mapped) != 0)
		public_address_changed(cl, before);
	maybe_ready(cl);
}

static void on_udp(evutil_socket_t fd, short what, void *arg)
{
	struct client *cl = arg;
	for (int i = 0; i < 64; i++) {
		uint8_t buf[1500];
		struct sockaddr_storage from;
		socklen_t fromlen = sizeof(from);
		ssize_t n = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fromlen);
		if (n < 0)
			return;
		netaddr_unmap(&from, &fromlen);
		if (cl->turn && turn_io_packet(cl->turn, (struct sockaddr *)&from, buf, (size_t)n))
			continue;
		udp_input(cl, &from, buf, (size_t)n);
	}
}

/* --- TURN --- */

static void turn_settle(struct client *cl)
{
	if (cl->turn_settled)
		return;
	cl->turn_settled = true;
	event_del(cl->turn_wait_timer);
	maybe_ready(cl);
}

static void on_turn_wait(evutil_socket_t fd, short what, void *arg)
{
	struct client *cl = arg;
	if (!cl->turn_settled)
		log_warn("TURN: no allocation yet; going on without a TURN relay for now");
	turn_settle(cl);
}

static void on_turn(void *ctx, const struct turn_event *ev)
{
	struct client *cl = ctx;
	switch (ev->type) {
	case TURN_EVENT_ALLOCATED:
		netaddr_str(ev->relayed, cl->turn_relayed, sizeof(cl->turn_relayed));
		log_info("TURN: relayed address %s", cl->turn_relayed);
		turn_settle(cl);
		break;
	case TURN_EVENT_FAILED:
		cl->turn_relayed[0] = '\0';
		ev_error("TURN: %s; going on without a TURN relay", ev->reason ? ev->reason : "failed");
		turn_settle(cl);
		break;
	case TURN_EVENT_DATA: {
		/* A peer reached us through the relay: answer it the same way. */
		if (!is_turn_peer(cl, ev->peer) && cl->n_turn_peers < sizeof(cl->turn_peers) / sizeof(cl->turn_peers[0])) {
			memset(&cl->turn_peers[cl->n_turn_peers], 0, sizeof(cl->turn_peers[0]));
			memcpy(&cl->turn_peers[cl->n_turn_peers++], ev->peer, netaddr_len(ev->peer));
			/* The client sends only to peers it knows by full
			 * address (the server's permission is per IP anyway). */
			turn_io_permit(cl->turn, ev->peer);
		}
		struct sockaddr_storage from;
		memset(&from, 0, sizeof(from));
		memcpy(&from, ev->peer, netaddr_len(ev->peer));
		uint8_t buf[1500];
		size_t n = ev->len < sizeof(buf) ? ev->len : sizeof(buf);
		memcpy(buf, ev->data, n);
		udp_input(cl, &from, buf, n);
		break;
	}
	default:
		if (ev->reason)
			log_debug("TURN: %s", ev->reason);
		break;
	}
}

/* Resolves --turn and starts the allocation on the call's socket. */
static int turn_setup(struct client *cl)
{
	char user[128], pass[128], host[256];
	uint16_t port;
	struct sockaddr_storage server;
	socklen_t len;
	if (turn_parse_uri(cl->cli->turn, user, sizeof(user), pass, sizeof(pass), host, sizeof(host), &port) < 0)
		return -EINVAL;
	int rc = netaddr_resolve(host, port, SOCK_DGRAM, 0, &server, &len);
	if (rc != 0 || server.ss_family != cl->server.ss_family) {
		ev_error("cannot use the TURN server `%s': %s", host,
			 rc ? netaddr_strerror(rc) : "not of the signalling server's address family");
		return -EINVAL;
	}
	netaddr_unmap(&server, &len);
	struct turn_io_config tc = { .server = (struct sockaddr *)&server, .username = user, .password = pass,
				     .software = "p2pcall/" P2PCALL_VERSION };
	if (turn_io_new(&cl->turn, cl->base, cl->udp, &tc, on_turn, cl) < 0 || turn_io_start(cl->turn) < 0)
		return -ENOMEM;
	struct timeval wait = { 3, 0 };
	event_add(cl->turn_wait_timer, &wait);
	return 0;
}

/* --- signalling input --- */

static void server_lost(struct client *cl, const char *why);

static void on_hello(struct client *cl, const struct sig_msg *m)
{
	unsigned long long ka;
	if (!sig_parse_u64(sig_msg_get(m, "keepalive"), &ka) || ka == 0 || ka > 3600)
		ka = 30;
	cl->keepalive_s = (unsigned)ka;
	struct timeval idle = { 3 * (time_t)ka, 0 }, period = { (time_t)ka, 0 };
	bufferevent_set_timeouts(cl->bev, &idle, NULL);
	event_add(cl->keepalive_timer, &period);

	struct sig_writer w;
	sig_writer_init(&w, "HELLO");
	sig_writer_addf(&w, "version", "%d", SIG_VERSION);
	sig_writer_add(&w, "agent", "p2pcall/" P2PCALL_VERSION);
	send_msg(cl, &w);
	sig_writer_init(&w, "REGISTER");
	sig_writer_add(&w, "name", cl->cli->name);
	/* A server that hands out a challenge binds names to keys: prove
	 * ours. One that does not (an older server) gets a plain REGISTER. */
	const char *challenge = sig_msg_get(m, "challenge");
	if (challenge && callsec_sign_register(cl->sec, challenge, cl->cli->name, &w) < 0)
		log_warn("the server's registration challenge is malformed; registering without a key");
	send_msg(cl, &w);
	cl->sstate = S_REGISTERING;
}

static void on_register_reply(struct client *cl, const struct sig_msg *m, bool ok)
{
	if (ok) {
		cl->sstate = S_READY;
		cl->ever_registered = true;
		cl->backoff_ms = BACKOFF_MIN_MS;
		maybe_ready(cl);
		return;
	}
	const char *reason = sig_msg_get(m, "reason");
	if (reason && strcmp(reason, "name-taken") == 0 && cl->ever_registered) {
		/* Reconnecting before the server noticed our old connection
		 * died: it still holds the name for a while. Retry. */
		server_lost(cl, "name still held by our previous connection");
		return;
	}
	if (reason && strcmp(reason, "name-taken") == 0)
		ev_error("the name `%s' is already registered at %s by someone else", cl->cli->name,
			 cl->server_str);
	else if (reason && strcmp(reason, "key-mismatch") == 0)
		ev_error("the name `%s' at %s belongs to another key than ours (%s): pick another name, or "
			 "use the identity file that registered it (--identity)", cl->cli->name, cl->server_str,
			 callsec_public_key(cl->sec));
	else if (reason && strcmp(reason, "not-listed") == 0)
		ev_error("%s only accepts names its operator listed, and `%s' with our key is not one of them",
			 cl->server_str, cl->cli->name);
	else
		ev_error("%s refused the registration of `%s': %s", cl->server_str, cl->cli->name,
			 reason ? reason : "no reason given");
	finish(cl, EXIT_REGISTER);
}

static bool is_our_call(struct client *cl, const struct sig_msg *m)
{
	unsigned long long id;
	return cl->cstate != C_IDLE && sig_parse_u64(sig_msg_get(m, "call"), &id) && id == cl->call_id;
}

static void on_invite_error(struct client *cl, const struct sig_msg *m)
{
	static const struct { const char *reason; int status; } map[] = {
		{ "unknown", EXIT_UNREACHABLE }, { "offline", EXIT_UNREACHABLE },
		{ "busy", EXIT_BUSY },           { "in-call", EXIT_BUSY },
	};
	const char *reason = sig_msg_get(m, "reason");
	if (!reason)
		reason = "error";
	int status = EXIT_ERROR;
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(map[i].reason, reason) == 0)
			status = map[i].status;
	end_call(cl, reason, status);
}

static void on_ended(struct client *cl, const struct sig_msg *m)
{
	static const struct { const char *reason, *as; int status; } map[] = {
		{ "hangup", "peer-hangup", EXIT_OK },
		{ "rejected", "rejected", EXIT_REJECTED },
		{ "busy", "busy", EXIT_BUSY },
		{ "no-answer", "no-answer", EXIT_NO_ANSWER },
		{ "cancelled", "peer-cancelled", EXIT_CANCELLED },
		{ "peer-gone", "peer-gone", EXIT_NETWORK },
	};
	const char *reason = sig_msg_get(m, "reason");
	if (reason && strcmp(reason, "peer-gone") == 0 && call_survives_server(cl)) {
		/* The peer lost the server, not necessarily us: the direct path
		 * decides (consent), or a hangup. */
		log_warn("%s lost the server; the call goes on over the direct path", cl->peer);
		cl->orphaned = true;
		return;
	}
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (reason && strcmp(map[i].reason, reason) == 0)
			return end_call(cl, map[i].as, map[i].status);
	end_call(cl, reason ? reason : "unknown-reason", EXIT_ERROR);
}

static void on_incoming(struct client *cl, const struct sig_msg *m)
{
	unsigned long long id;
	const char *from = sig_msg_get(m, "from");
	if (!sig_parse_u64(sig_msg_get(m, "call"), &id) || !from || !sig_name_valid(from)) {
		log_warn("ignoring a malformed INCOMING from the server");
		return;
	}
	if (cl->cstate != C_IDLE) {
		/* The server should not offer a second call; decline it. */
		struct sig_writer w;
		sig_writer_init(&w, "REJECT");
		sig_writer_addf(&w, "call", "%llu", id);
		sig_writer_add(&w, "reason", "busy");
		send_msg(cl, &w);
		return;
	}
	cl->cstate = C_ALERTING;
	cl->call_id = id;
	cl->call_start_us = clock_now_us();
	snprintf(cl->peer, sizeof(cl->peer), "%s", from);
	snprintf(cl->peer_seen, sizeof(cl->peer_seen), "%s", sig_msg_get(m, "seen") ? sig_msg_get(m, "seen") : "");
	store_offer(cl, m);
	char why[768];
	enum callsec_verdict verdict = callsec_incoming(cl->sec, cl->cli->name, from, m, why, sizeof(why));
	cl->secure = verdict == CALLSEC_SECURE;
	ev_incoming(cl->peer, id, cl->cli->auto_answer);
	if (!security_acceptable(cl, verdict)) {
		if (verdict == CALLSEC_PLAIN)
			snprintf(why + strlen(why), sizeof(why) - strlen(why),
				 "; refusing an unencrypted call (--insecure allows it)");
		return refuse_call(cl, why, "REJECT");
	}
	send_call_verb(cl, "RINGING", NULL);
	if (cl->oncall && oncall_start(cl->oncall, cl->peer, id, cl->cli->name) < 0)
		log_warn("cannot run the --on-call command: %s", strerror(errno));
	if (cl->cli->auto_answer)
		answer(cl);
	else
		stdin_watch(cl, true);
}

/* The --on-call command decided: 0 answers, 1 rejects, else ring on. */
static void on_call_decided(void *ctx, unsigned long long call, int status)
{
	struct client *cl = ctx;
	if (cl->cstate != C_ALERTING || cl->call_id != call || cl->answer_pending)
		return;
	if (status == 0)
		answer(cl);
	else if (status == 1)
		hang_up(cl);
}

static void handle_msg(struct client *cl, struct sig_msg *m)
{
	const char *v = m->verb, *re = sig_msg_get(m, "re");
	bool ok = strcmp(v, "OK") == 0, err = strcmp(v, "ERR") == 0;

	if (strcmp(v, "HELLO") == 0 && cl->sstate == S_GREETING)
		return on_hello(cl, m);
	if (strcmp(v, "PING") == 0) {
		struct sig_writer w;
		sig_writer_init(&w, "PONG");
		sig_writer_add(&w, "id", sig_msg_get(m, "id"));
		return send_msg(cl, &w);
	}
	if (strcmp(v, "PONG") == 0)
		return;
	if ((ok || err) && re && strcmp(re, "REGISTER") == 0 && cl->sstate == S_REGISTERING)
		return on_register_reply(cl, m, ok);
	if (err && re && strcmp(re, "HELLO") == 0) {
		ev_error("%s does not speak our protocol version (%s)", cl->server_str,
			 sig_msg_get(m, "reason") ? sig_msg_get(m, "reason") : "?");
		return finish(cl, EXIT_SERVER);
	}
	if (ok && re && strcmp(re, "INVITE") == 0 && cl->cstate == C_INVITING) {
		unsigned long long id;
		if (sig_parse_u64(sig_msg_get(m, "call"), &id))
			cl->call_id = id;
		return;
	}
	if (ok && re && strcmp(re, "ACCEPT") == 0 && is_our_call(cl, m) && cl->remote_ufrag[0]) {
		relay_start(cl, sig_msg_get(m, "relay"));
		if (cl->cli->relay == RELAY_ALWAYS && !cl->has_relay) {
			ev_error("the server offered no usable relay, and --relay always forbids a direct path");
			end_call(cl, "network", EXIT_NETWORK);
		}
		return;
	}
	if (err && re && strcmp(re, "INVITE") == 0 && cl->cstate == C_INVITING && !cl->call_id)
		return on_invite_error(cl, m);
	if (strcmp(v, "INCOMING") == 0)
		return on_incoming(cl, m);
	if (strcmp(v, "RINGING") == 0 && is_our_call(cl, m) && cl->cstate == C_INVITING)
		return ev_ringing(cl->peer);
	if (strcmp(v, "ACCEPTED") == 0 && is_our_call(cl, m) && cl->cstate == C_INVITING) {
		const char *seen = sig_msg_get(m, "seen");
		snprintf(cl->peer_seen, sizeof(cl->peer_seen), "%s", seen ? seen : "");
		store_offer(cl, m);
		struct sig_writer reveal;
		sig_writer_init(&reveal, "UPDATE");
		sig_writer_addf(&reveal, "call", "%llu", cl->call_id);
		char why[768];
		enum callsec_verdict verdict = callsec_accepted(cl->sec, m, &reveal, why, sizeof(why));
		if (!security_acceptable(cl, verdict)) {
			if (verdict == CALLSEC_PLAIN)
				snprintf(why + strlen(why), sizeof(why) - strlen(why),
					 "; hanging up an unencrypted call (--insecure allows it)");
			return refuse_call(cl, why, "HANGUP");
		}
		if (verdict == CALLSEC_SECURE) {
			send_msg(cl, &reveal);
			cl->secure = true;
			if (secured(cl) < 0)
				return fail_call(cl);
		}
		return start_path(cl, sig_msg_get(m, "relay"));
	}
	if (strcmp(v, "ENDED") == 0 && is_our_call(cl, m))
		return on_ended(cl, m);
	if (strcmp(v, "UPDATE") == 0 && is_our_call(cl, m) && sig_msg_get(m, "eph")) {
		if (!awaiting_reveal(cl))
			return; /* not expected (or a repeat): ignored */
		char why[768];
		if (callsec_reveal(cl->sec, m, why, sizeof(why)) != CALLSEC_SECURE)
			return refuse_call(cl, why, "HANGUP");
		if (secured(cl) < 0)
			return fail_call(cl);
		return start_path(cl, NULL);
	}
	if (strcmp(v, "UPDATE") == 0 && is_our_call(cl, m) && cl->path) {
		size_t pos = 0;
		const char *cand;
		while ((cand = sig_msg_next(m, "cand", &pos)))
			if (path_probe_remote(cl->path, cand) < 0)
				log_debug("ignoring updated candidate `%s'", cand);
		return;
	}
	if (ok)
		return;
	if (err)
		log_warn("server: %s %s", re ? re : "", sig_msg_get(m, "reason") ? sig_msg_get(m, "reason") : "");
	else
		log_debug("ignoring unexpected %s from the server", v);
}

static int on_line(void *arg, char *line, size_t len)
{
	struct client *cl = arg;
	struct sig_msg m;
	int rc = sig_msg_parse(line, len, &m);
	if (rc == -ENODATA)
		return 0;
	if (rc < 0) {
		log_warn("ignoring a malformed line from the server");
		return 0;
	}
	handle_msg(cl, &m);
	return cl->finishing;
}

static void on_read(struct bufferevent *bev, void *arg)
{
	struct client *cl = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	char buf[4096];
	int n;
	while (!cl->finishing && (n = evbuffer_remove(in, buf, sizeof(buf))) > 0) {
		if (sig_parser_feed(&cl->parser, buf, (size_t)n, on_line, cl) == -EMSGSIZE) {
			server_lost(cl, "the server sent an overlong line");
			return;
		}
	}
}

static void on_write(struct bufferevent *bev, void *arg)
{
	struct client *cl = arg;
	if (cl->finishing && evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		event_base_loopexit(cl->base, NULL);
}

static void connect_server(struct client *cl);

static void on_reconnect(evutil_socket_t fd, short what, void *arg) { connect_server(arg); }

/* The signalling connection is gone. */
static void server_lost(struct client *cl, const char *why)
{
	bool was_ready = cl->sstate == S_READY;
	if (cl->bev) {
		bufferevent_free(cl->bev);
		cl->bev = NULL;
	}
	sig_parser_reset(&cl->parser);
	cl->sstate = S_DOWN;
	event_del(cl->keepalive_timer);
	if (cl->finishing) {
		event_base_loopexit(cl->base, NULL);
		return;
	}
	if (!cl->ever_registered) {
		ev_error("cannot reach the server at %s: %s", cl->server_str, why);
		return finish(cl, EXIT_SERVER);
	}
	if (call_survives_server(cl)) {
		if (!cl->orphaned)
			log_warn("lost the server (%s); the call goes on over the direct path", why);
		cl->orphaned = true;
	} else if (cl->cstate != C_IDLE) {
		end_call(cl, "network", EXIT_NETWORK);
	}
	if (cl->finishing)
		return;
	if (cl->cli->peer[0] && !cl->orphaned) {
		ev_error("lost the server at %s: %s", cl->server_str, why);
		return finish(cl, EXIT_SERVER);
	}
	/* Waiting for calls: come back, with exponential backoff and jitter
	 * so a restarted server is not hit by every client at once. */
	uint32_t r;
	getrandom(&r, sizeof(r), 0);
	unsigned ms = cl->backoff_ms * 4 / 5 + r % (cl->backoff_ms * 2 / 5 + 1);
	cl->backoff_ms = cl->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : cl->backoff_ms * 2;
	(void)was_ready;
	ev_disconnected(why, ms / 1000.0);
	struct timeval tv = { ms / 1000, (suseconds_t)(ms % 1000) * 1000 };
	event_add(cl->reconnect_timer, &tv);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	struct client *cl = arg;
	if (what & BEV_EVENT_CONNECTED) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		cl->sstate = S_GREETING;
		int one = 1;
		setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (getsockname(bufferevent_getfd(bev), (struct sockaddr *)&ss, &len) == 0) {
			netaddr_unmap(&ss, &len);
			netaddr_ip_str((struct sockaddr *)&ss, cl->local_ip, sizeof(cl->local_ip));
		}
		/* The server greets first; give it the register timeout. */
		struct timeval tv = { 10, 0 };
		bufferevent_set_timeouts(bev, &tv, NULL);
		return;
	}
	const char *why = what & BEV_EVENT_TIMEOUT ? "no answer (timed out)"
			: what & BEV_EVENT_EOF ? "connection closed by the server"
			: evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR());
	server_lost(cl, why);
}

static void connect_server(struct client *cl)
{
	if (!cl->ever_registered)
		tui_progress(cl, "registering as %s at %s ...", cl->cli->name, cl->server_str);
	cl->sstate = S_CONNECTING;
	cl->announced = false;
	cl->bev = bufferevent_socket_new(cl->base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (!cl->bev) {
		ev_error("out of memory");
		return finish(cl, EXIT_ERROR);
	}
	bufferevent_setcb(cl->bev, on_read, on_write, on_event, cl);
	struct timeval tv = { 10, 0 };
	bufferevent_set_timeouts(cl->bev, &tv, &tv);
	bufferevent_enable(cl->bev, EV_READ | EV_WRITE);
	if (bufferevent_socket_connect(cl->bev, (struct sockaddr *)&cl->server, (int)cl->server_len) < 0) {
		server_lost(cl, strerror(errno));
		return;
	}
	stun_start(cl);
}

static void on_keepalive(evutil_socket_t fd, short what, void *arg)
{
	struct client *cl = arg;
	struct sig_writer w;
	sig_writer_init(&w, "PING");
	send_msg(cl, &w);
	struct timeval period = { (time_t)cl->keepalive_s, 0 };
	event_add(cl->keepalive_timer, &period);
}

static void on_duration(evutil_socket_t fd, short what, void *arg) { hang_up(arg); }

/* --- audio --- */

/* Media goes by the route the call uses now, so it follows a switch from
 * the relay to a direct path, or a NAT rebinding, by itself. */
static void media_send(void *ctx, const uint8_t *pkt, size_t len)
{
	struct client *cl = ctx;
	uint8_t buf[1500 + MEDIACRYPT_OVERHEAD];
	if (!cl->via)
		return;
	if (cl->secure) {
		if (len > 1500)
			return;
		memcpy(buf, pkt, len);
		int n = callsec_protect(cl->sec, buf, len, sizeof(buf));
		if (n < 0)
			return;
		pkt = buf;
		len = (size_t)n;
	}
	if (strcmp(cl->via, "relay") == 0) {
		relay_send(cl, pkt, len);
		return;
	}
	const struct sockaddr *to = cl->path ? path_remote(cl->path) : NULL;
	if (to)
		send_to_peer(cl, to, pkt, len);
}

static void media_event(void *ctx, enum media_event ev, const char *why)
{
	struct client *cl = ctx;
	if (cl->cstate != C_ANSWERED)
		return;
	if (ev == MEDIA_EV_DONE) {
		log_info("the input file has been sent; hanging up");
		hang_up(cl);
		return;
	}
	ev_error("audio failed: %s", why ? why : "unknown reason");
	send_call_verb(cl, "HANGUP", NULL);
	end_call(cl, "hangup", EXIT_AUDIO);
}

static void on_stats_timer(evutil_socket_t fd, short what, void *arg)
{
	struct client *cl = arg;
	if (!media_running(cl->media))
		return;
	struct media_stats st;
	media_interval_stats(cl->media, &st);
	st.bad_packets += callsec_refused(cl->sec); /* forged or replayed */
	ev_stats(&st);
	cl->last_stats = st;
	cl->have_stats = true;
	struct timeval tv = { 1, 0 };
	event_add(cl->stats_timer, &tv);
}

static int open_media(struct client *cl)
{
	static const struct media_cbs cbs = { media_send, media_event };
	const struct cli *c = cl->cli;
	struct media_cfg mc = { .input_file = c->input, .output_file = c->output, .input_dev = c->input_dev,
				.output_dev = c->output_dev, .frame_ms = c->frame_ms, .bitrate = c->bitrate,
				.min_bitrate = c->min_bitrate, .aec = c->aec, .ns = c->ns, .agc = c->agc,
				/* Calls are encrypted; variable bitrate would let packet
				 * sizes give words away (RFC 6562). */
				.cbr = !c->vbr, .fec_pinned = c->fec_pinned, .fec_loss_pct = c->fec_loss };
	char err[1024];
	if (media_open(&cl->media, cl->base, &mc, &cbs, cl, err, sizeof(err)) < 0) {
		ev_error("%s", err);
		return -1;
	}
	return 0;
}

/* Our identity key and the peers' pinned keys; peers are pinned per
 * server as the user named it (its address may change). */
static int open_security(struct client *cl)
{
	const struct cli *c = cl->cli;
	char server[ENDPOINT_HOST_MAX + 16], err[1024];
	snprintf(server, sizeof(server), strchr(c->server.host, ':') ? "[%s]:%u" : "%s:%u", c->server.host,
		 (unsigned)c->server.port);
	struct callsec_cfg sc = { .identity_path = c->identity_file, .known_peers_path = c->known_peers_file,
				  .server = server, .trust_new_key = c->trust_new_key };
	if (callsec_new(&cl->sec, &sc, err, sizeof(err)) < 0) {
		ev_error("%s", err);
		return -1;
	}
	return 0;
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct client *cl = arg;
	if (cl->finishing) { /* second Ctrl-C: leave now */
		event_base_loopexit(cl->base, NULL);
		return;
	}
	if (cl->cstate == C_IDLE)
		return finish(cl, EXIT_OK);
	hang_up(cl);
	if (!cl->finishing)
		finish(cl, cl->status);
}

/* --- in a terminal --- */

#define UI_PERIOD_US 250000

/* Redraws the status line while the call is up. */
static void on_ui_timer(evutil_socket_t fd, short what, void *arg)
{
	struct client *cl = arg;
	if (cl->cstate != C_ANSWERED || !cl->answered_us)
		return;
	struct media_levels lv;
	media_levels(cl->media, &lv);
	bool audio = cl->media && media_running(cl->media);
	struct statusline_info in = {
		.call_s = since_s(cl->answered_us), .path = cl->via,
		.rtt_ms = NAN, .loss_pct = NAN, .jb_ms = NAN, .kbps_out = NAN, .kbps_in = NAN,
		.mic_level = audio ? lv.mic_peak : NAN, .peer_level = audio ? lv.peer_peak : NAN,
		.muted = media_muted(cl->media), .no_audio = !audio,
		.sas = call_sas(cl),
	};
	if (cl->have_stats) {
		in.rtt_ms = cl->last_stats.rtt_ms;
		in.loss_pct = cl->last_stats.loss_pct;
		in.jb_ms = cl->last_stats.jb_ms;
		in.kbps_out = cl->last_stats.kbps_out;
		in.kbps_in = cl->last_stats.kbps_in;
	}
	char line[256];
	unsigned w = tui_width();
	/* One column short: writing the last one would wrap some terminals. */
	if (statusline_format(line, sizeof(line), &in, w > 1 ? w - 1 : 1) >= 0)
		tui_status(line);
	struct timeval tv = { 0, UI_PERIOD_US };
	event_add(cl->ui_timer, &tv);
}

static void on_key(struct client *cl, enum tui_key k)
{
	switch (k) {
	case TUI_KEY_ANSWER:
		if (cl->cstate == C_ALERTING)
			answer(cl);
		break;
	case TUI_KEY_REJECT:
		if (cl->cstate == C_ALERTING)
			hang_up(cl);
		break;
	case TUI_KEY_MUTE:
		if (cl->cstate != C_ANSWERED)
			break;
		if (!media_running(cl->media)) {
			tui_note("no audio in this call: nothing to mute");
			break;
		}
		media_set_mute(cl->media, !media_muted(cl->media));
		tui_note(media_muted(cl->media) ? "microphone muted (m to unmute)" : "microphone on");
		event_active(cl->ui_timer, EV_TIMEOUT, 0);
		break;
	case TUI_KEY_HANGUP:
		/* The same path as Ctrl-C: hang up (the peer is told), or
		 * leave when there is no call. */
		on_signal(SIGINT, EV_SIGNAL, cl);
		break;
	case TUI_KEY_HELP:
		tui_note(cl->cstate == C_ALERTING ? "keys: a answer, r reject, q reject and quit"
			 : "keys: m mute/unmute, q hang up and quit, ? this help");
		break;
	}
}

static void on_stdin(evutil_socket_t fd, short what, void *arg)
{
	struct client *cl = arg;
	if (cl->tui) {
		enum tui_key keys[16];
		int n = tui_read_keys(fd, keys, 16);
		if (n < 0) { /* the terminal is gone: stop reading it */
			event_del(cl->stdin_ev);
			return;
		}
		for (int i = 0; i < n && !cl->finishing; i++)
			on_key(cl, keys[i]);
		return;
	}
	char buf[256];
	ssize_t n = read(fd, buf, sizeof(buf));
	if (n <= 0) { /* stdin closed: stop asking, let the call ring */
		stdin_watch(cl, false);
		event_free(cl->stdin_ev);
		cl->stdin_ev = NULL;
		return;
	}
	if (cl->cstate != C_ALERTING)
		return;
	if (buf[0] == 'a' || buf[0] == 'y')
		answer(cl);
	else if (buf[0] == 'r' || buf[0] == 'n')
		hang_up(cl);
}

static void on_natdetect(void *ctx, enum natdetect_result r) { maybe_ready(ctx); }

int client_run(const struct cli *cli)
{
	struct client cl = { .cli = cli, .udp = -1, .status = EXIT_ERROR, .backoff_ms = BACKOFF_MIN_MS };
	events_init(cli->json, cli->verbosity < 0);
	events_set_verbose(cli->verbosity > 0);
	signal(SIGPIPE, SIG_IGN);
	if (cli->list_devices) {
		char err[512];
		if (audio_dev_list(stdout, err, sizeof(err)) < 0) {
			ev_error("cannot list the sound devices: %s", err);
			return EXIT_AUDIO;
		}
		return EXIT_OK;
	}

	int rc = netaddr_resolve(cli->server.host, cli->server.port, SOCK_STREAM, 0, &cl.server, &cl.server_len);
	if (rc != 0) {
		ev_error("cannot resolve the server `%s': %s", cli->server.host, netaddr_strerror(rc));
		return EXIT_SERVER;
	}
	netaddr_unmap(&cl.server, &cl.server_len);
	netaddr_str((struct sockaddr *)&cl.server, cl.server_str, sizeof(cl.server_str));
	cl.stun = cl.server;
	cl.stun_len = cl.server_len;
	if (cli->stun.host[0]) {
		/* The media socket has the server's family: ask for a STUN
		 * address of that family too. */
		rc = netaddr_resolve(cli->stun.host, cli->stun.port, SOCK_DGRAM, 0, &cl.stun, &cl.stun_len);
		if (rc != 0 || cl.stun.ss_family != cl.server.ss_family) {
			ev_error("cannot use the STUN server `%s': %s", cli->stun.host,
				 rc ? netaddr_strerror(rc) : "not of the signalling server's address family");
			return EXIT_SERVER;
		}
		netaddr_unmap(&cl.stun, &cl.stun_len);
	}
	netaddr_str((struct sockaddr *)&cl.stun, cl.stun_str, sizeof(cl.stun_str));

	cl.udp = socket(cl.server.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	cl.base = event_base_new();
	if (cl.udp < 0 || !cl.base) {
		ev_error("cannot open the media socket: %s", strerror(errno));
		goto out;
	}
	cl.udp_ev = event_new(cl.base, cl.udp, EV_READ | EV_PERSIST, on_udp, &cl);
	cl.stun_timer = evtimer_new(cl.base, on_stun_timer, &cl);
	cl.keepalive_timer = evtimer_new(cl.base, on_keepalive, &cl);
	cl.reconnect_timer = evtimer_new(cl.base, on_reconnect, &cl);
	cl.duration_timer = evtimer_new(cl.base, on_duration, &cl);
	cl.exit_timer = evtimer_new(cl.base, on_exit_timer, &cl);
	cl.relay_timer = evtimer_new(cl.base, on_relay_timer, &cl);
	cl.fallback_timer = evtimer_new(cl.base, on_fallback, &cl);
	cl.setup_timer = evtimer_new(cl.base, on_setup_limit, &cl);
	cl.restun_timer = evtimer_new(cl.base, on_restun, &cl);
	cl.turn_wait_timer = evtimer_new(cl.base, on_turn_wait, &cl);
	if (!cl.turn_wait_timer) {
		ev_error("out of memory");
		goto out;
	}
	if (cli->turn && turn_setup(&cl) < 0) {
		cl.status = EXIT_USAGE;
		goto out;
	}
	if (cli->on_call && oncall_new(&cl.oncall, cl.base, cli->on_call, on_call_decided, &cl) < 0) {
		ev_error("out of memory");
		goto out;
	}
	cl.stats_timer = evtimer_new(cl.base, on_stats_timer, &cl);
	cl.ui_timer = evtimer_new(cl.base, on_ui_timer, &cl);
	cl.tui = tui_wanted(cli->json, cli->verbosity < 0) && tui_start() == 0;
	cl.sigint = evsignal_new(cl.base, SIGINT, on_signal, &cl);
	cl.sigterm = evsignal_new(cl.base, SIGTERM, on_signal, &cl);
	if ((!cli->auto_answer && isatty(STDIN_FILENO)) || cl.tui)
		cl.stdin_ev = event_new(cl.base, STDIN_FILENO, EV_READ | EV_PERSIST, on_stdin, &cl);
	if (!cl.udp_ev || !cl.stun_timer || !cl.keepalive_timer || !cl.reconnect_timer ||
	    !cl.duration_timer || !cl.exit_timer || !cl.sigint || !cl.sigterm || !cl.relay_timer ||
	    !cl.fallback_timer || !cl.setup_timer || !cl.restun_timer || !cl.stats_timer || !cl.ui_timer) {
		ev_error("out of memory");
		goto out;
	}
	/* Files and devices are checked before anything is said to the
	 * server, so no peer's phone rings for a call that cannot work. */
	if (!cli->no_audio && open_media(&cl) < 0) {
		cl.status = EXIT_AUDIO;
		goto out;
	}
	if (open_security(&cl) < 0) {
		cl.status = EXIT_SECURITY;
		goto out;
	}
	event_add(cl.udp_ev, NULL);
	event_add(cl.sigint, NULL);
	event_add(cl.sigterm, NULL);
	if (cl.tui && cl.stdin_ev)
		event_add(cl.stdin_ev, NULL);

	/* Our NAT's mapping, for birthday probing; detection ends in 1 s. */
	if (natdetect_new(&cl.natd, cl.base, (struct sockaddr *)&cl.stun, on_natdetect, &cl) < 0)
		log_debug("no NAT mapping detection");
	connect_server(&cl);
	event_base_dispatch(cl.base);
out:
	natdetect_free(cl.natd);
	tui_stop();
	media_free(cl.media);
	callsec_free(cl.sec);
	if (cl.bev)
		bufferevent_free(cl.bev);
	oncall_free(cl.oncall);
	turn_io_free(cl.turn);
	if (cl.turn_wait_timer)
		event_free(cl.turn_wait_timer);
	sig_parser_reset(&cl.parser);
	struct event *evs[] = { cl.udp_ev, cl.stun_timer, cl.keepalive_timer, cl.reconnect_timer,
				cl.duration_timer, cl.exit_timer, cl.sigint, cl.sigterm, cl.stdin_ev,
				cl.relay_timer, cl.fallback_timer, cl.setup_timer, cl.restun_timer,
				cl.stats_timer, cl.ui_timer };
	for (size_t i = 0; i < sizeof(evs) / sizeof(evs[0]); i++)
		if (evs[i])
			event_free(evs[i]);
	if (cl.base)
		event_base_free(cl.base);
	if (cl.udp >= 0)
		close(cl.udp);
	return cl.status;
}
