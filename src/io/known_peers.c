/* Pinned peer keys; see known_peers.h. */
#include "p2pcall/known_peers.h"
#include "p2pcall/keyfile.h"
#include "p2pcall/strmap.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#define WHAT "known peers"
#define KNOWN_PEERS_MAX_BYTES (16u << 20)

struct kp_entry {
	char *peer;
	uint8_t pk[32];
	size_t off, len; /* the line in text, without its LF */
	size_t no;
};

struct known_peers {
	char *path;
	char *text; /* the file as read, so a rewrite keeps every other line */
	size_t len;
	struct kp_entry *v;
	size_t n, cap;
	struct strmap *map; /* peer -> index + 1 */
	bool exists;
	mode_t mode;
};

int known_peers_default_path(char *out, size_t cap) { return keyfile_config_path("known_peers", out, cap); }

static bool peer_valid(const char *s, size_t n)
{
	if (n == 0 || n > KNOWN_PEERS_PEER_MAX || s[0] == '#')
		return false;
	const char *at = memchr(s, '@', n);
	if (!at || at == s || at == s + n - 1)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] <= 0x20 || s[i] >= 0x7f)
			return false;
	return true;
}

bool known_peers_peer_valid(const char *peer) { return peer && peer_valid(peer, strlen(peer)); }

void known_peers_free(struct known_peers *kp)
{
	if (!kp)
		return;
	for (size_t i = 0; i < kp->n; i++)
		free(kp->v[i].peer);
	free(kp->v);
	strmap_free(kp->map);
	free(kp->text);
	free(kp->path);
	free(kp);
}

static int new_empty(struct known_peers **out, const char *path)
{
	struct known_peers *kp = calloc(1, sizeof(*kp));
	if (!kp)
		return -ENOMEM;
	if (!(kp->path = strdup(path)) || strmap_new(&kp->map) < 0) {
		known_peers_free(kp);
		return -ENOMEM;
	}
	*out = kp;
	return 0;
}

/* Fills KP (empty) from TEXT, which it takes over. */
static int parse(struct known_peers *kp, char *text, size_t len, char *err, size_t errlen)
{
	struct keyfile_line l = { 0 };
	size_t pos = 0;
	char q[80];
	kp->text = text;
	kp->len = len;
	while (keyfile_next_line(text, len, &pos, &l)) {
		struct keyfile_field f[2];
		size_t n = keyfile_split(&l, f, 2);
		if (n == 0)
			continue;
		if (n != 2) {
			snprintf(err, errlen, "%s:%zu: malformed line `%s' (expected `PEER KEY')", kp->path, l.no,
				 keyfile_quote(l.s, l.len, q, sizeof(q)));
			return -EBADMSG;
		}
		if (!peer_valid(f[0].s, f[0].len)) {
			snprintf(err, errlen, "%s:%zu: malformed peer `%s' (expected NAME@HOST:PORT)", kp->path, l.no,
				 keyfile_quote(f[0].s, f[0].len, q, sizeof(q)));
			return -EBADMSG;
		}
		struct kp_entry e = { .off = (size_t)(l.s - text), .len = l.len, .no = l.no };
		if (!keyfile_key_decode(f[1].s, f[1].len, e.pk)) {
			snprintf(err, errlen, "%s:%zu: malformed key `%s' (expected %d base64url characters)", kp->path,
				 l.no, keyfile_quote(f[1].s, f[1].len, q, sizeof(q)), KEYFILE_KEY_CHARS);
			return -EBADMSG;
		}
		if (!(e.peer = strndup(f[0].s, f[0].len)))
			return -ENOMEM;
		void *dup = strmap_get(kp->map, e.peer);
		if (dup) {
			snprintf(err, errlen, "%s:%zu: `%s' is listed twice (first on line %zu)", kp->path, l.no,
				 keyfile_quote(f[0].s, f[0].len, q, sizeof(q)), kp->v[(uintptr_t)dup - 1].no);
			free(e.peer);
			return -EBADMSG;
		}
		if (kp->n == kp->cap) {
			size_t cap = kp->cap ? kp->cap * 2 : 16;
			struct kp_entry *v = realloc(kp->v, cap * sizeof(*v));
			if (!v) {
				free(e.peer);
				return -ENOMEM;
			}
			kp->v = v;
			kp->cap = cap;
		}
		kp->v[kp->n] = e;
		if (strmap_put(kp->map, e.peer, (void *)(uintptr_t)(kp->n + 1)) < 0) {
			free(e.peer);
			return -ENOMEM;
		}
		kp->n++;
	}
	return 0;
}

static int load(struct known_peers **out, const char *path, char *err, size_t errlen)
{
	struct known_peers *kp = NULL;
	struct stat st;
	char *text = NULL;
	size_t len = 0;
	int fd = -1;
	int rc = new_empty(&kp, path);
	if (rc < 0)
		goto out;
	fd = keyfile_open(path, O_RDONLY, WHAT, &st, err, errlen);
	if (fd == -ENOENT) {
		/* No file yet: an empty list. */
		fd = -1;
		if (!(text = strdup(""))) {
			rc = -ENOMEM;
			goto out;
		}
		rc = parse(kp, text, 0, err, errlen);
		goto out;
	}
	if (fd < 0) {
		rc = fd;
		goto out;
	}
	if ((rc = keyfile_check(path, &st, WHAT, true, 022, "go-w", err, errlen)) < 0 ||
	    (rc = keyfile_read_fd(fd, path, KNOWN_PEERS_MAX_BYTES, &text, &len, err, errlen)) < 0)
		goto out;
	kp->exists = true;
	kp->mode = st.st_mode & 0777;
	rc = parse(kp, text, len, err, errlen);
out:
	if (rc == -ENOMEM)
		snprintf(err, errlen, "out of memory reading %s", path);
	if (fd >= 0)
		close(fd);
	if (rc < 0) {
		if (kp && !kp->text)
			free(text);
		known_peers_free(kp);
		kp = NULL;
	}
	*out = kp;
	return rc;
}

int known_peers_open(struct known_peers **out, const char *path, char *err, size_t errlen)
{
	*out = NULL;
	if (errlen > 0)
		err[0] = '\0';
	if (!path) {
		snprintf(err, errlen, "known peers: no file given");
		return -EINVAL;
	}
	return load(out, path, err, errlen);
}

enum known_peers_result known_peers_check(const struct known_peers *kp, const char *peer, const uint8_t pk[32])
{
	void *v = kp && peer && pk ? strmap_get(kp->map, peer) : NULL;
	if (!v)
		return KNOWN_PEERS_NEW;
	return sodium_memcmp(kp->v[(uintptr_t)v - 1].pk, pk, 32) == 0 ? KNOWN_PEERS_MATCH : KNOWN_PEERS_CHANGED;
}

/* The text of FRESH with PEER's line set to PEER KEY (replaced or added). */
static char *with_pin(const struct known_peers *fresh, const char *peer, const uint8_t pk[32], size_t *out_len)
{
	char key[KEYFILE_KEY_CHARS + 1];
	keyfile_key_encode(pk, key);
	size_t plen = strlen(peer), llen = plen + 1 + KEYFILE_KEY_CHARS;
	size_t head, tail_off;
	bool nl_before = false, nl_after = false;
	void *v = strmap_get(fresh->map, peer);
	if (v) {
		const struct kp_entry *e = &fresh->v[(uintptr_t)v - 1];
		head = e->off;
		tail_off = e->off + e->len; /* keeps the LF that followed, if any */
		nl_after = tail_off == fresh->len;
	} else {
		head = tail_off = fresh->len;
		nl_before = fresh->len > 0 && fresh->text[fresh->len - 1] != '\n';
		nl_after = true;
	}
	size_t tail = fresh->len - tail_off;
	size_t n = head + nl_before + llen + nl_after + tail;
	char *t = malloc(n + 1), *p = t;
	if (!t)
		return NULL;
	memcpy(p, fresh->text, head);
	p += head;
	if (nl_before)
		*p++ = '\n';
	memcpy(p, peer, plen);
	p += plen;
	*p++ = ' ';
	memcpy(p, key, KEYFILE_KEY_CHARS);
	p += KEYFILE_KEY_CHARS;
	if (nl_after)
		*p++ = '\n';
	memcpy(p, fresh->text + tail_off, tail);
	p += tail;
	*p = '\0';
	*out_len = n;
	return t;
}

static void swap_into(struct known_peers *kp, struct known_peers *fresh)
{
	struct known_peers t = *kp;
	*kp = *fresh;
	*fresh = t;
	known_peers_free(fresh);
}

int known_peers_pin(struct known_peers *kp, const char *peer, const uint8_t pk[32], char *err, size_t errlen)
{
	char dir[PATH_MAX], q[80];
	struct known_peers *fresh = NULL, *next = NULL;
	char *text = NULL;
	size_t len = 0;
	int dfd = -1, rc;
	if (errlen > 0)
		err[0] = '\0';
	if (!kp || !pk) {
		snprintf(err, errlen, "known peers: nothing to pin");
		return -EINVAL;
	}
	if (!known_peers_peer_valid(peer)) {
		snprintf(err, errlen, "cannot pin a key for `%s': not a valid NAME@HOST:PORT",
			 peer ? keyfile_quote(peer, strlen(peer), q, sizeof(q)) : "(null)");
		return -EINVAL;
	}
	if ((rc = keyfile_dirname(kp->path, dir, sizeof(dir))) < 0) {
		snprintf(err, errlen, "cannot write %s: %s", kp->path, strerror(-rc));
		return rc;
	}
	if ((rc = keyfile_mkdirs(dir, err, errlen)) < 0)
		return rc;
	/* The directory's lock orders the read-modify-write cycles of every
	 * p2pcall on this file (the file itself is replaced, so cannot hold
	 * the lock). */
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || flock(dfd, LOCK_EX) < 0) {
		rc = -errno;
		snprintf(err, errlen, "cannot lock the directory %s to update %s: %s", dir, kp->path, strerror(-rc));
		goto out;
	}
	if ((rc = load(&fresh, kp->path, err, errlen)) < 0)
		goto out;
	if (known_peers_check(fresh, peer, pk) == KNOWN_PEERS_MATCH) {
		swap_into(kp, fresh);
		fresh = NULL;
		goto out;
	}
	if (!(text = with_pin(fresh, peer, pk, &len))) {
		rc = -ENOMEM;
		snprintf(err, errlen, "out of memory updating %s", kp->path);
		goto out;
	}
	if ((rc = new_empty(&next, kp->path)) < 0) {
		snprintf(err, errlen, "out of memory updating %s", kp->path);
		goto out;
	}
	/* Parsed before it is written, so what lands on disk is known good. */
	char *copy = malloc(len + 1);
	if (!copy) {
		rc = -ENOMEM;
		snprintf(err, errlen, "out of memory updating %s", kp->path);
		goto out;
	}
	memcpy(copy, text, len + 1);
	if ((rc = parse(next, copy, len, err, errlen)) < 0)
		goto out;
	rc = keyfile_write_atomic(kp->path, text, len, fresh->exists ? fresh->mode : 0600, 0, NULL, err, errlen);
	if (rc < 0)
		goto out;
	next->exists = true;
	next->mode = fresh->exists ? fresh->mode : 0600;
	swap_into(kp, next);
	next = NULL;
out:
	if (dfd >= 0)
		close(dfd); /* releases the lock */
	free(text);
	known_peers_free(fresh);
	known_peers_free(next);
	return rc;
}
