/* Line framing for the signalling stream. */
#include "p2pcall/sig_parser.h"
#include "p2pcall/sig.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

bool sig_parser_pending(const struct sig_parser *p) { return p->partial != NULL; }

void sig_parser_reset(struct sig_parser *p)
{
	free(p->partial);
	p->partial = NULL;
	p->len = 0;
}

/* Appends N bytes to the partial line, bounded by SIG_MAX_LINE. */
static int hold(struct sig_parser *p, const char *data, size_t n)
{
	if (p->len + n >= SIG_MAX_LINE)
		return -EMSGSIZE;
	if (!p->partial) {
		/* One allocation of the maximum size: a line in progress
		 * is rare and short-lived, reallocating per piece is not
		 * worth it. */
		p->partial = malloc(SIG_MAX_LINE);
		if (!p->partial)
			return -ENOMEM;
	}
	memcpy(p->partial + p->len, data, n);
	p->len += n;
	return 0;
}

int sig_parser_feed(struct sig_parser *p, char *data, size_t n,
		    sig_line_cb cb, void *ctx)
{
	while (n > 0) {
		char *lf = memchr(data, '\n', n);
		if (!lf)
			return hold(p, data, n);
		size_t chunk = (size_t)(lf - data);
		int rc;
		if (p->partial) {
			rc = hold(p, data, chunk);
			if (rc < 0)
				return rc;
			/* Detach before the callback, which may reset us. */
			char *line = p->partial;
			size_t len = p->len;
			p->partial = NULL;
			p->len = 0;
			line[len] = '\0';
			rc = cb(ctx, line, len);
			free(line);
		} else {
			if (chunk >= SIG_MAX_LINE)
				return -EMSGSIZE;
			*lf = '\0';
			rc = cb(ctx, data, chunk);
		}
		if (rc)
			return rc;
		data = lf + 1;
		n -= chunk + 1;
	}
	return 0;
}
