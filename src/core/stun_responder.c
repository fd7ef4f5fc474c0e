/* STUN Binding responder: see include/p2pcall/stun_responder.h. */
#include "p2pcall/stun_responder.h"

#include <errno.h>
#include <netinet/in.h>

#include "p2pcall/stun.h"

/* Builds the answer for m into out; returns its length or -errno. */
static ssize_t build_answer(const struct stun_msg *m,
			    const struct sockaddr *from, uint8_t *out,
			    size_t cap, const char *software, bool fingerprint)
{
	struct stun_writer w;
	bool unknown = m->n_unknown > 0;

	stun_writer_init(&w, out, cap, STUN_METHOD_BINDING,
			 unknown ? STUN_CLASS_ERROR : STUN_CLASS_SUCCESS,
			 m->txid);
	if (unknown) {
		size_t k = m->n_unknown < STUN_MAX_UNKNOWN ? m->n_unknown
							   : STUN_MAX_UNKNOWN;
		stun_put_error(&w, 420, "Unknown Attribute");
		stun_put_unknown_attributes(&w, m->unknown, k);
	} else {
		stun_put_xor_address(&w, STUN_ATTR_XOR_MAPPED_ADDRESS, from);
	}
	if (software)
		stun_put_software(&w, software);
	return stun_writer_finish(&w, fingerprint);
}

/* The smallest useful answer: header + IPv6 XOR-MAPPED-ADDRESS. A bare
 * 20-byte request over IPv6 cannot be answered within 2x its size, so this
 * much is always allowed: 2.2x at worst, no meaningful amplification. */
#define BARE_ANSWER_MAX (20 + 4 + 20)

ssize_t stun_responder_handle(const uint8_t *in, size_t n,
			      const struct sockaddr *from, socklen_t fromlen,
			      uint8_t *out, size_t cap, const char *software)
{
	struct stun_msg m;

	if (!in || !from || !out)
		return -EINVAL;
	if (!((from->sa_family == AF_INET &&
	       fromlen >= (socklen_t)sizeof(struct sockaddr_in)) ||
	      (from->sa_family == AF_INET6 &&
	       fromlen >= (socklen_t)sizeof(struct sockaddr_in6))))
		return 0;
	if (stun_parse(in, n, &m) < 0)
		return 0;
	if (m.cls != STUN_CLASS_REQUEST || m.method != STUN_METHOD_BINDING)
		return 0;

	/* The bound is 2 x request size. Optional parts are shed until the
	 * answer fits: SOFTWARE first, then FINGERPRINT (only if the request
	 * carried none, so the client does not rely on it). */
	size_t limit = 2 * n;
	ssize_t len = build_answer(&m, from, out, cap, software, true);
	if (len > 0 && (size_t)len > limit && software)
		len = build_answer(&m, from, out, cap, NULL, true);
	if (len > 0 && (size_t)len > limit && !m.has_fingerprint)
		len = build_answer(&m, from, out, cap, NULL, false);
	if (len < 0)
		return len;
	/* After shedding, only the bare IPv6 answer can lie between 2n and
	 * BARE_ANSWER_MAX (n >= 20); it is the one exception allowed. */
	if ((size_t)len > limit && (size_t)len > BARE_ANSWER_MAX)
		return 0;
	return len;
}
