/* Copying configuration strings into fixed buffers, with bounds. */
#ifndef P2PCALL_STRCOPY_H
#define P2PCALL_STRCOPY_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

/* Copies SRC (with its NUL) into DST if it has at least MINLEN bytes and
 * fits in CAP; false otherwise (and for NULL), DST then untouched. */
static inline bool strcopy_bounded(char *dst, size_t cap, const char *src, size_t minlen)
{
	if (!src)
		return false;
	size_t n = strlen(src);
	if (n < minlen || n >= cap)
		return false;
	memcpy(dst, src, n + 1);
	return true;
}

#endif
