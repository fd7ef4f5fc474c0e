/* A whole call under valgrind: the server and both clients run under
 * memcheck while alice sends speech to bob (real Opus, jitter buffer,
 * files), and all three must exit cleanly with no memory error and no
 * definite leak (valgrind's exit status 99 says otherwise). PortAudio's
 * own uninitialised probing is suppressed (tests/support/valgrind.supp). */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audio_cmp.h"
#include "p2pcall/cli.h"
#include "proc.h"

#define T 60000 /* ms: valgrind is some 30x slower */

static char dir[64];

static void teardown(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (dir[0] && system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
}

START_TEST(call_is_valgrind_clean)
{
	char cmd[1024], wrapper[128], wav[256], out[256], out_a[256], id[64], line[4096], err[8192];
	const char *bin = test_bin();
	snprintf(cmd, sizeof(cmd), "ldd %s | grep -q libasan", bin);
	if (system(cmd) == 0) {
		fprintf(stderr, "SKIP valgrind: %s is an ASan build (valgrind runs the plain build)\n", bin);
		return;
	}
	if (system("command -v valgrind >/dev/null") != 0)
		ck_abort_msg("valgrind is missing: run contrib/install-deps.sh --test");
	snprintf(dir, sizeof(dir), "/tmp/p2pcall-vg.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_int_eq(audio_make_speech(dir, "alice", "One two three, testing under valgrind.", wav, sizeof(wav)), 0);
	snprintf(out, sizeof(out), "%s/bob-heard.wav", dir);
	/* Files on both ends: no sound device, so no ALSA plugin is loaded
	 * (some use instructions valgrind cannot run). */
	snprintf(out_a, sizeof(out_a), "%s/alice-heard.wav", dir);

	const char *src = getenv("P2PCALL_SRCDIR") ? getenv("P2PCALL_SRCDIR") : ".";
	snprintf(wrapper, sizeof(wrapper), "%s/vg.sh", dir);
	FILE *f = fopen(wrapper, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "#!/bin/sh\nexec valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite "
		   "--suppressions=%s/tests/support/valgrind.supp %s \"$@\"\n", src, bin);
	fclose(f);
	chmod(wrapper, 0755);
	setenv("P2PCALL_BIN", wrapper, 1); /* this test process only */

	struct test_server s;
	struct proc bob, alice;
	ck_assert_msg(server_start(&s, NULL) == 0, "server under valgrind did not start: %s", s.log);
	snprintf(id, sizeof(id), "bob@127.0.0.1:%d", s.port);
	ck_assert_int_eq(proc_start(&bob, (const char *[]){ "--json", "--auto-answer", "--once", "--output", out,
							    "--input", wav, id, NULL }), 0);
	ck_assert_int_eq(proc_event(&bob, "registered", line, sizeof(line), T), 0);
	snprintf(id, sizeof(id), "alice@127.0.0.1:%d", s.port);
	ck_assert_int_eq(proc_start(&alice, (const char *[]){ "--json", "--input", wav, "--output", out_a, "--duration",
							      "6", id, "bob", NULL }), 0);
	ck_assert_int_eq(proc_event(&alice, "connected", line, sizeof(line), T), 0);
	int sa = proc_wait(&alice, T), sb = proc_wait(&bob, T);
	proc_stderr(&alice, err, sizeof(err));
	ck_assert_msg(sa == EXIT_OK, "alice exited %d under valgrind:\n%s", sa, err);
	proc_stderr(&bob, err, sizeof(err));
	ck_assert_msg(sb == EXIT_OK, "bob exited %d under valgrind:\n%s", sb, err);
	proc_signal(&s.p, SIGTERM);
	int ss = proc_wait(&s.p, T);
	proc_stderr(&s.p, err, sizeof(err));
	ck_assert_msg(ss == 0, "server exited %d under valgrind:\n%s", ss, err);
	struct stat st;
	ck_assert_int_eq(stat(out, &st), 0);
	/* Some audio arrived: half a second of the ~2.5 s sentence (valgrind
	 * runs the codec, DSP and crypto many times slower than real time, so
	 * a busy machine gets less through than an idle one). */
	ck_assert_int_gt(st.st_size, 44 + 48000);
	proc_stop(&alice);
	proc_stop(&bob);
	server_stop(&s);
}
END_TEST

Suite *valgrind_suite(void)
{
	Suite *s = suite_create("valgrind");
	TCase *c = tcase_create("call");
	tcase_set_timeout(c, 240);
	tcase_add_checked_fixture(c, NULL, teardown);
	tcase_add_test(c, call_is_valgrind_clean);
	suite_add_tcase(s, c);
	return s;
}
