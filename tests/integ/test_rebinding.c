/* NAT rebinding mid-call, in the NAT lab: bob sits behind a symmetric NAT
 * whose conntrack table is flushed during the call, so his media socket
 * gets a new public port (and his signalling connection dies with it).
 * The call must go on: alice re-validates and adopts bob's new address
 * (a `path` event with it), the call ends normally, and bob reconnects to
 * the server by himself. Needs root; says so when it skips. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lab.h"
#include "natcall.h"
#include "p2pcall/cli.h"
#include "proc.h"

#define T 15000 /* ms */

static char prefix[64];

static void setup(void) { lab_prefix(prefix, sizeof(prefix), "rb"); }
static void teardown(void) { lab_down(prefix); }

START_TEST(call_follows_a_rebinding)
{
	if (lab_skip())
		return;
	char line[2048], server[64], id[96], before[64], after[64], tone[128], out_a[128], out_b[128];
	/* Media flows both ways (a tone longer than the call), so the new
	 * address shows up in the first RTP packet after the rebinding. */
	snprintf(tone, sizeof(tone), "/tmp/%s-tone.wav", prefix);
	snprintf(out_a, sizeof(out_a), "/tmp/%s-a.wav", prefix);
	snprintf(out_b, sizeof(out_b), "/tmp/%s-b.wav", prefix);
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "sox -n -r 48000 -c 1 -b 16 %s synth 15 sine 440 2>/dev/null", tone);
	ck_assert_int_eq(system(cmd), 0);
	ck_assert_int_eq(lab_up(prefix, "full", "symmetric"), 0);
	ck_assert_int_eq(lab_addr(prefix, "server", server, sizeof(server)), 0);
	char *bin = (char *)test_bin();
	int srv_out, a_out, b_out;
	pid_t srv = lab_spawn(prefix, "server",
			      (char *const[]){ bin, "-q", "--serve", "--listen", "0.0.0.0:7878", "--keepalive", "2", NULL },
			      &srv_out);
	usleep(300000);
	snprintf(id, sizeof(id), "bob@%s", server);
	pid_t b = lab_spawn(prefix, "b", (char *const[]){ bin, "--json", "--input", tone, "--output", out_b, "--auto-answer", "--once", id, NULL }, &b_out);
	ck_assert_int_eq(natcall_read_event(b_out, "registered", line, sizeof(line)), 0);
	snprintf(id, sizeof(id), "alice@%s", server);
	pid_t a = lab_spawn(prefix, "a", (char *const[]){ bin, "--json", "--input", tone, "--output", out_a, "--duration", "8", id, "bob", NULL }, &a_out);
	ck_assert_int_eq(natcall_read_event(a_out, "connected", line, sizeof(line)), 0);
	ck_assert_str_eq(json_field(line, "path", before, sizeof(before)), "direct");
	json_field(line, "remote", before, sizeof(before));

	usleep(500000);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ck_assert_int_eq(lab_flush(prefix, "natb"), 0);
	/* bob's next RTP packet comes from his new port: alice checks that
	 * address at once and moves the call there. */
	ck_assert_msg(natcall_read_event(a_out, "path", line, sizeof(line)) == 0, "alice never followed bob's new address");
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double took = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	fprintf(stderr, "rebinding: alice followed bob's new address %.0f ms after the flush\n", took * 1000);
	ck_assert_msg(took < 1.5, "following the rebinding took %.2f s (goal: audio back within 1 s)", took);
	json_field(line, "remote", after, sizeof(after));
	ck_assert_msg(strcmp(before, after) != 0, "path event without a new address: %s", line);
	ck_assert_int_eq(strncmp(before, after, strcspn(before, ":")), 0); /* same NAT, new port */
	ck_assert_int_eq(natcall_read_event(a_out, "ended", line, sizeof(line)), 0);
	char reason[32];
	ck_assert_str_eq(json_field(line, "reason", reason, sizeof(reason)), "hangup");
	ck_assert_int_eq(lab_wait(a, T), EXIT_OK);

	/* bob lost the server with his old mapping and came back. */
	ck_assert_int_eq(natcall_read_event(b_out, "disconnected", line, sizeof(line)), 0);
	ck_assert_int_eq(natcall_read_event(b_out, "registered", line, sizeof(line)), 0);
	lab_kill(b);
	lab_kill(srv);
	unlink(tone);
	unlink(out_a);
	unlink(out_b);
	close(srv_out);
	close(a_out);
	close(b_out);
}
END_TEST

Suite *rebinding_suite(void)
{
	Suite *s = suite_create("rebinding");
	TCase *c = tcase_create("lab");
	tcase_set_timeout(c, 120);
	tcase_add_unchecked_fixture(c, setup, teardown);
	tcase_add_test(c, call_follows_a_rebinding);
	suite_add_tcase(s, c);
	return s;
}
