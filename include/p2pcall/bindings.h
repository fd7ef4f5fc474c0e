/* The server's durable store of name -> public key bindings: an
 * append-only text file of `NAME KEY' lines (KEY: 43 base64url characters
 * of the Ed25519 public key; `#' comments and blank lines allowed, so the
 * operator may pre-list keys), read whole at start, appended and fsynced
 * for each new binding. The open store holds an exclusive lock (flock) on
 * the file, so two servers cannot share one. */
#ifndef P2PCALL_BINDINGS_H
#define P2PCALL_BINDINGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct bindings;

#define BINDINGS_NAME_MAX 32

/* Opens the store at PATH, creating it empty (0600) if it does not exist
 * (its directory must). 0, with ERR empty or, when a torn last line (no
 * LF: a crash in the middle of an append that was never acknowledged) was
 * dropped, a warning in ERR, the file then compacted atomically. Or a
 * negative errno with ERR naming PATH (and the line, "PATH:LINE: ..."),
 * the file untouched: -EBADMSG malformed line, bad name or key, a name
 * bound twice; -EPERM writable by others or owned by another user (root is
 * fine); -EISDIR / -EINVAL not a regular file; -EBUSY in use by another
 * server; the system's errors. *OUT is the caller's (bindings_free). */
int bindings_open(struct bindings **out, const char *path, char *err, size_t errlen);

size_t bindings_count(const struct bindings *b);

/* Calls FN for each binding, in file order. */
void bindings_each(const struct bindings *b, void (*fn)(void *ctx, const char *name, const uint8_t pk[32]),
		   void *ctx);

/* NAME's key (valid until bindings_free), or NULL. */
const uint8_t *bindings_get(const struct bindings *b, const char *name);

/* Appends `NAME KEY' and fsyncs before returning 0 (the server answers OK
 * only after this). -EINVAL bad name, -EEXIST NAME already bound (the file
 * keeps one key per name), or an I/O error: the partial line is then cut
 * off again, and if even that fails every later add fails (-EIO) until the
 * store is reopened, which repairs it. ERR says which. */
int bindings_add(struct bindings *b, const char *name, const uint8_t pk[32], char *err, size_t errlen);

/* Names: 1-32 bytes of a-z 0-9 . _ -, starting with a letter or digit. */
bool bindings_name_valid(const char *name);

/* NULL is fine. Closes the file (releasing the lock). */
void bindings_free(struct bindings *b);

#endif
