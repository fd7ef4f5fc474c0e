/* The server's name -> key store; see bindings.h. */
#include "p2pcall/bindings.h"
#include "p2pcall/keyfile.h"
#include "p2pcall/strmap.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#define WHAT "name bindings"
#define BINDINGS_MAX_BYTES ((size_t)1 << 30)
/* Entries live in fixed chunks that never move, so the map can point at
 * their names. */
#define CHUNK 4096

struct bind_entry {
	char name[BINDINGS_NAME_MAX + 1];
	uint8_t pk[32];
	size_t no; /* line in the file when loaded, for messages */
};

struct bindings {
	char *path;
	int fd;
	bool broken; /* a failed append could not be cut off */
	struct bind_entry **chunks;
	size_t nchunks, n;
	struct strmap *map; /* name -> struct bind_entry */
};

static bool name_valid(const char *s, size_t n)
{
	if (n == 0 || n > BINDINGS_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
		if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '-')))
			return false;
	}
	return true;
}

bool bindings_name_valid(const char *name) { return name && name_valid(name, strlen(name)); }

static struct bind_entry *entry_at(const struct bindings *b, size_t i) { return &b->chunks[i / CHUNK][i % CHUNK]; }

/* The slot for entry B->n (not yet counted), or NULL when out of memory. */
static struct bind_entry *next_slot(struct bindings *b)
{
	if (b->n == b->nchunks * CHUNK) {
		struct bind_entry **c = realloc(b->chunks, (b->nchunks + 1) * sizeof(*c));
		if (!c)
			return NULL;
		b->chunks = c;
		if (!(c[b->nchunks] = malloc(CHUNK * sizeof(struct bind_entry))))
			return NULL;
		b->nchunks++;
	}
	return entry_at(b, b->n);
}

size_t bindings_count(const struct bindings *b) { return b->n; }

void bindings_each(const struct bindings *b, void (*fn)(void *ctx, const char *name, const uint8_t pk[32]),
		   void *ctx)
{
	for (size_t i = 0; i < b->n; i++) {
		const struct bind_entry *e = entry_at(b, i);
		fn(ctx, e->name, e->pk);
	}
}

const uint8_t *bindings_get(const struct bindings *b, const char *name)
{
	const struct bind_entry *e = b && name ? strmap_get(b->map, name) : NULL;
	return e ? e->pk : NULL;
}

void bindings_free(struct bindings *b)
{
	if (!b)
		return;
	if (b->fd >= 0)
		close(b->fd);
	for (size_t i = 0; i < b->nchunks; i++)
		free(b->chunks[i]);
	free(b->chunks);
	strmap_free(b->map);
	free(b->path);
	free(b);
}

/* Parses the complete (LF-terminated) lines of TEXT. *KEEP receives the
 * length of that part; a last line without LF is left to the caller. */
static int parse(struct bindings *b, const char *text, size_t len, size_t *keep, struct keyfile_line *torn,
		 char *err, size_t errlen)
{
	struct keyfile_line l = { 0 };
	size_t pos = 0;
	char q[80], q2[80];
	*keep = 0;
	while (keyfile_next_line(text, len, &pos, &l)) {
		if (!l.terminated) {
			*torn = l;
			break;
		}
		*keep = pos;
		struct keyfile_field f[2];
		size_t n = keyfile_split(&l, f, 2);
		if (n == 0)
			continue;
		if (n != 2) {
			snprintf(err, errlen, "%s:%zu: malformed line `%s' (expected `NAME KEY')", b->path, l.no,
				 keyfile_quote(l.s, l.len, q, sizeof(q)));
			return -EBADMSG;
		}
		if (!name_valid(f[0].s, f[0].len)) {
			snprintf(err, errlen,
				 "%s:%zu: bad name `%s' (1-32 of a-z 0-9 . _ -, starting with a letter or digit)",
				 b->path, l.no, keyfile_quote(f[0].s, f[0].len, q, sizeof(q)));
			return -EBADMSG;
		}
		struct bind_entry *e = next_slot(b);
		if (!e) {
			snprintf(err, errlen, "out of memory reading %s", b->path);
			return -ENOMEM;
		}
		memcpy(e->name, f[0].s, f[0].len);
		e->name[f[0].len] = '\0';
		e->no = l.no;
		if (!keyfile_key_decode(f[1].s, f[1].len, e->pk)) {
			snprintf(err, errlen, "%s:%zu: bad key `%s' for `%s' (expected %d base64url characters)",
				 b->path, l.no, keyfile_quote(f[1].s, f[1].len, q, sizeof(q)), e->name,
				 KEYFILE_KEY_CHARS);
			return -EBADMSG;
		}
		const struct bind_entry *dup = strmap_get(b->map, e->name);
		if (dup) {
			snprintf(err, errlen, "%s:%zu: `%s' is bound twice (first on line %zu)", b->path, l.no,
				 keyfile_quote(e->name, strlen(e->name), q2, sizeof(q2)), dup->no);
			return -EBADMSG;
		}
		if (strmap_put(b->map, e->name, e) < 0) {
			snprintf(err, errlen, "out of memory reading %s", b->path);
			return -ENOMEM;
		}
		b->n++;
	}
	return 0;
}

int bindings_open(struct bindings **out, const char *path, char *err, size_t errlen)
{
	struct bindings *b = NULL;
	struct stat st;
	char *text = NULL;
	size_t len = 0, keep = 0;
	struct keyfile_line torn = { 0 };
	int rc = 0;
	*out = NULL;
	if (errlen > 0)
		err[0] = '\0';
	if (!path) {
		snprintf(err, errlen, "name bindings: no file given");
		return -EINVAL;
	}
	if (!(b = calloc(1, sizeof(*b)))) {
		snprintf(err, errlen, "out of memory opening %s", path);
		return -ENOMEM;
	}
	b->fd = -1;
	if (!(b->path = strdup(path)) || strmap_new(&b->map) < 0) {
		snprintf(err, errlen, "out of memory opening %s", path);
		rc = -ENOMEM;
		goto out;
	}

	b->fd = keyfile_open(path, O_RDWR, WHAT, &st, err, errlen);
	if (b->fd == -ENOENT) {
		/* link(), not rename(): a file made meanwhile is opened, not lost. */
		rc = keyfile_write_atomic(path, "", 0, 0600, KEYFILE_NO_CLOBBER | KEYFILE_LOCK, &b->fd, err, errlen);
		if (rc == -EEXIST)
			b->fd = keyfile_open(path, O_RDWR, WHAT, &st, err, errlen);
		else if (rc < 0)
			goto out;
		else if (fstat(b->fd, &st) < 0)
			b->fd = -errno;
	}
	if (b->fd < 0) {
		rc = b->fd;
		goto out;
	}
	if ((rc = keyfile_check(path, &st, WHAT, true, 022, "go-w", err, errlen)) < 0)
		goto out;
	if (flock(b->fd, LOCK_EX | LOCK_NB) < 0) {
		rc = errno == EWOULDBLOCK ? -EBUSY : -errno;
		snprintf(err, errlen, "%s is in use by another p2pcall server (%s)", path, strerror(errno));
		goto out;
	}
	if ((rc = keyfile_read_fd(b->fd, path, BINDINGS_MAX_BYTES, &text, &len, err, errlen)) < 0 ||
	    (rc = parse(b, text, len, &keep, &torn, err, errlen)) < 0)
		goto out;
	if (keep < len) {
		/* A torn append: the server never answered OK for it. Rewrite the
		 * file without it (the new file locked before it is visible), so
		 * the next append starts on a line of its own. */
		char q[80], warn[256];
		snprintf(warn, sizeof(warn),
			 "%s:%zu: dropped an incomplete last line `%s' (left by an interrupted write; it was "
			 "never acknowledged)",
			 path, torn.no, keyfile_quote(torn.s, torn.len, q, sizeof(q)));
		int nfd = -1;
		rc = keyfile_write_atomic(path, text, keep, st.st_mode & 0777, KEYFILE_LOCK, &nfd, err, errlen);
		if (rc < 0)
			goto out;
		close(b->fd);
		b->fd = nfd;
		snprintf(err, errlen, "%s", warn);
	}
	/* Replaces the open flags: appends, and blocking again. */
	if (fcntl(b->fd, F_SETFL, O_APPEND) < 0) {
		rc = -errno;
		snprintf(err, errlen, "cannot open %s for appending: %s", path, strerror(-rc));
		goto out;
	}
	if (keep == len && errlen > 0)
		err[0] = '\0'; /* e.g. a creation race, resolved above */
out:
	free(text);
	if (rc < 0) {
		bindings_free(b);
		return rc;
	}
	*out = b;
	return 0;
}

int bindings_add(struct bindings *b, const char *name, const uint8_t pk[32], char *err, size_t errlen)
{
	char q[80], line[BINDINGS_NAME_MAX + 1 + KEYFILE_KEY_CHARS + 2];
	if (errlen > 0)
		err[0] = '\0';
	if (!b || !pk) {
		snprintf(err, errlen, "name bindings: nothing to add");
		return -EINVAL;
	}
	if (!bindings_name_valid(name)) {
		snprintf(err, errlen, "cannot bind `%s': not a valid name",
			 name ? keyfile_quote(name, strlen(name), q, sizeof(q)) : "(null)");
		return -EINVAL;
	}
	if (b->broken) {
		snprintf(err, errlen, "%s: an earlier write failed and could not be undone; restart to repair it",
			 b->path);
		return -EIO;
	}
	if (strmap_get(b->map, name)) {
		snprintf(err, errlen, "cannot bind `%s' in %s: the name is already bound", name, b->path);
		return -EEXIST;
	}
	struct bind_entry *e = next_slot(b);
	if (!e) {
		snprintf(err, errlen, "out of memory adding to %s", b->path);
		return -ENOMEM;
	}
	size_t nlen = strlen(name);
	memcpy(e->name, name, nlen + 1);
	memcpy(e->pk, pk, 32);
	e->no = 0;
	memcpy(line, name, nlen);
	line[nlen] = ' ';
	keyfile_key_encode(pk, line + nlen + 1);
	size_t len = nlen + 1 + KEYFILE_KEY_CHARS;
	line[len++] = '\n';

	struct stat st;
	if (fstat(b->fd, &st) < 0) {
		int e2 = errno;
		snprintf(err, errlen, "cannot append to %s: %s", b->path, strerror(e2));
		return -e2;
	}
	/* Mapped before the write, so that a line on disk is never missing
	 * from the map (a second add of the name would duplicate it). */
	if (strmap_put(b->map, e->name, e) < 0) {
		snprintf(err, errlen, "out of memory adding to %s", b->path);
		return -ENOMEM;
	}
	/* One write(): a crash tears at most this line, which open() drops. */
	const char *p = line;
	size_t left = len;
	int rc = 0;
	const char *step = "append to";
	while (left > 0) {
		ssize_t w = write(b->fd, p, left);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			rc = -errno;
			break;
		}
		p += w;
		left -= (size_t)w;
	}
	if (rc == 0 && fdatasync(b->fd) < 0) {
		rc = -errno;
		step = "sync";
	}
	if (rc < 0) {
		/* Not acknowledged, so not kept: cut the line off again. */
		strmap_del(b->map, e->name);
		if (ftruncate(b->fd, st.st_size) < 0 || fdatasync(b->fd) < 0)
			b->broken = true;
		snprintf(err, errlen, "cannot %s %s: %s", step, b->path, strerror(-rc));
		return rc;
	}
	b->n++;
	return 0;
}
