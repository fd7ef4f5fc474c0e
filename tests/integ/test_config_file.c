/* Configuration files with the real binary (doc/config.md): the client
 * file's identity and settings apply, the command line overrides them,
 * a bad line stops the program with FILE:LINE, and --serve --config FILE
 * configures the server. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "p2pcall/cli.h"
#include "proc.h"

#define T 8000

static struct test_server S;
static char home[64], line[4096], field[128];

static void setup(void)
{
	snprintf(home, sizeof(home), "/tmp/p2pcall-cfg.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(home));
	char dir[128];
	snprintf(dir, sizeof(dir), "%s/p2pcall", home);
	mkdir(dir, 0700);
}

static void teardown(void)
{
	server_stop(&S);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", home);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", home);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
}

/* Starts the binary with XDG_CONFIG_HOME pointing at our directory. */
static void start_with_config(struct proc *p, const char *const *argv)
{
	char *old = getenv("XDG_CONFIG_HOME") ? strdup(getenv("XDG_CONFIG_HOME")) : NULL;
	setenv("XDG_CONFIG_HOME", home, 1);
	ck_assert_int_eq(proc_start(p, argv), 0);
	if (old) {
		setenv("XDG_CONFIG_HOME", old, 1);
		free(old);
	}
}

START_TEST(client_file_gives_identity_and_settings)
{
	struct proc bob, alice;
	char path[160], text[256], id[64];
	ck_assert_int_eq(server_start(&S, NULL), 0);
	snprintf(id, sizeof(id), "bob@127.0.0.1:%d", S.port);
	ck_assert_int_eq(proc_start(&bob, (const char *[]){ "--json", "--no-audio", "--auto-answer", "--once", id, NULL }), 0);
	ck_assert_int_eq(proc_event(&bob, "registered", line, sizeof(line), T), 0);

	snprintf(path, sizeof(path), "%s/p2pcall/config", home);
	snprintf(text, sizeof(text), "# alice's defaults\nidentity = alice@127.0.0.1:%d\nrelay = always\njson = yes\n",
		 S.port);
	write_file(path, text);
	/* Only the peer on the command line: the identity comes from the file. */
	start_with_config(&alice, (const char *[]){ "--no-audio", "--duration", "0.3", "bob", NULL });
	ck_assert_int_eq(proc_event(&alice, "registered", line, sizeof(line), T), 0);
	ck_assert_str_eq(json_field(line, "name", field, sizeof(field)), "alice");
	ck_assert_int_eq(proc_event(&alice, "connected", line, sizeof(line), T), 0);
	ck_assert_str_eq(json_field(line, "path", field, sizeof(field)), "relay"); /* relay = always */
	ck_assert_int_eq(proc_wait(&alice, T), EXIT_OK);
	ck_assert_int_eq(proc_wait(&bob, T), EXIT_OK);
	proc_stop(&alice);
	proc_stop(&bob);
}
END_TEST

START_TEST(command_line_overrides_file)
{
	struct proc bob, alice;
	char path[160], text[256], id[64];
	ck_assert_int_eq(server_start(&S, NULL), 0);
	snprintf(id, sizeof(id), "bob@127.0.0.1:%d", S.port);
	ck_assert_int_eq(proc_start(&bob, (const char *[]){ "--json", "--no-audio", "--auto-answer", "--once", id, NULL }), 0);
	ck_assert_int_eq(proc_event(&bob, "registered", line, sizeof(line), T), 0);
	snprintf(path, sizeof(path), "%s/p2pcall/config", home);
	snprintf(text, sizeof(text), "identity = nobody@127.0.0.1:1\nrelay = always\n");
	write_file(path, text);
	snprintf(id, sizeof(id), "alice@127.0.0.1:%d", S.port);
	start_with_config(&alice, (const char *[]){ "--json", "--no-audio", "--relay", "auto", "--duration", "0.3",
						    id, "bob", NULL });
	ck_assert_int_eq(proc_event(&alice, "connected", line, sizeof(line), T), 0);
	ck_assert_str_eq(json_field(line, "path", field, sizeof(field)), "direct");
	ck_assert_int_eq(proc_wait(&alice, T), EXIT_OK);
	proc_stop(&alice);
	proc_stop(&bob);
}
END_TEST

START_TEST(bad_file_names_file_and_line)
{
	struct proc p;
	char path[160], err[4096];
	snprintf(path, sizeof(path), "%s/p2pcall/config", home);
	write_file(path, "relay = auto\n\nbitrat = 32000\n");
	start_with_config(&p, (const char *[]){ "alice@127.0.0.1:1", "bob", NULL });
	ck_assert_int_eq(proc_wait(&p, T), EXIT_USAGE);
	proc_stderr(&p, err, sizeof(err));
	ck_assert_msg(strstr(err, "p2pcall/config:3: unknown key `bitrat'") && strstr(err, "bitrate"), "%s", err);
	proc_stop(&p);
	/* --help still works with a broken file. */
	start_with_config(&p, (const char *[]){ "--help", NULL });
	ck_assert_int_eq(proc_wait(&p, T), EXIT_OK);
	proc_stop(&p);
}
END_TEST

START_TEST(server_config_file)
{
	struct proc srv;
	char path[160], err[4096] = "";
	snprintf(path, sizeof(path), "%s/server.conf", home);
	write_file(path, "listen = 127.0.0.1:0\nkeepalive = 7\n");
	ck_assert_int_eq(proc_start(&srv, (const char *[]){ "--serve", "--config", path, NULL }), 0);
	for (int i = 0; i < 100 && !strstr(err, "listening on"); i++) {
		usleep(50000);
		size_t n = strlen(err);
		proc_stderr(&srv, err + n, sizeof(err) - n);
	}
	ck_assert_msg(strstr(err, "listening on 127.0.0.1:") && strstr(err, "keepalive 7s"), "%s", err);
	proc_stop(&srv);

	/* A missing --config file is an error, named. */
	ck_assert_int_eq(proc_start(&srv, (const char *[]){ "--serve", "--config", "/nonexistent/x.conf", NULL }), 0);
	ck_assert_int_eq(proc_wait(&srv, T), EXIT_USAGE);
	proc_stderr(&srv, err, sizeof(err));
	ck_assert_msg(strstr(err, "`/nonexistent/x.conf'"), "%s", err);
	proc_stop(&srv);
}
END_TEST

Suite *config_file_suite(void)
{
	Suite *s = suite_create("config_file");
	TCase *c = tcase_create("binary");
	tcase_set_timeout(c, 60);
	tcase_add_checked_fixture(c, setup, teardown);
	tcase_add_test(c, client_file_gives_identity_and_settings);
	tcase_add_test(c, command_line_overrides_file);
	tcase_add_test(c, bad_file_names_file_and_line);
	tcase_add_test(c, server_config_file);
	suite_add_tcase(s, c);
	return s;
}
