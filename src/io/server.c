/* The signalling server's I/O: a libevent loop with a TCP listener whose
 * connections feed the switchboard, and a UDP socket on the same port that
 * answers STUN Binding requests. All protocol logic is in switchboard.c
 * and stun_responder.c; this file moves bytes and time. */
#include "p2pcall/server.h"
#include "p2pcall/addrlimit.h"
#include "p2pcall/bindings.h"
#include "p2pcall/clock.h"
#include "p2pcall/endpoint.h"
#include "p2pcall/list.h"
#include "p2pcall/log.h"
#include "p2pcall/netaddr.h"
#include "p2pcall/relay.h"
#include "p2pcall/strmap.h"
#include "p2pcall/stun_responder.h"
#include "p2pcall/switchboard.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <unistd.h>

/* A peer that stops reading while we queue replies is dropped, not
 * buffered without bound. */
#define OUTPUT_LIMIT (64 * 1024)

struct server {
	struct event_base *base;
	struct evconnlistener *listener;
	evutil_socket_t udp;
	struct event *udp_ev, *timer, *sigint, *sigterm;
	struct sb *sb;
	struct relay *relay;
	struct bindings *bindings; /* --bindings: the durable name -> key store */
	uint64_t armed; /* deadline the timer is set for */
	struct timeval idle_timeout;
	uint64_t stun_answered, stun_dropped, stun_limited;
	struct addrlimit *stun_limit; /* answers per source address */
	struct event *accept_pause;   /* out of descriptors: accept again later */
	bool logged_stun_drop;
	struct list conns;
	/* Limits: connections at once, and per source address (a NAT may put
	 * many users behind one address, so the default is generous). */
	unsigned max_clients, max_per_ip, nconns;
	struct strmap *per_ip; /* IP text -> struct ip_count */
	uint64_t refused_full, refused_ip;
	/* --stun-alt-port: a second STUN port, so clients can tell whether
	 * their NAT maps per destination (doc/protocol.md) */
	evutil_socket_t alt;
	struct event *alt_ev;
};

struct ip_count {
	unsigned n;
	char ip[NETADDR_STRLEN];
};

struct conn {
	struct server *srv;
	struct bufferevent *bev;
	struct sb_conn *sb;
	struct list link; /* in server.conns */
	struct ip_count *ipc;
	bool closing;
};

static void ip_release(struct server *srv, struct ip_count *ipc)
{
	if (ipc && --ipc->n == 0) {
		strmap_del(srv->per_ip, ipc->ip);
		free(ipc);
	}
}

static void rearm(struct server *srv)
{
	uint64_t d = sb_next_deadline(srv->sb);
	if (d == srv->armed)
		return;
	srv->armed = d;
	if (d == UINT64_MAX) {
		evtimer_del(srv->timer);
		return;
	}
	uint64_t now = clock_now_us(), wait = d > now ? d - now : 0;
	struct timeval tv = { (time_t)(wait / 1000000), (suseconds_t)(wait % 1000000) };
	evtimer_add(srv->timer, &tv);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct server *srv = arg;
	srv->armed = UINT64_MAX;
	sb_tick(srv->sb, clock_now_us());
	rearm(srv);
}

static void conn_finish(struct conn *c)
{
	struct server *srv = c->srv;
	sb_conn_close(srv->sb, c->sb, clock_now_us());
	list_del(&c->link);
	ip_release(srv, c->ipc);
	srv->nconns--;
	bufferevent_free(c->bev);
	free(c);
	rearm(srv);
}

/* Stops reading and closes once queued output is written; the write
 * callback runs from the loop, never inside a switchboard call. */
static void conn_close_later(struct conn *c)
{
	if (c->closing)
		return;
	c->closing = true;
	bufferevent_disable(c->bev, EV_READ);
	struct timeval flush = { 5, 0 };
	bufferevent_set_timeouts(c->bev, NULL, &flush);
	bufferevent_trigger(c->bev, EV_WRITE, BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
}

static void sb_send(void *ctx, void *io, const char *line, size_t len)
{
	struct conn *c = io;
	if (c->closing)
		return;
	struct evbuffer *out = bufferevent_get_output(c->bev);
	if (evbuffer_get_length(out) + len > OUTPUT_LIMIT) {
		log_warn("dropping a client that does not read its replies");
		evbuffer_drain(out, evbuffer_get_length(out));
		conn_close_later(c);
		return;
	}
	bufferevent_write(c->bev, line, len);
}

static void sb_close(void *ctx, void *io) { conn_close_later(io); }

static void tok_hex(const uint8_t *t, char out[17])
{
	for (int i = 0; i < RELAY_TOKEN_LEN; i++)
		snprintf(out + 2 * i, 3, "%02x", t[i]);
}

static int sb_relay_alloc(void *ctx, unsigned long long id, char a[17], char b[17])
{
	struct server *srv = ctx;
	uint8_t t[2][RELAY_TOKEN_LEN];
	if (getrandom(t, sizeof(t), 0) != (ssize_t)sizeof(t))
		return -EIO;
	int rc = relay_alloc(srv->relay, id, t[0], t[1]);
	if (rc < 0)
		return rc;
	tok_hex(t[0], a);
	tok_hex(t[1], b);
	return 0;
}

static void sb_relay_release(void *ctx, unsigned long long id) { relay_release(((struct server *)ctx)->relay, id); }

/* Registration challenges. */
static int sb_random(void *ctx, uint8_t *buf, size_t n)
{
	randombytes_buf(buf, n);
	return 0;
}

/* A name was bound to its key by its first proved REGISTER: it is on
 * disk (fsynced) before the OK goes out, so a crash cannot forget a
 * binding the client was told about. */
static int sb_bound(void *ctx, const char *name, const uint8_t pk[SB_KEY_LEN])
{
	struct server *srv = ctx;
	char err[512];
	if (!srv->bindings)
		return 0;
	int rc = bindings_add(srv->bindings, name, pk, err, sizeof(err));
	if (rc < 0)
		log_error("cannot store the binding of `%s': %s", name, err);
	return rc;
}

static void preload_binding(void *ctx, const char *name, const uint8_t pk[32])
{
	struct server *srv = ctx;
	if (sb_bind(srv->sb, name, pk) < 0)
		log_warn("binding of `%s' not loaded (bad name or too many bindings)", name);
}

/* Opens the store and hands its bindings to the switchboard. */
static int load_bindings(struct server *srv, const char *path)
{
	char err[1024] = "";
	if (!path) {
		log_info("names are bound to keys in memory only (--bindings FILE keeps them across restarts)");
		return 0;
	}
	int rc = bindings_open(&srv->bindings, path, err, sizeof(err));
	if (rc < 0) {
		log_error("%s", err);
		return rc;
	}
	if (err[0])
		log_warn("%s", err);
	bindings_each(srv->bindings, preload_binding, srv);
	log_info("%zu names bound to keys (from %s)", bindings_count(srv->bindings), path);
	return 0;
}

static void on_read(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	char buf[4096];
	int n;
	while (!c->closing && (n = evbuffer_remove(in, buf, sizeof(buf))) > 0)
		sb_conn_feed(c->srv->sb, c->sb, buf, (size_t)n, clock_now_us());
	if (c->closing)
		evbuffer_drain(in, evbuffer_get_length(in));
	rearm(c->srv);
}

static void on_write(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	if (c->closing && evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		conn_finish(c);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;
	if (what & BEV_EVENT_TIMEOUT && !c->closing)
		log_debug("closing a silent connection");
	conn_finish(c);
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
		      int salen, void *arg)
{
	struct server *srv = arg;
	struct sockaddr_storage ss;
	socklen_t len = (socklen_t)salen;
	char seen[NETADDR_STRLEN];
	memcpy(&ss, sa, (size_t)salen);
	netaddr_unmap(&ss, &len);
	netaddr_str((struct sockaddr *)&ss, seen, sizeof(seen));

	/* Over a limit: one line saying why, then close (no state kept). */
	char ip[NETADDR_STRLEN];
	netaddr_ip_str((struct sockaddr *)&ss, ip, sizeof(ip));
	struct ip_count *ipc = strmap_get(srv->per_ip, ip);
	const char *refusal = NULL;
	if (srv->nconns >= srv->max_clients) {
		refusal = "ERR code=503 reason=server-full\n";
		srv->refused_full++;
	} else if (ipc && ipc->n >= srv->max_per_ip) {
		refusal = "ERR code=429 reason=too-many-connections\n";
		srv->refused_ip++;
	}
	if (refusal) {
		if (send(fd, refusal, strlen(refusal), MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
			log_debug("refusing %s: %s", seen, strerror(errno));
		close(fd);
		return;
	}
	if (!ipc) {
		ipc = calloc(1, sizeof(*ipc));
		if (ipc)
			snprintf(ipc->ip, sizeof(ipc->ip), "%s", ip);
		if (!ipc || strmap_put(srv->per_ip, ipc->ip, ipc) < 0) {
			free(ipc);
			close(fd);
			return;
		}
	}
	ipc->n++;

	/* Small latency-bound messages: never wait to coalesce them. */
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	struct conn *c = calloc(1, sizeof(*c));
	struct bufferevent *bev = bufferevent_socket_new(srv->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (!c || !bev) {
		log_error("out of memory accepting %s", seen);
		ip_release(srv, ipc);
		free(c);
		if (bev)
			bufferevent_free(bev);
		else
			close(fd);
		return;
	}
	c->srv = srv;
	c->bev = bev;
	c->sb = sb_conn_open(srv->sb, c, seen, clock_now_us());
	if (!c->sb) {
		ip_release(srv, ipc);
		bufferevent_free(bev);
		free(c);
		return;
	}
	c->ipc = ipc;
	srv->nconns++;
	list_add_tail(&srv->conns, &c->link);
	bufferevent_setcb(bev, on_read, on_write, on_event, c);
	/* Silence for three keepalive periods means the client is gone. */
	bufferevent_set_timeouts(bev, &srv->idle_timeout, NULL);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
	rearm(srv);
}

static void on_accept_resume(evutil_socket_t fd, short what, void *arg)
{
	evconnlistener_enable(((struct server *)arg)->listener);
}

static void on_accept_error(struct evconnlistener *l, void *arg)
{
	/* EMFILE and friends: keep serving those already connected. The
	 * pending connection stays queued and would wake the listener at
	 * once, again and again: pause accepting for a moment instead. */
	struct server *srv = arg;
	static const struct timeval pause = { 0, 100000 };
	log_warn("accept: %s (pausing new connections for 100 ms)", strerror(errno));
	evconnlistener_disable(l);
	evtimer_add(srv->accept_pause, &pause);
}

/* The address part of SA as bytes, for the per-address limit. */
static size_t addr_bytes(const struct sockaddr_storage *sa, const uint8_t **out)
{
	if (sa->ss_family == AF_INET) {
		*out = (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr;
		return 4;
	}
	*out = (const uint8_t *)&((const struct sockaddr_in6 *)sa)->sin6_addr;
	return 16;
}

/* Sends to DEST (a plain IPv4 or IPv6 address) from the UDP socket, which
 * may be dual-stack: then IPv4 destinations need the mapped form. */
static void send_to(int fd, const uint8_t *buf, size_t n, const struct sockaddr_storage *dest)
{
	struct sockaddr_storage d = *dest;
	struct sockaddr_storage self;
	socklen_t selflen = sizeof(self);
	getsockname(fd, (struct sockaddr *)&self, &selflen);
	socklen_t len = netaddr_len((struct sockaddr *)&d);
	if (self.ss_family == AF_INET6 && d.ss_family == AF_INET) {
		struct sockaddr_in6 m = { .sin6_family = AF_INET6,
					  .sin6_port = ((struct sockaddr_in *)&d)->sin_port };
		m.sin6_addr.s6_addr[10] = m.sin6_addr.s6_addr[11] = 0xff;
		memcpy(&m.sin6_addr.s6_addr[12], &((struct sockaddr_in *)&d)->sin_addr, 4);
		memcpy(&d, &m, sizeof(m));
		len = sizeof(m);
	}
	sendto(fd, buf, n, 0, (struct sockaddr *)&d, len);
}

static void on_udp(evutil_socket_t fd, short what, void *arg)
{
	struct server *srv = arg;
	/* Bounded so a flood cannot starve the TCP side. */
	for (int i = 0; i < 64; i++) {
		uint8_t in[1500], out[1500];
		struct sockaddr_storage from;
		socklen_t fromlen = sizeof(from);
		ssize_t n = recvfrom(fd, in, sizeof(in), 0, (struct sockaddr *)&from, &fromlen);
		if (n < 0)
			return;
		struct sockaddr_storage mapped = from;
		socklen_t mappedlen = fromlen;
		netaddr_unmap(&mapped, &mappedlen);
		if (relay_is_frame(in, (size_t)n)) {
			struct sockaddr_storage dest;
			size_t m = relay_handle(srv->relay, clock_now_us(), (struct sockaddr *)&mapped, in,
						(size_t)n, out, &dest);
			if (m > 0)
				send_to(fd, out, m, &dest);
			continue;
		}
		ssize_t r = stun_responder_handle(in, (size_t)n, (struct sockaddr *)&mapped, mappedlen,
						  out, sizeof(out), "p2pcall/" P2PCALL_VERSION);
		const uint8_t *ab;
		size_t abn = addr_bytes(&mapped, &ab);
		if (r > 0 && !addrlimit_allow(srv->stun_limit, ab, abn, clock_now_us())) {
			/* Anyone can ask, under any source address: answers
			 * are rate-limited per address so that the server
			 * cannot be aimed at a victim. */
			srv->stun_limited++;
			continue;
		}
		if (r <= 0) {
			srv->stun_dropped++;
			if (!srv->logged_stun_drop) {
				char a[NETADDR_STRLEN];
				log_info("dropped a UDP packet from %s that is no STUN Binding request "
					 "(further drops are only counted)",
					 netaddr_str((struct sockaddr *)&mapped, a, sizeof(a)));
				srv->logged_stun_drop = true;
			}
			continue;
		}
		if (sendto(fd, out, (size_t)r, 0, (struct sockaddr *)&from, fromlen) == r) {
			srv->stun_answered++;
			if (log_get_level() >= LOG_DEBUG) {
				char a[NETADDR_STRLEN];
				log_debug("STUN Binding from %s answered",
					  netaddr_str((struct sockaddr *)&mapped, a, sizeof(a)));
			}
		}
	}
}

/* The alternate STUN port: Binding requests only (no relay). */
static void on_stun_alt(evutil_socket_t fd, short what, void *arg)
{
	struct server *srv = arg;
	for (int i = 0; i < 64; i++) {
		uint8_t in[1500], out[1500];
		struct sockaddr_storage from, mapped;
		socklen_t fromlen = sizeof(from), mappedlen;
		ssize_t n = recvfrom(fd, in, sizeof(in), 0, (struct sockaddr *)&from, &fromlen);
		if (n < 0)
			return;
		mapped = from;
		mappedlen = fromlen;
		netaddr_unmap(&mapped, &mappedlen);
		ssize_t r = stun_responder_handle(in, (size_t)n, (struct sockaddr *)&mapped, mappedlen, out,
						  sizeof(out), "p2pcall/" P2PCALL_VERSION);
		if (r > 0 && sendto(fd, out, (size_t)r, 0, (struct sockaddr *)&from, fromlen) == r)
			srv->stun_answered++;
		else
			srv->stun_dropped++;
	}
}

/* Opens the alternate STUN port next to the main UDP socket. Without
 * SO_REUSEADDR: it must neither share a port nor block a later server
 * that binds this one. A port in use only costs the NAT type detection. */
static void open_stun_alt(struct server *srv, int want)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	getsockname(srv->udp, (struct sockaddr *)&ss, &len);
	unsigned port = want > 0 ? (unsigned)want : netaddr_port((struct sockaddr *)&ss) + 1u;
	if (want < 0 || port > 65535)
		return;
	if (ss.ss_family == AF_INET)
		((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)port);
	else
		((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)port);
	int fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), zero = 0;
	if (fd >= 0 && ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	if (fd < 0 || bind(fd, (struct sockaddr *)&ss, len) < 0 ||
	    !(srv->alt_ev = event_new(srv->base, fd, EV_READ | EV_PERSIST, on_stun_alt, srv))) {
		log_warn("no alternate STUN port %u (%s): clients cannot tell their NAT's mapping", port,
			 strerror(errno));
		if (fd >= 0)
			close(fd);
		return;
	}
	srv->alt = fd;
	event_add(srv->alt_ev, NULL);
	log_info("alternate STUN port %u", port);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct server *srv = arg;
	log_info("%s: shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
	event_base_loopexit(srv->base, NULL);
}

/* Binds a socket of TYPE to SA, dual-stack for the IPv6 wildcard. */
static int bind_socket(int type, const struct sockaddr *sa, socklen_t len)
{
	int fd = socket(sa->sa_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int one = 1, zero = 0;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (sa->sa_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	if (bind(fd, sa, len) < 0 || (type == SOCK_STREAM && listen(fd, 1024) < 0)) {
		int err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

/* Opens TCP and UDP on one port number. With port 0 the kernel picks the
 * TCP port and UDP must get the same one; a few tries cover the rare case
 * where that UDP port is taken. */
static int open_sockets(const struct sockaddr_storage *want, socklen_t len, int *tcp, int *udp)
{
	for (int attempt = 0; attempt < 20; attempt++) {
		struct sockaddr_storage ss = *want;
		*tcp = bind_socket(SOCK_STREAM, (struct sockaddr *)&ss, len);
		if (*tcp < 0)
			return *tcp;
		socklen_t l = sizeof(ss);
		getsockname(*tcp, (struct sockaddr *)&ss, &l);
		*udp = bind_socket(SOCK_DGRAM, (struct sockaddr *)&ss, len);
		if (*udp >= 0)
			return 0;
		close(*tcp);
		if (netaddr_port((const struct sockaddr *)want) != 0)
			return *udp;
	}
	return -EADDRINUSE;
}

int server_run(const struct server_opts *opts)
{
	struct endpoint ep;
	struct sockaddr_storage addr;
	socklen_t addrlen;
	int rc, tcp = -1, udp = -1, status = 1;
	struct server srv = { .udp = -1, .armed = UINT64_MAX, .alt = -1 };
	list_init(&srv.conns);

	if (sodium_init() < 0) { /* before any of its randomness */
		log_error("cannot start the server: libsodium does not initialise");
		return 1;
	}
	if (endpoint_parse(opts->listen ? opts->listen : "[::]", SERVER_DEFAULT_PORT, &ep) < 0) {
		log_error("cannot parse listen address `%s': use HOST[:PORT]", opts->listen);
		return 2;
	}
	if (opts->listen && strcmp(ep.host, "*") == 0)
		ep.host[0] = '\0';
	rc = netaddr_resolve(ep.host, ep.port, SOCK_STREAM, 1, &addr, &addrlen);
	if (rc != 0) {
		log_error("cannot resolve listen address `%s': %s", ep.host, netaddr_strerror(rc));
		return 2;
	}
	rc = open_sockets(&addr, addrlen, &tcp, &udp);
	if (rc < 0 && !opts->listen) {
		/* No IPv6 on this machine: fall back to IPv4 only. */
		netaddr_resolve("0.0.0.0", ep.port, SOCK_STREAM, 1, &addr, &addrlen);
		rc = open_sockets(&addr, addrlen, &tcp, &udp);
	}
	if (rc < 0) {
		char a[NETADDR_STRLEN];
		log_error("cannot listen on %s: %s", netaddr_str((struct sockaddr *)&addr, a, sizeof(a)),
			  strerror(-rc));
		return 1;
	}

	/* Each client is a descriptor: take all the kernel allows us. */
	struct rlimit rl = { 0, 0 };
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		getrlimit(RLIMIT_NOFILE, &rl);
	}

	unsigned keepalive = opts->keepalive_s ? opts->keepalive_s : 30;
	srv.idle_timeout = (struct timeval){ 3 * (time_t)keepalive, 0 };
	struct sb_config cfg = {
		.agent = "p2pcall/" P2PCALL_VERSION,
		.keepalive_s = keepalive,
		.ring_timeout_us = (uint64_t)opts->ring_timeout_s * 1000000u,
		.register_timeout_us = (uint64_t)opts->register_timeout_s * 1000000u,
		.line_timeout_us = (uint64_t)opts->line_timeout_s * 1000000u,
		.max_line = opts->max_line,
		.register_per_s = opts->register_rate,
		.register_burst = opts->register_rate ? (opts->register_rate > 2 ? 2 * opts->register_rate : 5) : 0,
		.invite_per_s = opts->invite_rate,
		.invite_burst = opts->invite_rate ? (opts->invite_rate > 5 ? 2 * opts->invite_rate : 10) : 0,
		.require_keys = opts->require_keys,
		.closed = opts->closed,
	};
	static const struct sb_ops ops = { .send = sb_send, .close = sb_close,
					   .relay_alloc = sb_relay_alloc, .relay_release = sb_relay_release,
					   .random = sb_random, .bound = sb_bound };
	uint32_t relay_rate = (opts->relay_kbps ? opts->relay_kbps : 256) * 125u;
	struct relay_config rcfg = { .rate_bytes_per_s = relay_rate,
				     .burst_bytes = relay_rate / 2 > 16000 ? relay_rate / 2 : 16000 };
	uint8_t limit_key[ADDRLIMIT_KEY_LEN];
	signal(SIGPIPE, SIG_IGN);

	srv.base = event_base_new();
	srv.udp = udp;
	srv.max_clients = opts->max_clients ? opts->max_clients : 100000;
	srv.max_per_ip = opts->max_per_ip ? opts->max_per_ip : 256;
	/* Past the descriptor limit accept() fails and the client hears
	 * nothing; below it, it hears server-full. Keep a margin for the
	 * listener, the UDP socket and the refusals themselves. */
	if (rl.rlim_cur > 128 && srv.max_clients > rl.rlim_cur - 64) {
		srv.max_clients = (unsigned)(rl.rlim_cur - 64);
		log_info("at most %u clients: the limit of open files is %llu", srv.max_clients,
			 (unsigned long long)rl.rlim_cur);
	}
	randombytes_buf(limit_key, sizeof(limit_key));
	if (!srv.base || sb_new(&srv.sb, &cfg, &ops, &srv) < 0 ||
	    relay_new(&srv.relay, &rcfg) < 0 || strmap_new(&srv.per_ip) < 0 ||
	    addrlimit_new(&srv.stun_limit, 4096, opts->stun_rate, 0, limit_key) < 0)
		goto out;
	if (load_bindings(&srv, opts->bindings_path) < 0) {
		status = 2; /* said why; not out of memory */
		goto out;
	}
	srv.listener = evconnlistener_new(srv.base, on_accept, &srv, LEV_OPT_CLOSE_ON_FREE, -1, tcp);
	if (!srv.listener)
		goto out;
	tcp = -1;
	evconnlistener_set_error_cb(srv.listener, on_accept_error);
	srv.udp_ev = event_new(srv.base, udp, EV_READ | EV_PERSIST, on_udp, &srv);
	srv.timer = evtimer_new(srv.base, on_timer, &srv);
	srv.accept_pause = evtimer_new(srv.base, on_accept_resume, &srv);
	srv.sigint = evsignal_new(srv.base, SIGINT, on_signal, &srv);
	srv.sigterm = evsignal_new(srv.base, SIGTERM, on_signal, &srv);
	if (!srv.udp_ev || !srv.timer || !srv.accept_pause || !srv.sigint || !srv.sigterm)
		goto out;
	event_add(srv.udp_ev, NULL);
	open_stun_alt(&srv, opts->stun_alt_port);
	event_add(srv.sigint, NULL);
	event_add(srv.sigterm, NULL);

	struct sockaddr_storage bound;
	socklen_t blen = sizeof(bound);
	char a[NETADDR_STRLEN];
	getsockname(udp, (struct sockaddr *)&bound, &blen);
	log_info("listening on %s (signalling on TCP, STUN on UDP), keepalive %us",
		 netaddr_str((struct sockaddr *)&bound, a, sizeof(a)), keepalive);

	event_base_dispatch(srv.base);

	const struct sb_stats *st = sb_stats(srv.sb);
	const struct relay_stats *rs = relay_stats(srv.relay);
	log_info("served %llu calls; %llu malformed lines, %llu overlong, %llu register timeouts; "
		 "STUN: %llu answered, %llu dropped; relay: %llu calls, %llu packets forwarded, "
		 "%llu dropped (bad token), %llu dropped (rate); refused %llu connections (full), "
		 "%llu (per address); %llu slow lines, %llu rate-limited lines, %llu REGISTER/INVITE "
		 "refused as too many; %llu bad signatures, %llu key refusals; %llu STUN answers "
		 "withheld (rate per address)",
		 (unsigned long long)st->calls_total, (unsigned long long)st->malformed,
		 (unsigned long long)st->overlong, (unsigned long long)st->register_timeouts,
		 (unsigned long long)srv.stun_answered, (unsigned long long)srv.stun_dropped,
		 (unsigned long long)rs->allocations, (unsigned long long)rs->forwarded,
		 (unsigned long long)rs->dropped_bad_token, (unsigned long long)rs->dropped_rate,
		 (unsigned long long)srv.refused_full, (unsigned long long)srv.refused_ip,
		 (unsigned long long)st->line_timeouts, (unsigned long long)st->rate_limited,
		 (unsigned long long)st->verb_rate_limited, (unsigned long long)st->bad_signatures,
		 (unsigned long long)st->key_refusals, (unsigned long long)srv.stun_limited);
	status = 0;
out:
	if (status == 1)
		log_error("cannot start the server: out of memory");
	if (status == 2) {
		log_error("cannot start the server: the bindings store is unusable (left as it is)");
		status = 1;
	}
	while (!list_empty(&srv.conns)) {
		struct conn *c = list_entry(srv.conns.next, struct conn, link);
		list_del(&c->link);
		ip_release(&srv, c->ipc);
		bufferevent_free(c->bev);
		free(c);
	}
	strmap_free(srv.per_ip);
	sb_free(srv.sb); /* frees the connections' protocol state */
	relay_free(srv.relay);
	addrlimit_free(srv.stun_limit);
	bindings_free(srv.bindings);
	if (srv.listener)
		evconnlistener_free(srv.listener);
	if (tcp >= 0)
		close(tcp);
	if (srv.udp_ev)
		event_free(srv.udp_ev);
	if (srv.timer)
		event_free(srv.timer);
	if (srv.accept_pause)
		event_free(srv.accept_pause);
	if (srv.sigint)
		event_free(srv.sigint);
	if (srv.sigterm)
		event_free(srv.sigterm);
	if (udp >= 0)
		close(udp);
	if (srv.alt_ev)
		event_free(srv.alt_ev);
	if (srv.alt >= 0)
		close(srv.alt);
	if (srv.base)
		event_base_free(srv.base);
	return status;
}
