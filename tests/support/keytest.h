/* Small file-system helpers for the key file tests (identity, known_peers,
 * bindings, keyfile): a scratch directory under /tmp, whole-file reads and
 * writes, and the check that a file was left byte-identical. */
#ifndef P2PCALL_TEST_KEYTEST_H
#define P2PCALL_TEST_KEYTEST_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Makes a fresh directory /tmp/p2pcall-keys-XXXXXX into DIR (aborts the
 * test on failure). */
void keytest_mkdtemp(char *dir, size_t cap);
/* Removes DIR and everything below it. */
void keytest_rmtree(const char *dir);
/* Writes LEN bytes of TEXT to PATH (replacing it) with MODE exactly. */
void keytest_write(const char *path, const void *text, size_t len, mode_t mode);
void keytest_write_str(const char *path, const char *text, mode_t mode);
/* The whole of PATH, NUL-terminated (caller frees), and its length; NULL
 * if it cannot be read. */
char *keytest_read(const char *path, size_t *len);
/* True if PATH holds exactly TEXT[0..LEN-1]. */
bool keytest_same(const char *path, const void *text, size_t len);
/* Number of entries in DIR besides . and .. */
int keytest_count_entries(const char *dir);
/* Permission bits of PATH (lstat), or -1. */
int keytest_mode(const char *path);

#endif
