/* A string-keyed hash map (open addressing, linear probing, backward-shift
 * deletion: no tombstones, so a long-running server's table never decays).
 * Keys are borrowed: the caller keeps each key alive while it is mapped. */
#ifndef P2PCALL_STRMAP_H
#define P2PCALL_STRMAP_H

#include <stddef.h>

struct strmap;

/* 0 or -ENOMEM. */
int strmap_new(struct strmap **out);
void strmap_free(struct strmap *m);

/* Value for KEY, or NULL. */
void *strmap_get(const struct strmap *m, const char *key);
/* Maps KEY to VAL (non-NULL), replacing any old value. 0 or -ENOMEM. */
int strmap_put(struct strmap *m, const char *key, void *val);
/* Removes KEY; returns its value, or NULL if it was not mapped. */
void *strmap_del(struct strmap *m, const char *key);
size_t strmap_count(const struct strmap *m);

/* Calls FN for every entry, in no particular order; FN must not modify M. */
void strmap_each(const struct strmap *m, void (*fn)(void *ctx, const char *key, void *val), void *ctx);

#endif
