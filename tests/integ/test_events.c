/* The JSON events a real call produces, validated against the man page:
 * every line is one JSON object with "event" and "t", every event name is
 * documented in EVENTS, and each event carries the fields documented for
 * it. Both sides of a call with audio are checked, and a rejected call. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "p2pcall/cli.h"
#include "proc.h"

#define T 10000

/* The documented fields of each event (man/p2pcall.1, EVENTS). */
static const struct {
	const char *event;
	const char *fields[12];
} doc[] = {
	{ "registered", { "name", "server", "mapped" } },
	{ "calling", { "peer" } },
	{ "incoming", { "peer", "call" } },
	{ "ringing", { "peer" } },
	{ "secured", { "peer", "sas", "peer_key", "key" } },
	{ "connected", { "peer", "path", "remote", "setup_ms", "path_ms", "method", "encrypted", "sas" } },
	{ "ended", { "peer", "reason", "duration_s", "status" } },
	{ "stats", { "rtt_ms", "loss_pct", "jitter_ms", "jb_ms", "concealed_pct", "recovered_pct", "kbps_out", "kbps_in", "target_kbps", "fec_loss_pct", "bad_packets" } },
	{ "path", { "path", "remote", "method" } },
	{ "disconnected", { "reason", "retry_in_s" } },
	{ "error", { "message" } },
};

static char man_events[16384];

static int doc_index(const char *event)
{
	for (size_t i = 0; i < sizeof(doc) / sizeof(doc[0]); i++)
		if (!strcmp(doc[i].event, event))
			return (int)i;
	return -1;
}

static void load_man(void)
{
	char cmd[512];
	const char *src = getenv("P2PCALL_SRCDIR") ? getenv("P2PCALL_SRCDIR") : ".";
	snprintf(cmd, sizeof(cmd),
		 "MANWIDTH=120 mandoc -T ascii %s/man/p2pcall.1 | col -b | sed -n '/^EVENTS/,/^FILES/p'", src);
	FILE *f = popen(cmd, "r");
	ck_assert_ptr_nonnull(f);
	size_t n = fread(man_events, 1, sizeof(man_events) - 1, f);
	man_events[n] = '\0';
	pclose(f);
	ck_assert_msg(n > 500, "no EVENTS section in the man page");
}

/* Checks one stdout line; returns the event name's index in doc[]. */
static int check_line(const char *line)
{
	size_t len = strlen(line);
	ck_assert_msg(len > 2 && line[0] == '{' && line[len - 1] == '}', "not one JSON object: %s", line);
	ck_assert_msg(strstr(line, "\"t\":"), "no \"t\": %s", line);
	char name[64];
	json_field(line, "event", name, sizeof(name));
	ck_assert_msg(name[0], "no \"event\": %s", line);
	for (size_t i = 0; i < sizeof(doc) / sizeof(doc[0]); i++) {
		if (strcmp(doc[i].event, name) != 0)
			continue;
		char heading[80];
		snprintf(heading, sizeof(heading), "\n     %s", name);
		ck_assert_msg(strstr(man_events, heading), "event `%s' is not in the man page's EVENTS", name);
		for (int f = 0; doc[i].fields[f]; f++) {
			char key[64], quoted[64];
			snprintf(key, sizeof(key), "\"%s\":", doc[i].fields[f]);
			snprintf(quoted, sizeof(quoted), "\"%s\"", doc[i].fields[f]);
			ck_assert_msg(strstr(line, key), "`%s' lacks %s: %s", name, key, line);
			ck_assert_msg(strstr(man_events, quoted), "field %s of `%s' is not documented", quoted, name);
		}
		return (int)i;
	}
	ck_abort_msg("undocumented event `%s': %s", name, line);
	return -1;
}

/* Reads every line until the process ends; marks the events seen. */
static void check_all(struct proc *p, int *seen)
{
	char line[4096];
	while (proc_line(p, line, sizeof(line), T) == 0)
		seen[check_line(line)]++;
}

START_TEST(call_events_are_documented)
{
	struct test_server s;
	struct proc bob, alice;
	char dir[] = "/tmp/p2pcall-ev.XXXXXX", tone[128], out_a[128], out_b[128], cmd[256], id[64];
	int seen_a[16] = { 0 }, seen_b[16] = { 0 };
	load_man();
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(tone, sizeof(tone), "%s/tone.wav", dir);
	snprintf(out_a, sizeof(out_a), "%s/a.wav", dir);
	snprintf(out_b, sizeof(out_b), "%s/b.wav", dir);
	snprintf(cmd, sizeof(cmd), "sox -n -r 48000 -c 1 -b 16 %s synth 4 sine 300 2>/dev/null", tone);
	ck_assert_int_eq(system(cmd), 0);
	ck_assert_int_eq(server_start(&s, NULL), 0);
	snprintf(id, sizeof(id), "bob@127.0.0.1:%d", s.port);
	ck_assert_int_eq(proc_start(&bob, (const char *[]){ "--json", "--auto-answer", "--once", "--input", tone,
							    "--output", out_b, id, NULL }), 0);
	usleep(300000);
	snprintf(id, sizeof(id), "alice@127.0.0.1:%d", s.port);
	ck_assert_int_eq(proc_start(&alice, (const char *[]){ "--json", "--input", tone, "--output", out_a,
							      "--duration", "2.5", id, "bob", NULL }), 0);
	check_all(&alice, seen_a);
	check_all(&bob, seen_b);
	ck_assert_int_eq(proc_wait(&alice, T), EXIT_OK);
	ck_assert_int_eq(proc_wait(&bob, T), EXIT_OK);
	/* The events a call must produce on each side. */
	static const char *const must_a[] = { "registered", "calling", "ringing", "connected", "stats", "ended" };
	static const char *const must_b[] = { "registered", "incoming", "connected", "stats", "ended" };
	for (size_t k = 0; k < sizeof(must_a) / sizeof(must_a[0]); k++)
		ck_assert_msg(seen_a[doc_index(must_a[k])] > 0, "alice never said `%s'", must_a[k]);
	for (size_t k = 0; k < sizeof(must_b) / sizeof(must_b[0]); k++)
		ck_assert_msg(seen_b[doc_index(must_b[k])] > 0, "bob never said `%s'", must_b[k]);
	proc_stop(&alice);
	proc_stop(&bob);
	server_stop(&s);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
}
END_TEST

START_TEST(error_events_are_documented)
{
	struct test_server s;
	struct proc p;
	int seen[16] = { 0 };
	char id[64];
	load_man();
	ck_assert_int_eq(server_start(&s, NULL), 0);
	int taken = tcp_register(s.port, "alice");
	snprintf(id, sizeof(id), "alice@127.0.0.1:%d", s.port);
	ck_assert_int_eq(proc_start(&p, (const char *[]){ "--json", "--no-audio", id, NULL }), 0);
	check_all(&p, seen);
	ck_assert_int_eq(proc_wait(&p, T), EXIT_REGISTER);
	ck_assert_int_eq(seen[doc_index("error")], 1);
	proc_stop(&p);
	close(taken);
	server_stop(&s);
}
END_TEST

Suite *events_suite(void)
{
	Suite *s = suite_create("events");
	TCase *c = tcase_create("json");
	tcase_set_timeout(c, 60);
	tcase_add_test(c, call_events_are_documented);
	tcase_add_test(c, error_events_are_documented);
	suite_add_tcase(s, c);
	return s;
}
