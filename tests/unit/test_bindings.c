/* The server's name -> key store: bindings survive a reopen, a torn last
 * line is dropped (with a warning) and compacted so later appends are
 * clean, every other bad line is refused with its number and the file
 * left alone, a failed append is cut off again, and 100,000 names load. */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "keytest.h"
#include "p2pcall/bindings.h"
#include "p2pcall/keyfile.h"

static char dir[64], path[128], err[512];
static uint8_t k1[32], k2[32], k3[32];
static char s1[44], s2[44], s3[44];

static void setup(void)
{
	keytest_mkdtemp(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/bindings", dir);
	memset(k1, 1, 32);
	memset(k2, 2, 32);
	memset(k3, 3, 32);
	keyfile_key_encode(k1, s1);
	keyfile_key_encode(k2, s2);
	keyfile_key_encode(k3, s3);
}

static void teardown(void)
{
	keyfile_commit_hook = NULL;
	keytest_rmtree(dir);
}

/* Collects "name=KEY;" for each binding, in order. */
struct collect {
	char *buf;
	size_t len, cap;
	size_t n;
};
static void collect_cb(void *ctx, const char *name, const uint8_t pk[32])
{
	struct collect *c = ctx;
	char k[44];
	keyfile_key_encode(pk, k);
	int n = snprintf(c->buf + c->len, c->cap - c->len, "%s=%s;", name, k);
	ck_assert_int_lt(n, (int)(c->cap - c->len));
	c->len += (size_t)n;
	c->n++;
}

static void expect_each(const struct bindings *b, const char *want)
{
	char buf[1024];
	struct collect c = { buf, 0, sizeof(buf), 0 };
	buf[0] = '\0';
	bindings_each(b, collect_cb, &c);
	ck_assert_str_eq(buf, want);
	ck_assert_uint_eq(c.n, bindings_count(b));
}

START_TEST(survive_reopen)
{
	struct bindings *b;
	char want[400];
	ck_assert_int_eq(bindings_open(&b, path, err, sizeof(err)), 0);
	ck_assert_str_eq(err, "");
	ck_assert_uint_eq(bindings_count(b), 0);
	ck_assert_int_eq(keytest_mode(path), 0600);
	ck_assert(keytest_same(path, "", 0));
	ck_assert_int_eq(bindings_add(b, "alice", k1, err, sizeof(err)), 0);
	ck_assert_int_eq(bindings_add(b, "bob-2.x_y", k2, err, sizeof(err)), 0);
	ck_assert_int_eq(bindings_add(b, "0day", k3, err, sizeof(err)), 0);
	ck_assert_uint_eq(bindings_count(b), 3);
	ck_assert_mem_eq(bindings_get(b, "bob-2.x_y"), k2, 32);
	ck_assert_ptr_null(bindings_get(b, "carol"));
	/* Each add is on disk already (no close needed). */
	snprintf(want, sizeof(want), "alice %s\nbob-2.x_y %s\n0day %s\n", s1, s2, s3);
	ck_assert(keytest_same(path, want, strlen(want)));
	bindings_free(b);

	ck_assert_int_eq(bindings_open(&b, path, err, sizeof(err)), 0);
	ck_assert_str_eq(err, "");
	ck_assert_uint_eq(bindings_count(b), 3);
	snprintf(want, sizeof(want), "alice=%s;bob-2.x_y=%s;0day=%s;", s1, s2, s3);
	expect_each(b, want);
	ck_assert_mem_eq(bindings_get(b, "alice"), k1, 32);
	bindings_free(b);
	ck_assert_int_eq(keytest_count_entries(dir), 1);
}
END_TEST

START_TEST(operator_file)
{
	/* Pre-listed by the operator: comments, blanks, spacing, mode 0644. */
	char text[600], want[800];
	snprintf(text, sizeof(text), "# reserved names\n\n  alice\t%s  \n# staff\nbob %s\n", s1, s2);
	keytest_write_str(path, text, 0644);
	struct bindings *b;
	ck_assert_int_eq(bindings_open(&b, path, err, sizeof(err)), 0);
	ck_assert_uint_eq(bindings_count(b), 2);
	ck_assert_int_eq(bindings_add(b, "carol", k3, err, sizeof(err)), 0);
	bindings_free(b);
	snprintf(want, sizeof(want), "%scarol %s\n", text, s3);
	ck_assert(keytest_same(path, want, strlen(want)));
	ck_assert_int_eq(keytest_mode(path), 0644);
}
END_TEST

START_TEST(torn_tail)
{
	char good[400], text[600], want[800], w[400];
	snprintf(good, sizeof(good), "# keys\nalice %s\nbob %s\n", s1, s2);
	/* Torn anywhere in the last line, even with only its LF missing. */
	static const size_t cuts[] = { 1, 2, 5, 6, 7, 20, 48, 49 }; /* 49: all but the LF */
	for (size_t ci = 0; ci < sizeof(cuts) / sizeof(cuts[0]); ci++) {
		size_t cut = cuts[ci];
		snprintf(text, sizeof(text), "%scarol %s", good, s3);
		text[strlen(good) + cut] = '\0';
		keytest_write_str(path, text, 0600);
		struct bindings *b;
		ck_assert_int_eq(bindings_open(&b, path, err, sizeof(err)), 0);
		char q[80];
		snprintf(w, sizeof(w), "%s:4: dropped an incomplete last line `%s'", path,
			 keyfile_quote(text + strlen(good), cut, q, sizeof(q)));
		ck_assert_msg(strncmp(err, w, strlen(w)) == 0, "got: %s\nwant: %s", err, w);
		ck_assert_uint_eq(bindings_count(b), 2);
		ck_assert_ptr_null(bindings_get(b, "carol"));
		/* Compacted at once, so the next append is on its own line. */
		ck_assert(keytest_same(path, good, strlen(good)));
		ck_assert_int_eq(keytest_mode(path), 0600);
		ck_assert_int_eq(bindings_add(b, "carol", k1, err, sizeof(err)), 0);
		bindings_free(b);
		snprintf(want, sizeof(want), "%scarol %s\n", good, s1);
		ck_assert(keytest_same(path, want, strlen(want)));
		ck_assert_int_eq(bindings_open(&b, path, err, sizeof(err)), 0);
		ck_assert_str_eq(err, "");
		ck_assert_uint_eq(bindings_count(b), 3);
		ck_assert_mem_eq(bindings_get(b, "carol"), k1, 32);
		bindings_free(b);
		ck_assert_int_eq(keytest_count_entries(dir), 1);
	}
	/* A file that is only a torn line. */
	keytest_write_str(path, "ali", 0600);
	struct bindings *b;
	ck_assert_int_eq(bindings_open(&b, path, err, sizeof(err)), 0);
	ck_assert_ptr_nonnull(strstr(err, ":1: dropped an incomplete last line `ali'"));
	ck_assert_uint_eq(bindings_count(b), 0);
	ck_assert(keytest_same(path, "", 0));
	bindings_free(b);
}
END_TEST

/* TEXT must be refused at open with -EBADMSG, "PATH:WANT", untouched. */
static void refused(const char *text, const char *want)
{
	struct bindings *b = (struct bindings *)1;
	char full[600];
	keytest_write_str(path, text, 0600);
	ck_assert_int_eq(bindings_open(&b, path, err, sizeof(err)), -EBADMSG);
	ck_assert_ptr_null(b);
	snprintf(full, sizeof(full), "%s:%s", path, want);
	ck_assert_msg(strcmp(err, full) == 0, "got: %s\nwant: %s", err, full);
	ck_assert(keytest_same(path, text, strlen(text)));
}

START_TEST(bad_lines_refused)
{
	char t[600], w[300];
	snprintf(t, sizeof(t), "alice %s\nbob %s\nalice %s\n", s1, s2, s3);
	refused(t, "3: `alice' is bound twice (first on line 1)");
	snprintf(t, sizeof(t), "alice %s\nbob\n", s1);
	refused(t, "2: malformed line `bob' (expected `NAME KEY')");
	snprintf(t, sizeof(t), "alice %s extra\n", s1);
	snprintf(w, sizeof(w), "1: malformed line `alice %s extra' (expected `NAME KEY')", s1);
	refused(t, w);
	snprintf(t, sizeof(t), "# c\nAlice %s\n", s1);
	refused(t, "2: bad name `Alice' (1-32 of a-z 0-9 . _ -, starting with a letter or digit)");
	snprintf(t, sizeof(t), "-alice %s\n", s1);
	refused(t, "1: bad name `-alice' (1-32 of a-z 0-9 . _ -, starting with a letter or digit)");
	snprintf(t, sizeof(t), "abcdefghijklmnopqrstuvwxyz0123456 %s\n", s1);
	refused(t, "1: bad name `abcdefghijklmnopqrstuvwxyz0123456' (1-32 of a-z 0-9 . _ -, starting with a letter "
		   "or digit)");
	snprintf(t, sizeof(t), "alice %.42s\n", s1);
	snprintf(w, sizeof(w), "1: bad key `%.42s' for `alice' (expected 43 base64url characters)", s1);
	refused(t, w);
	snprintf(t, sizeof(t), "alice %s=\n", s1);
	snprintf(w, sizeof(w), "1: bad key `%s=' for `alice' (expected 43 base64url characters)", s1);
	refused(t, w);
	/* A bad line and a torn tail: the bad line wins, nothing compacted. */
	snprintf(t, sizeof(t), "alice %s\nbob\ncarol %.20s", s1, s3);
	refused(t, "2: malformed line `bob' (expected `NAME KEY')");
	/* A 32-byte name is fine. */
	snprintf(t, sizeof(t), "abcdefghijklmnopqrstuvwxyz012345 %s\n", s1);
	keytest_write_str(path, t, 0600);
	struct bindings *b;
	ck_assert_int_eq(bindings_open(&b, path, err, sizeof(err)), 0);
	bindings_free(b);
}
END_TEST

START_TEST(add_refusals)
{
	struct bindings *b;
	char want[200];
	ck_assert_int_eq(bindings_open(&b, path, err, sizeof(err)), 0);
	ck_assert_int_eq(bindings_add(b, "alice", k1, err, sizeof(err)), 0);
	ck_assert_int_eq(bindings_add(b, "alice", k2, err, sizeof(err)), -EEXIST);
	ck_assert_ptr_nonnull(strstr(err, "already bound"));
	ck_assert_mem_eq(bindings_get(b, "alice"), k1, 32);
	static const char *bad[] = { "", "Alice", "_a", ".a", "a b", "a\n", "abcdefghijklmnopqrstuvwxyz0123456", "é" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert(!bindings_name_valid(bad[i]));
		ck_assert_int_eq(bindings_add(b, bad[i], k2, err, sizeof(err)), -EINVAL);
		ck_assert_ptr_nonnull(strstr(err, "not a valid name"));
	}
	ck_assert(bindings_name_valid("a"));
	ck_assert(bindings_name_valid("9-._"));
	ck_assert_uint_eq(bindings_count(b), 1);
	snprintf(want, sizeof(want), "alice %s\n", s1);
	ck_assert(keytest_same(path, want, strlen(want)));
	bindings_free(b);
}
END_TEST

START_TEST(unsafe_files_refused)
{
	struct bindings *b, *b2;
	char t[200];
	snprintf(t, sizeof(t), "alice %s\n", s1);
	keytest_write_str(path, t, 0664);
	ck_assert_int_eq(bindings_open(&b, path, err, sizeof(err)), -EPERM);
	ck_assert_ptr_nonnull(strstr(err, "is writable by others (mode 0664); run: chmod go-w"));
	ck_assert(keytest_same(path, t, strlen(t)));
	ck_assert_int_eq(chmod(path, 0600), 0);

	/* One server per file. */
	ck_assert_int_eq(bindings_open(&b, path, err, sizeof(err)), 0);
	ck_assert_int_eq(bindings_open(&b2, path, err, sizeof(err)), -EBUSY);
	ck_assert_ptr_nonnull(strstr(err, "in use by another p2pcall server"));
	bindings_free(b);
	ck_assert_int_eq(bindings_open(&b2, path, err, sizeof(err)), 0);
	bindings_free(b2);

	unlink(path);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	ck_assert_int_eq(bindings_open(&b, path, err, sizeof(err)), -EISDIR);
	ck_assert_ptr_nonnull(strstr(err, "is a directory"));
	ck_assert_int_eq(keytest_count_entries(path), 0);
	rmdir(path);

	/* Its directory must exist: the server does not invent one. */
	char sub[200];
	snprintf(sub, sizeof(sub), "%s/no/bindings", dir);
	ck_assert_int_eq(bindings_open(&b, sub, err, sizeof(err)), -ENOENT);
	ck_assert_ptr_nonnull(strstr(err, sub));

	ck_assert_int_eq(symlink("bindings", path), 0);
	ck_assert_int_eq(bindings_open(&b, path, err, sizeof(err)), -ELOOP);
	ck_assert_ptr_nonnull(strstr(err, path));
}
END_TEST

/* A write that fails halfway (file size limit) is cut off again, so the
 * file never holds an unacknowledged line; later adds work. In a child,
 * as it changes the process's limits. */
START_TEST(failed_append_cut_off)
{
	char want[300];
	snprintf(want, sizeof(want), "alice %s\nbob %s\n", s1, s2);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct bindings *b;
		char e[512];
		signal(SIGXFSZ, SIG_IGN);
		if (bindings_open(&b, path, e, sizeof(e)) || bindings_add(b, "alice", k1, e, sizeof(e)))
			_exit(10);
		struct rlimit old, rl;
		getrlimit(RLIMIT_FSIZE, &old);
		rl = old;
		rl.rlim_cur = 50 + 20; /* "alice KEY\n" is 50 bytes: half a line fits */
		if (setrlimit(RLIMIT_FSIZE, &rl) < 0)
			_exit(11);
		int rc = bindings_add(b, "carol", k3, e, sizeof(e));
		if (rc != -EFBIG || !strstr(e, "cannot append to") || bindings_get(b, "carol") || bindings_count(b) != 1)
			_exit(12);
		setrlimit(RLIMIT_FSIZE, &old);
		if (bindings_add(b, "bob", k2, e, sizeof(e)) != 0)
			_exit(13);
		bindings_free(b);
		_exit(0);
	}
	int status;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	ck_assert_int_eq(WEXITSTATUS(status), 0);
	ck_assert(keytest_same(path, want, strlen(want)));
}
END_TEST

/* Another process creates the store between our temporary file and its
 * link(): theirs is opened, not replaced. */
static char race_text[200];
static void racer(const char *tmp, const char *target) { keytest_write_str(target, race_text, 0600); }

START_TEST(creation_race)
{
	snprintf(race_text, sizeof(race_text), "alice %s\n", s1);
	keyfile_commit_hook = racer;
	struct bindings *b;
	ck_assert_int_eq(bindings_open(&b, path, err, sizeof(err)), 0);
	keyfile_commit_hook = NULL;
	ck_assert_str_eq(err, "");
	ck_assert_uint_eq(bindings_count(b), 1);
	ck_assert_mem_eq(bindings_get(b, "alice"), k1, 32);
	ck_assert_int_eq(bindings_add(b, "bob", k2, err, sizeof(err)), 0);
	bindings_free(b);
	char want[200];
	snprintf(want, sizeof(want), "alice %s\nbob %s\n", s1, s2);
	ck_assert(keytest_same(path, want, strlen(want)));
	ck_assert_int_eq(keytest_count_entries(dir), 1);
}
END_TEST

static void count_cb(void *ctx, const char *name, const uint8_t pk[32])
{
	size_t *i = ctx;
	char want[16];
	snprintf(want, sizeof(want), "user%zu", *i);
	ck_assert_str_eq(name, want);
	ck_assert_int_eq(pk[0], (uint8_t)*i);
	(*i)++;
}

START_TEST(hundred_thousand)
{
	enum { N = 100000 };
	size_t cap = (size_t)N * 64 + 64, n = 0;
	char *t = malloc(cap);
	uint8_t k[32];
	char ks[44];
	n += (size_t)snprintf(t + n, cap - n, "# bulk\n");
	for (int i = 0; i < N; i++) {
		memset(k, 0, sizeof(k));
		k[0] = (uint8_t)i;
		k[1] = (uint8_t)(i >> 8);
		k[2] = (uint8_t)(i >> 16);
		keyfile_key_encode(k, ks);
		n += (size_t)snprintf(t + n, cap - n, "user%d %s\n", i, ks);
	}
	keytest_write(path, t, n, 0600);
	struct bindings *b;
	ck_assert_int_eq(bindings_open(&b, path, err, sizeof(err)), 0);
	ck_assert_str_eq(err, "");
	ck_assert_uint_eq(bindings_count(b), N);
	for (int i = 0; i < N; i += 997) {
		char name[16];
		snprintf(name, sizeof(name), "user%d", i);
		const uint8_t *pk = bindings_get(b, name);
		ck_assert_ptr_nonnull(pk);
		ck_assert_int_eq(pk[0] | pk[1] << 8 | pk[2] << 16, i);
	}
	size_t i = 0;
	bindings_each(b, count_cb, &i);
	ck_assert_uint_eq(i, N);
	/* One more is an append: the file grows by its line only. */
	ck_assert_int_eq(bindings_add(b, "newcomer", k1, err, sizeof(err)), 0);
	bindings_free(b);
	size_t len = 0;
	char *after = keytest_read(path, &len);
	ck_assert_uint_eq(len, n + strlen("newcomer ") + 44);
	ck_assert_int_eq(memcmp(after, t, n), 0);
	free(after);
	ck_assert_int_eq(bindings_open(&b, path, err, sizeof(err)), 0);
	ck_assert_uint_eq(bindings_count(b), N + 1);
	bindings_free(b);

	/* A duplicate near the end of the big file is found, with its lines. */
	n += (size_t)snprintf(t + n, cap - n, "user77777 %s\n", s1);
	keytest_write(path, t, n, 0600);
	ck_assert_int_eq(bindings_open(&b, path, err, sizeof(err)), -EBADMSG);
	ck_assert_ptr_nonnull(strstr(err, ":100002: `user77777' is bound twice (first on line 77779)"));
	free(t);
}
END_TEST

Suite *bindings_suite(void)
{
	Suite *s = suite_create("bindings");
	TCase *tc = tcase_create("core");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, survive_reopen);
	tcase_add_test(tc, operator_file);
	tcase_add_test(tc, torn_tail);
	tcase_add_test(tc, bad_lines_refused);
	tcase_add_test(tc, add_refusals);
	tcase_add_test(tc, unsafe_files_refused);
	tcase_add_test(tc, failed_append_cut_off);
	tcase_add_test(tc, creation_race);
	tcase_add_test(tc, hundred_thousand);
	suite_add_tcase(s, tc);
	return s;
}
