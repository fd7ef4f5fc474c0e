/* Incremental framing of the signalling stream into lines.
 *
 * TCP delivers bytes in arbitrary pieces; the parser is fed whatever
 * arrived and calls back once per complete line. It copies only a partial
 * line left at the end of a piece, so a connection that is idle between
 * messages holds no buffer at all (the server keeps tens of thousands). */
#ifndef P2PCALL_SIG_PARSER_H
#define P2PCALL_SIG_PARSER_H

#include <stdbool.h>
#include <stddef.h>

struct sig_parser {
	char *partial;   /* heap copy of an unfinished line, or NULL */
	size_t len;
};

/* Called with one line, LF removed, NUL-terminated and writable in place.
 * A non-zero return stops feeding and is returned by sig_parser_feed. */
typedef int (*sig_line_cb)(void *ctx, char *line, size_t len);

/* Feeds N bytes of DATA (which the parser may modify). Returns 0 once all
 * complete lines were delivered, -EMSGSIZE when a line exceeds SIG_MAX_LINE
 * (the stream is out of step: close it), -ENOMEM, or the callback's
 * non-zero return. */
int sig_parser_feed(struct sig_parser *p, char *data, size_t n,
		    sig_line_cb cb, void *ctx);

/* True while an unfinished line is held. */
bool sig_parser_pending(const struct sig_parser *p);

/* Frees the partial line; the parser can be fed again afterwards. */
void sig_parser_reset(struct sig_parser *p);

#endif
