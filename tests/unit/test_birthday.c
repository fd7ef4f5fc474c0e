/* The birthday-probing schedule (core/birthday.c) with a fake clock, and
 * run end to end over simulated NATs (tests/support/simnat): a host behind
 * a random-port symmetric NAT sprays from K sockets, a host behind a
 * port-restricted cone probes random ports, and the measured success rate
 * matches the birthday estimate. */
#include <check.h>
#include <errno.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "p2pcall/birthday.h"
#include "p2pcall/ice.h"
#include "simnat.h"

#define MS 1000ull
#define T0 1000000ull /* any origin */

START_TEST(probe_schedule_paced_unique_bounded)
{
	struct birthday *b;
	struct birthday_config c = { .role = BIRTHDAY_PROBE, .head_start_us = 300 * MS, .rate = 1000,
				     .max_probes = 3000, .linger_us = 1000 * MS, .seed = 7 };
	ck_assert_int_eq(birthday_new(&b, &c, T0), 0);
	struct birthday_probe out[4000];
	ck_assert_int_eq(birthday_get_state(b), BIRTHDAY_WAITING);
	ck_assert_uint_eq(birthday_next_deadline(b), T0 + 300 * MS);
	/* Nothing during the head start. */
	ck_assert_uint_eq(birthday_poll(b, T0 + 299 * MS, out, 4000), 0);
	/* The first at once, then one per millisecond. */
	ck_assert_uint_eq(birthday_poll(b, T0 + 300 * MS, out, 4000), 1);
	ck_assert_int_eq(birthday_get_state(b), BIRTHDAY_RUNNING);
	ck_assert_uint_eq(birthday_next_deadline(b), T0 + 301 * MS);
	ck_assert_uint_eq(birthday_poll(b, T0 + 300 * MS + 999, out, 4000), 0);
	ck_assert_uint_eq(birthday_poll(b, T0 + 310 * MS, out, 4000), 10);
	ck_assert_uint_eq(birthday_next_deadline(b), T0 + 311 * MS);
	/* A late poll catches up, but never past max_probes. */
	size_t n = birthday_poll(b, T0 + 3400 * MS, out, 4000);
	ck_assert_uint_eq(n, 3000 - 11);
	ck_assert_uint_eq(birthday_sent(b), 3000);
	/* Every port in range, none twice, each remembered. */
	static unsigned char seen[65536];
	memset(seen, 0, sizeof(seen));
	for (size_t i = 0; i < n; i++) {
		ck_assert_uint_ge(out[i].port, 1024);
		ck_assert_msg(!seen[out[i].port], "port %u probed twice", out[i].port);
		seen[out[i].port] = 1;
		ck_assert(birthday_probed(b, out[i].port));
	}
	int unprobed = 0;
	for (unsigned p = 1024; p < 65536; p++)
		unprobed += !birthday_probed(b, (uint16_t)p);
	ck_assert_int_eq(unprobed, 65536 - 1024 - 3000);
	/* Then only the wait for answers, and the end. */
	ck_assert_uint_eq(birthday_next_deadline(b), T0 + (300 + 3000 + 1000) * MS);
	ck_assert_uint_eq(birthday_poll(b, T0 + 4299 * MS, out, 4000), 0);
	ck_assert_int_eq(birthday_get_state(b), BIRTHDAY_RUNNING);
	birthday_poll(b, T0 + 4300 * MS, out, 4000);
	ck_assert_int_eq(birthday_get_state(b), BIRTHDAY_GAVE_UP);
	ck_assert_uint_eq(birthday_next_deadline(b), UINT64_MAX);
	birthday_free(b);
}
END_TEST

START_TEST(probe_batches_respect_max)
{
	struct birthday *b;
	struct birthday_config c = { .role = BIRTHDAY_PROBE, .head_start_us = 1, .rate = 1000 };
	ck_assert_int_eq(birthday_new(&b, &c, T0), 0);
	struct birthday_probe out[8];
	/* 101 due, handed out 8 at a time; the deadline stays "now". */
	ck_assert_uint_eq(birthday_poll(b, T0 + 1 + 100 * MS, out, 8), 8);
	ck_assert_uint_le(birthday_next_deadline(b), T0 + 1 + 100 * MS);
	size_t total = 8, n;
	while ((n = birthday_poll(b, T0 + 1 + 100 * MS, out, 8)) > 0)
		total += n;
	ck_assert_uint_eq(total, 101);
	ck_assert_uint_eq(birthday_next_deadline(b), T0 + 1 + 101 * MS);
	/* A different seed gives a different order; the same, the same. */
	struct birthday *x, *y;
	struct birthday_config s1 = { .role = BIRTHDAY_PROBE, .seed = 1 }, s2 = s1;
	s2.seed = 2;
	ck_assert_int_eq(birthday_new(&x, &s1, 0), 0);
	ck_assert_int_eq(birthday_new(&y, &s2, 0), 0);
	struct birthday_probe px[64], py[64];
	ck_assert_uint_eq(birthday_poll(x, 300 * MS + 63 * MS, px, 64), 64);
	ck_assert_uint_eq(birthday_poll(y, 300 * MS + 63 * MS, py, 64), 64);
	int same = 0;
	for (int i = 0; i < 64; i++)
		same += px[i].port == py[i].port;
	ck_assert_int_lt(same, 4);
	birthday_free(x);
	birthday_free(y);
	birthday_free(b);
}
END_TEST

START_TEST(spray_rounds_and_end)
{
	struct birthday *b;
	struct birthday_config c = { .role = BIRTHDAY_SPRAY, .head_start_us = 300 * MS, .sockets = 8,
				     .respray_us = 1000 * MS };
	ck_assert_int_eq(birthday_new(&b, &c, T0), 0);
	struct birthday_probe out[16];
	ck_assert_uint_eq(birthday_poll(b, T0, out, 16), 0);
	ck_assert_uint_eq(birthday_next_deadline(b), T0 + 300 * MS);
	/* Every socket once, in a burst (possibly over several polls). */
	ck_assert_uint_eq(birthday_poll(b, T0 + 300 * MS, out, 5), 5);
	ck_assert_uint_eq(birthday_next_deadline(b), T0 + 300 * MS);
	ck_assert_uint_eq(birthday_poll(b, T0 + 300 * MS, out + 5, 11), 3);
	for (unsigned i = 0; i < 8; i++)
		ck_assert_uint_eq(out[i].socket, i);
	ck_assert_uint_eq(birthday_next_deadline(b), T0 + 1300 * MS);
	ck_assert_uint_eq(birthday_poll(b, T0 + 1299 * MS, out, 16), 0);
	ck_assert_uint_eq(birthday_poll(b, T0 + 1300 * MS, out, 16), 8);
	/* The sprayer gives up when the default prober would: 300 ms +
	 * 3000 probes at 1000/s + 1 s. */
	ck_assert_uint_eq(birthday_poll(b, T0 + 2300 * MS, out, 16), 8);
	ck_assert_uint_eq(birthday_poll(b, T0 + 4299 * MS, out, 16), 8); /* 3300 */
	ck_assert_int_eq(birthday_get_state(b), BIRTHDAY_RUNNING);
	ck_assert_uint_le(birthday_next_deadline(b), T0 + 4300 * MS);
	birthday_poll(b, T0 + 4300 * MS, out, 16);
	ck_assert_int_eq(birthday_get_state(b), BIRTHDAY_GAVE_UP);
	birthday_free(b);
}
END_TEST

START_TEST(done_stops_and_bad_config)
{
	struct birthday *b;
	struct birthday_config c = { .role = BIRTHDAY_PROBE };
	ck_assert_int_eq(birthday_new(&b, &c, 0), 0);
	struct birthday_probe out[4];
	ck_assert_uint_eq(birthday_poll(b, 400 * MS, out, 4), 4);
	birthday_done(b);
	ck_assert_int_eq(birthday_get_state(b), BIRTHDAY_DONE);
	ck_assert_uint_eq(birthday_poll(b, 900 * MS, out, 4), 0);
	ck_assert_uint_eq(birthday_next_deadline(b), UINT64_MAX);
	birthday_free(b);
	birthday_free(NULL);

	struct birthday_config bad = { .role = BIRTHDAY_PROBE, .port_min = 2000, .port_max = 1000 };
	ck_assert_int_eq(birthday_new(&b, &bad, 0), -EINVAL);
	bad = (struct birthday_config){ .role = BIRTHDAY_PROBE, .port_min = 1000, .port_max = 1099,
					.max_probes = 101 };
	ck_assert_int_eq(birthday_new(&b, &bad, 0), -EINVAL);
	bad.role = (enum birthday_role)7;
	ck_assert_int_eq(birthday_new(&b, &bad, 0), -EINVAL);
	/* A probe for every port of a small range: each exactly once. */
	struct birthday_config all = { .role = BIRTHDAY_PROBE, .port_min = 1000, .port_max = 1099,
				       .max_probes = 100, .head_start_us = 1 };
	ck_assert_int_eq(birthday_new(&b, &all, 0), 0);
	struct birthday_probe o[200];
	ck_assert_uint_eq(birthday_poll(b, 1 + 1000 * MS, o, 200), 100);
	for (unsigned p = 1000; p < 1100; p++)
		ck_assert(birthday_probed(b, (uint16_t)p));
	birthday_free(b);
}
END_TEST

/* --- end to end over simulated NATs --- */

#define K_BASE 20000 /* the sprayer's extra sockets: local ports K_BASE + i */

struct sim {
	struct simnet *net;
	int a, b;                  /* a: cone, probes; b: EDM, sprays */
	struct sockaddr_storage a_pub, b_pub;
	uint64_t hit_us;           /* b heard a probe on an extra socket */
	uint16_t hit_port;
	uint64_t open_us;          /* a heard b's answer */
	unsigned probes_heard_main;
};

static void on_a(void *ctx, uint64_t now, const struct sockaddr *from, const uint8_t *buf, size_t len)
{
	struct sim *s = ctx;
	if (len == 1 && buf[0] == 'R' && !s->open_us)
		s->open_us = now;
}

static void on_b(void *ctx, uint64_t now, uint16_t lport, const struct sockaddr *from, const uint8_t *buf,
		 size_t len)
{
	struct sim *s = ctx;
	if (len != 1 || buf[0] != 'P')
		return;
	if (lport < K_BASE) {
		s->probes_heard_main++;
		return;
	}
	if (!s->hit_us) {
		s->hit_us = now;
		s->hit_port = lport;
	}
	/* Answer from the socket that heard it: through its own mapping. */
	simnet_send_from(s->net, s->b, lport, now, from, (const uint8_t *)"R", 1);
}

/* One attempt; returns the time from start to open, or 0 if it failed. */
static uint64_t run_sim(unsigned k, unsigned max_probes, uint64_t seed, enum simnat_type a_nat,
			struct sim *s)
{
	memset(s, 0, sizeof(*s));
	ck_assert_int_eq(simnet_new(&s->net, 20 * MS), 0);
	simnet_set_port_seed(s->net, seed * 7919 + 1);
	s->a = simnet_add_host(s->net, "198.18.1.2", 5000, a_nat, "203.0.113.11", on_a, s);
	s->b = simnet_add_host(s->net, "198.18.2.2", 6000, SIMNAT_SYMMETRIC_RANDOM, "203.0.113.12", NULL, s);
	simnet_set_port_cb(s->net, s->b, on_b);
	struct sockaddr_storage server;
	struct sockaddr_in *sin = (struct sockaddr_in *)&server;
	memset(&server, 0, sizeof(server));
	sin->sin_family = AF_INET;
	sin->sin_port = htons(7878);
	inet_pton(AF_INET, "203.0.113.1", &sin->sin_addr);
	simnet_stun_query(s->net, s->a, (struct sockaddr *)&server, &s->a_pub);
	simnet_stun_query(s->net, s->b, (struct sockaddr *)&server, &s->b_pub);

	struct birthday *pa, *sb;
	struct birthday_config ca = { .role = BIRTHDAY_PROBE, .max_probes = max_probes, .seed = seed };
	struct birthday_config cb = { .role = BIRTHDAY_SPRAY, .sockets = k, .max_probes = max_probes };
	ck_assert_int_eq(birthday_new(&pa, &ca, 0), 0);
	ck_assert_int_eq(birthday_new(&sb, &cb, 0), 0);
	uint64_t now = 0;
	while (!s->open_us) {
		struct birthday_probe out[512];
		size_t n = birthday_poll(sb, now, out, 512);
		for (size_t i = 0; i < n; i++)
			simnet_send_from(s->net, s->b, (uint16_t)(K_BASE + out[i].socket), now,
					 (struct sockaddr *)&s->a_pub, (const uint8_t *)"P", 1);
		n = birthday_poll(pa, now, out, 512);
		for (size_t i = 0; i < n; i++) {
			struct sockaddr_storage to = s->b_pub;
			((struct sockaddr_in *)&to)->sin_port = htons(out[i].port);
			simnet_send(s->net, s->a, now, (struct sockaddr *)&to, (const uint8_t *)"P", 1);
		}
		simnet_run(s->net, now);
		if (s->open_us)
			birthday_done(pa), birthday_done(sb);
		uint64_t d = birthday_next_deadline(pa), e = birthday_next_deadline(sb), f = simnet_next(s->net);
		uint64_t next = d < e ? d : e;
		next = next < f ? next : f;
		if (next == UINT64_MAX)
			break;
		now = next > now ? next : now;
	}
	if (s->open_us)
		ck_assert_uint_gt(s->hit_us, 0); /* opened by a hit on a sprayed mapping */
	birthday_free(pa);
	birthday_free(sb);
	simnet_free(s->net);
	return s->open_us;
}

/* K = 256 and 2000 probes: ~99.96 % per attempt, so 200 seeded attempts
 * all succeed barring a 7 % fluke (the seeds are fixed: reproducible). */
START_TEST(sim_symmetric_vs_port_restricted_opens)
{
	int ok = 0;
	uint64_t total_us = 0;
	for (unsigned seed = 1; seed <= 200; seed++) {
		struct sim s;
		uint64_t t = run_sim(256, 2000, seed, SIMNAT_PORT_RESTRICTED, &s);
		if (t) {
			ok++;
			total_us += t;
			ck_assert_uint_ge(s.hit_port, K_BASE);
			/* Never before the head start plus a round trip. */
			ck_assert_uint_ge(t, 300 * MS + 40 * MS);
		}
		/* Behind a port-restricted cone, no spray reaches a's socket. */
		ck_assert_uint_eq(s.probes_heard_main, 0);
	}
	ck_assert_int_ge(ok, 199);
	/* Expected ~252 probes (1/rate each) plus head start and RTT. */
	double mean_ms = (double)total_us / ok / 1000.0;
	ck_assert_msg(mean_ms > 400 && mean_ms < 900, "mean time to open %.0f ms", mean_ms);
}
END_TEST

/* The collision, not luck with one port, opens the path: with one spray
 * socket and 100 probes it practically never does (0.15 % each). */
START_TEST(sim_few_sockets_rarely_open)
{
	int ok = 0;
	for (unsigned seed = 1; seed <= 100; seed++) {
		struct sim s;
		ok += run_sim(1, 100, seed, SIMNAT_PORT_RESTRICTED, &s) != 0;
	}
	ck_assert_int_le(ok, 2);
}
END_TEST

/* The symmetric side's own NAT filters: a stranger hitting a mapped port
 * from elsewhere is dropped, only the cone's address gets through. */
START_TEST(sim_mappings_filter_strangers)
{
	struct sim s;
	memset(&s, 0, sizeof(s));
	ck_assert_int_eq(simnet_new(&s.net, 10 * MS), 0);
	s.a = simnet_add_host(s.net, "198.18.1.2", 5000, SIMNAT_PORT_RESTRICTED, "203.0.113.11", on_a, &s);
	s.b = simnet_add_host(s.net, "198.18.2.2", 6000, SIMNAT_SYMMETRIC_RANDOM, "203.0.113.12", NULL, &s);
	simnet_set_port_cb(s.net, s.b, on_b);
	struct sockaddr_storage srv, a_pub, m1, m2;
	struct sockaddr_in *sin = (struct sockaddr_in *)&srv;
	memset(&srv, 0, sizeof(srv));
	sin->sin_family = AF_INET;
	sin->sin_port = htons(7878);
	inet_pton(AF_INET, "203.0.113.1", &sin->sin_addr);
	simnet_stun_query(s.net, s.a, (struct sockaddr *)&srv, &a_pub);
	/* Two sockets towards a: two different random public ports. */
	simnet_send_from(s.net, s.b, K_BASE, 0, (struct sockaddr *)&a_pub, (const uint8_t *)"P", 1);
	simnet_send_from(s.net, s.b, K_BASE + 1, 0, (struct sockaddr *)&a_pub, (const uint8_t *)"P", 1);
	simnet_run(s.net, 100 * MS);
	ck_assert_uint_eq(simnet_counters(s.net)->filtered, 2); /* a's cone drops them */
	/* b's main socket asks the server: a stranger next to the server
	 * sending to that mapping is dropped by b's NAT. */
	simnet_stun_query(s.net, s.b, (struct sockaddr *)&srv, &m1);
	struct sockaddr_storage stranger = srv;
	((struct sockaddr_in *)&stranger)->sin_port = htons(9999);
	simnet_inject(s.net, 100 * MS, (struct sockaddr *)&stranger, (struct sockaddr *)&m1, (const uint8_t *)"P", 1);
	simnet_run(s.net, 200 * MS);
	ck_assert_uint_eq(s.hit_us, 0);
	ck_assert_uint_eq(simnet_counters(s.net)->filtered, 3);
	/* The EDM mapping of b's main socket towards a differs from the one
	 * towards the server. */
	simnet_send(s.net, s.b, 200 * MS, (struct sockaddr *)&a_pub, (const uint8_t *)"x", 1);
	ck_assert(simnet_mapping(s.net, s.b, (struct sockaddr *)&a_pub, &m2));
	ck_assert(!ice_addr_equal((struct sockaddr *)&m1, (struct sockaddr *)&m2));
	simnet_free(s.net);
}
END_TEST

Suite *birthday_suite(void)
{
	Suite *s = suite_create("birthday");
	TCase *c = tcase_create("schedule");
	tcase_add_test(c, probe_schedule_paced_unique_bounded);
	tcase_add_test(c, probe_batches_respect_max);
	tcase_add_test(c, spray_rounds_and_end);
	tcase_add_test(c, done_stops_and_bad_config);
	suite_add_tcase(s, c);
	TCase *sim = tcase_create("simnat");
	tcase_set_timeout(sim, 60);
	tcase_add_test(sim, sim_symmetric_vs_port_restricted_opens);
	tcase_add_test(sim, sim_few_sockets_rarely_open);
	tcase_add_test(sim, sim_mappings_filter_strangers);
	suite_add_tcase(s, sim);
	return s;
}
