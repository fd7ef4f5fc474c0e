/* The NAT lab checks itself: topology and teardown, the punching matrix
 * of testbed.md on real nftables NATs, NAT rebinding by conntrack flush,
 * and the NFQUEUE impairment's delay, jitter and loss. Needs root; as any
 * other user every test prints "SKIP lab: ..." and passes. */
#include <check.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lab.h"

#define RENDEZVOUS_PORT "3478"
#define ECHO_PORT "7"

/* Prefixes are made in the runner process (unchecked fixture) so the
 * teardown, which runs there even when a forked test failed, can remove
 * whatever the test left. */
static char pfx_topo[64], pfx_same[64], pfx_bad[64], pfx_matrix[64], pfx_impair[64], pfx_flush[64];
static char punch[512];

static void lab_setup(void)
{
	lab_prefix(pfx_topo, sizeof(pfx_topo), "topo");
	lab_prefix(pfx_same, sizeof(pfx_same), "same");
	lab_prefix(pfx_bad, sizeof(pfx_bad), "bad");
	lab_prefix(pfx_matrix, sizeof(pfx_matrix), "mx");
	lab_prefix(pfx_impair, sizeof(pfx_impair), "imp");
	lab_prefix(pfx_flush, sizeof(pfx_flush), "fl");
	punch[0] = '\0';
	if (lab_available(NULL, 0) && lab_tool("punch", punch, sizeof(punch)) < 0)
		punch[0] = '\0'; /* the tests assert on it and say why */
}

static void lab_teardown(void)
{
	if (!lab_available(NULL, 0))
		return;
	const char *all[] = {pfx_topo, pfx_same, pfx_bad, pfx_matrix, pfx_impair, pfx_flush};
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		lab_down(all[i]);
}

/* Number of /var/run/netns entries starting with "prefix-". */
static int count_ns(const char *prefix)
{
	DIR *d = opendir("/var/run/netns");
	if (!d)
		return 0;
	char want[80];
	snprintf(want, sizeof(want), "%s-", prefix);
	int n = 0;
	for (struct dirent *e; (e = readdir(d));)
		n += strncmp(e->d_name, want, strlen(want)) == 0;
	closedir(d);
	return n;
}

static void need_punch(void)
{
	ck_assert_msg(punch[0], "could not build tests/lab/punch.c (see stderr)");
}

/* Starts a server-side punch command and waits for its first line, so
 * clients never race its bind. */
static pid_t start_server(const char *prefix, const char *host, char *const argv[])
{
	int fd;
	pid_t pid = lab_spawn(prefix, host, argv, &fd);
	ck_assert_int_gt(pid, 0);
	char line[128];
	ck_assert_int_gt(lab_read_line(fd, line, sizeof(line), 5000), 0);
	close(fd); /* punch ignores SIGPIPE: its later progress lines may go nowhere */
	return pid;
}

static pid_t start_rendezvous(const char *prefix)
{
	return start_server(prefix, "server",
			    (char *const[]){punch, "serve", "--port", RENDEZVOUS_PORT, "--timeout", "300", NULL});
}

/* One punching attempt between hosts a and b; 1 if both sides saw the
 * path open. lport differs per attempt so no NAT state carries over. */
static int punch_pair(const char *prefix, const char *session, int lport, int prflx)
{
	char port[16];
	snprintf(port, sizeof(port), "%d", lport);
	char *const argv[] = {punch, "client", "203.0.113.1", RENDEZVOUS_PORT, (char *)session,
			      "--lport", port, "--time", "3", prflx ? NULL : "--no-prflx", NULL};
	int fa, fb;
	pid_t pa = lab_spawn(prefix, "a", argv, &fa);
	pid_t pb = lab_spawn(prefix, "b", argv, &fb);
	ck_assert_int_gt(pa, 0);
	ck_assert_int_gt(pb, 0);
	/* A few short lines each: they fit in the pipe, read them after. */
	int ra = lab_wait(pa, 20000), rb = lab_wait(pb, 20000);
	char la[128], lb[128], last_a[128] = "", last_b[128] = "";
	while (lab_read_line(fa, la, sizeof(la), 100) > 0)
		snprintf(last_a, sizeof(last_a), "%s", la);
	while (lab_read_line(fb, lb, sizeof(lb), 100) > 0)
		snprintf(last_b, sizeof(last_b), "%s", lb);
	close(fa);
	close(fb);
	/* 2 = usage/rendezvous error: the lab itself is broken. */
	ck_assert_msg(ra != 2 && rb != 2 && ra >= 0 && rb >= 0, "punch client error (a=%d: %s, b=%d: %s)", ra,
		      last_a, rb, last_b);
	return ra == 0 && rb == 0;
}

START_TEST(test_lab_topology_and_down)
{
	if (lab_skip())
		return;
	need_punch();
	const char *p = pfx_topo;
	ck_assert_int_eq(lab_up(p, "port", "port"), 0);
	ck_assert_int_eq(count_ns(p), 5);

	const struct {
		const char *host, *ip;
	} want[] = {{"a", "198.18.1.2"},     {"b", "198.18.2.2"},     {"server", "203.0.113.1"},
		    {"nata", "203.0.113.11"}, {"natb", "203.0.113.12"}};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		char ip[64];
		ck_assert_int_eq(lab_addr(p, want[i].host, ip, sizeof(ip)), 0);
		ck_assert_str_eq(ip, want[i].ip);
	}

	/* The server sees each host as its NAT's public address. */
	pid_t srv = start_rendezvous(p);
	char out[256];
	ck_assert_int_eq(lab_run(p, "a", (char *const[]){punch, "whoami", "203.0.113.1", RENDEZVOUS_PORT, NULL},
				 out, sizeof(out), 10000),
			 0);
	ck_assert_msg(strstr(out, "mapped 203.0.113.11:"), "a seen as: %s", out);
	ck_assert_int_eq(lab_run(p, "b", (char *const[]){punch, "whoami", "203.0.113.1", RENDEZVOUS_PORT, NULL},
				 out, sizeof(out), 10000),
			 0);
	ck_assert_msg(strstr(out, "mapped 203.0.113.12:"), "b seen as: %s", out);

	/* The LANs are private: the server cannot reach host a unsolicited. */
	pid_t echo = start_server(p, "a", (char *const[]){punch, "echo", "--port", ECHO_PORT, NULL});
	ck_assert_int_eq(lab_run(p, "server",
				 (char *const[]){punch, "ping", "198.18.1.2", ECHO_PORT, "--count", "5", "--wait",
						 "300", NULL},
				 out, sizeof(out), 10000),
			 1);
	ck_assert_msg(strstr(out, "recv 0"), "server reached a behind its NAT: %s", out);
	lab_kill(echo);

	/* down leaves nothing: namespaces and the processes in them. */
	ck_assert_int_eq(lab_down(p), 0);
	ck_assert_int_eq(count_ns(p), 0);
	/* The rendezvous server died with its namespace (lab_wait reaps it). */
	ck_assert_int_ge(lab_wait(srv, 2000), 0);
	/* Idempotent, so traps may call it twice. */
	ck_assert_int_eq(lab_down(p), 0);
}
END_TEST

START_TEST(test_lab_same_nat)
{
	if (lab_skip())
		return;
	need_punch();
	const char *p = pfx_same;
	ck_assert_int_eq(lab_up(p, "port", "same"), 0);
	ck_assert_int_eq(count_ns(p), 4);
	char ip[64];
	ck_assert_int_eq(lab_addr(p, "b", ip, sizeof(ip)), 0);
	ck_assert_str_eq(ip, "198.18.1.3");

	pid_t srv = start_rendezvous(p);
	char out[256];
	ck_assert_int_eq(lab_run(p, "b", (char *const[]){punch, "whoami", "203.0.113.1", RENDEZVOUS_PORT, NULL},
				 out, sizeof(out), 10000),
			 0);
	ck_assert_msg(strstr(out, "mapped 203.0.113.11:"), "b seen as: %s", out);
	/* On one LAN the hosts reach each other directly. */
	pid_t echo = start_server(p, "b", (char *const[]){punch, "echo", "--port", ECHO_PORT, NULL});
	ck_assert_int_eq(lab_run(p, "a",
				 (char *const[]){punch, "ping", "198.18.1.3", ECHO_PORT, "--count", "5", NULL}, out,
				 sizeof(out), 10000),
			 0);
	ck_assert_msg(strstr(out, "recv 5"), "a to b on the LAN: %s", out);
	lab_kill(echo);
	lab_kill(srv);
	ck_assert_int_eq(lab_down(p), 0);
	ck_assert_int_eq(count_ns(p), 0);
}
END_TEST

START_TEST(test_lab_bad_args_leave_nothing)
{
	if (lab_skip())
		return;
	const char *p = pfx_bad;
	ck_assert_int_ne(lab_up(p, "bogus", "port"), 0);
	ck_assert_int_eq(count_ns(p), 0);
	ck_assert_int_ne(lab_up(p, "full", "same"), 0); /* full cone forwards to one host only */
	ck_assert_int_eq(count_ns(p), 0);
	ck_assert_int_ne(lab_up("bad prefix!", "port", "port"), 0);
	char ip[64];
	ck_assert_int_ne(lab_addr(p, "a", ip, sizeof(ip)), 0);
}
END_TEST

static const char *const types[] = {"none", "full", "restricted", "port", "symmetric"};
#define NTYPES (int)(sizeof(types) / sizeof(types[0]))

/* testbed.md: cone+cone pairs open; symmetric fails against port-
 * restricted and symmetric; symmetric opens against full or restricted
 * cone (and no NAT) only because the other side answers the address
 * packets arrive from. */
static int expect_open(int a, int b)
{
	int sa = !strcmp(types[a], "symmetric"), sb = !strcmp(types[b], "symmetric");
	int pa = !strcmp(types[a], "port"), pb = !strcmp(types[b], "port");
	if (sa && sb)
		return 0;
	if ((sa && pb) || (sb && pa))
		return 0;
	return 1;
}

START_TEST(test_lab_punch_matrix)
{
	if (lab_skip())
		return;
	need_punch();
	const char *p = pfx_matrix;
	ck_assert_int_eq(lab_up(p, "port", "port"), 0);
	pid_t srv = start_rendezvous(p);

	int got[NTYPES][NTYPES];
	int lport = 21000, bad = 0;
	for (int a = 0; a < NTYPES; a++) {
		for (int b = 0; b < NTYPES; b++) {
			ck_assert_int_eq(lab_set_nat(p, "nata", types[a]), 0);
			ck_assert_int_eq(lab_set_nat(p, "natb", types[b]), 0);
			char session[32];
			snprintf(session, sizeof(session), "m%d%d", a, b);
			got[a][b] = punch_pair(p, session, ++lport, 1);
			bad += got[a][b] != expect_open(a, b);
		}
	}
	fprintf(stderr, "lab: measured punch matrix (rows NAT A, columns NAT B):\n%-11s", "");
	for (int b = 0; b < NTYPES; b++)
		fprintf(stderr, " %-10s", types[b]);
	fprintf(stderr, "\n");
	for (int a = 0; a < NTYPES; a++) {
		fprintf(stderr, "%-11s", types[a]);
		for (int b = 0; b < NTYPES; b++)
			fprintf(stderr, " %-10s", got[a][b] ? "open" : "fail");
		fprintf(stderr, "%s\n", "");
	}
	for (int a = 0; a < NTYPES; a++)
		for (int b = 0; b < NTYPES; b++)
			ck_assert_msg(got[a][b] == expect_open(a, b), "%s+%s: %s, expected %s (%d cells wrong)",
				      types[a], types[b], got[a][b] ? "open" : "fail",
				      expect_open(a, b) ? "open" : "fail", bad);

	/* The peer-reflexive answer is what opens symmetric+full cone. */
	ck_assert_int_eq(lab_set_nat(p, "nata", "symmetric"), 0);
	ck_assert_int_eq(lab_set_nat(p, "natb", "full"), 0);
	ck_assert_int_eq(punch_pair(p, "noprflx", ++lport, 0), 0);
	ck_assert_int_eq(punch_pair(p, "prflx", ++lport, 1), 1);
	lab_kill(srv);
	ck_assert_int_eq(lab_down(p), 0);
}
END_TEST

static int whoami_port(const char *p, const char *lport)
{
	char out[256];
	ck_assert_int_eq(lab_run(p, "a",
				 (char *const[]){punch, "whoami", "203.0.113.1", RENDEZVOUS_PORT, "--lport",
						 (char *)lport, NULL},
				 out, sizeof(out), 10000),
			 0);
	const char *m = strstr(out, "mapped 203.0.113.11:");
	ck_assert_msg(m != NULL, "whoami: %s", out);
	return atoi(m + strlen("mapped 203.0.113.11:"));
}

/* Flushing a symmetric NAT is a rebinding: the same host socket comes
 * out on a new public port; without a flush the mapping is kept. */
START_TEST(test_lab_flush_rebinds)
{
	if (lab_skip())
		return;
	need_punch();
	const char *p = pfx_flush;
	ck_assert_int_eq(lab_up(p, "symmetric", "port"), 0);
	pid_t srv = start_rendezvous(p);
	int first = whoami_port(p, "4000");
	ck_assert_int_eq(whoami_port(p, "4000"), first);
	/* Random ports may collide once in 64k; three tries make a false
	 * failure vanishingly rare. */
	int changed = 0;
	for (int i = 0; i < 3 && !changed; i++) {
		ck_assert_int_eq(lab_flush(p, "nata"), 0);
		changed = whoami_port(p, "4000") != first;
	}
	ck_assert_msg(changed, "flush did not change the symmetric mapping of port %d", first);
	ck_assert_int_ne(lab_flush(p, "server"), 0);
	lab_kill(srv);
	ck_assert_int_eq(lab_down(p), 0);
}
END_TEST

struct ping_stats {
	int sent, recv;
	double loss, min, avg, max;
};

static void ping_from_a(const char *p, const char *ip, const char *count, struct ping_stats *s)
{
	char out[256];
	memset(s, 0, sizeof(*s));
	int rc = lab_run(p, "a",
			 (char *const[]){punch, "ping", (char *)ip, ECHO_PORT, "--count", (char *)count,
					 "--interval", "5", "--wait", "1000", NULL},
			 out, sizeof(out), 30000);
	ck_assert_msg(rc == 0, "ping %s failed (%d): %s", ip, rc, out);
	ck_assert_msg(sscanf(out, "sent %d recv %d loss %lf%% rtt min/avg/max %lf/%lf/%lf", &s->sent, &s->recv,
			     &s->loss, &s->min, &s->avg, &s->max) == 6,
		      "ping output: %s", out);
	fprintf(stderr, "lab: ping %s: %s", ip, out);
}

START_TEST(test_lab_impairment)
{
	if (lab_skip())
		return;
	need_punch();
	const char *p = pfx_impair;
	/* B without NAT, so a can reach an echo on b: that path is routed
	 * through the WAN router (FORWARD), the server path ends on it. */
	ck_assert_int_eq(lab_up(p, "port", "none"), 0);
	pid_t e1 = start_server(p, "server", (char *const[]){punch, "echo", "--port", ECHO_PORT, NULL});
	pid_t e2 = start_server(p, "b", (char *const[]){punch, "echo", "--port", ECHO_PORT, NULL});
	struct ping_stats s;

	ping_from_a(p, "203.0.113.1", "100", &s);
	ck_assert_int_eq(s.recv, s.sent);
	ck_assert_double_lt(s.avg, 10.0);

	/* 30 ms ± 10 ms each way, 10 % loss each way. */
	ck_assert_int_eq(lab_impair(p, 30, 10, 10), 0);
	const char *dst[] = {"203.0.113.1", "198.18.2.2"};
	for (int i = 0; i < 2; i++) {
		ping_from_a(p, dst[i], "400", &s);
		/* Round trip: two independent holds of 20..40 ms. */
		ck_assert_double_ge(s.min, 2 * (30 - 10) - 1.0);
		ck_assert_double_ge(s.avg, 2 * 30 - 5.0);
		ck_assert_double_le(s.avg, 2 * 30 + 15.0);
		ck_assert_double_ge(s.max - s.min, 10.0); /* jitter is there */
		/* Round-trip loss 1 - 0.9^2 = 19 %; with 400 probes ± 2 %. */
		ck_assert_double_ge(s.loss, 9.0);
		ck_assert_double_le(s.loss, 30.0);
	}

	/* Loss only. */
	ck_assert_int_eq(lab_impair(p, 0, 0, 30), 0);
	ping_from_a(p, "203.0.113.1", "400", &s);
	ck_assert_double_ge(s.loss, 40.0); /* 1 - 0.7^2 = 51 % */
	ck_assert_double_le(s.loss, 62.0);
	ck_assert_double_lt(s.avg, 10.0);

	/* Off restores a clean path. */
	ck_assert_int_eq(lab_impair_off(p), 0);
	ping_from_a(p, "198.18.2.2", "100", &s);
	ck_assert_int_eq(s.recv, s.sent);
	ck_assert_double_lt(s.avg, 10.0);

	lab_kill(e1);
	lab_kill(e2);
	ck_assert_int_eq(lab_down(p), 0);
	ck_assert_int_eq(count_ns(p), 0);
}
END_TEST

Suite *lab_suite(void);
Suite *lab_suite(void)
{
	Suite *s = suite_create("lab");
	TCase *tc = tcase_create("lab");
	tcase_add_unchecked_fixture(tc, lab_setup, lab_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_lab_bad_args_leave_nothing);
	tcase_add_test(tc, test_lab_topology_and_down);
	tcase_add_test(tc, test_lab_same_nat);
	tcase_add_test(tc, test_lab_flush_rebinds);
	tcase_add_test(tc, test_lab_impairment);
	tcase_add_test(tc, test_lab_punch_matrix);
	suite_add_tcase(s, tc);
	return s;
}
