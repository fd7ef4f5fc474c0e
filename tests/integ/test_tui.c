/* The client in a terminal: the real binary inside tmux, driven by keys
 * (send-keys) and read off the screen (capture-pane). A server and the
 * caller run as ordinary child processes with --json; the callee runs in
 * a tmux pane WITHOUT --auto-answer, so a person's keys decide. After the
 * callee exits, `stty -a` runs in the same command line (before the shell
 * touches the terminal again) and shows whether it restored the terminal.
 * Without tmux the suite says so and skips. */
#include <check.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "audio_cmp.h"
#include "p2pcall/audio_file.h"
#include "p2pcall/cli.h"
#include "p2pcall/tui.h"
#include "proc.h"

#define T 8000 /* ms: bound for any one step */

static struct test_server S;
static char dir[64], tone[128], sock[64], bin[512];
static char line[4096], field[256], screen[65536];
static bool have_tmux;

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return system(cmd);
}

static bool tmux_present(void) { return system("command -v tmux >/dev/null 2>&1") == 0; }

/* One tmux server name per test run, chosen in the runner before it
 * forks a process per test: a failed assertion ends that process without
 * its teardown, so the next test and the runner's own teardown kill
 * whatever a failed test left behind. */
static void kill_tmux(void) { sh("tmux -L %s kill-server >/dev/null 2>&1", sock); }

static void run_setup(void)
{
	snprintf(sock, sizeof(sock), "p2pcall-tui-%d", (int)getpid());
	if (tmux_present())
		kill_tmux();
}

static void run_teardown(void)
{
	if (tmux_present())
		kill_tmux();
}

static void setup(void)
{
	have_tmux = tmux_present();
	if (!have_tmux)
		return;
	snprintf(dir, sizeof(dir), "/tmp/p2pcall-tui-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	/* A 30 s tone: longer than any test, so no file ends the call. */
	snprintf(tone, sizeof(tone), "%s/tone.wav", dir);
	ck_assert_int_eq(sh("sox -q -n -r 48000 -c 1 -b 16 '%s' synth 30 sine 440 vol 0.5", tone), 0);
	char real[PATH_MAX];
	ck_assert_ptr_nonnull(realpath(test_bin(), real));
	ck_assert_int_lt(snprintf(bin, sizeof(bin), "%s", real), (int)sizeof(bin));
	kill_tmux();
	ck_assert_msg(server_start(&S, NULL) == 0, "server did not start: %s", S.log);
	/* A plain shell with a known prompt, in a 120x20 pane; it ends by
	 * itself (and tmux with it) should even a killed test leave it. */
	ck_assert_int_eq(sh("tmux -L %s -f /dev/null new-session -d -x 120 -y 20 -s t "
			    "'env PS1=\"tui-test$ \" TERM=xterm timeout --foreground 120 bash --norc --noprofile'", sock), 0);
}

static void teardown(void)
{
	if (!have_tmux)
		return;
	kill_tmux();
	server_stop(&S);
	if (dir[0])
		sh("rm -rf '%s'", dir);
}

static void skip_without_tmux(void)
{
	if (!have_tmux)
		fprintf(stderr, "tui: SKIPPED: tmux is not installed (contrib/install-deps.sh --test)\n");
}

static void keys(const char *k)
{
	ck_assert_int_eq(sh("tmux -L %s send-keys -t t %s", sock, k), 0);
}

/* The pane's text now, into screen. */
static const char *pane(void)
{
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "tmux -L %s capture-pane -p -t t", sock);
	FILE *f = popen(cmd, "r");
	ck_assert_ptr_nonnull(f);
	size_t n = fread(screen, 1, sizeof(screen) - 1, f);
	screen[n] = '\0';
	pclose(f);
	return screen;
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Waits until the pane shows TEXT; returns the line that has it. */
static const char *wait_pane(const char *text)
{
	uint64_t until = now_ms() + T;
	do {
		const char *at = strstr(pane(), text);
		if (at) {
			while (at > screen && at[-1] != '\n')
				at--;
			return at;
		}
		usleep(100000);
	} while (now_ms() < until);
	ck_abort_msg("the pane never showed `%s'; it shows:\n%s", text, screen);
	return NULL;
}

/* bob in the pane, then `stty -a' as soon as it exits. Both run in a
 * script under a non-interactive sh: an interactive shell would restore
 * the terminal itself after a job that died of a signal, and hide what
 * p2pcall left behind. */
static void start_callee(const char *extra)
{
	char script[160];
	snprintf(script, sizeof(script), "%s/callee.sh", dir);
	FILE *f = fopen(script, "w");
	ck_assert_ptr_nonnull(f);
	/* Ctrl-C must reach p2pcall, not end the script before stty: sh
	 * ignores it (p2pcall installs its own handler all the same). */
	fprintf(f, "trap '' INT\necho $$ > '%s/sh.pid'\n", dir);
	fprintf(f, "'%s' \"$@\" --once bob@127.0.0.1:%d\necho EXIT=$?\n"
		   "stty -a | tr -s ' ;\\n' ' '\necho\necho STTY-END\n", bin, S.port);
	fclose(f);
	ck_assert_int_eq(sh("tmux -L %s send-keys -t t \"sh %s %s\" Enter", sock, script, extra), 0);
	wait_pane("registered"); /* as prose or JSON */
}

static void start_caller(struct proc *p)
{
	char id[64], out[160];
	snprintf(id, sizeof(id), "alice@127.0.0.1:%d", S.port);
	snprintf(out, sizeof(out), "%s/alice-heard.wav", dir);
	const char *argv[] = { "--json", "--input", tone, "--output", out, id, "bob", NULL };
	ck_assert_int_eq(proc_start(p, argv), 0);
	ck_assert_msg(proc_event(p, "ringing", line, sizeof(line), T) == 0, "alice: no ringing");
}

static void expect_event(struct proc *p, const char *event)
{
	ck_assert_msg(proc_event(p, event, line, sizeof(line), T) == 0, "alice: no `%s' event", event);
}

/* After bob exited with STATUS: the terminal is back in line mode with
 * echo, and no status line is left on the screen. */
static void expect_restored(int status)
{
	char want[32];
	snprintf(want, sizeof(want), "EXIT=%d", status);
	wait_pane("STTY-END");
	ck_assert_msg(strstr(screen, want), "bob did not exit with %d:\n%s", status, screen);
	const char *st = strstr(screen, want);
	ck_assert_msg(strstr(st, " icanon ") && !strstr(st, "-icanon"), "no icanon after exit:\n%s", st);
	ck_assert_msg(strstr(st, " echo ") && !strstr(st, "-echo "), "no echo after exit:\n%s", st);
}

/* In what a WAV file holds: the longest run of silent 20 ms windows,
 * and how many windows have sound. */
static void silence_runs(const char *path, int *longest, int *loud)
{
	struct audio_file_reader *r;
	char err[256];
	ck_assert_msg(audio_file_reader_open(&r, path, err, sizeof(err)) == 0, "%s", err);
	int16_t pcm[960];
	long n;
	int run = 0;
	*longest = *loud = 0;
	while ((n = audio_file_read(r, pcm, 960, err, sizeof(err))) == 960) {
		int peak = 0;
		for (long i = 0; i < n; i++)
			peak = abs(pcm[i]) > peak ? abs(pcm[i]) : peak;
		if (peak < 300) {
			run++;
			*longest = run > *longest ? run : *longest;
		} else {
			run = 0;
			(*loud)++;
		}
	}
	audio_file_reader_free(r);
}

/* The incoming call rings; `a' answers; the status line runs; `m'
 * mutes; `q' hangs up and the caller hears of it. */
START_TEST(answer_mute_hang_up)
{
	skip_without_tmux();
	if (!have_tmux)
		return;
	struct proc alice;
	char heard[160];
	snprintf(heard, sizeof(heard), "%s/bob-heard.wav", dir);
	char extra[512];
	snprintf(extra, sizeof(extra), "--input %s --output %s", tone, heard);
	start_callee(extra);
	start_caller(&alice);
	const char *ring = wait_pane("answer? [a]nswer / [r]eject");
	ck_assert_msg(strstr(ring, "incoming call from alice"), "ring line: %.200s", ring);

	keys("a");
	expect_event(&alice, "connected");
	ck_assert_str_eq(json_field(line, "path", field, sizeof(field)), "direct");
	/* Progress for people: registering, then which paths are tried. */
	ck_assert_ptr_nonnull(strstr(pane(), "registering as bob at 127.0.0.1:"));
	wait_pane("connecting to alice: trying ");
	/* The live line: call time first, the path, and the peer's tone on
	 * its meter once a second of figures has come. */
	const char *st = wait_pane("kbit/s");
	ck_assert_msg(strncmp(st, "0:0", 3) == 0 && strstr(st, "direct  code "), "status line: %.200s", st);
	/* The code to compare was said when the call was secured. */
	ck_assert_ptr_nonnull(strstr(pane(), "compare the code"));
	st = wait_pane("peer [#");
	ck_assert_msg(strstr(st, "rtt ") && strstr(st, "mic [#"), "status line: %.200s", st);
	/* One status line, redrawn in place: the time appears once. */
	sleep(1);
	pane();
	const char *first = strstr(screen, "kbit/s");
	ck_assert_msg(first && !strstr(first + 1, "kbit/s"), "not one status line:\n%s", screen);

	keys("m");
	st = wait_pane("MUTED");
	ck_assert_msg(strstr(st, "mic [--------]"), "muted line: %.200s", st);
	wait_pane("microphone muted");
	sleep(1);
	keys("'?'");
	wait_pane("keys: m mute/unmute");
	keys("m");
	wait_pane("microphone on");

	keys("q");
	expect_event(&alice, "ended");
	ck_assert_str_eq(json_field(line, "reason", field, sizeof(field)), "peer-hangup");
	ck_assert_int_eq(proc_wait(&alice, T), EXIT_OK);
	wait_pane("call with alice ended: hangup");
	expect_restored(EXIT_OK);
	proc_stop(&alice);
	/* alice heard bob's tone, then at least a second of silence (muted:
	 * the stream went on, silent), then the tone again. */
	char heard_by_alice[160];
	int longest, loud;
	snprintf(heard_by_alice, sizeof(heard_by_alice), "%s/alice-heard.wav", dir);
	silence_runs(heard_by_alice, &longest, &loud);
	ck_assert_msg(longest >= 45, "no silence while muted: longest silent run %d x 20 ms", longest);
	ck_assert_msg(loud >= 50, "too little of the tone: %d x 20 ms", loud);
}
END_TEST

START_TEST(reject)
{
	skip_without_tmux();
	if (!have_tmux)
		return;
	struct proc alice;
	start_callee("--no-audio");
	start_caller(&alice);
	wait_pane("answer? [a]nswer / [r]eject");
	keys("r");
	expect_event(&alice, "ended");
	ck_assert_str_eq(json_field(line, "reason", field, sizeof(field)), "rejected");
	ck_assert_int_eq(proc_wait(&alice, T), EXIT_REJECTED);
	expect_restored(EXIT_REJECTED);
	proc_stop(&alice);
}
END_TEST

/* Ctrl-C during a call hangs up like q (the peer is told), and the
 * terminal is restored on that path too. */
START_TEST(ctrl_c_hangs_up)
{
	skip_without_tmux();
	if (!have_tmux)
		return;
	struct proc alice;
	start_callee("--no-audio");
	start_caller(&alice);
	wait_pane("answer? [a]nswer / [r]eject");
	keys("a");
	expect_event(&alice, "connected");
	wait_pane("no audio");
	keys("C-c");
	expect_event(&alice, "ended");
	ck_assert_str_eq(json_field(line, "reason", field, sizeof(field)), "peer-hangup");
	expect_restored(EXIT_OK);
	proc_stop(&alice);
}
END_TEST

/* The pid of the p2pcall that the callee script runs. */
static pid_t callee_pid(void)
{
	char cmd[256], buf[64] = "";
	snprintf(cmd, sizeof(cmd), "pgrep -P \"$(cat '%s/sh.pid')\" -x p2pcall", dir);
	FILE *f = popen(cmd, "r");
	ck_assert_ptr_nonnull(f);
	char *got = fgets(buf, sizeof(buf), f);
	pclose(f);
	ck_assert_msg(got && atoi(buf) > 0, "no p2pcall under the pane's shell");
	return (pid_t)atoi(buf);
}

/* A connected call in the pane, then SIG sent to bob from outside: the
 * terminal comes back in line mode with echo all the same. */
static void killed_in_call(int sig, int status)
{
	struct proc alice;
	start_callee("--no-audio");
	start_caller(&alice);
	wait_pane("answer? [a]nswer / [r]eject");
	keys("a");
	expect_event(&alice, "connected");
	wait_pane("no audio");
	ck_assert_int_eq(kill(callee_pid(), sig), 0);
	expect_restored(status);
	proc_stop(&alice);
}

START_TEST(sigterm_restores_terminal)
{
	skip_without_tmux();
	if (have_tmux)
		killed_in_call(SIGTERM, EXIT_OK);
}
END_TEST

/* A crash (here a SIGSEGV from outside) restores the terminal too, and
 * still dies of its signal. */
START_TEST(crash_restores_terminal)
{
	skip_without_tmux();
	if (have_tmux)
		killed_in_call(SIGSEGV, 128 + SIGSEGV);
}
END_TEST

/* stderr to a file while stdin is the terminal: no terminal interface,
 * the plain lines of before (a, then Enter, answers), and not one
 * escape code in them. */
START_TEST(stderr_not_a_terminal_is_plain)
{
	skip_without_tmux();
	if (!have_tmux)
		return;
	struct proc alice;
	char err[160];
	snprintf(err, sizeof(err), "%s/bob.err", dir);
	ck_assert_int_eq(sh("tmux -L %s send-keys -t t \"%s --no-audio --once bob@127.0.0.1:%d 2>%s; echo EXIT=\\$?\" Enter",
			    sock, bin, S.port, err), 0);
	for (int i = 0; i < 50 && sh("grep -q 'registered as bob' '%s' 2>/dev/null", err) != 0; i++)
		usleep(100000);
	start_caller(&alice);
	for (int i = 0; i < 50 && sh("grep -q 'incoming call' '%s'", err) != 0; i++)
		usleep(100000);
	keys("a Enter");
	expect_event(&alice, "connected");
	proc_signal(&alice, SIGINT);
	expect_event(&alice, "ended");
	wait_pane("EXIT=0");
	FILE *f = fopen(err, "r");
	ck_assert_ptr_nonnull(f);
	size_t n = fread(screen, 1, sizeof(screen) - 1, f);
	screen[n] = '\0';
	fclose(f);
	ck_assert_msg(strstr(screen, "press a then Enter to answer"), "not the plain prompt:\n%s", screen);
	ck_assert_msg(strstr(screen, "p2pcall: connected to alice"), "no connected line:\n%s", screen);
	ck_assert_msg(!strchr(screen, '\033') && !strchr(screen, '\r') && !strchr(screen, '\a'),
		      "control characters in plain output:\n%s", screen);
	proc_stop(&alice);
}
END_TEST

/* --json on a terminal: JSON on stdout, no prompt, no status line; a
 * then Enter answers as before. */
START_TEST(json_on_a_terminal_is_plain)
{
	skip_without_tmux();
	if (!have_tmux)
		return;
	struct proc alice;
	start_callee("--json --no-audio");
	start_caller(&alice);
	wait_pane("\"event\":\"incoming\"");
	ck_assert_ptr_null(strstr(screen, "answer? [a]nswer"));
	keys("a");
	usleep(300000);
	ck_assert_msg(!strstr(pane(), "\"event\":\"connected\""), "answered without Enter:\n%s", screen);
	keys("Enter");
	expect_event(&alice, "connected");
	wait_pane("\"event\":\"connected\"");
	sleep(1);
	ck_assert_msg(!strstr(pane(), "no audio") && !strstr(screen, "0:0"), "a status line:\n%s", screen);
	proc_signal(&alice, SIGINT);
	expect_event(&alice, "ended");
	expect_restored(EXIT_OK);
	proc_stop(&alice);
}
END_TEST

/* A background job on the terminal does not touch it (it would be
 * stopped by SIGTTOU): it runs its call with the plain lines. */
START_TEST(background_job_is_plain)
{
	skip_without_tmux();
	if (!have_tmux)
		return;
	struct proc alice;
	char id[64];
	ck_assert_int_eq(sh("tmux -L %s send-keys -t t \"'%s' --no-audio --auto-answer --once bob@127.0.0.1:%d &\" Enter",
			    sock, bin, S.port), 0);
	wait_pane("registered as bob");
	snprintf(id, sizeof(id), "alice@127.0.0.1:%d", S.port);
	ck_assert_int_eq(proc_start(&alice, (const char *[]){ "--json", "--no-audio", "--duration", "1", id, "bob", NULL }), 0);
	expect_event(&alice, "connected");
	expect_event(&alice, "ended");
	ck_assert_int_eq(proc_wait(&alice, T), EXIT_OK);
	const char *l = wait_pane("ended: peer-hangup");
	ck_assert_ptr_nonnull(strstr(screen, "incoming call from alice, answering"));
	ck_assert_ptr_null(strstr(screen, "no audio"));
	(void)l;
	keys("Enter");
	/* bash reports the job: done, not stopped. */
	wait_pane("Done");
	ck_assert_ptr_null(strstr(screen, "Stopped"));
	proc_stop(&alice);
}
END_TEST

/* The keys, from bytes: letters both cases, escape sequences skipped,
 * the end of input told apart from no key. */
START_TEST(keys_from_bytes)
{
	int fds[2];
	ck_assert_int_eq(pipe(fds), 0);
	const char in[] = "a?M\033[Aq\033OPrxyN\003h";
	ck_assert_int_eq(write(fds[1], in, sizeof(in) - 1), (ssize_t)(sizeof(in) - 1));
	enum tui_key k[32];
	int n = tui_read_keys(fds[0], k, 32);
	const enum tui_key want[] = { TUI_KEY_ANSWER, TUI_KEY_HELP, TUI_KEY_MUTE, TUI_KEY_HANGUP,
				      TUI_KEY_REJECT, TUI_KEY_ANSWER, TUI_KEY_REJECT, TUI_KEY_HANGUP,
				      TUI_KEY_HELP };
	ck_assert_int_eq(n, (int)(sizeof(want) / sizeof(want[0])));
	for (int i = 0; i < n; i++)
		ck_assert_int_eq(k[i], want[i]);
	/* MAX bounds what is stored. */
	ck_assert_int_eq(write(fds[1], "mmmm", 4), 4);
	ck_assert_int_eq(tui_read_keys(fds[0], k, 2), 2);
	close(fds[1]);
	ck_assert_int_eq(tui_read_keys(fds[0], k, 32), -EPIPE);
	close(fds[0]);
	/* Never for --json or -q, whatever the terminal. */
	ck_assert(!tui_wanted(true, false));
	ck_assert(!tui_wanted(false, true));
	ck_assert(!tui_active());
}
END_TEST

/* No terminal at all (pipes): the plain lines only. */
START_TEST(pipes_are_plain)
{
	skip_without_tmux();
	if (!have_tmux)
		return;
	struct proc bob, alice;
	char id[64], buf[16384], bob_err[16384] = "";
	snprintf(id, sizeof(id), "bob@127.0.0.1:%d", S.port);
	ck_assert_int_eq(proc_start(&bob, (const char *[]){ "--no-audio", "--auto-answer", "--once", id, NULL }), 0);
	size_t got = 0;
	for (int i = 0; i < 80 && !strstr(bob_err, "registered as bob"); i++) {
		usleep(100000);
		got += proc_stderr(&bob, bob_err + got, sizeof(bob_err) - 1 - got);
		bob_err[got] = '\0';
	}
	ck_assert_msg(strstr(bob_err, "registered as bob"), "bob: %s", bob_err);
	snprintf(id, sizeof(id), "alice@127.0.0.1:%d", S.port);
	ck_assert_int_eq(proc_start(&alice, (const char *[]){ "--no-audio", "--duration", "1", id, "bob", NULL }), 0);
	ck_assert_int_eq(proc_wait(&alice, T), EXIT_OK);
	ck_assert_int_eq(proc_wait(&bob, T), EXIT_OK);
	size_t n = proc_stderr(&alice, buf, sizeof(buf) - 1);
	buf[n] = '\0';
	ck_assert_msg(strstr(buf, "p2pcall: connected to bob") && strstr(buf, "ended: hangup"), "%s", buf);
	ck_assert_msg(!strchr(buf, '\033') && !strchr(buf, '\r') && !strchr(buf, '\a'), "%s", buf);
	got += proc_stderr(&bob, bob_err + got, sizeof(bob_err) - 1 - got);
	bob_err[got] = '\0';
	ck_assert_msg(strstr(bob_err, "incoming call from alice, answering"), "%s", bob_err);
	ck_assert_msg(!strchr(bob_err, '\033') && !strchr(bob_err, '\r') && !strchr(bob_err, '\a'), "%s", bob_err);
	proc_stop(&alice);
	proc_stop(&bob);
}
END_TEST

Suite *tui_suite(void)
{
	Suite *s = suite_create("tui");
	TCase *c = tcase_create("tmux");
	tcase_set_timeout(c, 60);
	tcase_add_unchecked_fixture(c, run_setup, run_teardown);
	tcase_add_checked_fixture(c, setup, teardown);
	tcase_add_test(c, answer_mute_hang_up);
	tcase_add_test(c, reject);
	tcase_add_test(c, ctrl_c_hangs_up);
	tcase_add_test(c, sigterm_restores_terminal);
	tcase_add_test(c, crash_restores_terminal);
	tcase_add_test(c, stderr_not_a_terminal_is_plain);
	tcase_add_test(c, pipes_are_plain);
	tcase_add_test(c, json_on_a_terminal_is_plain);
	tcase_add_test(c, background_job_is_plain);
	suite_add_tcase(s, c);
	TCase *k = tcase_create("keys");
	tcase_add_test(k, keys_from_bytes);
	suite_add_tcase(s, k);
	return s;
}
