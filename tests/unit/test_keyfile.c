/* The key files' shared helpers: the base64url key codec (one spelling per
 * key, exact size only), line and field splitting, the file checks, and
 * the atomic write (replace, no-clobber, temporary files cleaned up). */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "keytest.h"
#include "p2pcall/keyfile.h"

static char err[512];

START_TEST(key_codec)
{
	uint8_t k[32], back[32];
	char s[KEYFILE_KEY_CHARS + 1];
	for (int i = 0; i < 32; i++)
		k[i] = (uint8_t)(i * 37 + 1);
	keyfile_key_encode(k, s);
	ck_assert_uint_eq(strlen(s), 43);
	ck_assert_ptr_null(strchr(s, '='));
	ck_assert(keyfile_key_decode(s, 43, back));
	ck_assert_mem_eq(k, back, 32);

	/* All ones: the URL-safe alphabet's `-' and `_', never `+' or `/'. */
	memset(k, 0xff, 32);
	keyfile_key_encode(k, s);
	ck_assert_str_eq(s, "__________________________________________8");
	ck_assert(keyfile_key_decode(s, 43, back));
	ck_assert_mem_eq(k, back, 32);

	uint8_t keep[32];
	memset(keep, 0xaa, 32);
	memcpy(back, keep, 32);
	/* Wrong sizes. */
	ck_assert(!keyfile_key_decode(s, 42, back));
	char longer[45];
	snprintf(longer, sizeof(longer), "%sA", s);
	ck_assert(!keyfile_key_decode(longer, 44, back));
	/* Padding, standard alphabet, a non-canonical last character (its
	 * unused low bits set), a bad byte. */
	char pad[45];
	snprintf(pad, sizeof(pad), "%s=", s);
	ck_assert(!keyfile_key_decode(pad, 44, back));
	char std[44];
	memcpy(std, s, 44);
	std[0] = '/';
	ck_assert(!keyfile_key_decode(std, 43, back));
	std[0] = '+';
	ck_assert(!keyfile_key_decode(std, 43, back));
	memcpy(std, s, 44);
	std[42] = '9'; /* '8' is ...111100, '9' sets an unused bit */
	ck_assert(!keyfile_key_decode(std, 43, back));
	memcpy(std, s, 44);
	std[10] = '\0';
	ck_assert(!keyfile_key_decode(std, 43, back));
	ck_assert_mem_eq(back, keep, 32); /* untouched on failure */
}
END_TEST

START_TEST(lines_and_fields)
{
	const char *t = "a b\n\n  # note\nx\ty  z\r\nlast";
	size_t pos = 0;
	struct keyfile_line l = { 0 };
	struct keyfile_field f[2];

	ck_assert(keyfile_next_line(t, strlen(t), &pos, &l));
	ck_assert_uint_eq(l.no, 1);
	ck_assert(l.terminated);
	ck_assert_uint_eq(keyfile_split(&l, f, 2), 2);
	ck_assert(keyfile_field_is(&f[0], "a") && keyfile_field_is(&f[1], "b"));
	ck_assert(!keyfile_field_is(&f[0], "ab"));

	ck_assert(keyfile_next_line(t, strlen(t), &pos, &l));
	ck_assert_uint_eq(keyfile_split(&l, f, 2), 0); /* blank */
	ck_assert(keyfile_next_line(t, strlen(t), &pos, &l));
	ck_assert_uint_eq(keyfile_split(&l, f, 2), 0); /* comment */
	ck_assert(keyfile_next_line(t, strlen(t), &pos, &l));
	ck_assert_uint_eq(l.no, 4);
	ck_assert_uint_eq(keyfile_split(&l, f, 2), 3); /* more than 2 */
	ck_assert(keyfile_next_line(t, strlen(t), &pos, &l));
	ck_assert_uint_eq(l.no, 5);
	ck_assert(!l.terminated);
	ck_assert_uint_eq(l.len, 4);
	ck_assert(!keyfile_next_line(t, strlen(t), &pos, &l));

	char q[16];
	ck_assert_str_eq(keyfile_quote("a\x01\xff" "b", 4, q, sizeof(q)), "a??b");
	ck_assert_str_eq(keyfile_quote("0123456789abcdefghij", 20, q, sizeof(q)), "0123456789ab...");
}
END_TEST

START_TEST(config_path)
{
	char p[64];
	const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
	char *sx = xdg ? strdup(xdg) : NULL, *sh = home ? strdup(home) : NULL;

	setenv("XDG_CONFIG_HOME", "/x/cfg", 1);
	setenv("HOME", "/home/u", 1);
	ck_assert_int_eq(keyfile_config_path("identity", p, sizeof(p)), 0);
	ck_assert_str_eq(p, "/x/cfg/p2pcall/identity");
	setenv("XDG_CONFIG_HOME", "relative", 1); /* ignored, as XDG says */
	ck_assert_int_eq(keyfile_config_path("known_peers", p, sizeof(p)), 0);
	ck_assert_str_eq(p, "/home/u/.config/p2pcall/known_peers");
	ck_assert_int_eq(keyfile_config_path("known_peers", p, 10), -ENOSPC);
	unsetenv("XDG_CONFIG_HOME");
	unsetenv("HOME");
	ck_assert_int_eq(keyfile_config_path("identity", p, sizeof(p)), -ENOENT);

	if (sx)
		setenv("XDG_CONFIG_HOME", sx, 1);
	if (sh)
		setenv("HOME", sh, 1);
	free(sx);
	free(sh);
}
END_TEST

START_TEST(atomic_write)
{
	char dir[64], path[128];
	keytest_mkdtemp(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/f", dir);

	ck_assert_int_eq(keyfile_write_atomic(path, "one\n", 4, 0640, KEYFILE_NO_CLOBBER, NULL, err, sizeof(err)), 0);
	ck_assert(keytest_same(path, "one\n", 4));
	ck_assert_int_eq(keytest_mode(path), 0640);
	/* No clobbering: the first file stays. */
	ck_assert_int_eq(keyfile_write_atomic(path, "two\n", 4, 0600, KEYFILE_NO_CLOBBER, NULL, err, sizeof(err)),
			 -EEXIST);
	ck_assert_ptr_nonnull(strstr(err, path));
	ck_assert(keytest_same(path, "one\n", 4));
	/* Replacing, and the kept descriptor is the new file. */
	int fd = -1;
	ck_assert_int_eq(keyfile_write_atomic(path, "three\n", 6, 0600, KEYFILE_LOCK, &fd, err, sizeof(err)), 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "four\n", 5), 5);
	close(fd);
	ck_assert(keytest_same(path, "three\nfour\n", 11));
	ck_assert_int_eq(keytest_mode(path), 0600);
	ck_assert_int_eq(keytest_count_entries(dir), 1); /* no temporary files left */

	/* Through a symbolic link: the target is replaced, the link kept. */
	char link_path[160];
	snprintf(link_path, sizeof(link_path), "%s/l", dir);
	ck_assert_int_eq(symlink("f", link_path), 0);
	ck_assert_int_eq(keyfile_write_atomic(link_path, "five\n", 5, 0600, 0, NULL, err, sizeof(err)), 0);
	struct stat st;
	ck_assert_int_eq(lstat(link_path, &st), 0);
	ck_assert(S_ISLNK(st.st_mode));
	ck_assert(keytest_same(path, "five\n", 5));

	/* A directory that does not exist: an error naming the file. */
	char bad[160];
	snprintf(bad, sizeof(bad), "%s/no/f", dir);
	ck_assert_int_eq(keyfile_write_atomic(bad, "x", 1, 0600, 0, NULL, err, sizeof(err)), -ENOENT);
	ck_assert_ptr_nonnull(strstr(err, bad));
	ck_assert_int_eq(keytest_count_entries(dir), 2);
	keytest_rmtree(dir);
}
END_TEST

START_TEST(mkdirs_and_checks)
{
	char dir[64], p[160];
	keytest_mkdtemp(dir, sizeof(dir));
	mode_t old = umask(0077 | 0022);
	snprintf(p, sizeof(p), "%s/a/b/c", dir);
	ck_assert_int_eq(keyfile_mkdirs(p, err, sizeof(err)), 0);
	umask(old);
	ck_assert_int_eq(keytest_mode(p), 0700);
	snprintf(p, sizeof(p), "%s/a", dir);
	ck_assert_int_eq(keytest_mode(p), 0700);
	ck_assert_int_eq(keyfile_mkdirs(p, err, sizeof(err)), 0); /* exists: fine */
	/* A file in the way. */
	snprintf(p, sizeof(p), "%s/file", dir);
	keytest_write_str(p, "x", 0600);
	snprintf(p, sizeof(p), "%s/file/sub", dir);
	ck_assert_int_lt(keyfile_mkdirs(p, err, sizeof(err)), 0);
	ck_assert_ptr_nonnull(strstr(err, "file"));

	struct stat st;
	snprintf(p, sizeof(p), "%s/file", dir);
	ck_assert_int_eq(stat(p, &st), 0);
	ck_assert_int_eq(keyfile_check(p, &st, "test", false, 077, "600", err, sizeof(err)), 0);
	st.st_mode = S_IFREG | 0644;
	ck_assert_int_eq(keyfile_check(p, &st, "test", false, 077, "600", err, sizeof(err)), -EPERM);
	ck_assert_int_eq(keyfile_check(p, &st, "test", false, 022, "go-w", err, sizeof(err)), 0);
	st.st_mode = S_IFREG | 0664;
	ck_assert_int_eq(keyfile_check(p, &st, "test", false, 022, "go-w", err, sizeof(err)), -EPERM);
	char want[400];
	snprintf(want, sizeof(want), "%s is writable by others (mode 0664); run: chmod go-w %s", p, p);
	ck_assert_str_eq(err, want);
	st.st_mode = S_IFDIR | 0700;
	ck_assert_int_eq(keyfile_check(p, &st, "test", false, 077, "600", err, sizeof(err)), -EISDIR);
	st.st_mode = S_IFREG | 0600;
	st.st_uid = geteuid() + 1;
	ck_assert_int_eq(keyfile_check(p, &st, "test", true, 077, "600", err, sizeof(err)), -EPERM);
	st.st_uid = 0;
	if (geteuid() != 0) {
		ck_assert_int_eq(keyfile_check(p, &st, "test", false, 077, "600", err, sizeof(err)), -EPERM);
		ck_assert_int_eq(keyfile_check(p, &st, "test", true, 077, "600", err, sizeof(err)), 0);
	}
	keytest_rmtree(dir);
}
END_TEST

Suite *keyfile_suite(void)
{
	Suite *s = suite_create("keyfile");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, key_codec);
	tcase_add_test(tc, lines_and_fields);
	tcase_add_test(tc, config_path);
	tcase_add_test(tc, atomic_write);
	tcase_add_test(tc, mkdirs_and_checks);
	suite_add_tcase(s, tc);
	return s;
}
