/* Pinned peer keys: NEW / MATCH / CHANGED, pins that keep every other
 * line byte for byte, tampered or unsafe files refused with the line, and
 * pins from two handles at once both kept. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "keytest.h"
#include "p2pcall/keyfile.h"
#include "p2pcall/known_peers.h"

static char dir[64], path[128], err[512];
static uint8_t k1[32], k2[32], k3[32];
static char s1[44], s2[44], s3[44];

static void setup(void)
{
	keytest_mkdtemp(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/known_peers", dir);
	memset(k1, 1, 32);
	memset(k2, 2, 32);
	memset(k3, 3, 32);
	keyfile_key_encode(k1, s1);
	keyfile_key_encode(k2, s2);
	keyfile_key_encode(k3, s3);
}

static void teardown(void) { keytest_rmtree(dir); }

START_TEST(new_match_changed)
{
	struct known_peers *kp;
	char sub[200];
	snprintf(sub, sizeof(sub), "%s/cfg/p2pcall/known_peers", dir);
	ck_assert_int_eq(known_peers_open(&kp, sub, err, sizeof(err)), 0);
	ck_assert_int_eq(known_peers_check(kp, "bob@example.org:7000", k1), KNOWN_PEERS_NEW);
	ck_assert_int_eq(access(sub, F_OK), -1); /* opening creates nothing */

	ck_assert_int_eq(known_peers_pin(kp, "bob@example.org:7000", k1, err, sizeof(err)), 0);
	ck_assert_int_eq(known_peers_check(kp, "bob@example.org:7000", k1), KNOWN_PEERS_MATCH);
	ck_assert_int_eq(known_peers_check(kp, "bob@example.org:7000", k2), KNOWN_PEERS_CHANGED);
	/* Another server is another peer. */
	ck_assert_int_eq(known_peers_check(kp, "bob@example.org:7001", k1), KNOWN_PEERS_NEW);
	known_peers_free(kp);

	/* The file: 0600 in 0700 directories, one line. */
	ck_assert_int_eq(keytest_mode(sub), 0600);
	snprintf(sub, sizeof(sub), "%s/cfg", dir);
	ck_assert_int_eq(keytest_mode(sub), 0700);
	snprintf(sub, sizeof(sub), "%s/cfg/p2pcall/known_peers", dir);
	char want[200];
	snprintf(want, sizeof(want), "bob@example.org:7000 %s\n", s1);
	ck_assert(keytest_same(sub, want, strlen(want)));

	/* Reopened: still known; re-pinned to a new key: replaced. */
	ck_assert_int_eq(known_peers_open(&kp, sub, err, sizeof(err)), 0);
	ck_assert_int_eq(known_peers_check(kp, "bob@example.org:7000", k1), KNOWN_PEERS_MATCH);
	ck_assert_int_eq(known_peers_pin(kp, "bob@example.org:7000", k2, err, sizeof(err)), 0);
	ck_assert_int_eq(known_peers_check(kp, "bob@example.org:7000", k2), KNOWN_PEERS_MATCH);
	ck_assert_int_eq(known_peers_check(kp, "bob@example.org:7000", k1), KNOWN_PEERS_CHANGED);
	/* Pinning what is already there writes nothing. */
	struct stat a, b;
	ck_assert_int_eq(stat(sub, &a), 0);
	ck_assert_int_eq(known_peers_pin(kp, "bob@example.org:7000", k2, err, sizeof(err)), 0);
	ck_assert_int_eq(stat(sub, &b), 0);
	ck_assert_uint_eq(a.st_ino, b.st_ino);
	known_peers_free(kp);
	snprintf(want, sizeof(want), "bob@example.org:7000 %s\n", s2);
	ck_assert(keytest_same(sub, want, strlen(want)));
}
END_TEST

START_TEST(pin_keeps_other_lines)
{
	char text[1024], want[1024];
	/* Comments, blank lines, odd spacing, CRLF, and no final LF. */
	snprintf(text, sizeof(text),
		 "# my peers\n"
		 "\n"
		 "alice@a.example:7000   %s\n"
		 "   # indented comment\n"
		 "bob@[2001:db8::1]:7000\t%s\r\n"
		 "carol@c.example %s",
		 s1, s2, s3);
	keytest_write_str(path, text, 0644);
	struct known_peers *kp;
	ck_assert_int_eq(known_peers_open(&kp, path, err, sizeof(err)), 0);
	ck_assert_int_eq(known_peers_check(kp, "alice@a.example:7000", k1), KNOWN_PEERS_MATCH);
	ck_assert_int_eq(known_peers_check(kp, "bob@[2001:db8::1]:7000", k2), KNOWN_PEERS_MATCH);
	ck_assert_int_eq(known_peers_check(kp, "carol@c.example", k3), KNOWN_PEERS_MATCH);

	/* Replacing the middle entry rewrites only its line. */
	ck_assert_int_eq(known_peers_pin(kp, "bob@[2001:db8::1]:7000", k3, err, sizeof(err)), 0);
	snprintf(want, sizeof(want),
		 "# my peers\n"
		 "\n"
		 "alice@a.example:7000   %s\n"
		 "   # indented comment\n"
		 "bob@[2001:db8::1]:7000 %s\n"
		 "carol@c.example %s",
		 s1, s3, s3);
	ck_assert(keytest_same(path, want, strlen(want)));
	ck_assert_int_eq(keytest_mode(path), 0644); /* the owner's choice stays */

	/* Replacing the last entry (no LF) ends the file with one. */
	ck_assert_int_eq(known_peers_pin(kp, "carol@c.example", k1, err, sizeof(err)), 0);
	snprintf(want, sizeof(want),
		 "# my peers\n\nalice@a.example:7000   %s\n   # indented comment\n"
		 "bob@[2001:db8::1]:7000 %s\ncarol@c.example %s\n",
		 s1, s3, s1);
	ck_assert(keytest_same(path, want, strlen(want)));

	/* A new entry goes at the end. */
	ck_assert_int_eq(known_peers_pin(kp, "dave@d.example:1", k2, err, sizeof(err)), 0);
	size_t n = strlen(want);
	snprintf(want + n, sizeof(want) - n, "dave@d.example:1 %s\n", s2);
	ck_assert(keytest_same(path, want, strlen(want)));
	ck_assert_int_eq(known_peers_check(kp, "dave@d.example:1", k2), KNOWN_PEERS_MATCH);
	ck_assert_int_eq(known_peers_check(kp, "carol@c.example", k1), KNOWN_PEERS_MATCH);
	ck_assert_int_eq(keytest_count_entries(dir), 1); /* no temporary files */
	known_peers_free(kp);
}
END_TEST

/* TEXT must be refused at open with -EBADMSG and "PATH:WANT", and stay. */
static void tampered(const char *text, const char *want)
{
	struct known_peers *kp = (struct known_peers *)1;
	char full[600];
	keytest_write_str(path, text, 0600);
	ck_assert_int_eq(known_peers_open(&kp, path, err, sizeof(err)), -EBADMSG);
	ck_assert_ptr_null(kp);
	snprintf(full, sizeof(full), "%s:%s", path, want);
	ck_assert_msg(strcmp(err, full) == 0, "got: %s\nwant: %s", err, full);
	ck_assert(keytest_same(path, text, strlen(text)));
}

START_TEST(tampered_refused)
{
	char t[600], w[300];
	snprintf(t, sizeof(t), "# c\nbob@h:1 %s\nalice@h:1\n", s1);
	tampered(t, "3: malformed line `alice@h:1' (expected `PEER KEY')");
	snprintf(t, sizeof(t), "# c\nbob@h:1 %s\nalice@h:1 %s extra\n", s1, s2);
	/* The quote is cut at 60 characters. */
	char q[80];
	char line[200];
	snprintf(line, sizeof(line), "alice@h:1 %s extra", s2);
	snprintf(w, sizeof(w), "3: malformed line `%s' (expected `PEER KEY')",
		 keyfile_quote(line, strlen(line), q, sizeof(q)));
	tampered(t, w);
	snprintf(t, sizeof(t), "bob@h:1 %.42s\n", s1);
	snprintf(w, sizeof(w), "1: malformed key `%.42s' (expected 43 base64url characters)", s1);
	tampered(t, w);
	snprintf(t, sizeof(t), "bob@h:1 %s\nnoatsign %s\n", s1, s2);
	tampered(t, "2: malformed peer `noatsign' (expected NAME@HOST:PORT)");
	snprintf(t, sizeof(t), "bob@h:1 %s\n\nbob@h:1 %s\n", s1, s2);
	tampered(t, "3: `bob@h:1' is listed twice (first on line 1)");
	snprintf(t, sizeof(t), "bob@h:1 %s\n@h:1 %s\n", s1, s2);
	tampered(t, "2: malformed peer `@h:1' (expected NAME@HOST:PORT)");
	snprintf(t, sizeof(t), "bob@h:1 %s\nb\x01@h %s\n", s1, s2);
	tampered(t, "2: malformed peer `b?@h' (expected NAME@HOST:PORT)");

	/* Tampered after opening: the pin re-reads, refuses, writes nothing. */
	struct known_peers *kp;
	snprintf(t, sizeof(t), "bob@h:1 %s\n", s1);
	keytest_write_str(path, t, 0600);
	ck_assert_int_eq(known_peers_open(&kp, path, err, sizeof(err)), 0);
	snprintf(t, sizeof(t), "bob@h:1 %s\ngarbage\n", s1);
	keytest_write_str(path, t, 0600);
	ck_assert_int_eq(known_peers_pin(kp, "carol@h:1", k2, err, sizeof(err)), -EBADMSG);
	snprintf(w, sizeof(w), "%s:2: malformed line `garbage' (expected `PEER KEY')", path);
	ck_assert_str_eq(err, w);
	ck_assert(keytest_same(path, t, strlen(t)));
	ck_assert_int_eq(known_peers_check(kp, "carol@h:1", k2), KNOWN_PEERS_NEW);
	ck_assert_int_eq(known_peers_check(kp, "bob@h:1", k1), KNOWN_PEERS_MATCH);
	known_peers_free(kp);
}
END_TEST

START_TEST(unsafe_files_refused)
{
	char t[200], w[400];
	struct known_peers *kp;
	snprintf(t, sizeof(t), "bob@h:1 %s\n", s1);
	static const int bad[] = { 0664, 0646, 0666, 0620, 0602 };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		keytest_write_str(path, t, (mode_t)bad[i]);
		ck_assert_int_eq(known_peers_open(&kp, path, err, sizeof(err)), -EPERM);
		snprintf(w, sizeof(w), "%s is writable by others (mode %04o); run: chmod go-w %s", path, bad[i], path);
		ck_assert_str_eq(err, w);
		ck_assert(keytest_same(path, t, strlen(t)));
	}
	/* Readable by others is fine (public keys). */
	keytest_write_str(path, t, 0644);
	ck_assert_int_eq(known_peers_open(&kp, path, err, sizeof(err)), 0);
	/* Made group-writable after opening: the pin refuses too. */
	ck_assert_int_eq(chmod(path, 0664), 0);
	ck_assert_int_eq(known_peers_pin(kp, "carol@h:1", k2, err, sizeof(err)), -EPERM);
	ck_assert(keytest_same(path, t, strlen(t)));
	known_peers_free(kp);

	if (geteuid() == 0) {
		ck_assert_int_eq(chmod(path, 0644), 0);
		ck_assert_int_eq(chown(path, 65534, 65534), 0);
		ck_assert_int_eq(known_peers_open(&kp, path, err, sizeof(err)), -EPERM);
		ck_assert_ptr_nonnull(strstr(err, "owned by user id 65534"));
	}
	unlink(path);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	ck_assert_int_eq(known_peers_open(&kp, path, err, sizeof(err)), -EISDIR);
	ck_assert_ptr_nonnull(strstr(err, "is a directory"));
	rmdir(path);
	ck_assert_int_eq(symlink("known_peers", path), 0);
	ck_assert_int_eq(known_peers_open(&kp, path, err, sizeof(err)), -ELOOP);
	ck_assert_ptr_nonnull(strstr(err, path));
	unlink(path);
}
END_TEST

START_TEST(bad_peers_and_symlinks)
{
	struct known_peers *kp;
	ck_assert_int_eq(known_peers_open(&kp, path, err, sizeof(err)), 0);
	static const char *bad[] = { "", "bob", "bob@", "@h:1", "bob @h:1", "#bob@h:1", "bob@h:1\n", "b\tob@h" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert(!known_peers_peer_valid(bad[i]));
		ck_assert_int_eq(known_peers_pin(kp, bad[i], k1, err, sizeof(err)), -EINVAL);
		ck_assert_ptr_nonnull(strstr(err, "not a valid NAME@HOST:PORT"));
	}
	char longp[300];
	memset(longp, 'a', sizeof(longp));
	longp[0] = 'b';
	longp[1] = '@';
	longp[256] = '\0';
	ck_assert(!known_peers_peer_valid(longp));
	longp[255] = '\0';
	ck_assert(known_peers_peer_valid(longp));
	ck_assert_int_eq(access(path, F_OK), -1);
	known_peers_free(kp);

	/* A symbolic link (dotfiles in a repository): the target is updated,
	 * the link stays. */
	char real[200];
	snprintf(real, sizeof(real), "%s/real", dir);
	keytest_write_str(real, "# mine", 0600); /* and no LF: one is added */
	ck_assert_int_eq(symlink("real", path), 0);
	ck_assert_int_eq(known_peers_open(&kp, path, err, sizeof(err)), 0);
	ck_assert_int_eq(known_peers_pin(kp, "bob@h:1", k1, err, sizeof(err)), 0);
	known_peers_free(kp);
	struct stat st;
	ck_assert_int_eq(lstat(path, &st), 0);
	ck_assert(S_ISLNK(st.st_mode));
	char want[200];
	snprintf(want, sizeof(want), "# mine\nbob@h:1 %s\n", s1);
	ck_assert(keytest_same(real, want, strlen(want)));
}
END_TEST

START_TEST(two_handles_both_kept)
{
	struct known_peers *a, *b;
	ck_assert_int_eq(known_peers_open(&a, path, err, sizeof(err)), 0);
	ck_assert_int_eq(known_peers_open(&b, path, err, sizeof(err)), 0);
	ck_assert_int_eq(known_peers_pin(a, "x@h:1", k1, err, sizeof(err)), 0);
	ck_assert_int_eq(known_peers_pin(b, "y@h:1", k2, err, sizeof(err)), 0);
	/* B saw A's pin when it wrote, and knows it now. */
	ck_assert_int_eq(known_peers_check(b, "x@h:1", k1), KNOWN_PEERS_MATCH);
	ck_assert_int_eq(known_peers_pin(a, "z@h:1", k3, err, sizeof(err)), 0);
	known_peers_free(a);
	known_peers_free(b);
	char want[300];
	snprintf(want, sizeof(want), "x@h:1 %s\ny@h:1 %s\nz@h:1 %s\n", s1, s2, s3);
	ck_assert(keytest_same(path, want, strlen(want)));
}
END_TEST

/* Processes pinning at the same moment: the directory lock serialises
 * their read-modify-write cycles, so every pin is kept. */
START_TEST(racing_processes)
{
	enum { KIDS = 8, PINS = 10 };
	pid_t kids[KIDS];
	for (int i = 0; i < KIDS; i++) {
		kids[i] = fork();
		ck_assert_int_ge(kids[i], 0);
		if (kids[i] == 0) {
			struct known_peers *kp;
			char e[512], peer[64];
			if (known_peers_open(&kp, path, e, sizeof(e)) < 0)
				_exit(1);
			for (int j = 0; j < PINS; j++) {
				snprintf(peer, sizeof(peer), "p%d-%d@h:1", i, j);
				if (known_peers_pin(kp, peer, k1, e, sizeof(e)) < 0)
					_exit(2);
			}
			known_peers_free(kp);
			_exit(0);
		}
	}
	for (int i = 0; i < KIDS; i++) {
		int status;
		ck_assert_int_eq(waitpid(kids[i], &status, 0), kids[i]);
		ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	struct known_peers *kp;
	ck_assert_int_eq(known_peers_open(&kp, path, err, sizeof(err)), 0);
	for (int i = 0; i < KIDS; i++)
		for (int j = 0; j < PINS; j++) {
			char peer[64];
			snprintf(peer, sizeof(peer), "p%d-%d@h:1", i, j);
			ck_assert_msg(known_peers_check(kp, peer, k1) == KNOWN_PEERS_MATCH, "%s lost", peer);
		}
	known_peers_free(kp);
	ck_assert_int_eq(keytest_count_entries(dir), 1);
}
END_TEST

START_TEST(many_peers)
{
	/* 20,000 lines: duplicates are found through the map, not a scan. */
	size_t cap = 20000 * 80, n = 0;
	char *t = malloc(cap);
	for (int i = 0; i < 20000; i++)
		n += (size_t)snprintf(t + n, cap - n, "p%d@h:1 %s\n", i, i % 2 ? s1 : s2);
	keytest_write(path, t, n, 0600);
	struct known_peers *kp;
	ck_assert_int_eq(known_peers_open(&kp, path, err, sizeof(err)), 0);
	ck_assert_int_eq(known_peers_check(kp, "p19999@h:1", k1), KNOWN_PEERS_MATCH);
	ck_assert_int_eq(known_peers_check(kp, "p0@h:1", k1), KNOWN_PEERS_CHANGED);
	ck_assert_int_eq(known_peers_pin(kp, "p0@h:1", k1, err, sizeof(err)), 0);
	known_peers_free(kp);
	n += (size_t)snprintf(t + n, cap - n, "p5@h:1 %s\n", s3);
	keytest_write(path, t, n, 0600);
	ck_assert_int_eq(known_peers_open(&kp, path, err, sizeof(err)), -EBADMSG);
	ck_assert_ptr_nonnull(strstr(err, ":20001: `p5@h:1' is listed twice (first on line 6)"));
	free(t);
}
END_TEST

START_TEST(default_path)
{
	char p[128];
	const char *xdg = getenv("XDG_CONFIG_HOME");
	char *saved = xdg ? strdup(xdg) : NULL;
	setenv("XDG_CONFIG_HOME", "/cfg", 1);
	ck_assert_int_eq(known_peers_default_path(p, sizeof(p)), 0);
	ck_assert_str_eq(p, "/cfg/p2pcall/known_peers");
	if (saved)
		setenv("XDG_CONFIG_HOME", saved, 1);
	else
		unsetenv("XDG_CONFIG_HOME");
	free(saved);
}
END_TEST

Suite *known_peers_suite(void)
{
	Suite *s = suite_create("known_peers");
	TCase *tc = tcase_create("core");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, new_match_changed);
	tcase_add_test(tc, pin_keeps_other_lines);
	tcase_add_test(tc, tampered_refused);
	tcase_add_test(tc, unsafe_files_refused);
	tcase_add_test(tc, bad_peers_and_symlinks);
	tcase_add_test(tc, two_handles_both_kept);
	tcase_add_test(tc, racing_processes);
	tcase_add_test(tc, many_peers);
	tcase_add_test(tc, default_path);
	suite_add_tcase(s, tc);
	return s;
}
