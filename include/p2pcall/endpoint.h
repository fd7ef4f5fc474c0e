/* Parsing of the addresses people type: HOST[:PORT], [IPV6]:PORT, and
 * NAME@HOST[:PORT]. Pure string handling; resolution is netaddr's job. */
#ifndef P2PCALL_ENDPOINT_H
#define P2PCALL_ENDPOINT_H

#include <stddef.h>
#include <stdint.h>

#define ENDPOINT_HOST_MAX 256

struct endpoint {
	char host[ENDPOINT_HOST_MAX];
	uint16_t port;
};

/* Parses "host", "host:port", "[v6]", "[v6]:port" or a bare IPv6 address
 * ("::1": more than one colon and no brackets means no port). A missing
 * port becomes DEFAULT_PORT; port 0 is accepted ("any", for binding).
 * 0 or -EINVAL. */
int endpoint_parse(const char *s, uint16_t default_port, struct endpoint *out);

/* Parses "name@host[:port]"; NAME gets the part before the last '@'
 * (lower-cased), which the caller still has to validate. 0 or -EINVAL. */
int endpoint_parse_identity(const char *s, uint16_t default_port,
			    char *name, size_t name_cap, struct endpoint *out);

#endif
