/* Standard TURN (RFC 8656, coturn) as the relay: two clients behind
 * symmetric NATs in the lab, where no hole can be punched, with our own
 * relay turned off (--relay never) and --turn given: the call must connect
 * through coturn (path "relay") and carry audio both ways. Needs root;
 * says so when it skips. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lab.h"
#include "natcall.h"
#include "p2pcall/cli.h"
#include "proc.h"

static char prefix[64];

static void setup(void) { lab_prefix(prefix, sizeof(prefix), "tn"); }
static void teardown(void) { lab_down(prefix); }

static off_t file_size(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? st.st_size : -1;
}

START_TEST(call_through_coturn)
{
	if (lab_skip())
		return;
	if (system("command -v turnserver >/dev/null 2>&1") != 0)
		ck_abort_msg("turnserver (package coturn) is missing: run contrib/install-deps.sh --test");
	char line[2048], field[64], server[64], id[96], turn[128], tone[128], out_a[128], out_b[128], cmd[256];
	snprintf(tone, sizeof(tone), "/tmp/%s-tone.wav", prefix);
	snprintf(out_a, sizeof(out_a), "/tmp/%s-a.wav", prefix);
	snprintf(out_b, sizeof(out_b), "/tmp/%s-b.wav", prefix);
	snprintf(cmd, sizeof(cmd), "sox -n -r 48000 -c 1 -b 16 %s synth 6 sine 440 2>/dev/null", tone);
	ck_assert_int_eq(system(cmd), 0);

	ck_assert_int_eq(lab_up(prefix, "symmetric", "symmetric"), 0);
	ck_assert_int_eq(lab_addr(prefix, "server", server, sizeof(server)), 0);
	char listen_ip[80], relay_ip[80];
	snprintf(listen_ip, sizeof(listen_ip), "--listening-ip=%s", server);
	snprintf(relay_ip, sizeof(relay_ip), "--relay-ip=%s", server);
	pid_t coturn = lab_spawn(prefix, "server",
				 (char *const[]){ "turnserver", "-n", listen_ip, "--listening-port=3478", relay_ip,
						  "--lt-cred-mech", "--user=u:p", "--realm=r", "--no-cli", "--no-tls",
						  "--no-dtls", "--log-file=stdout", "--simple-log", NULL },
				 NULL);
	char *bin = (char *)test_bin();
	int srv_out, a_out, b_out;
	pid_t srv = lab_spawn(prefix, "server",
			      (char *const[]){ bin, "-q", "--serve", "--listen", "0.0.0.0:7878", NULL }, &srv_out);
	usleep(500000);
	snprintf(turn, sizeof(turn), "u:p@%s:3478", server);
	snprintf(id, sizeof(id), "bob@%s", server);
	pid_t b = lab_spawn(prefix, "b",
			    (char *const[]){ bin, "--json", "--relay", "never", "--turn", turn, "--input", tone, "--output",
					     out_b, "--auto-answer", "--once", id, NULL },
			    &b_out);
	ck_assert_int_eq(natcall_read_event(b_out, "registered", line, sizeof(line)), 0);
	snprintf(id, sizeof(id), "alice@%s", server);
	pid_t a = lab_spawn(prefix, "a",
			    (char *const[]){ bin, "--json", "--relay", "never", "--turn", turn, "--input", tone, "--output",
					     out_a, "--duration", "3", id, "bob", NULL },
			    &a_out);
	ck_assert_msg(natcall_read_event(a_out, "connected", line, sizeof(line)) == 0, "alice never connected");
	ck_assert_str_eq(json_field(line, "path", field, sizeof(field)), "relay");
	ck_assert_msg(natcall_read_event(b_out, "connected", line, sizeof(line)) == 0, "bob never connected");
	ck_assert_str_eq(json_field(line, "path", field, sizeof(field)), "relay");
	/* Not our own relay (port 7878): coturn's relayed address. */
	json_field(line, "remote", field, sizeof(field));
	ck_assert_msg(!strstr(field, ":7878"), "bob's path went through our relay: %s", field);
	ck_assert_int_eq(lab_wait(a, 15000), EXIT_OK);
	ck_assert_int_eq(lab_wait(b, 15000), EXIT_OK);
	/* Audio crossed both ways: well over a second of it each (WAV, 96 kB/s). */
	ck_assert_msg(file_size(out_a) > 44 + 96000 && file_size(out_b) > 44 + 96000, "too little audio: %lld / %lld",
		      (long long)file_size(out_a), (long long)file_size(out_b));
	lab_kill(srv);
	lab_kill(coturn);
	close(srv_out);
	close(a_out);
	close(b_out);
	unlink(tone);
	unlink(out_a);
	unlink(out_b);
}
END_TEST

Suite *turn_call_suite(void)
{
	Suite *s = suite_create("turn_call");
	TCase *c = tcase_create("lab");
	tcase_set_timeout(c, 90);
	tcase_add_unchecked_fixture(c, setup, teardown);
	tcase_add_test(c, call_through_coturn);
	suite_add_tcase(s, c);
	return s;
}
