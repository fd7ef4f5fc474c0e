/* Is our NAT's mapping endpoint-dependent? (RFC 5780 4.3, reduced to the
 * one question birthday probing needs.) A fresh UDP socket asks the STUN
 * server on its port and on its alternate port (the server's
 * --stun-alt-port, PORT+1): the same public port both times means
 * endpoint-independent mapping (a cone, or no NAT), two different ports
 * an endpoint-dependent one ("symmetric"). Runs on the event loop, ends
 * within a second, and closes its socket then. */
#ifndef P2PCALL_NATDETECT_H
#define P2PCALL_NATDETECT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

struct event_base;
struct natdetect;

enum natdetect_result {
	NATDETECT_UNKNOWN, /* no answer on one of the ports */
	NATDETECT_EIM,
	NATDETECT_EDM,
};

/* Called once, when the result is known (or the time is up). */
typedef void (*natdetect_cb)(void *ctx, enum natdetect_result r);

/* Starts the two queries to STUN (port P) and to P + 1. 0, -EINVAL,
 * -ENOMEM or -errno of the socket. */
int natdetect_new(struct natdetect **out, struct event_base *base, const struct sockaddr *stun,
		  natdetect_cb cb, void *ctx);
/* NULL is fine; cancels whatever is in progress. */
void natdetect_free(struct natdetect *d);

bool natdetect_done(const struct natdetect *d);
enum natdetect_result natdetect_get(const struct natdetect *d);

/* "eim", "edm", or NULL for unknown: the signalling's nat= field. */
const char *natdetect_name(enum natdetect_result r);

#endif
