/* Shared by the key files; see keyfile.h. */
#include "p2pcall/keyfile.h"
#include "p2pcall/b64url.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

void (*keyfile_commit_hook)(const char *tmp, const char *path);

void keyfile_key_encode(const uint8_t key[KEYFILE_KEY_BYTES], char out[KEYFILE_KEY_CHARS + 1])
{
	b64url_encode(out, KEYFILE_KEY_CHARS + 1, key, KEYFILE_KEY_BYTES);
}

bool keyfile_key_decode(const char *s, size_t n, uint8_t key[KEYFILE_KEY_BYTES])
{
	/* S is a field of a line, not a string of its own. */
	char text[KEYFILE_KEY_CHARS + 1];
	uint8_t tmp[KEYFILE_KEY_BYTES];
	if (n != KEYFILE_KEY_CHARS)
		return false;
	memcpy(text, s, n);
	text[n] = '\0';
	if (b64url_decode(tmp, sizeof(tmp), text) < 0)
		return false; /* KEY untouched */
	memcpy(key, tmp, sizeof(tmp));
	return true;
}

int keyfile_config_path(const char *name, char *out, size_t cap)
{
	const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
	int n;
	/* The XDG spec: a relative $XDG_CONFIG_HOME is invalid and ignored. */
	if (xdg && xdg[0] == '/')
		n = snprintf(out, cap, "%s/p2pcall/%s", xdg, name);
	else if (home && home[0])
		n = snprintf(out, cap, "%s/.config/p2pcall/%s", home, name);
	else
		return -ENOENT;
	return n < 0 || (size_t)n >= cap ? -ENOSPC : 0;
}

bool keyfile_next_line(const char *buf, size_t len, size_t *pos, struct keyfile_line *line)
{
	if (*pos >= len)
		return false;
	const char *s = buf + *pos;
	const char *nl = memchr(s, '\n', len - *pos);
	line->s = s;
	line->no++;
	if (nl) {
		line->len = (size_t)(nl - s);
		line->terminated = true;
		*pos += line->len + 1;
	} else {
		line->len = len - *pos;
		line->terminated = false;
		*pos = len;
	}
	return true;
}

static bool blank(char c) { return c == ' ' || c == '\t' || c == '\r'; }

size_t keyfile_split(const struct keyfile_line *line, struct keyfile_field *f, size_t max)
{
	size_t i = 0, n = 0;
	while (i < line->len) {
		while (i < line->len && blank(line->s[i]))
			i++;
		if (i == line->len)
			break;
		if (n == 0 && line->s[i] == '#')
			return 0;
		size_t start = i;
		while (i < line->len && !blank(line->s[i]))
			i++;
		if (n == max)
			return max + 1;
		f[n].s = line->s + start;
		f[n].len = i - start;
		n++;
	}
	return n;
}

bool keyfile_field_is(const struct keyfile_field *f, const char *word)
{
	size_t n = strlen(word);
	return f->len == n && memcmp(f->s, word, n) == 0;
}

const char *keyfile_quote(const char *s, size_t n, char *out, size_t cap)
{
	if (cap == 0)
		return out;
	size_t keep = n;
	bool cut = false;
	if (keep > 60) {
		keep = 60;
		cut = true;
	}
	if (keep + 4 > cap) {
		keep = cap > 4 ? cap - 4 : 0;
		cut = true;
	}
	size_t o = 0;
	for (size_t i = 0; i < keep; i++)
		out[o++] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
	if (cut && o + 4 <= cap) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
	return out;
}

int keyfile_open(const char *path, int flags, const char *what, struct stat *st, char *err, size_t errlen)
{
	int fd = open(path, flags | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		int e = errno;
		if (e == EISDIR) /* O_RDWR on a directory */
			snprintf(err, errlen, "%s is a directory, not the %s file", path, what);
		else
			snprintf(err, errlen, "cannot open the %s file %s: %s", what, path, strerror(e));
		return -e;
	}
	if (fstat(fd, st) < 0) {
		int e = errno;
		snprintf(err, errlen, "cannot examine the %s file %s: %s", what, path, strerror(e));
		close(fd);
		return -e;
	}
	return fd;
}

int keyfile_check(const char *path, const struct stat *st, const char *what, bool root_ok, mode_t forbidden,
		  const char *fix, char *err, size_t errlen)
{
	if (S_ISDIR(st->st_mode)) {
		snprintf(err, errlen, "%s is a directory, not the %s file", path, what);
		return -EISDIR;
	}
	if (!S_ISREG(st->st_mode)) {
		snprintf(err, errlen, "%s is not a regular file, so it cannot be the %s file", path, what);
		return -EINVAL;
	}
	uid_t me = geteuid();
	if (st->st_uid != me && !(root_ok && st->st_uid == 0)) {
		snprintf(err, errlen, "%s is owned by user id %lu, not by you (%lu): refusing to use it as your %s file",
			 path, (unsigned long)st->st_uid, (unsigned long)me, what);
		return -EPERM;
	}
	if (st->st_mode & forbidden) {
		snprintf(err, errlen, "%s is %s by others (mode %04o); run: chmod %s %s", path,
			 (forbidden & 044) ? "accessible" : "writable", (unsigned)(st->st_mode & 07777), fix, path);
		return -EPERM;
	}
	return 0;
}

int keyfile_read_fd(int fd, const char *path, size_t max, char **buf, size_t *len, char *err, size_t errlen)
{
	struct stat st;
	*buf = NULL;
	*len = 0;
	if (fstat(fd, &st) < 0) {
		int e = errno;
		snprintf(err, errlen, "cannot examine %s: %s", path, strerror(e));
		return -e;
	}
	if (st.st_size < 0 || (uint64_t)st.st_size > max) {
		snprintf(err, errlen, "%s is too large (%lld bytes, at most %zu expected)", path,
			 (long long)st.st_size, max);
		return -EFBIG;
	}
	/* One byte more than the size says, to notice a file that grows. */
	size_t cap = (size_t)st.st_size + 1;
	char *b = malloc(cap + 1);
	if (!b) {
		snprintf(err, errlen, "out of memory reading %s", path);
		return -ENOMEM;
	}
	size_t n = 0;
	for (;;) {
		if (n == cap) {
			if (cap > max) {
				free(b);
				snprintf(err, errlen, "%s is too large (more than %zu bytes)", path, max);
				return -EFBIG;
			}
			char *nb = realloc(b, cap * 2 + 1);
			if (!nb) {
				free(b);
				snprintf(err, errlen, "out of memory reading %s", path);
				return -ENOMEM;
			}
			b = nb;
			cap *= 2;
		}
		ssize_t r = pread(fd, b + n, cap - n, (off_t)n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;
			free(b);
			snprintf(err, errlen, "cannot read %s: %s", path, strerror(e));
			return -e;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	if (n > max) {
		free(b);
		snprintf(err, errlen, "%s is too large (more than %zu bytes)", path, max);
		return -EFBIG;
	}
	b[n] = '\0';
	*buf = b;
	*len = n;
	return 0;
}

int keyfile_dirname(const char *path, char *out, size_t cap)
{
	const char *slash = strrchr(path, '/');
	int n;
	if (!slash)
		n = snprintf(out, cap, ".");
	else if (slash == path)
		n = snprintf(out, cap, "/");
	else
		n = snprintf(out, cap, "%.*s", (int)(slash - path), path);
	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

static int fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int rc = fsync(fd) < 0 ? -errno : 0;
	close(fd);
	return rc;
}

int keyfile_mkdirs(const char *dir, char *err, size_t errlen)
{
	char p[PATH_MAX];
	size_t n = strlen(dir);
	if (n == 0 || n >= sizeof(p)) {
		snprintf(err, errlen, "cannot create the directory `%s': %s", dir, strerror(ENAMETOOLONG));
		return -ENAMETOOLONG;
	}
	memcpy(p, dir, n + 1);
	/* Each prefix ending before a '/', then DIR itself. */
	for (size_t i = 1; i <= n; i++) {
		if (i < n && p[i] != '/')
			continue;
		if (i < n && p[i - 1] == '/')
			continue;
		char saved = p[i];
		p[i] = '\0';
		if (mkdir(p, 0700) == 0) {
			/* mkdir's mode passes through the umask: say exactly. */
			if (chmod(p, 0700) < 0) {
				int e = errno;
				snprintf(err, errlen, "cannot set the mode of the directory %s: %s", p, strerror(e));
				return -e;
			}
			char parent[PATH_MAX];
			if (keyfile_dirname(p, parent, sizeof(parent)) == 0)
				fsync_dir(parent);
		} else if (errno != EEXIST) {
			int e = errno;
			snprintf(err, errlen, "cannot create the directory %s: %s", p, strerror(e));
			return -e;
		} else {
			struct stat st;
			if (stat(p, &st) < 0 || !S_ISDIR(st.st_mode)) {
				snprintf(err, errlen, "cannot create the directory %s: it exists and is not a directory",
					 p);
				return -ENOTDIR;
			}
		}
		p[i] = saved;
	}
	return 0;
}

static int write_all(int fd, const void *data, size_t len)
{
	const char *p = data;
	while (len > 0) {
		ssize_t w = write(fd, p, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

int keyfile_write_atomic(const char *path, const void *data, size_t len, mode_t mode, int flags, int *keep_fd,
			 char *err, size_t errlen)
{
	char target[PATH_MAX], dir[PATH_MAX], tmp[PATH_MAX + 16];
	int fd = -1, rc = 0;
	bool tmp_exists = false;
	const char *step = "";

	/* Replacing through a symbolic link replaces the file it points to,
	 * and keeps the link. */
	struct stat lst;
	if (!(flags & KEYFILE_NO_CLOBBER) && lstat(path, &lst) == 0 && S_ISLNK(lst.st_mode)) {
		if (!realpath(path, target)) {
			rc = -errno;
			snprintf(err, errlen, "cannot write %s: %s", path, strerror(-rc));
			return rc;
		}
	} else if (snprintf(target, sizeof(target), "%s", path) >= (int)sizeof(target)) {
		snprintf(err, errlen, "cannot write %s: %s", path, strerror(ENAMETOOLONG));
		return -ENAMETOOLONG;
	}
	if (keyfile_dirname(target, dir, sizeof(dir)) < 0) {
		snprintf(err, errlen, "cannot write %s: %s", path, strerror(ENAMETOOLONG));
		return -ENAMETOOLONG;
	}
	const char *base = strrchr(target, '/') ? strrchr(target, '/') + 1 : target;
	if (snprintf(tmp, sizeof(tmp), "%s/.%s.XXXXXX", dir, base) >= (int)sizeof(tmp)) {
		snprintf(err, errlen, "cannot write %s: %s", path, strerror(ENAMETOOLONG));
		return -ENAMETOOLONG;
	}
	/* mkostemp: O_CREAT|O_EXCL, mode 0600, a fresh random name. */
	step = "create a temporary file for";
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		goto out;
	}
	tmp_exists = true;
	step = "write";
	if (fchmod(fd, mode) < 0 || (rc = write_all(fd, data, len)) < 0 || fsync(fd) < 0) {
		rc = rc < 0 ? rc : -errno;
		goto out;
	}
	if ((flags & KEYFILE_LOCK) && flock(fd, LOCK_EX | LOCK_NB) < 0) {
		rc = -errno;
		step = "lock";
		goto out;
	}
	if (keyfile_commit_hook)
		keyfile_commit_hook(tmp, target);
	if (flags & KEYFILE_NO_CLOBBER) {
		step = "create";
		if (link(tmp, target) == 0) {
			/* In place under its name; the temporary name goes. */
			unlink(tmp);
		} else if (errno != EPERM && errno != EOPNOTSUPP && errno != ENOSYS) {
			rc = -errno;
			goto out;
		} else if (renameat2(AT_FDCWD, tmp, AT_FDCWD, target, RENAME_NOREPLACE) < 0) {
			/* A file system without hard links: the same promise. */
			rc = -errno;
			goto out;
		}
		tmp_exists = false;
	} else {
		step = "replace";
		if (rename(tmp, target) < 0) {
			rc = -errno;
			goto out;
		}
		tmp_exists = false;
	}
	step = "make durable";
	rc = fsync_dir(dir);
out:
	if (rc < 0) {
		if (rc == -EEXIST && (flags & KEYFILE_NO_CLOBBER))
			snprintf(err, errlen, "cannot create %s: it appeared meanwhile (another p2pcall?)", path);
		else
			snprintf(err, errlen, "cannot %s %s: %s", step, path, strerror(-rc));
	}
	if (tmp_exists)
		unlink(tmp);
	if (fd >= 0) {
		if (rc == 0 && keep_fd)
			*keep_fd = fd;
		else
			close(fd);
	}
	return rc;
}
