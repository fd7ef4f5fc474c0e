/* The NAT matrix: for every pair of NAT types (real nftables NAT in
 * network namespaces, tests/lab), a real server on the WAN and two real
 * clients behind the NATs place a call; the `connected` event must report
 * the expected path on both sides: direct wherever a hole can be punched
 * (by birthday probing where one side is symmetric and the other a
 * port-restricted cone: method "birthday"), the relay only where both
 * mappings are symmetric. The measured matrix, with the methods, is
 * printed. A dedicated test has birthday probing finish after the relay
 * fallback and checks the upgrade to the direct path. Needs root; says so
 * when it skips. */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lab.h"
#include "natcall.h"
#include "p2pcall/cli.h"
#include "proc.h"

/* Opened by birthday probing, at once or after the relay. */
static bool by_birthday(const char *method)
{
	return strcmp(method, "birthday") == 0 || strcmp(method, "relay>bday") == 0;
}

START_TEST(matrix)
{
	if (lab_skip())
		return;
	static const char *const types[] = { "none", "full", "restricted", "port", "symmetric" };
	enum { N = 5 };
	struct natcall_result res[N][N];
	int failures = 0;
	char report[8192] = "";
	size_t len = 0;

	len += (size_t)snprintf(report + len, sizeof(report) - len,
				"NAT matrix (A calls B; path and method seen by A/B, set-up ms at A):\n%-11s", "A \\ B");
	for (int j = 0; j < N; j++)
		len += (size_t)snprintf(report + len, sizeof(report) - len, " %-36s", types[j]);
	for (int i = 0; i < N; i++) {
		len += (size_t)snprintf(report + len, sizeof(report) - len, "\n%-11s", types[i]);
		for (int j = 0; j < N; j++) {
			if (j < i) {
				len += (size_t)snprintf(report + len, sizeof(report) - len, " %-36s", "(see mirror)");
				continue;
			}
			struct natcall_result *o = &res[i][j];
			ck_assert_msg(natcall_run(types[i], types[j], 0, NULL, o) == 0, "lab %s/%s did not come up",
				      types[i], types[j]);
			const char *want = natcall_expected_path(types[i], types[j]);
			bool bd = natcall_needs_birthday(types[i], types[j]);
			/* Birthday probing needs more than the relay fallback's
			 * 1 s in ~6 % of calls (P(no hit in 700 probes) =
			 * e^-2.8): then the call starts on the relay and moves
			 * to the direct path (`path' event) when it opens. */
			for (int k = 0; bd && k < 2; k++) {
				struct natcall_result *x = o;
				char *path = k ? x->path_b : x->path_a, *m = k ? x->method_b : x->method_a;
				const char *up = k ? x->upgrade_b : x->upgrade_a;
				if (strcmp(path, "relay") == 0 && strcmp(up, "birthday") == 0) {
					snprintf(path, 16, "direct");
					snprintf(m, 16, "relay>bday");
				}
			}
			bool ok = strcmp(o->path_a, want) == 0 && strcmp(o->path_b, want) == 0 &&
				  o->status_a == EXIT_OK && o->status_b == EXIT_OK;
			/* The method: birthday exactly where plain punching
			 * cannot work (the normal checks have a head start). */
			if (strcmp(want, "relay") == 0)
				ok = ok && strcmp(o->method_a, "relay") == 0 && strcmp(o->method_b, "relay") == 0;
			else
				ok = ok && by_birthday(o->method_a) == bd && by_birthday(o->method_b) == bd;
			/* Birthday's 256 extra sockets are closed once the path
			 * is chosen (a client has ~15 descriptors otherwise). */
			ok = ok && o->fds_a >= 0 && o->fds_a < 40 && o->fds_b >= 0 && o->fds_b < 40;
			failures += !ok;
			char cell[80];
			snprintf(cell, sizeof(cell), "%.15s/%.15s %.15s/%.15s %.0f%s", o->path_a, o->path_b, o->method_a,
				 o->method_b, o->setup_ms, ok ? "" : " FAIL");
			len += (size_t)snprintf(report + len, sizeof(report) - len, " %-36s", cell);
		}
	}
	struct natcall_result same;
	len = strlen(report);
	ck_assert_int_eq(natcall_run("port", "same", 0, NULL, &same), 0);
	bool same_ok = strcmp(same.path_a, "direct") == 0 && strcmp(same.path_b, "direct") == 0 &&
		       same.status_a == EXIT_OK;
	failures += !same_ok;
	snprintf(report + len, sizeof(report) - len,
		 "\nboth behind one port-restricted NAT: %s/%s %s/%s %.0f ms%s\n", same.path_a, same.path_b,
		 same.method_a, same.method_b, same.setup_ms, same_ok ? "" : " FAIL");
	fputs(report, stderr);
	ck_assert_msg(failures == 0, "%d NAT pairings did not connect as expected:\n%s", failures, report);
}
END_TEST

/* --relay never where no hole can be punched: the call fails cleanly with
 * reason network (exit 9) once the checks give up, never a crash. */
START_TEST(relay_never_fails_cleanly)
{
	if (lab_skip())
		return;
	struct natcall_result r;
	ck_assert_int_eq(natcall_run("symmetric", "symmetric", 0, (const char *[]){ "--relay", "never", NULL }, &r), 0);
	ck_assert_str_eq(r.path_a, "-");
	ck_assert_int_eq(r.status_a, EXIT_NETWORK);
	ck_assert_msg(r.status_b >= 0 && r.status_b < 128, "bob ended abnormally: %d", r.status_b);
}
END_TEST

/* Relay first, then direct: with a 1.5 s head start (test knob), the
 * relay fallback (1 s) carries the call before birthday probing opens
 * the direct path; both sides then report a `path' event to the direct
 * path with method birthday, and the call ends normally. */
START_TEST(relay_then_birthday_upgrade)
{
	if (lab_skip())
		return;
	struct natcall_result r;
	ck_assert_int_eq(natcall_run_env("symmetric", "port", 0, NULL, "P2PCALL_BIRTHDAY_HEADSTART_MS=1500", "4", &r),
			 0);
	fprintf(stderr, "symmetric/port, birthday after the relay: connected %s/%s (%s/%s), then %s/%s; fds %d/%d\n",
		r.path_a, r.path_b, r.method_a, r.method_b, r.upgrade_a, r.upgrade_b, r.fds_a, r.fds_b);
	ck_assert_str_eq(r.path_a, "relay");
	ck_assert_str_eq(r.path_b, "relay");
	ck_assert_str_eq(r.method_a, "relay");
	ck_assert_str_eq(r.upgrade_a, "birthday");
	ck_assert_str_eq(r.upgrade_b, "birthday");
	ck_assert_int_eq(r.status_a, EXIT_OK);
	ck_assert_int_eq(r.status_b, EXIT_OK);
	/* The extra sockets went with the upgrade (bob's ~15 otherwise). */
	ck_assert_msg(r.fds_a >= 0 && r.fds_a < 40 && r.fds_b >= 0 && r.fds_b < 40, "descriptors: %d, %d", r.fds_a,
		      r.fds_b);
}
END_TEST

Suite *nat_matrix_suite(void)
{
	Suite *s = suite_create("nat_matrix");
	TCase *c = tcase_create("lab");
	tcase_set_timeout(c, 600);
	tcase_add_unchecked_fixture(c, NULL, natcall_cleanup);
	tcase_add_test(c, matrix);
	tcase_add_test(c, relay_never_fails_cleanly);
	tcase_add_test(c, relay_then_birthday_upgrade);
	suite_add_tcase(s, c);
	return s;
}
