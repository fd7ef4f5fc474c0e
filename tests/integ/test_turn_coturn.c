/* The TURN client against a real TURN server: coturn on loopback (no root
 * needed). Two UDP sockets, each driving a turn_client through a poll()
 * loop, allocate relays, permit each other's relayed address and exchange
 * payloads both ways, first with Send/Data indications, then over bound
 * channels (ChannelData). Wrong credentials must end in a FAILED event
 * with a reason a person understands; a short nonce lifetime must be
 * survived (438 Stale Nonce, then the same request again). */
#include <check.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "p2pcall/ice.h"
#include "p2pcall/stun.h"
#include "p2pcall/turn.h"
#include "p2pcall/turn_io.h"

#include <event2/event.h>

#define SA(x) ((const struct sockaddr *)(x))
#define MAX_RX 32

static pid_t coturn_pid = -1;
static char coturn_dir[64];
static int coturn_port;

static uint64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static struct sockaddr_in loopback(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return a;
}

static int udp_socket(struct sockaddr_in *bound)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	struct sockaddr_in a = loopback(0);
	ck_assert_int_eq(bind(fd, SA(&a), sizeof(a)), 0);
	socklen_t len = sizeof(*bound);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)bound, &len), 0);
	return fd;
}

/* Does coturn answer a STUN Binding request on its port yet? */
static bool coturn_answers(void)
{
	struct sockaddr_in me, srv = loopback(coturn_port);
	int fd = udp_socket(&me);
	uint8_t buf[256], txid[STUN_TXID_LEN] = { 7, 7, 7 };
	ssize_t n = stun_build_binding_request(buf, sizeof(buf), txid, NULL);
	bool ok = false;
	sendto(fd, buf, (size_t)n, 0, SA(&srv), sizeof(srv));
	struct pollfd p = { fd, POLLIN, 0 };
	if (poll(&p, 1, 100) == 1 && recv(fd, buf, sizeof(buf), 0) >= STUN_HEADER_LEN)
		ok = true;
	close(fd);
	return ok;
}

static void coturn_stop(void)
{
	if (coturn_pid > 0) {
		kill(coturn_pid, SIGKILL);
		waitpid(coturn_pid, NULL, 0);
	}
	coturn_pid = -1;
	if (coturn_dir[0]) {
		char cmd[128];
		snprintf(cmd, sizeof(cmd), "rm -rf %s", coturn_dir);
		if (system(cmd) != 0)
			fprintf(stderr, "turn_coturn: could not remove %s\n", coturn_dir);
		coturn_dir[0] = '\0';
	}
}

/* Starts coturn as a long-term-credential TURN server for user u:p in
 * realm r, on a free loopback port, relaying on loopback. extra: one more
 * option or NULL. Its log goes to DIR/log (printed on failure). */
static void coturn_start(const char *extra)
{
	if (system("command -v turnserver >/dev/null 2>&1") != 0)
		ck_abort_msg("turnserver (package coturn) is missing: run contrib/install-deps.sh --test");
	snprintf(coturn_dir, sizeof(coturn_dir), "/tmp/p2pcall-coturn-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(coturn_dir));
	/* A port for coturn: the kernel's pick for a UDP socket, released. */
	struct sockaddr_in a;
	int fd = udp_socket(&a);
	close(fd);
	coturn_port = ntohs(a.sin_port);

	char port[32], pid[96], db[96], log[96];
	snprintf(port, sizeof(port), "--listening-port=%d", coturn_port);
	snprintf(pid, sizeof(pid), "--pidfile=%s/pid", coturn_dir);
	snprintf(db, sizeof(db), "--userdb=%s/db", coturn_dir);
	snprintf(log, sizeof(log), "%s/log", coturn_dir);
	coturn_pid = fork();
	ck_assert_int_ge(coturn_pid, 0);
	if (coturn_pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		int out = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (out >= 0) {
			dup2(out, 1);
			dup2(out, 2);
		}
		execlp("turnserver", "turnserver", "-n", "--listening-ip=127.0.0.1", port,
		       "--relay-ip=127.0.0.1", "--lt-cred-mech", "--user=u:p", "--realm=r",
		       "--no-cli", "--no-tls", "--no-dtls", "--allow-loopback-peers",
		       "--log-file=stdout", "--simple-log", pid, db, extra, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 50; i++) {
		if (coturn_answers())
			return;
		int st;
		if (waitpid(coturn_pid, &st, WNOHANG) == coturn_pid) {
			coturn_pid = -1;
			break;
		}
	}
	char cmd[160];
	snprintf(cmd, sizeof(cmd), "tail -n 20 %s/log >&2", coturn_dir);
	if (system(cmd) != 0)
		fprintf(stderr, "(no coturn log)\n");
	ck_abort_msg("coturn did not come up on 127.0.0.1:%d (log above)", coturn_port);
}

/* Runs from an unchecked teardown too: a failed assertion ends the test
 * before its own cleanup. */
static void teardown(void)
{
	coturn_stop();
}

struct rx {
	struct sockaddr_storage peer;
	uint16_t channel;
	char data[256];
	size_t len;
};

struct side {
	const char *name;
	int fd;
	struct sockaddr_storage local;
	struct turn_client *t;
	bool allocated, failed, closed;
	uint16_t fail_code;
	char fail_reason[512];
	struct sockaddr_storage relayed, mapped;
	int perm_ok, perm_failed, chan_ok;
	uint16_t channel;
	struct rx rx[MAX_RX];
	size_t n_rx;
	size_t not_turn; /* datagrams turn_handle_packet refused */
};

static void side_send(void *ctx, const struct sockaddr *dest, socklen_t len,
		      const uint8_t *buf, size_t n)
{
	struct side *s = ctx;
	ck_assert_uint_le(n, TURN_MAX_PACKET);
	if (sendto(s->fd, buf, n, 0, dest, len) != (ssize_t)n)
		fprintf(stderr, "turn_coturn %s: sendto: %s\n", s->name, strerror(errno));
}

static void side_event(void *ctx, const struct turn_event *ev)
{
	struct side *s = ctx;
	switch (ev->type) {
	case TURN_EVENT_ALLOCATED:
		s->allocated = true;
		memcpy(&s->relayed, ev->relayed, ice_addr_len(ev->relayed));
		if (ev->mapped)
			memcpy(&s->mapped, ev->mapped, ice_addr_len(ev->mapped));
		break;
	case TURN_EVENT_FAILED:
		s->failed = true;
		s->fail_code = ev->code;
		snprintf(s->fail_reason, sizeof(s->fail_reason), "%s", ev->reason);
		break;
	case TURN_EVENT_DATA:
		if (s->n_rx < MAX_RX && ev->len <= sizeof(s->rx[0].data)) {
			struct rx *r = &s->rx[s->n_rx++];
			memcpy(&r->peer, ev->peer, ice_addr_len(ev->peer));
			r->channel = ev->channel;
			memcpy(r->data, ev->data, ev->len);
			r->len = ev->len;
		}
		break;
	case TURN_EVENT_PERMISSION_OK:
		s->perm_ok++;
		break;
	case TURN_EVENT_PERMISSION_FAILED:
	case TURN_EVENT_CHANNEL_FAILED:
		s->perm_failed++;
		fprintf(stderr, "turn_coturn %s: %s\n", s->name, ev->reason);
		break;
	case TURN_EVENT_CHANNEL_OK:
		s->chan_ok++;
		s->channel = ev->channel;
		break;
	case TURN_EVENT_CLOSED:
		s->closed = true;
		break;
	}
}

/* A side on an IPv4 socket talking to coturn on 127.0.0.1, or (v6) on an
 * IPv6 socket talking to it on ::1. */
static void side_init_at(struct side *s, const char *name, const char *user, const char *pass,
			 bool v6)
{
	memset(s, 0, sizeof(*s));
	s->name = name;
	struct sockaddr_storage srv;
	memset(&srv, 0, sizeof(srv));
	if (v6) {
		s->fd = socket(AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		ck_assert_int_ge(s->fd, 0);
		struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
		ck_assert_int_eq(bind(s->fd, SA(&a), sizeof(a)), 0);
		socklen_t len = sizeof(s->local);
		ck_assert_int_eq(getsockname(s->fd, (struct sockaddr *)&s->local, &len), 0);
		a.sin6_port = htons((uint16_t)coturn_port);
		memcpy(&srv, &a, sizeof(a));
	} else {
		s->fd = udp_socket((struct sockaddr_in *)&s->local);
		struct sockaddr_in a = loopback(coturn_port);
		memcpy(&srv, &a, sizeof(a));
	}
	struct turn_config cfg = {
		.server = SA(&srv), .username = user, .password = pass,
		.send_cb = side_send, .event_cb = side_event, .ctx = s,
		.seed = (uint64_t)now_us() ^ (uintptr_t)s,
		.rto_us = 100000, .max_transmits = 5, .software = "p2pcall test",
	};
	ck_assert_int_eq(turn_new(&s->t, &cfg), 0);
}

static void side_init(struct side *s, const char *name, const char *user, const char *pass)
{
	side_init_at(s, name, user, pass, false);
}

static void side_free(struct side *s)
{
	turn_free(s->t);
	close(s->fd);
}

typedef bool (*done_fn)(struct side *s, size_t n);

/* Drives the sides until done() or timeout_ms; returns done()'s verdict. */
static bool pump(struct side *s, size_t n, done_fn done, int timeout_ms)
{
	uint64_t end = now_us() + (uint64_t)timeout_ms * 1000u;
	for (;;) {
		if (done && done(s, n))
			return true;
		uint64_t now = now_us();
		if (now >= end)
			return done ? done(s, n) : true;
		uint64_t until = end;
		for (size_t i = 0; i < n; i++) {
			uint64_t d = turn_next_deadline(s[i].t);
			if (d < until)
				until = d;
		}
		struct pollfd p[4];
		for (size_t i = 0; i < n; i++)
			p[i] = (struct pollfd){ s[i].fd, POLLIN, 0 };
		int wait = until > now ? (int)((until - now + 999) / 1000) : 0;
		poll(p, (nfds_t)n, wait);
		now = now_us();
		for (size_t i = 0; i < n; i++) {
			uint8_t buf[2048];
			struct sockaddr_storage from;
			for (;;) {
				socklen_t fl = sizeof(from);
				ssize_t r = recvfrom(s[i].fd, buf, sizeof(buf), 0,
						     (struct sockaddr *)&from, &fl);
				if (r < 0)
					break;
				if (!turn_handle_packet(s[i].t, now, SA(&from), buf, (size_t)r))
					s[i].not_turn++;
			}
			if (turn_next_deadline(s[i].t) <= now)
				turn_tick(s[i].t, now);
		}
	}
}

static bool all_allocated(struct side *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!s[i].allocated && !s[i].failed)
			return false;
	return true;
}

static bool all_permitted(struct side *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!s[i].perm_ok && !s[i].perm_failed)
			return false;
	return true;
}

static bool all_channels(struct side *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!s[i].chan_ok && !s[i].perm_failed)
			return false;
	return true;
}

static size_t want_rx;
static bool all_received(struct side *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i].n_rx < want_rx)
			return false;
	return true;
}

static bool all_closed(struct side *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!s[i].closed)
			return false;
	return true;
}

static void expect_rx(const struct side *s, size_t i, const char *payload,
		      const struct sockaddr_storage *from, bool via_channel)
{
	ck_assert_msg(i < s->n_rx, "%s received only %zu datagrams", s->name, s->n_rx);
	const struct rx *r = &s->rx[i];
	ck_assert_msg(r->len == strlen(payload) && memcmp(r->data, payload, r->len) == 0,
		      "%s got `%.*s', expected `%s'", s->name, (int)r->len, r->data, payload);
	ck_assert(ice_addr_equal(SA(&r->peer), SA(from)));
	if (via_channel)
		ck_assert_uint_ge(r->channel, TURN_CHANNEL_MIN);
	else
		ck_assert_uint_eq(r->channel, 0);
}

START_TEST(test_relay_both_ways)
{
	coturn_start(NULL);
	struct side s[2];
	side_init(&s[0], "alice", "u", "p");
	side_init(&s[1], "bob", "u", "p");
	uint64_t now = now_us();
	ck_assert_int_eq(turn_start(s[0].t, now), 0);
	ck_assert_int_eq(turn_start(s[1].t, now), 0);
	ck_assert(pump(s, 2, all_allocated, 5000));
	for (int i = 0; i < 2; i++) {
		ck_assert_msg(s[i].allocated, "%s: %s", s[i].name, s[i].fail_reason);
		/* relayed on loopback, a port of its own; mapped = our socket */
		struct sockaddr_in *rel = (struct sockaddr_in *)&s[i].relayed;
		ck_assert_int_eq(rel->sin_family, AF_INET);
		ck_assert_uint_eq(ntohl(rel->sin_addr.s_addr), INADDR_LOOPBACK);
		ck_assert(!ice_addr_equal(SA(rel), SA(&s[i].local)));
		ck_assert(ice_addr_equal(SA(&s[i].mapped), SA(&s[i].local)));
		struct sockaddr_storage ss;
		ck_assert_int_eq(turn_relayed_address(s[i].t, &ss), 0);
		ck_assert(ice_addr_equal(SA(&ss), SA(&s[i].relayed)));
	}
	ck_assert(!ice_addr_equal(SA(&s[0].relayed), SA(&s[1].relayed)));

	/* The relay drops what a stranger sends. Permissions are per IP and
	 * both relayed addresses are on 127.0.0.1, so the stranger sits on
	 * 127.0.0.2 (all of 127/8 is loopback). */
	int stranger = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa2 = loopback(0);
	sa2.sin_addr.s_addr = htonl(0x7f000002);
	ck_assert_int_eq(bind(stranger, SA(&sa2), sizeof(sa2)), 0);
	sendto(stranger, "intruder", 8, 0, SA(&s[0].relayed), sizeof(struct sockaddr_in));

	now = now_us();
	ck_assert_int_eq(turn_permit(s[0].t, now, SA(&s[1].relayed)), 0);
	ck_assert_int_eq(turn_permit(s[1].t, now, SA(&s[0].relayed)), 0);
	ck_assert(pump(s, 2, all_permitted, 5000));
	ck_assert_int_eq(s[0].perm_ok, 1);
	ck_assert_int_eq(s[1].perm_ok, 1);
	ck_assert_uint_eq(s[0].n_rx, 0);

	/* Send indications -> Data indications, both ways. */
	const char *a_msgs[] = { "hello bob, via Send", "x", "ab" };
	const char *b_msgs[] = { "hello alice, via Send", "xyz", "abcde" };
	now = now_us();
	for (int k = 0; k < 3; k++) {
		ck_assert_int_eq(turn_send(s[0].t, now, SA(&s[1].relayed),
					   (const uint8_t *)a_msgs[k], strlen(a_msgs[k])), 0);
		ck_assert_int_eq(turn_send(s[1].t, now, SA(&s[0].relayed),
					   (const uint8_t *)b_msgs[k], strlen(b_msgs[k])), 0);
	}
	want_rx = 3;
	ck_assert_msg(pump(s, 2, all_received, 5000), "received %zu and %zu", s[0].n_rx,
		      s[1].n_rx);
	for (int k = 0; k < 3; k++) {
		expect_rx(&s[1], (size_t)k, a_msgs[k], &s[0].relayed, false);
		expect_rx(&s[0], (size_t)k, b_msgs[k], &s[1].relayed, false);
	}
	/* with permissions for 127.0.0.1 only, 127.0.0.2 stays shut out (had
	 * coturn relayed it, our client would count it as an unknown peer) */
	sendto(stranger, "intruder", 8, 0, SA(&s[0].relayed), sizeof(struct sockaddr_in));
	close(stranger);
	pump(s, 2, NULL, 200);
	ck_assert_uint_eq(s[0].n_rx, 3);
	ck_assert_uint_eq(turn_get_stats(s[0].t)->dropped_unknown_peer, 0);
	ck_assert_uint_eq(turn_get_stats(s[0].t)->send_indications, 3);
	ck_assert_uint_eq(turn_get_stats(s[0].t)->data_indications, 3);

	/* Channels: ChannelData both ways, odd lengths for the padding. */
	now = now_us();
	ck_assert_int_eq(turn_bind_channel(s[0].t, now, SA(&s[1].relayed)), TURN_CHANNEL_MIN);
	ck_assert_int_eq(turn_bind_channel(s[1].t, now, SA(&s[0].relayed)), TURN_CHANNEL_MIN);
	ck_assert(pump(s, 2, all_channels, 5000));
	ck_assert_int_eq(s[0].chan_ok, 1);
	ck_assert_int_eq(s[1].chan_ok, 1);
	const char *a_ch[] = { "alice over a channel", "1", "12", "123", "12345" };
	const char *b_ch[] = { "bob over a channel!", "9", "98", "987", "9876543" };
	now = now_us();
	for (int k = 0; k < 5; k++) {
		ck_assert_int_eq(turn_send(s[0].t, now, SA(&s[1].relayed),
					   (const uint8_t *)a_ch[k], strlen(a_ch[k])), 0);
		ck_assert_int_eq(turn_send(s[1].t, now, SA(&s[0].relayed),
					   (const uint8_t *)b_ch[k], strlen(b_ch[k])), 0);
	}
	want_rx = 8;
	ck_assert_msg(pump(s, 2, all_received, 5000), "received %zu and %zu", s[0].n_rx,
		      s[1].n_rx);
	for (int k = 0; k < 5; k++) {
		expect_rx(&s[1], 3 + (size_t)k, a_ch[k], &s[0].relayed, true);
		expect_rx(&s[0], 3 + (size_t)k, b_ch[k], &s[1].relayed, true);
	}
	for (int i = 0; i < 2; i++) {
		const struct turn_stats *st = turn_get_stats(s[i].t);
		ck_assert_uint_eq(st->channel_data_sent, 5);
		ck_assert_uint_eq(st->channel_data_received, 5);
		ck_assert_uint_eq(st->dropped_bad_integrity, 0);
		/* a late answer to a retransmitted request is the only
		 * unmatched datagram coturn may cause */
		ck_assert_uint_le(st->dropped_unmatched, st->retransmits);
		ck_assert_uint_eq(st->dropped_unknown_peer, 0);
		ck_assert_uint_eq(s[i].not_turn, 0);
	}

	/* Deallocation: both answered, nothing more to do. */
	now = now_us();
	ck_assert_int_eq(turn_close(s[0].t, now), 0);
	ck_assert_int_eq(turn_close(s[1].t, now), 0);
	ck_assert(pump(s, 2, all_closed, 5000));
	ck_assert_uint_eq(turn_next_deadline(s[0].t), UINT64_MAX);
	side_free(&s[0]);
	side_free(&s[1]);
	coturn_stop();
}
END_TEST

START_TEST(test_wrong_password)
{
	coturn_start(NULL);
	struct side s;
	side_init(&s, "mallory", "u", "not-p");
	ck_assert_int_eq(turn_start(s.t, now_us()), 0);
	ck_assert(pump(&s, 1, all_allocated, 5000));
	ck_assert(!s.allocated);
	ck_assert(s.failed);
	ck_assert_uint_eq(s.fail_code, 401);
	ck_assert_msg(strstr(s.fail_reason, "wrong username or password"), "%s", s.fail_reason);
	ck_assert_msg(strstr(s.fail_reason, "realm `r'"), "%s", s.fail_reason);
	ck_assert_int_eq(turn_get_state(s.t), TURN_STATE_FAILED);
	side_free(&s);

	/* unknown user: the same answer from coturn */
	side_init(&s, "nobody", "nobody", "p");
	ck_assert_int_eq(turn_start(s.t, now_us()), 0);
	ck_assert(pump(&s, 1, all_allocated, 5000));
	ck_assert(s.failed);
	ck_assert_uint_eq(s.fail_code, 401);
	side_free(&s);
	coturn_stop();
}
END_TEST

/* With nonces that go stale after a second, a CreatePermission sent later
 * meets 438 and must succeed with the new nonce. */
START_TEST(test_stale_nonce)
{
	coturn_start("--stale-nonce=1");
	struct side s[2];
	side_init(&s[0], "alice", "u", "p");
	side_init(&s[1], "bob", "u", "p");
	ck_assert_int_eq(turn_start(s[0].t, now_us()), 0);
	ck_assert_int_eq(turn_start(s[1].t, now_us()), 0);
	ck_assert(pump(s, 2, all_allocated, 5000));
	ck_assert_msg(s[0].allocated && s[1].allocated, "%s %s", s[0].fail_reason, s[1].fail_reason);
	pump(s, 2, NULL, 2500);
	ck_assert_int_eq(turn_permit(s[0].t, now_us(), SA(&s[1].relayed)), 0);
	ck_assert_int_eq(turn_permit(s[1].t, now_us(), SA(&s[0].relayed)), 0);
	ck_assert(pump(s, 2, all_permitted, 5000));
	ck_assert_int_eq(s[0].perm_ok, 1);
	ck_assert_uint_ge(turn_get_stats(s[0].t)->stale_nonces, 1);
	ck_assert_int_eq(turn_send(s[0].t, now_us(), SA(&s[1].relayed),
				   (const uint8_t *)"fresh", 5), 0);
	want_rx = 1;
	ck_assert(pump(&s[1], 1, all_received, 5000));
	expect_rx(&s[1], 0, "fresh", &s[0].relayed, false);
	side_free(&s[0]);
	side_free(&s[1]);
	coturn_stop();
}
END_TEST

/* The libevent adapter: two turn_io on one loop, one of them on a
 * dual-stack IPv6 socket (IPv4 server written ::ffff:127.0.0.1), each
 * reading its own socket (turn_io_watch). Allocate, bind channels to each
 * other, exchange one datagram each way, deallocate. A datagram that is
 * not TURN's reaches other_cb. */
struct ioside {
	struct turn_io *io;
	struct ioside *peer;
	const char *name; /* 4 bytes: what this side sends */
	struct event_base *base;
	int fd;
	bool allocated, closed;
	int channels;
	char got[64];
	size_t others;
	char fail[512];
	struct sockaddr_storage relayed;
};

static void io_maybe_done(struct ioside *s)
{
	if (s->closed && s->peer->closed)
		event_base_loopbreak(s->base);
}

static void io_event(void *ctx, const struct turn_event *ev)
{
	struct ioside *s = ctx;
	switch (ev->type) {
	case TURN_EVENT_ALLOCATED:
		s->allocated = true;
		memcpy(&s->relayed, ev->relayed, ice_addr_len(ev->relayed));
		if (s->peer->allocated) {
			turn_io_bind_channel(s->io, SA(&s->peer->relayed));
			turn_io_bind_channel(s->peer->io, SA(&s->relayed));
		}
		break;
	case TURN_EVENT_CHANNEL_OK:
		if (++s->channels == 1 && s->peer->channels == 1) {
			turn_io_send(s->io, SA(&s->peer->relayed), (const uint8_t *)s->name, 4);
			turn_io_send(s->peer->io, SA(&s->relayed), (const uint8_t *)s->peer->name, 4);
		}
		break;
	case TURN_EVENT_DATA:
		snprintf(s->got, sizeof(s->got), "%.*s", (int)ev->len, (const char *)ev->data);
		if (s->peer->got[0]) {
			turn_io_close(s->io);
			turn_io_close(s->peer->io);
		}
		break;
	case TURN_EVENT_CLOSED:
		s->closed = true;
		io_maybe_done(s);
		break;
	default:
		snprintf(s->fail, sizeof(s->fail), "event %d: %s", ev->type,
			 ev->reason ? ev->reason : "");
		event_base_loopbreak(s->base);
		break;
	}
}

static void io_other(void *ctx, const struct sockaddr *from, const uint8_t *buf, size_t len)
{
	struct ioside *s = ctx;
	if (len == 5 && memcmp(buf, "other", 5) == 0)
		s->others++;
}

START_TEST(test_turn_io_libevent)
{
	coturn_start(NULL);
	struct event_base *base = event_base_new();
	ck_assert_ptr_nonnull(base);
	struct ioside s[2];
	memset(s, 0, sizeof(s));
	struct sockaddr_in a4;
	s[0].fd = udp_socket(&a4);
	s[1].fd = socket(AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(s[1].fd, 0);
	int off = 0;
	setsockopt(s[1].fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off));
	struct sockaddr_in6 any6 = { .sin6_family = AF_INET6 };
	ck_assert_int_eq(bind(s[1].fd, SA(&any6), sizeof(any6)), 0);
	struct sockaddr_in srv = loopback(coturn_port);
	struct turn_io_config cfg = { .server = SA(&srv), .username = "u", .password = "p" };
	for (int i = 0; i < 2; i++) {
		s[i].peer = &s[1 - i];
		s[i].name = i ? "pong" : "ping";
		s[i].base = base;
		ck_assert_int_eq(turn_io_new(&s[i].io, base, s[i].fd, &cfg, io_event, &s[i]), 0);
		ck_assert_int_eq(turn_io_watch(s[i].io, io_other), 0);
	}
	/* something that is not TURN's, to the dual-stack socket */
	socklen_t l6 = sizeof(any6);
	getsockname(s[1].fd, (struct sockaddr *)&any6, &l6);
	struct sockaddr_in to = loopback(ntohs(any6.sin6_port));
	sendto(s[0].fd, "other", 5, 0, SA(&to), sizeof(to));

	ck_assert_int_eq(turn_io_start(s[0].io), 0);
	ck_assert_int_eq(turn_io_start(s[1].io), 0);
	struct timeval limit = { 10, 0 };
	event_base_loopexit(base, &limit);
	event_base_dispatch(base);
	for (int i = 0; i < 2; i++) {
		ck_assert_msg(!s[i].fail[0], "side %d: %s", i, s[i].fail);
		ck_assert_msg(s[i].closed, "side %d: allocated %d, channels %d, got `%s'", i,
			      s[i].allocated, s[i].channels, s[i].got);
		ck_assert_uint_eq(turn_get_stats(turn_io_client(s[i].io))->channel_data_received, 1);
	}
	ck_assert_str_eq(s[0].got, "pong");
	ck_assert_str_eq(s[1].got, "ping");
	ck_assert_uint_eq(s[1].others, 1);
	for (int i = 0; i < 2; i++) {
		turn_io_free(s[i].io);
		close(s[i].fd);
	}
	event_base_free(base);
	coturn_stop();
}
END_TEST

/* The TURN server reached over IPv6 (coturn also on ::1): the mapped
 * address is IPv6, the relayed one IPv4 (the default family), and the
 * exchange with an IPv4 client works both ways over channels. */
START_TEST(test_server_over_ipv6)
{
	if (system("ip -6 addr show lo 2>/dev/null | grep -q '::1'") != 0) {
		fprintf(stderr, "SKIP turn_coturn ipv6: no IPv6 loopback on this machine\n");
		return;
	}
	coturn_start("--listening-ip=::1");
	struct side s[2];
	side_init(&s[0], "alice4", "u", "p");
	side_init_at(&s[1], "bob6", "u", "p", true);
	ck_assert_int_eq(turn_start(s[0].t, now_us()), 0);
	ck_assert_int_eq(turn_start(s[1].t, now_us()), 0);
	ck_assert(pump(s, 2, all_allocated, 5000));
	ck_assert_msg(s[0].allocated && s[1].allocated, "%s / %s", s[0].fail_reason,
		      s[1].fail_reason);
	ck_assert_int_eq(s[1].mapped.ss_family, AF_INET6);
	ck_assert(ice_addr_equal(SA(&s[1].mapped), SA(&s[1].local)));
	ck_assert_int_eq(s[1].relayed.ss_family, AF_INET);
	ck_assert_int_eq(turn_bind_channel(s[0].t, now_us(), SA(&s[1].relayed)), TURN_CHANNEL_MIN);
	ck_assert_int_eq(turn_bind_channel(s[1].t, now_us(), SA(&s[0].relayed)), TURN_CHANNEL_MIN);
	ck_assert(pump(s, 2, all_channels, 5000));
	ck_assert_int_eq(s[0].chan_ok + s[1].chan_ok, 2);
	ck_assert_int_eq(turn_send(s[0].t, now_us(), SA(&s[1].relayed), (const uint8_t *)"to six", 6), 0);
	ck_assert_int_eq(turn_send(s[1].t, now_us(), SA(&s[0].relayed), (const uint8_t *)"to four", 7), 0);
	want_rx = 1;
	ck_assert(pump(s, 2, all_received, 5000));
	expect_rx(&s[1], 0, "to six", &s[0].relayed, true);
	expect_rx(&s[0], 0, "to four", &s[1].relayed, true);
	side_free(&s[0]);
	side_free(&s[1]);
	coturn_stop();
}
END_TEST

Suite *turn_coturn_suite(void)
{
	Suite *s = suite_create("turn_coturn");
	TCase *c = tcase_create("coturn");
	tcase_set_timeout(c, 40);
	tcase_add_unchecked_fixture(c, NULL, teardown);
	tcase_add_checked_fixture(c, NULL, teardown);
	tcase_add_test(c, test_relay_both_ways);
	tcase_add_test(c, test_wrong_password);
	tcase_add_test(c, test_stale_nonce);
	tcase_add_test(c, test_turn_io_libevent);
	tcase_add_test(c, test_server_over_ipv6);
	suite_add_tcase(s, c);
	return s;
}
