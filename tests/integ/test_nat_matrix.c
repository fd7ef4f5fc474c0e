/* The NAT matrix: for every pair of NAT types (real nftables NAT in
 * network namespaces, tests/lab), a real server on the WAN and two real
 * clients behind the NATs place a call; the `connected` event must report
 * the expected path on both sides: direct wherever a hole can be punched,
 * the relay only where both mappings defeat punching. The measured matrix
 * is printed. Needs root; says so when it skips. */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lab.h"
#include "p2pcall/cli.h"
#include "proc.h"

#define T 15000

static char prefix[64];

static void lab_teardown(void)
{
	if (prefix[0])
		lab_down(prefix);
}

/* Symmetric mapping defeats punching against another endpoint-dependent
 * filter: symmetric vs symmetric, and symmetric vs port-restricted. */
static const char *expected_path(const char *a, const char *b)
{
	bool sa = strcmp(a, "symmetric") == 0, sb = strcmp(b, "symmetric") == 0;
	if ((sa && (sb || strcmp(b, "port") == 0)) || (sb && strcmp(a, "port") == 0))
		return "relay";
	return "direct";
}

struct outcome {
	char path_a[16], path_b[16];
	double setup_ms;
	int status_a, status_b;
};

static int read_event(int fd, const char *name, char *line, size_t n, int timeout_ms)
{
	char want[64];
	snprintf(want, sizeof(want), "\"event\":\"%s\"", name);
	for (;;) {
		ssize_t r = lab_read_line(fd, line, n, timeout_ms);
		if (r <= 0)
			return -1;
		if (strstr(line, want))
			return 0;
	}
}

/* One call across the lab built with TYPE_A / TYPE_B. */
static void call_across(const char *type_a, const char *type_b, struct outcome *o)
{
	char line[2048], field[64], server[64], id_a[96], id_b[96];
	memset(o, 0, sizeof(*o));
	snprintf(o->path_a, sizeof(o->path_a), "-");
	snprintf(o->path_b, sizeof(o->path_b), "-");
	lab_prefix(prefix, sizeof(prefix), "mx");
	ck_assert_msg(lab_up(prefix, type_a, type_b) == 0, "lab %s/%s did not come up", type_a, type_b);
	ck_assert_int_eq(lab_addr(prefix, "server", server, sizeof(server)), 0);

	const char *bin = test_bin();
	int srv_out, a_out, b_out;
	pid_t srv = lab_spawn(prefix, "server",
			      (char *const[]){ (char *)bin, "-q", "--serve", "--listen", "0.0.0.0:7878", NULL }, &srv_out);
	ck_assert_int_gt(srv, 0);
	usleep(300000);
	snprintf(id_b, sizeof(id_b), "bob@%s", server);
	pid_t b = lab_spawn(prefix, "b",
			    (char *const[]){ (char *)bin, "--json", "--no-audio", "--auto-answer", "--once", id_b, NULL }, &b_out);
	ck_assert_msg(read_event(b_out, "registered", line, sizeof(line), T) == 0, "bob did not register");
	snprintf(id_a, sizeof(id_a), "alice@%s", server);
	pid_t a = lab_spawn(prefix, "a",
			    (char *const[]){ (char *)bin, "--json", "--no-audio", "--duration", "1", id_a, "bob", NULL }, &a_out);

	if (read_event(a_out, "connected", line, sizeof(line), T) == 0) {
		json_field(line, "path", o->path_a, sizeof(o->path_a));
		o->setup_ms = atof(json_field(line, "setup_ms", field, sizeof(field)));
	}
	if (read_event(b_out, "connected", line, sizeof(line), T) == 0)
		json_field(line, "path", o->path_b, sizeof(o->path_b));
	o->status_a = lab_wait(a, T);
	o->status_b = lab_wait(b, T);
	lab_kill(srv);
	close(srv_out);
	close(a_out);
	close(b_out);
	lab_down(prefix);
	prefix[0] = '\0';
}

START_TEST(matrix)
{
	if (lab_skip())
		return;
	static const char *const types[] = { "none", "full", "restricted", "port", "symmetric" };
	enum { N = 5 };
	struct outcome res[N][N];
	int failures = 0;
	char report[8192] = "";
	size_t len = 0;

	len += (size_t)snprintf(report + len, sizeof(report) - len,
				"NAT matrix (A calls B; path seen by A/B, set-up ms at A):\n%-11s", "A \\ B");
	for (int j = 0; j < N; j++)
		len += (size_t)snprintf(report + len, sizeof(report) - len, " %-20s", types[j]);
	for (int i = 0; i < N; i++) {
		len += (size_t)snprintf(report + len, sizeof(report) - len, "\n%-11s", types[i]);
		for (int j = 0; j < N; j++) {
			if (j < i) {
				len += (size_t)snprintf(report + len, sizeof(report) - len, " %-20s", "(see mirror)");
				continue;
			}
			struct outcome *o = &res[i][j];
			call_across(types[i], types[j], o);
			const char *want = expected_path(types[i], types[j]);
			bool ok = strcmp(o->path_a, want) == 0 && strcmp(o->path_b, want) == 0 &&
				  o->status_a == EXIT_OK && o->status_b == EXIT_OK;
			failures += !ok;
			char cell[64];
			snprintf(cell, sizeof(cell), "%s/%s %.0f%s", o->path_a, o->path_b, o->setup_ms,
				 ok ? "" : " FAIL");
			len += (size_t)snprintf(report + len, sizeof(report) - len, " %-20s", cell);
		}
	}
	struct outcome same;
	call_across("port", "same", &same);
	bool same_ok = strcmp(same.path_a, "direct") == 0 && strcmp(same.path_b, "direct") == 0 &&
		       same.status_a == EXIT_OK;
	failures += !same_ok;
	snprintf(report + len, sizeof(report) - len,
		 "\nboth behind one port-restricted NAT: %s/%s %.0f ms%s\n", same.path_a, same.path_b,
		 same.setup_ms, same_ok ? "" : " FAIL");
	fputs(report, stderr);
	ck_assert_msg(failures == 0, "%d NAT pairings did not connect as expected:\n%s", failures, report);
}
END_TEST

Suite *nat_matrix_suite(void)
{
	Suite *s = suite_create("nat_matrix");
	TCase *c = tcase_create("lab");
	tcase_set_timeout(c, 600);
	tcase_add_unchecked_fixture(c, NULL, lab_teardown);
	tcase_add_test(c, matrix);
	suite_add_tcase(s, c);
	return s;
}
