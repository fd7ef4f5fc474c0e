/* JSON object writer; see jsonw.h. */
#include "p2pcall/jsonw.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static void put(struct jsonw *w, const char *s, size_t n)
{
	if (w->overflow || w->len + n + 2 > sizeof(w->buf)) { /* room for "}\0" */
		w->overflow = true;
		return;
	}
	memcpy(w->buf + w->len, s, n);
	w->len += n;
}

static void put_string(struct jsonw *w, const char *s)
{
	put(w, "\"", 1);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		char esc[8];
		if (*p == '"' || *p == '\\') {
			esc[0] = '\\';
			esc[1] = (char)*p;
			put(w, esc, 2);
		} else if (*p < 0x20 || *p == 0x7f) {
			snprintf(esc, sizeof(esc), "\\u%04x", *p);
			put(w, esc, 6);
		} else {
			put(w, (const char *)p, 1);
		}
	}
	put(w, "\"", 1);
}

static void key(struct jsonw *w, const char *k)
{
	if (!w->first)
		put(w, ",", 1);
	w->first = false;
	put_string(w, k);
	put(w, ":", 1);
}

void jsonw_begin(struct jsonw *w)
{
	w->len = 0;
	w->overflow = false;
	w->first = true;
	put(w, "{", 1);
}

void jsonw_str(struct jsonw *w, const char *k, const char *val)
{
	key(w, k);
	if (val)
		put_string(w, val);
	else
		put(w, "null", 4);
}

void jsonw_int(struct jsonw *w, const char *k, long long val)
{
	char num[32];
	key(w, k);
	put(w, num, (size_t)snprintf(num, sizeof(num), "%lld", val));
}

void jsonw_num(struct jsonw *w, const char *k, double val, int decimals)
{
	char num[64];
	key(w, k);
	if (!isfinite(val) || fabs(val) > 1e15) {
		put(w, "null", 4);
		return;
	}
	put(w, num, (size_t)snprintf(num, sizeof(num), "%.*f", decimals, val));
}

void jsonw_bool(struct jsonw *w, const char *k, bool val)
{
	key(w, k);
	put(w, val ? "true" : "false", val ? 4 : 5);
}

const char *jsonw_end(struct jsonw *w)
{
	if (w->overflow)
		return NULL;
	w->buf[w->len++] = '}';
	w->buf[w->len] = '\0';
	return w->buf;
}
