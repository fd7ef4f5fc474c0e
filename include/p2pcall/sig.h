/* Signalling messages: one line `VERB key=value ...` (doc/protocol.md).
 *
 * Parsing works in place on a caller-owned line and never allocates; the
 * writer builds into a fixed buffer and escapes values. Both only touch
 * memory, so the fuzz target and unit tests drive them directly. */
#ifndef P2PCALL_SIG_H
#define P2PCALL_SIG_H

#include <stdbool.h>
#include <stddef.h>

#define SIG_VERSION     1
#define SIG_MAX_LINE    1024 /* bytes, including the LF */
#define SIG_MAX_FIELDS  32
#define SIG_MAX_KEY     32

struct sig_field {
	const char *key;
	const char *val; /* percent-decoded, NUL-terminated */
};

struct sig_msg {
	const char *verb;
	size_t nfields;
	struct sig_field f[SIG_MAX_FIELDS];
};

/* Parses LINE (LEN bytes, no LF; a trailing CR is dropped) in place: the
 * message's strings point into LINE, which must outlive it. Returns 0,
 * -ENODATA for an empty line, -EBADMSG for a malformed one, -E2BIG for more
 * than SIG_MAX_FIELDS fields. */
int sig_msg_parse(char *line, size_t len, struct sig_msg *m);

/* First value of KEY, or NULL. */
const char *sig_msg_get(const struct sig_msg *m, const char *key);

/* Iterates over every value of KEY: start with *pos = 0; NULL at the end. */
const char *sig_msg_next(const struct sig_msg *m, const char *key, size_t *pos);

/* True if VAL is a whole decimal number that fits in *OUT. */
bool sig_parse_u64(const char *val, unsigned long long *out);

struct sig_writer {
	char buf[SIG_MAX_LINE];
	size_t len;
	bool overflow;
};

/* Starts a line with VERB. */
void sig_writer_init(struct sig_writer *w, const char *verb);
/* Appends ` key=value`, escaping VAL; a NULL VAL appends nothing. */
void sig_writer_add(struct sig_writer *w, const char *key, const char *val);
void sig_writer_addf(struct sig_writer *w, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Ends the line with LF. Returns its length, or -EMSGSIZE if the line would
 * exceed SIG_MAX_LINE (nothing of it should then be sent). */
int sig_writer_finish(struct sig_writer *w);

/* True if NAME is a valid user name: 1-32 bytes of [a-z0-9._-], starting
 * with a letter or digit. */
bool sig_name_valid(const char *name);

#endif
