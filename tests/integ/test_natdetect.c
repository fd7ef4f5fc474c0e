/* NAT mapping detection (io/natdetect.c) against the real server's two
 * STUN ports (--stun-alt-port) on loopback, and against fake STUN servers
 * that answer as an endpoint-dependent or -independent NAT would make a
 * server see us. */
#include <arpa/inet.h>
#include <check.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "p2pcall/clock.h"
#include "p2pcall/natdetect.h"
#include "p2pcall/stun.h"
#include "proc.h"

struct run {
	struct event_base *base;
	int calls;
	enum natdetect_result r;
	uint64_t t_done;
};

static void on_done(void *ctx, enum natdetect_result r)
{
	struct run *x = ctx;
	x->calls++;
	x->r = r;
	x->t_done = clock_now_us();
	event_base_loopbreak(x->base);
}

static void loopback(struct sockaddr_in *sin, int port)
{
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_port = htons((uint16_t)port);
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
}

/* Runs a detection against 127.0.0.1:PORT; returns the elapsed ms. */
static double detect(struct event_base *base, int port, struct run *x)
{
	struct sockaddr_in sin;
	loopback(&sin, port);
	struct natdetect *d = NULL;
	memset(x, 0, sizeof(*x));
	x->base = base;
	uint64_t t0 = clock_now_us();
	ck_assert_int_eq(natdetect_new(&d, base, (struct sockaddr *)&sin, on_done, x), 0);
	ck_assert(!natdetect_done(d));
	struct timeval limit = { 3, 0 };
	event_base_loopexit(base, &limit);
	event_base_dispatch(base);
	ck_assert_int_eq(x->calls, 1);
	ck_assert(natdetect_done(d));
	ck_assert_int_eq(natdetect_get(d), x->r);
	natdetect_free(d);
	return (double)(x->t_done - t0) / 1000.0;
}

START_TEST(server_alt_port_means_eim_on_loopback)
{
	struct test_server s;
	ck_assert_int_eq(server_start(&s, NULL), 0);
	struct event_base *base = event_base_new();
	struct run x;
	double ms = detect(base, s.port, &x);
	ck_assert_int_eq(x.r, NATDETECT_EIM);
	ck_assert_str_eq(natdetect_name(x.r), "eim");
	ck_assert_msg(ms < 500, "took %.0f ms", ms);
	event_base_free(base);
	server_stop(&s);
}
END_TEST

/* --stun-alt-port 0: nothing answers on PORT+1, the verdict is unknown
 * after the 1 s bound (and no nat= goes out). */
START_TEST(no_alt_port_unknown_in_a_second)
{
	struct test_server s;
	ck_assert_int_eq(server_start(&s, (const char *const[]){ "--stun-alt-port", "0", NULL }), 0);
	struct event_base *base = event_base_new();
	struct run x;
	double ms = detect(base, s.port, &x);
	ck_assert_int_eq(x.r, NATDETECT_UNKNOWN);
	ck_assert_ptr_null(natdetect_name(x.r));
	ck_assert_msg(ms >= 950 && ms < 1500, "took %.0f ms", ms);
	event_base_free(base);
	server_stop(&s);
}
END_TEST

/* An explicit --stun-alt-port answers Binding requests there. */
START_TEST(explicit_alt_port_answers)
{
	/* A free port: bind, note, release. */
	int probe = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in sin;
	loopback(&sin, 0);
	ck_assert_int_eq(bind(probe, (struct sockaddr *)&sin, sizeof(sin)), 0);
	socklen_t len = sizeof(sin);
	getsockname(probe, (struct sockaddr *)&sin, &len);
	close(probe);
	char port[16];
	snprintf(port, sizeof(port), "%u", ntohs(sin.sin_port));
	struct test_server s;
	ck_assert_int_eq(server_start(&s, (const char *const[]){ "--stun-alt-port", port, NULL }), 0);
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct timeval tv = { 2, 0 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	uint8_t txid[STUN_TXID_LEN] = { 1, 2, 3 }, buf[512];
	ssize_t n = stun_build_binding_request(buf, sizeof(buf), txid, NULL);
	ck_assert_int_gt(n, 0);
	sendto(fd, buf, (size_t)n, 0, (struct sockaddr *)&sin, sizeof(sin));
	n = recv(fd, buf, sizeof(buf), 0);
	ck_assert_int_gt(n, 0);
	struct sockaddr_storage mapped;
	ck_assert_int_eq(stun_parse_binding_response(buf, (size_t)n, txid, &mapped, NULL), 0);
	struct sockaddr_in me;
	len = sizeof(me);
	getsockname(fd, (struct sockaddr *)&me, &len);
	ck_assert_uint_eq(((struct sockaddr_in *)&mapped)->sin_port, me.sin_port);
	close(fd);
	server_stop(&s);
}
END_TEST

/* --- fake servers: what a server sees behind a symmetric NAT --- */

struct fake {
	int fd[2];
	int shift[2];  /* port added to the source port in the answer */
	int junk;      /* first send answers with a wrong transaction id */
};

static void on_fake(evutil_socket_t fd, short what, void *arg)
{
	struct fake *f = arg;
	int i = fd == f->fd[1];
	uint8_t in[512], out[512];
	struct sockaddr_in from;
	socklen_t len = sizeof(from);
	ssize_t n = recvfrom(fd, in, sizeof(in), 0, (struct sockaddr *)&from, &len);
	struct stun_msg m;
	if (n <= 0 || stun_parse(in, (size_t)n, &m) != 0)
		return;
	uint8_t txid[STUN_TXID_LEN];
	memcpy(txid, m.txid, sizeof(txid));
	if (f->junk > 0) {
		f->junk--;
		txid[0] ^= 0xff; /* not ours: ignored */
	}
	struct sockaddr_in mapped = from;
	mapped.sin_port = htons((uint16_t)(ntohs(from.sin_port) + f->shift[i]));
	struct stun_writer w;
	stun_writer_init(&w, out, sizeof(out), STUN_METHOD_BINDING, STUN_CLASS_SUCCESS, txid);
	stun_put_xor_address(&w, STUN_ATTR_XOR_MAPPED_ADDRESS, (struct sockaddr *)&mapped);
	ssize_t k = stun_writer_finish(&w, true);
	if (k > 0)
		sendto(fd, out, (size_t)k, 0, (struct sockaddr *)&from, len);
}

/* Binds two UDP sockets on adjacent loopback ports; returns the first. */
static int bind_pair(struct fake *f)
{
	for (int attempt = 0; attempt < 50; attempt++) {
		struct sockaddr_in sin;
		loopback(&sin, 0);
		f->fd[0] = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
		bind(f->fd[0], (struct sockaddr *)&sin, sizeof(sin));
		socklen_t len = sizeof(sin);
		getsockname(f->fd[0], (struct sockaddr *)&sin, &len);
		int port = ntohs(sin.sin_port);
		f->fd[1] = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
		loopback(&sin, port + 1);
		if (port < 65535 && bind(f->fd[1], (struct sockaddr *)&sin, sizeof(sin)) == 0)
			return port;
		close(f->fd[0]);
		close(f->fd[1]);
	}
	return -1;
}

static void fake_case(int shift0, int shift1, int junk, enum natdetect_result want)
{
	struct fake f = { .shift = { shift0, shift1 }, .junk = junk };
	int port = bind_pair(&f);
	ck_assert_int_gt(port, 0);
	struct event_base *base = event_base_new();
	struct event *e0 = event_new(base, f.fd[0], EV_READ | EV_PERSIST, on_fake, &f);
	struct event *e1 = event_new(base, f.fd[1], EV_READ | EV_PERSIST, on_fake, &f);
	event_add(e0, NULL);
	event_add(e1, NULL);
	struct run x;
	double ms = detect(base, port, &x);
	ck_assert_int_eq(x.r, want);
	/* A junk answer costs one retransmission (150 ms), no more. */
	ck_assert_msg(ms < (junk ? 400 : 200), "took %.0f ms", ms);
	event_free(e0);
	event_free(e1);
	event_base_free(base);
	close(f.fd[0]);
	close(f.fd[1]);
}

START_TEST(fake_edm_and_eim)
{
	fake_case(0, 0, 0, NATDETECT_EIM);
	fake_case(0, 17, 0, NATDETECT_EDM);
	ck_assert_str_eq(natdetect_name(NATDETECT_EDM), "edm");
	fake_case(3, 3, 0, NATDETECT_EIM); /* the same mapping both ways */
	fake_case(0, 17, 1, NATDETECT_EDM); /* a wrong transaction id is ignored */
}
END_TEST

START_TEST(bad_arguments)
{
	struct event_base *base = event_base_new();
	struct natdetect *d = NULL;
	struct sockaddr_in sin;
	loopback(&sin, 65535);
	ck_assert_int_eq(natdetect_new(&d, base, (struct sockaddr *)&sin, on_done, NULL), -EINVAL);
	loopback(&sin, 0);
	ck_assert_int_eq(natdetect_new(&d, base, (struct sockaddr *)&sin, on_done, NULL), -EINVAL);
	loopback(&sin, 7878);
	ck_assert_int_eq(natdetect_new(&d, base, (struct sockaddr *)&sin, NULL, NULL), -EINVAL);
	ck_assert(natdetect_done(NULL));
	ck_assert_int_eq(natdetect_get(NULL), NATDETECT_UNKNOWN);
	natdetect_free(NULL);
	/* Freed while in progress: nothing is called afterwards. */
	struct run x = { .base = base };
	ck_assert_int_eq(natdetect_new(&d, base, (struct sockaddr *)&sin, on_done, &x), 0);
	natdetect_free(d);
	struct timeval tv = { 1, 200000 };
	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
	ck_assert_int_eq(x.calls, 0);
	event_base_free(base);
}
END_TEST

Suite *natdetect_suite(void)
{
	Suite *s = suite_create("natdetect");
	TCase *c = tcase_create("loopback");
	tcase_set_timeout(c, 30);
	tcase_add_test(c, server_alt_port_means_eim_on_loopback);
	tcase_add_test(c, no_alt_port_unknown_in_a_second);
	tcase_add_test(c, explicit_alt_port_answers);
	tcase_add_test(c, fake_edm_and_eim);
	tcase_add_test(c, bad_arguments);
	suite_add_tcase(s, c);
	return s;
}
