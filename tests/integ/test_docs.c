/* The documentation stays true to the program: the man page lints clean,
 * documents every option --help lists and every exit status, and
 * `make install DESTDIR=...` installs the binary and the man page. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "p2pcall/cli.h"
#include "proc.h"

static const char *srcdir(void)
{
	const char *d = getenv("P2PCALL_SRCDIR");
	return d && *d ? d : ".";
}

static char *slurp(const char *cmd)
{
	static char buf[1 << 17];
	FILE *f = popen(cmd, "r");
	ck_assert_ptr_nonnull(f);
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	int rc = pclose(f);
	ck_assert_msg(rc == 0, "`%s' failed (%d): %s", cmd, rc, buf);
	return buf;
}

START_TEST(man_page_lints_clean)
{
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "mandoc -T lint -W warning %s/man/p2pcall.1 2>&1", srcdir());
	ck_assert_str_eq(slurp(cmd), "");
}
END_TEST

START_TEST(every_option_is_documented)
{
	char cmd[512], help[8192];
	snprintf(cmd, sizeof(cmd), "%s --help", test_bin());
	snprintf(help, sizeof(help), "%s", slurp(cmd));
	snprintf(cmd, sizeof(cmd), "MANWIDTH=200 mandoc -T ascii %s/man/p2pcall.1 | col -b", srcdir());
	const char *man = slurp(cmd);
	int options = 0;
	for (char *p = help; (p = strstr(p, "--")); p += 2) {
		char opt[64];
		size_t n = strspn(p + 2, "abcdefghijklmnopqrstuvwxyz-");
		if (n == 0)
			continue;
		snprintf(opt, sizeof(opt), "--%.*s", (int)n, p + 2);
		ck_assert_msg(strstr(man, opt), "%s is in --help but not in the man page", opt);
		options++;
	}
	ck_assert_int_ge(options, 10);
}
END_TEST

START_TEST(every_exit_status_is_documented)
{
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "MANWIDTH=200 mandoc -T ascii %s/man/p2pcall.1 | col -b", srcdir());
	const char *man = strstr(slurp(cmd), "EXIT STATUS");
	ck_assert_ptr_nonnull(man);
	for (int s = EXIT_OK; s <= EXIT_AUDIO; s++) {
		char want[32];
		snprintf(want, sizeof(want), "\n     %d\t", s);
		ck_assert_msg(strstr(man, want), "exit status %d is not documented", s);
	}
}
END_TEST

START_TEST(make_install_into_destdir)
{
	char dir[] = "/tmp/p2pcall-install.XXXXXX", cmd[1024], path[512];
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(cmd, sizeof(cmd), "make -s -C %s install DESTDIR=%s PREFIX=/usr 2>&1", srcdir(), dir);
	slurp(cmd);
	snprintf(path, sizeof(path), "%s/usr/bin/p2pcall", dir);
	ck_assert_msg(access(path, X_OK) == 0, "%s not installed", path);
	snprintf(path, sizeof(path), "%s/usr/share/man/man1/p2pcall.1", dir);
	ck_assert_msg(access(path, R_OK) == 0, "%s not installed", path);
	static const char *const files[] = {
		"usr/share/bash-completion/completions/p2pcall",
		"usr/share/zsh/vendor-completions/_p2pcall",
		"usr/lib/systemd/system/p2pcall-server.service",
		"usr/share/doc/p2pcall/config.example",
		"usr/share/doc/p2pcall/protocol.md",
	};
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
		ck_assert_msg(access(path, R_OK) == 0, "%s not installed", path);
	}
	/* The unit runs the binary where it was installed. */
	snprintf(cmd, sizeof(cmd), "grep -c '^ExecStart=/usr/bin/p2pcall ' %s/usr/lib/systemd/system/p2pcall-server.service",
		 dir);
	ck_assert_str_eq(slurp(cmd), "1\n");
	snprintf(cmd, sizeof(cmd), "%s/usr/bin/p2pcall --version", dir);
	ck_assert_msg(strstr(slurp(cmd), "p2pcall "), "installed binary does not run");
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	slurp(cmd);
}
END_TEST

Suite *docs_suite(void)
{
	Suite *s = suite_create("docs");
	TCase *c = tcase_create("man");
	tcase_set_timeout(c, 120);
	tcase_add_test(c, man_page_lints_clean);
	tcase_add_test(c, every_option_is_documented);
	tcase_add_test(c, every_exit_status_is_documented);
	tcase_add_test(c, make_install_into_destdir);
	suite_add_tcase(s, c);
	return s;
}
