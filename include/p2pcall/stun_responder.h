/* Server side of STUN Binding (RFC 8489 section 6.3), pure: it turns one
 * received datagram into at most one answer datagram. The caller owns the
 * socket, counts drops and sends the answer back to `from`. */
#ifndef P2PCALL_STUN_RESPONDER_H
#define P2PCALL_STUN_RESPONDER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

/* Handles one datagram of n bytes at in, received from `from`.
 *
 * - A well-formed Binding request: writes a Binding success response with
 *   XOR-MAPPED-ADDRESS = from, SOFTWARE (if software is non-NULL) and
 *   FINGERPRINT into out; returns its length.
 * - A Binding request with comprehension-required attributes we do not
 *   understand: a 420 error response listing them in UNKNOWN-ATTRIBUTES.
 * - Anything else (malformed, bad FINGERPRINT, not a request, indications,
 *   other methods, `from` neither IPv4 nor IPv6): returns 0, meaning drop.
 *
 * The answer is never more than twice the request's size (so the server
 * cannot be used to amplify a spoofed-source flood), except that a bare
 * answer (header + XOR-MAPPED-ADDRESS, 44 bytes for IPv6) is always
 * allowed. To fit, SOFTWARE is left out first, then FINGERPRINT if the
 * request carried none; an answer that still does not fit is dropped (0).
 * Returns -EINVAL for bad arguments and -ENOSPC if cap is too small for an
 * answer that would otherwise be sent. */
ssize_t stun_responder_handle(const uint8_t *in, size_t n,
			      const struct sockaddr *from, socklen_t fromlen,
			      uint8_t *out, size_t cap, const char *software);

#endif
