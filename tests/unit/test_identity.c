/* The identity key file: creation (modes, directories), reload, and every
 * kind of bad file refused with a message naming it, the file left
 * byte-identical; creation racing another process never clobbers. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "keytest.h"
#include "p2pcall/identity.h"
#include "p2pcall/keyfile.h"

static char dir[64], path[128], err[512];
static uint8_t pk[32], sk[64];

static void setup(void)
{
	keytest_mkdtemp(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/identity", dir);
	memset(err, 'X', sizeof(err) - 1);
	err[sizeof(err) - 1] = '\0';
}

static void teardown(void)
{
	keyfile_commit_hook = NULL;
	keytest_rmtree(dir);
}

/* The text of a valid identity file for SEED's key (PK_OUT may be NULL). */
static void identity_text(uint8_t seed_byte, char *out, size_t cap, uint8_t pk_out[32])
{
	uint8_t seed[32], p[32], s[64];
	char a[44], b[44];
	memset(seed, seed_byte, sizeof(seed));
	crypto_sign_seed_keypair(p, s, seed);
	keyfile_key_encode(p, a);
	keyfile_key_encode(seed, b);
	snprintf(out, cap, "# p2pcall identity key. Keep it secret: it proves you are you.\n"
			   "p2pcall-identity 1\npublic %s\nsecret %s\n", a, b);
	if (pk_out)
		memcpy(pk_out, p, 32);
}

/* PATH must be refused with WANT_RC and an error naming it, and be left
 * exactly as TEXT. Tried with CREATE both ways. */
static void refused(const char *text, size_t len, int want_rc, const char *want_in_err)
{
	for (int create = 0; create < 2; create++) {
		bool created = true;
		memset(pk, 0x5a, sizeof(pk));
		int rc = identity_load(path, create, pk, sk, &created, err, sizeof(err));
		ck_assert_msg(rc == want_rc, "rc %d, want %d (%s) for:\n%.*s", rc, want_rc, err, (int)len, text);
		ck_assert(!created);
		ck_assert_msg(strncmp(err, path, strlen(path)) == 0, "error does not start with the path: %s", err);
		if (want_in_err)
			ck_assert_msg(strstr(err, want_in_err), "`%s' not in: %s", want_in_err, err);
		ck_assert(keytest_same(path, text, len));
		ck_assert_int_eq(pk[0], 0x5a); /* outputs untouched */
	}
}

static void refused_text(const char *text, int want_rc, const char *want_in_err)
{
	keytest_write_str(path, text, 0600);
	refused(text, strlen(text), want_rc, want_in_err);
}

START_TEST(create_and_reload)
{
	char p[300], d1[200], d2[200];
	snprintf(d1, sizeof(d1), "%s/cfg", dir);
	snprintf(d2, sizeof(d2), "%s/cfg/p2pcall", dir);
	snprintf(p, sizeof(p), "%s/identity", d2);
	mode_t old = umask(0); /* creation must not depend on the umask */
	bool created = false;
	ck_assert_int_eq(identity_load(p, true, pk, sk, &created, err, sizeof(err)), 0);
	umask(old);
	ck_assert(created);
	ck_assert_str_eq(err, "");
	ck_assert_int_eq(keytest_mode(p), 0600);
	ck_assert_int_eq(keytest_mode(d1), 0700);
	ck_assert_int_eq(keytest_mode(d2), 0700);
	ck_assert_int_eq(keytest_count_entries(d2), 1); /* no temporary file left */
	ck_assert_mem_eq(sk + 32, pk, 32);

	/* The file says what it is, and holds the public key we got. */
	char *text = keytest_read(p, NULL);
	char pk64[44], line[80];
	keyfile_key_encode(pk, pk64);
	snprintf(line, sizeof(line), "\npublic %s\nsecret ", pk64);
	ck_assert_ptr_nonnull(strstr(text, line));
	ck_assert(strncmp(text, "# p2pcall identity key.", 23) == 0);
	ck_assert_ptr_nonnull(strstr(text, "\np2pcall-identity 1\n"));

	/* Reload: the same key, nothing created, the file unchanged. */
	uint8_t pk2[32], sk2[64];
	created = true;
	ck_assert_int_eq(identity_load(p, false, pk2, sk2, &created, err, sizeof(err)), 0);
	ck_assert(!created);
	ck_assert_mem_eq(pk, pk2, 32);
	ck_assert_mem_eq(sk, sk2, 64);
	ck_assert_int_eq(identity_load(p, true, pk2, sk2, NULL, err, sizeof(err)), 0);
	ck_assert_mem_eq(pk, pk2, 32);
	ck_assert(keytest_same(p, text, strlen(text)));

	/* It is a working Ed25519 key pair. */
	uint8_t sig[64];
	crypto_sign_detached(sig, NULL, (const uint8_t *)"hello", 5, sk2);
	ck_assert_int_eq(crypto_sign_verify_detached(sig, (const uint8_t *)"hello", 5, pk), 0);

	/* A second identity elsewhere is a different key. */
	ck_assert_int_eq(identity_load(path, true, pk2, sk2, &created, err, sizeof(err)), 0);
	ck_assert(created);
	ck_assert(memcmp(pk, pk2, 32) != 0);
	free(text);
}
END_TEST

START_TEST(missing_without_create)
{
	bool created = true;
	ck_assert_int_eq(identity_load(path, false, pk, sk, &created, err, sizeof(err)), -ENOENT);
	ck_assert(!created);
	ck_assert_ptr_nonnull(strstr(err, path));
	ck_assert_int_eq(keytest_count_entries(dir), 0);
}
END_TEST

START_TEST(modes_refused)
{
	char text[400], want[400];
	identity_text(1, text, sizeof(text), NULL);
	static const int modes[] = { 0644, 0640, 0604, 0660, 0601, 0610 };
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		keytest_write_str(path, text, (mode_t)modes[i]);
		refused(text, strlen(text), -EPERM, NULL);
		snprintf(want, sizeof(want), "%s is accessible by others (mode %04o); run: chmod 600 %s", path,
			 modes[i], path);
		ck_assert_str_eq(err, want);
		ck_assert_int_eq(keytest_mode(path), modes[i]);
	}
	/* 0400 (read-only for us) is fine. */
	keytest_write_str(path, text, 0400);
	ck_assert_int_eq(identity_load(path, false, pk, sk, NULL, err, sizeof(err)), 0);
}
END_TEST

START_TEST(corrupt_refused)
{
	char good[400], other[400];
	uint8_t seed[32], p1[32], p2[32], s[64];
	char a[44], b[44], t[600];
	identity_text(7, good, sizeof(good), p1);
	identity_text(8, other, sizeof(other), p2);

	refused_text("", -EBADMSG, ": not a p2pcall identity file: no `p2pcall-identity 1' line");
	refused_text("# only a comment\n\n", -EBADMSG, "(empty or truncated)");
	refused_text("ssh-ed25519 AAAA\n", -EBADMSG, ":1: not a p2pcall identity file");

	/* Wrong version: the number, and the line it is on. */
	memset(seed, 7, 32);
	crypto_sign_seed_keypair(p1, s, seed);
	keyfile_key_encode(p1, a);
	keyfile_key_encode(seed, b);
	snprintf(t, sizeof(t), "# c\np2pcall-identity 2\npublic %s\nsecret %s\n", a, b);
	refused_text(t, -EBADMSG, ":2: identity file version `2' is not supported");
	snprintf(t, sizeof(t), "p2pcall-identity\npublic %s\nsecret %s\n", a, b);
	refused_text(t, -EBADMSG, ":1: malformed header (expected `p2pcall-identity 1')");
	snprintf(t, sizeof(t), "p2pcall-identity 1 x\npublic %s\nsecret %s\n", a, b);
	refused_text(t, -EBADMSG, ":1: malformed header (expected `p2pcall-identity 1')");
	snprintf(t, sizeof(t), "p2pcall-identity 01\npublic %s\nsecret %s\n", a, b);
	refused_text(t, -EBADMSG, ":1: identity file version `01' is not supported");

	/* The public key of another seed. */
	keyfile_key_encode(p2, a);
	snprintf(t, sizeof(t), "p2pcall-identity 1\npublic %s\nsecret %s\n", a, b);
	refused_text(t, -EBADMSG, "does not match the secret key");

	/* A key one character short, one too long, in the wrong alphabet. */
	keyfile_key_encode(p1, a);
	snprintf(t, sizeof(t), "p2pcall-identity 1\npublic %s\nsecret %.42s\n", a, b);
	refused_text(t, -EBADMSG, ":3: malformed secret key");
	ck_assert_ptr_null(strstr(err, b + 5)); /* the secret is never quoted */
	snprintf(t, sizeof(t), "p2pcall-identity 1\npublic %sA\nsecret %s\n", a, b);
	refused_text(t, -EBADMSG, ":2: malformed public key");
	snprintf(t, sizeof(t), "p2pcall-identity 1\npublic %s\nsecret %s==\n", a, b);
	refused_text(t, -EBADMSG, ":3: malformed secret key");
	snprintf(t, sizeof(t), "p2pcall-identity 1\npublic %s extra\nsecret %s\n", a, b);
	refused_text(t, -EBADMSG, ":2: malformed public key");

	/* Lines twice, unknown lines, a missing line. */
	snprintf(t, sizeof(t), "p2pcall-identity 1\npublic %s\npublic %s\nsecret %s\n", a, a, b);
	refused_text(t, -EBADMSG, ":3: a second `public' line");
	snprintf(t, sizeof(t), "p2pcall-identity 1\npublic %s\ncomment hi\nsecret %s\n", a, b);
	refused_text(t, -EBADMSG, ":3: unexpected `comment'");
	snprintf(t, sizeof(t), "p2pcall-identity 1\nsecret %s\n", b);
	refused_text(t, -EBADMSG, "truncated: it has no `public' line");

	/* Every truncation of a good file is refused, down to the last key
	 * character; only the final LF may go. */
	size_t n = strlen(good);
	for (size_t cut = 0; cut < n - 1; cut++) {
		keytest_write(path, good, cut, 0600);
		refused(good, cut, -EBADMSG, NULL);
	}
	keytest_write(path, good, n - 1, 0600);
	ck_assert_int_eq(identity_load(path, false, pk, sk, NULL, err, sizeof(err)), 0);
	ck_assert_mem_eq(pk, p1, 32);
	/* Any single flipped character of a key is caught. */
	for (size_t i = strlen(good) - 88; i < n - 1; i++) {
		if (good[i] == '\n' || good[i] == ' ' || good[i - 1] == '\n')
			continue;
		memcpy(t, good, n + 1);
		t[i] = t[i] == 'A' ? 'B' : 'A';
		keytest_write_str(path, t, 0600);
		refused(t, n, -EBADMSG, NULL);
	}
	/* CRLF line ends and extra blanks are read the same. */
	snprintf(t, sizeof(t), "p2pcall-identity 1\r\n  public\t%s \r\n\r\nsecret %s\r\n", a, b);
	keytest_write_str(path, t, 0600);
	ck_assert_int_eq(identity_load(path, false, pk, sk, NULL, err, sizeof(err)), 0);
	ck_assert_mem_eq(pk, p1, 32);
	(void)other;
}
END_TEST

START_TEST(not_a_file)
{
	char sub[200], text[400];
	ck_assert_int_eq(mkdir(path, 0700), 0);
	ck_assert_int_eq(identity_load(path, true, pk, sk, NULL, err, sizeof(err)), -EISDIR);
	ck_assert_ptr_nonnull(strstr(err, "is a directory"));
	ck_assert_int_eq(strncmp(err, path, strlen(path)), 0);
	ck_assert_int_eq(keytest_count_entries(path), 0);
	ck_assert_int_eq(rmdir(path), 0);

	/* A FIFO: refused at once, not waited on. */
	ck_assert_int_eq(mkfifo(path, 0600), 0);
	ck_assert_int_eq(identity_load(path, true, pk, sk, NULL, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "not a regular file"));
	unlink(path);

	/* A symbolic link loop: the system's word for it, and the file. */
	ck_assert_int_eq(symlink("identity", path), 0);
	ck_assert_int_eq(identity_load(path, true, pk, sk, NULL, err, sizeof(err)), -ELOOP);
	ck_assert_ptr_nonnull(strstr(err, path));
	ck_assert_ptr_nonnull(strstr(err, strerror(ELOOP)));
	unlink(path);

	/* A dangling link is not followed to create a file. */
	snprintf(sub, sizeof(sub), "%s/elsewhere", dir);
	ck_assert_int_eq(symlink(sub, path), 0);
	ck_assert_int_eq(identity_load(path, true, pk, sk, NULL, err, sizeof(err)), -ENOENT);
	ck_assert_ptr_nonnull(strstr(err, "symbolic link to a file that does not exist"));
	ck_assert_int_eq(access(sub, F_OK), -1);
	unlink(path);

	/* A link to a good file is followed. */
	uint8_t want[32];
	identity_text(3, text, sizeof(text), want);
	keytest_write_str(sub, text, 0600);
	ck_assert_int_eq(symlink(sub, path), 0);
	ck_assert_int_eq(identity_load(path, false, pk, sk, NULL, err, sizeof(err)), 0);
	ck_assert_mem_eq(pk, want, 32);

	/* Owned by somebody else (as root we can arrange that). */
	unlink(path);
	keytest_write_str(path, text, 0600);
	if (geteuid() == 0) {
		ck_assert_int_eq(chown(path, 65534, 65534), 0);
		refused(text, strlen(text), -EPERM, "is owned by user id 65534");
	}

	/* Too big to be an identity. */
	char big[5000];
	memset(big, '#', sizeof(big));
	keytest_write(path, big, sizeof(big), 0600);
	refused(big, sizeof(big), -EFBIG, "too large");
}
END_TEST

/* Unreadable: needs a process that is not root, so a child drops to
 * nobody (only possible when the tests run as root; as a normal user,
 * mode 0000 is enough). */
START_TEST(unreadable)
{
	char text[400];
	identity_text(4, text, sizeof(text), NULL);
	keytest_write_str(path, text, 0000);
	if (geteuid() == 0) {
		ck_assert_int_eq(chown(dir, 65534, 65534), 0);
		ck_assert_int_eq(chown(path, 65534, 65534), 0);
		ck_assert_int_eq(chmod(path, 0200), 0); /* writable, not readable */
	}
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		if (geteuid() == 0 && (setgid(65534) < 0 || setuid(65534) < 0))
			_exit(2);
		char e[512];
		uint8_t p[32], s[64];
		int rc = identity_load(path, true, p, s, NULL, e, sizeof(e));
		_exit(rc == -EACCES && strstr(e, path) && strstr(e, strerror(EACCES)) ? 0 : 1);
	}
	int status;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	ck_assert_int_eq(WEXITSTATUS(status), 0);
	ck_assert(keytest_same(path, text, strlen(text)));
}
END_TEST

/* Between our temporary file and the link() that publishes it, another
 * process creates the identity: HOOK_TEXT is what it writes. */
static char hook_text[600];
static void racer(const char *tmp, const char *target)
{
	ck_assert_int_eq(access(tmp, F_OK), 0);
	keytest_write_str(target, hook_text, 0600);
}

START_TEST(concurrent_creation)
{
	uint8_t theirs[32];
	identity_text(9, hook_text, sizeof(hook_text), theirs);
	keyfile_commit_hook = racer;
	bool created = true;
	ck_assert_int_eq(identity_load(path, true, pk, sk, &created, err, sizeof(err)), 0);
	/* Theirs is loaded, not replaced; our temporary file is gone. */
	ck_assert(!created);
	ck_assert_str_eq(err, "");
	ck_assert_mem_eq(pk, theirs, 32);
	ck_assert(keytest_same(path, hook_text, strlen(hook_text)));
	ck_assert_int_eq(keytest_count_entries(dir), 1);

	/* If what they wrote is not an identity, that is an error, and their
	 * file stays. */
	unlink(path);
	snprintf(hook_text, sizeof(hook_text), "not an identity\n");
	ck_assert_int_eq(identity_load(path, true, pk, sk, &created, err, sizeof(err)), -EBADMSG);
	ck_assert(!created);
	ck_assert(keytest_same(path, hook_text, strlen(hook_text)));
	ck_assert_int_eq(keytest_count_entries(dir), 1);
}
END_TEST

/* Real processes racing to create one identity: all end with the same
 * key, the one in the file. */
START_TEST(racing_processes)
{
	enum { KIDS = 8 };
	int fds[2];
	ck_assert_int_eq(pipe(fds), 0);
	pid_t kids[KIDS];
	for (int i = 0; i < KIDS; i++) {
		kids[i] = fork();
		ck_assert_int_ge(kids[i], 0);
		if (kids[i] == 0) {
			uint8_t p[32], s[64];
			char e[512];
			close(fds[0]);
			int rc = identity_load(path, true, p, s, NULL, e, sizeof(e));
			if (rc != 0 || write(fds[1], p, 32) != 32)
				_exit(1);
			_exit(0);
		}
	}
	close(fds[1]);
	uint8_t got[KIDS][32];
	for (int i = 0; i < KIDS; i++)
		ck_assert_int_eq(read(fds[0], got[i], 32), 32);
	close(fds[0]);
	for (int i = 0; i < KIDS; i++) {
		int status;
		ck_assert_int_eq(waitpid(kids[i], &status, 0), kids[i]);
		ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	ck_assert_int_eq(identity_load(path, false, pk, sk, NULL, err, sizeof(err)), 0);
	for (int i = 0; i < KIDS; i++)
		ck_assert_mem_eq(got[i], pk, 32);
	ck_assert_int_eq(keytest_count_entries(dir), 1);
}
END_TEST

START_TEST(default_path)
{
	char p[128];
	const char *xdg = getenv("XDG_CONFIG_HOME");
	char *saved = xdg ? strdup(xdg) : NULL;
	setenv("XDG_CONFIG_HOME", "/cfg", 1);
	ck_assert_int_eq(identity_default_path(p, sizeof(p)), 0);
	ck_assert_str_eq(p, "/cfg/p2pcall/identity");
	ck_assert_int_eq(identity_default_path(p, 8), -ENOSPC);
	if (saved)
		setenv("XDG_CONFIG_HOME", saved, 1);
	else
		unsetenv("XDG_CONFIG_HOME");
	free(saved);
}
END_TEST

Suite *identity_suite(void)
{
	Suite *s = suite_create("identity");
	TCase *tc = tcase_create("core");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, create_and_reload);
	tcase_add_test(tc, missing_without_create);
	tcase_add_test(tc, modes_refused);
	tcase_add_test(tc, corrupt_refused);
	tcase_add_test(tc, not_a_file);
	tcase_add_test(tc, unreadable);
	tcase_add_test(tc, concurrent_creation);
	tcase_add_test(tc, racing_processes);
	tcase_add_test(tc, default_path);
	suite_add_tcase(s, tc);
	return s;
}
