/* Socket address helpers; see netaddr.h. */
#include "p2pcall/netaddr.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

int netaddr_resolve(const char *host, uint16_t port, int socktype, int passive,
		    struct sockaddr_storage *out, socklen_t *outlen)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = socktype,
				  .ai_flags = passive ? AI_PASSIVE : AI_ADDRCONFIG };
	struct addrinfo *res = NULL;
	char portstr[8];
	snprintf(portstr, sizeof(portstr), "%u", port);
	if (host && !*host)
		host = NULL;
	int rc = getaddrinfo(host, portstr, &hints, &res);
	if (rc != 0)
		return rc < 0 ? rc : -rc;
	memcpy(out, res->ai_addr, res->ai_addrlen);
	*outlen = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

const char *netaddr_strerror(int rc) { return gai_strerror(rc); }

const char *netaddr_ip_str(const struct sockaddr *sa, char *buf, size_t n)
{
	const void *ip = sa->sa_family == AF_INET6
		? (const void *)&((const struct sockaddr_in6 *)sa)->sin6_addr
		: (const void *)&((const struct sockaddr_in *)sa)->sin_addr;
	if (!inet_ntop(sa->sa_family, ip, buf, (socklen_t)n))
		snprintf(buf, n, "?");
	return buf;
}

const char *netaddr_str(const struct sockaddr *sa, char *buf, size_t n)
{
	char ip[INET6_ADDRSTRLEN];
	netaddr_ip_str(sa, ip, sizeof(ip));
	if (sa->sa_family == AF_INET6)
		snprintf(buf, n, "[%s]:%u", ip, netaddr_port(sa));
	else
		snprintf(buf, n, "%s:%u", ip, netaddr_port(sa));
	return buf;
}

void netaddr_unmap(struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
	if (ss->ss_family != AF_INET6 || !IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
		return;
	struct sockaddr_in s4 = { .sin_family = AF_INET, .sin_port = s6->sin6_port };
	memcpy(&s4.sin_addr, &s6->sin6_addr.s6_addr[12], 4);
	memset(ss, 0, sizeof(*ss));
	memcpy(ss, &s4, sizeof(s4));
	*len = sizeof(s4);
}

uint16_t netaddr_port(const struct sockaddr *sa)
{
	return ntohs(sa->sa_family == AF_INET6 ? ((const struct sockaddr_in6 *)sa)->sin6_port
					       : ((const struct sockaddr_in *)sa)->sin_port);
}

socklen_t netaddr_len(const struct sockaddr *sa)
{
	return sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
}

int netaddr_equal(const struct sockaddr *a, const struct sockaddr *b)
{
	if (a->sa_family != b->sa_family || netaddr_port(a) != netaddr_port(b))
		return 0;
	if (a->sa_family == AF_INET6)
		return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
			      &((const struct sockaddr_in6 *)b)->sin6_addr, 16) == 0;
	return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
	       ((const struct sockaddr_in *)b)->sin_addr.s_addr;
}
