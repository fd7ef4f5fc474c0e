/* A minimal JSON object writer for one-line events: builds into a fixed
 * buffer, escapes strings per RFC 8259, never allocates. */
#ifndef P2PCALL_JSONW_H
#define P2PCALL_JSONW_H

#include <stdbool.h>
#include <stddef.h>

struct jsonw {
	char buf[2048];
	size_t len;
	bool overflow;
	bool first;
};

void jsonw_begin(struct jsonw *w);
void jsonw_str(struct jsonw *w, const char *key, const char *val); /* NULL val: null */
void jsonw_int(struct jsonw *w, const char *key, long long val);
/* A number with DECIMALS digits after the point (non-finite: null). */
void jsonw_num(struct jsonw *w, const char *key, double val, int decimals);
void jsonw_bool(struct jsonw *w, const char *key, bool val);
/* Closes the object; returns the NUL-terminated text, or NULL if it did
 * not fit. */
const char *jsonw_end(struct jsonw *w);

#endif
