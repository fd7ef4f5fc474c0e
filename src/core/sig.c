/* Signalling line codec (doc/protocol.md, "Framing"). */
#include "p2pcall/sig.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static bool is_verb_char(char c) { return c >= 'A' && c <= 'Z'; }

static bool is_key_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes %XX escapes of the NUL-terminated value S in place. */
static int unescape(char *s)
{
	char *out = s;
	for (char *in = s; *in; in++) {
		if (*in != '%') {
			*out++ = *in;
			continue;
		}
		int hi = hexval(in[1]), lo = hi < 0 ? -1 : hexval(in[2]);
		if (lo < 0)
			return -EBADMSG;
		char c = (char)(hi << 4 | lo);
		if (c == '\0') /* would truncate the C string silently */
			return -EBADMSG;
		*out++ = c;
		in += 2;
	}
	*out = '\0';
	return 0;
}

int sig_msg_parse(char *line, size_t len, struct sig_msg *m)
{
	if (len > 0 && line[len - 1] == '\r')
		len--;
	if (len >= SIG_MAX_LINE)
		return -EBADMSG;
	for (size_t i = 0; i < len; i++)
		if (line[i] < 0x20 || line[i] > 0x7e)
			return -EBADMSG;
	line[len] = '\0';
	m->verb = NULL;
	m->nfields = 0;
	if (len == 0)
		return -ENODATA;

	char *p = line;
	if (!is_verb_char(*p))
		return -EBADMSG;
	m->verb = p;
	while (is_verb_char(*p))
		p++;
	while (*p) {
		if (*p != ' ')
			return -EBADMSG;
		*p++ = '\0';
		char *key = p;
		while (is_key_char(*p))
			p++;
		if (p == key || *p != '=' || (size_t)(p - key) > SIG_MAX_KEY)
			return -EBADMSG;
		*p++ = '\0';
		char *val = p;
		while (*p && *p != ' ')
			p++;
		char *next = p;
		bool more = *p == ' ';
		*p = '\0';
		if (unescape(val) < 0)
			return -EBADMSG;
		if (m->nfields == SIG_MAX_FIELDS)
			return -E2BIG;
		m->f[m->nfields].key = key;
		m->f[m->nfields].val = val;
		m->nfields++;
		p = next;
		if (more)
			*p = ' '; /* restore the separator the loop expects */
	}
	return 0;
}

const char *sig_msg_next(const struct sig_msg *m, const char *key, size_t *pos)
{
	for (size_t i = *pos; i < m->nfields; i++) {
		if (strcmp(m->f[i].key, key) == 0) {
			*pos = i + 1;
			return m->f[i].val;
		}
	}
	*pos = m->nfields;
	return NULL;
}

const char *sig_msg_get(const struct sig_msg *m, const char *key)
{
	size_t pos = 0;
	return sig_msg_next(m, key, &pos);
}

bool sig_parse_u64(const char *val, unsigned long long *out)
{
	unsigned long long v = 0;
	if (!val || !*val || strlen(val) > 19)
		return false;
	for (const char *p = val; *p; p++) {
		if (*p < '0' || *p > '9')
			return false;
		v = v * 10 + (unsigned)(*p - '0');
	}
	*out = v;
	return true;
}

static void put(struct sig_writer *w, const char *s, size_t n)
{
	/* Keep one byte for the LF that finish() appends. */
	if (w->overflow || w->len + n + 1 > sizeof(w->buf)) {
		w->overflow = true;
		return;
	}
	memcpy(w->buf + w->len, s, n);
	w->len += n;
}

void sig_writer_init(struct sig_writer *w, const char *verb)
{
	w->len = 0;
	w->overflow = false;
	put(w, verb, strlen(verb));
}

void sig_writer_add(struct sig_writer *w, const char *key, const char *val)
{
	static const char hex[] = "0123456789ABCDEF";
	if (!val)
		return;
	put(w, " ", 1);
	put(w, key, strlen(key));
	put(w, "=", 1);
	for (const unsigned char *p = (const unsigned char *)val; *p; p++) {
		if (*p > 0x20 && *p < 0x7f && *p != '%') {
			put(w, (const char *)p, 1);
		} else {
			char esc[3] = { '%', hex[*p >> 4], hex[*p & 15] };
			put(w, esc, 3);
		}
	}
}

void sig_writer_addf(struct sig_writer *w, const char *key, const char *fmt, ...)
{
	char val[SIG_MAX_LINE];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(val, sizeof(val), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(val)) {
		w->overflow = true;
		return;
	}
	sig_writer_add(w, key, val);
}

int sig_writer_finish(struct sig_writer *w)
{
	if (w->overflow)
		return -EMSGSIZE;
	w->buf[w->len++] = '\n';
	return (int)w->len;
}

bool sig_name_valid(const char *name)
{
	size_t n = strlen(name);
	if (n == 0 || n > 32)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
		if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '-')))
			return false;
	}
	return true;
}
