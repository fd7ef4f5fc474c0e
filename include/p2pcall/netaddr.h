/* Socket address helpers: resolution, printing, IPv4-mapped unwrapping. */
#ifndef P2PCALL_NETADDR_H
#define P2PCALL_NETADDR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define NETADDR_STRLEN 64 /* "[v6]:port" fits */

/* Resolves HOST (name or literal; NULL or "" = wildcard for binding) for
 * SOCKTYPE. Fills *OUT with the first result. Returns 0, or a negative
 * getaddrinfo EAI_ code; netaddr_strerror() turns either kind into text. */
int netaddr_resolve(const char *host, uint16_t port, int socktype, int passive,
		    struct sockaddr_storage *out, socklen_t *outlen);
const char *netaddr_strerror(int rc);

/* "1.2.3.4:5" or "[::1]:5" into BUF; returns BUF. */
const char *netaddr_str(const struct sockaddr *sa, char *buf, size_t n);
/* "1.2.3.4" or "::1" (no port) into BUF; returns BUF. */
const char *netaddr_ip_str(const struct sockaddr *sa, char *buf, size_t n);

/* Turns ::ffff:a.b.c.d (from a dual-stack socket) into plain IPv4 in place. */
void netaddr_unmap(struct sockaddr_storage *ss, socklen_t *len);

uint16_t netaddr_port(const struct sockaddr *sa);
socklen_t netaddr_len(const struct sockaddr *sa);
int netaddr_equal(const struct sockaddr *a, const struct sockaddr *b);

#endif
