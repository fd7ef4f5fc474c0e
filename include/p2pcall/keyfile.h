/* What the key files (identity, known_peers, bindings) share: reading a
 * small text file safely, checking who may touch it, splitting it into
 * lines and fields, base64url keys, and atomic, durable writes.
 *
 * Every function that can fail writes a message for people into ERR
 * (ERRLEN bytes, always NUL-terminated when ERRLEN > 0) that names the
 * file, and returns a negative errno. */
#ifndef P2PCALL_KEYFILE_H
#define P2PCALL_KEYFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#define KEYFILE_KEY_BYTES 32
#define KEYFILE_KEY_CHARS 43 /* base64url, no padding, of 32 bytes */

/* Writes KEY as 43 base64url characters (no padding) and a NUL. */
void keyfile_key_encode(const uint8_t key[KEYFILE_KEY_BYTES], char out[KEYFILE_KEY_CHARS + 1]);
/* Decodes exactly 43 characters S[0..N-1] into KEY. False for any other
 * length, a character outside the base64url alphabet, padding, or a
 * non-canonical last character (so each key has one spelling). */
bool keyfile_key_decode(const char *s, size_t n, uint8_t key[KEYFILE_KEY_BYTES]);

/* $XDG_CONFIG_HOME/p2pcall/NAME when XDG_CONFIG_HOME is absolute, else
 * $HOME/.config/p2pcall/NAME. 0, -ENOENT (neither is set), -ENOSPC. */
int keyfile_config_path(const char *name, char *out, size_t cap);

/* One line of a file: S[0..LEN-1] without its LF; NO counts from 1;
 * TERMINATED is false for a last line that has no LF. */
struct keyfile_line {
	const char *s;
	size_t len;
	size_t no;
	bool terminated;
};
/* Fills LINE with the line at *POS of BUF[0..LEN-1] (LINE->no must hold
 * the previous line's number, 0 at the start) and moves *POS past it.
 * False at the end of BUF. */
bool keyfile_next_line(const char *buf, size_t len, size_t *pos, struct keyfile_line *line);

struct keyfile_field {
	const char *s;
	size_t len;
};
/* Splits LINE into fields separated by spaces, tabs and CRs. Returns the
 * number of fields, 0 for a blank line or a comment (first non-blank
 * character `#'), and MAX + 1 when there are more than MAX (then only MAX
 * are stored). */
size_t keyfile_split(const struct keyfile_line *line, struct keyfile_field *f, size_t max);
/* True if field F is exactly the string WORD. */
bool keyfile_field_is(const struct keyfile_field *f, const char *word);

/* Copies S[0..N-1] into OUT for quoting in a message: bytes outside
 * printable ASCII become `?', and a long value is cut with "...". */
const char *keyfile_quote(const char *s, size_t n, char *out, size_t cap);

/* Opens PATH (following symbolic links) with FLAGS (O_RDONLY or O_RDWR;
 * O_CLOEXEC, O_NOCTTY and O_NONBLOCK are added, so a FIFO does not hang)
 * and fstat()s it into ST. -ENOENT when PATH does not exist (ERR filled
 * too, the caller may replace it). WHAT names the file for messages,
 * e.g. "identity key". Returns the fd or a negative errno. */
int keyfile_open(const char *path, int flags, const char *what, struct stat *st, char *err, size_t errlen);

/* The checks on a file we rely on: a regular file (not a directory or
 * device), owned by us (or by root when ROOT_OK), and none of the mode
 * bits in FORBIDDEN set (077: secret, 022: others must not write). FIX
 * is the chmod argument suggested in the message ("600", "go-w"). */
int keyfile_check(const char *path, const struct stat *st, const char *what, bool root_ok, mode_t forbidden,
		  const char *fix, char *err, size_t errlen);

/* Reads the whole of FD (at most MAX bytes; -EFBIG beyond) into a new
 * NUL-terminated buffer *BUF of *LEN bytes that the caller frees. */
int keyfile_read_fd(int fd, const char *path, size_t max, char **buf, size_t *len, char *err, size_t errlen);

/* Creates the missing directories of DIR (and DIR itself) with mode
 * 0700, each made durable in its parent. Existing ones are left as they
 * are. */
int keyfile_mkdirs(const char *dir, char *err, size_t errlen);
/* Copies the directory part of PATH ("." when there is none) into OUT. */
int keyfile_dirname(const char *path, char *out, size_t cap);

enum {
	/* Commit with link() (renameat2 RENAME_NOREPLACE on a file system
	 * without hard links): fail with -EEXIST rather than replace a file
	 * that exists (or appeared meanwhile). Without it, rename() replaces
	 * PATH (the file a symbolic link PATH points to). */
	KEYFILE_NO_CLOBBER = 1,
	/* flock(LOCK_EX) the new file before it becomes visible at PATH. */
	KEYFILE_LOCK = 2,
};
/* Writes DATA[0..LEN-1] to PATH atomically and durably: a temporary file
 * in the same directory (O_EXCL, MODE), fsync, link() or rename(), fsync
 * of the directory. On failure PATH is untouched and the temporary file
 * removed. If KEEP_FD, *KEEP_FD receives the new file's descriptor
 * (O_RDWR, offset at its end) instead of it being closed. */
int keyfile_write_atomic(const char *path, const void *data, size_t len, mode_t mode, int flags, int *keep_fd,
			 char *err, size_t errlen);

/* Tests only: called (when set) after the temporary file TMP is written
 * and synced, just before it is committed to PATH. */
extern void (*keyfile_commit_hook)(const char *tmp, const char *path);

#endif
