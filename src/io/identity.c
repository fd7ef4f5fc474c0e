/* The user's identity key file; see identity.h. */
#include "p2pcall/identity.h"
#include "p2pcall/keyfile.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define WHAT "identity key"
#define IDENTITY_MAX_BYTES 4096
#define HEADER "p2pcall-identity"
#define VERSION "1"

int identity_default_path(char *out, size_t cap) { return keyfile_config_path("identity", out, cap); }

/* Parses the text of PATH. Never quotes the secret line in a message. */
static int parse(const char *path, const char *buf, size_t len, uint8_t pk[IDENTITY_PK_BYTES],
		 uint8_t sk[IDENTITY_SK_BYTES], char *err, size_t errlen)
{
	struct keyfile_line l = { 0 };
	size_t pos = 0;
	bool have_header = false, have_pk = false, have_seed = false;
	uint8_t file_pk[IDENTITY_PK_BYTES], seed[32], derived[IDENTITY_PK_BYTES];
	char q[80];
	int rc = 0;

	while (keyfile_next_line(buf, len, &pos, &l)) {
		struct keyfile_field f[2];
		size_t n = keyfile_split(&l, f, 2);
		if (n == 0)
			continue;
		if (!have_header) {
			if (keyfile_field_is(&f[0], HEADER) && n == 2) {
				if (keyfile_field_is(&f[1], VERSION)) {
					have_header = true;
					continue;
				}
				snprintf(err, errlen,
					 "%s:%zu: identity file version `%s' is not supported (this p2pcall reads "
					 "version " VERSION ")",
					 path, l.no, keyfile_quote(f[1].s, f[1].len, q, sizeof(q)));
			} else if (keyfile_field_is(&f[0], HEADER)) {
				snprintf(err, errlen, "%s:%zu: malformed header (expected `" HEADER " " VERSION "')", path,
					 l.no);
			} else {
				snprintf(err, errlen,
					 "%s:%zu: not a p2pcall identity file (expected `" HEADER " " VERSION
					 "', found `%s')",
					 path, l.no, keyfile_quote(f[0].s, f[0].len, q, sizeof(q)));
			}
			rc = -EBADMSG;
			goto out;
		}
		bool is_pk = keyfile_field_is(&f[0], "public"), is_seed = keyfile_field_is(&f[0], "secret");
		if (!is_pk && !is_seed) {
			snprintf(err, errlen, "%s:%zu: unexpected `%s' (expected `public KEY' or `secret KEY')", path,
				 l.no, keyfile_quote(f[0].s, f[0].len, q, sizeof(q)));
			rc = -EBADMSG;
			goto out;
		}
		if ((is_pk && have_pk) || (is_seed && have_seed)) {
			snprintf(err, errlen, "%s:%zu: a second `%s' line", path, l.no, is_pk ? "public" : "secret");
			rc = -EBADMSG;
			goto out;
		}
		if (n != 2 || !keyfile_key_decode(f[1].s, f[1].len, is_pk ? file_pk : seed)) {
			snprintf(err, errlen, "%s:%zu: malformed %s key (expected %d base64url characters)", path,
				 l.no, is_pk ? "public" : "secret", KEYFILE_KEY_CHARS);
			rc = -EBADMSG;
			goto out;
		}
		if (is_pk)
			have_pk = true;
		else
			have_seed = true;
	}
	if (!have_header || !have_pk || !have_seed) {
		if (!have_header)
			snprintf(err, errlen,
				 "%s: not a p2pcall identity file: no `" HEADER " " VERSION "' line (empty or truncated)",
				 path);
		else
			snprintf(err, errlen, "%s: truncated: it has no `%s' line", path,
				 !have_pk ? "public" : "secret");
		rc = -EBADMSG;
		goto out;
	}
	crypto_sign_seed_keypair(derived, sk, seed);
	if (sodium_memcmp(derived, file_pk, sizeof(derived)) != 0) {
		snprintf(err, errlen,
			 "%s: the public key does not match the secret key (the file was damaged or edited)", path);
		sodium_memzero(sk, IDENTITY_SK_BYTES);
		rc = -EBADMSG;
		goto out;
	}
	memcpy(pk, derived, IDENTITY_PK_BYTES);
out:
	sodium_memzero(seed, sizeof(seed));
	return rc;
}

/* Reads PATH if it exists: 0, -ENOENT (ERR filled), or another error. */
static int load(const char *path, uint8_t pk[IDENTITY_PK_BYTES], uint8_t sk[IDENTITY_SK_BYTES], char *err,
		size_t errlen)
{
	struct stat st;
	char *buf = NULL;
	size_t len = 0;
	int fd = keyfile_open(path, O_RDONLY, WHAT, &st, err, errlen);
	if (fd < 0)
		return fd;
	int rc = keyfile_check(path, &st, WHAT, false, 077, "600", err, errlen);
	if (rc == 0)
		rc = keyfile_read_fd(fd, path, IDENTITY_MAX_BYTES, &buf, &len, err, errlen);
	close(fd);
	if (rc == 0)
		rc = parse(path, buf, len, pk, sk, err, errlen);
	if (buf) {
		sodium_memzero(buf, len);
		free(buf);
	}
	return rc;
}

static int create(const char *path, uint8_t pk[IDENTITY_PK_BYTES], uint8_t sk[IDENTITY_SK_BYTES], char *err,
		  size_t errlen)
{
	uint8_t seed[32];
	char pk64[KEYFILE_KEY_CHARS + 1], seed64[KEYFILE_KEY_CHARS + 1], text[256], dir[PATH_MAX];
	int rc = keyfile_dirname(path, dir, sizeof(dir));
	if (rc < 0) {
		snprintf(err, errlen, "cannot create the identity key file %s: %s", path, strerror(-rc));
		return rc;
	}
	if (strcmp(dir, ".") != 0 && (rc = keyfile_mkdirs(dir, err, errlen)) < 0)
		return rc;

	randombytes_buf(seed, sizeof(seed));
	crypto_sign_seed_keypair(pk, sk, seed);
	keyfile_key_encode(pk, pk64);
	keyfile_key_encode(seed, seed64);
	int n = snprintf(text, sizeof(text),
			 "# p2pcall identity key. Keep it secret: it proves you are you.\n" HEADER " " VERSION
			 "\npublic %s\nsecret %s\n",
			 pk64, seed64);
	rc = keyfile_write_atomic(path, text, (size_t)n, 0600, KEYFILE_NO_CLOBBER, NULL, err, errlen);
	sodium_memzero(seed, sizeof(seed));
	sodium_memzero(seed64, sizeof(seed64));
	sodium_memzero(text, sizeof(text));
	return rc;
}

int identity_load(const char *path, bool create_it, uint8_t pk[IDENTITY_PK_BYTES], uint8_t sk[IDENTITY_SK_BYTES],
		  bool *created, char *err, size_t errlen)
{
	uint8_t my_pk[IDENTITY_PK_BYTES], my_sk[IDENTITY_SK_BYTES];
	bool made = false;
	int rc;
	if (errlen > 0)
		err[0] = '\0';
	if (created)
		*created = false;
	if (!path || !pk || !sk) {
		snprintf(err, errlen, "identity: no file given");
		return -EINVAL;
	}
	if (sodium_init() < 0) {
		snprintf(err, errlen, "cannot initialise libsodium for the identity key %s", path);
		return -EIO;
	}
	/* Twice at most: a file that appears while we create ours is loaded. */
	for (int attempt = 0;; attempt++) {
		rc = load(path, my_pk, my_sk, err, errlen);
		if (rc != -ENOENT || !create_it || attempt == 1)
			break;
		rc = create(path, my_pk, my_sk, err, errlen);
		if (rc != -EEXIST) {
			made = rc == 0;
			break;
		}
	}
	struct stat lst;
	if (rc == -ENOENT && !create_it)
		snprintf(err, errlen, "no identity key at %s", path);
	else if (rc == -ENOENT && lstat(path, &lst) == 0 && S_ISLNK(lst.st_mode))
		snprintf(err, errlen,
			 "cannot create the identity key file %s: it is a symbolic link to a file that does not exist",
			 path);
	if (rc == 0) {
		memcpy(pk, my_pk, sizeof(my_pk));
		memcpy(sk, my_sk, sizeof(my_sk));
		if (created)
			*created = made;
		if (errlen > 0)
			err[0] = '\0';
	}
	sodium_memzero(my_sk, sizeof(my_sk));
	return rc;
}
