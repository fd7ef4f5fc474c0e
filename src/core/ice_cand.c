/* ICE candidates: priorities and the signalling string form. */
#include "p2pcall/ice.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

static const struct {
	const char *name;
	uint8_t pref;
} cand_types[] = {
	[ICE_CAND_HOST] = { "host", 126 },
	[ICE_CAND_SRFLX] = { "srflx", 100 },
	[ICE_CAND_PRFLX] = { "prflx", 110 },
	[ICE_CAND_RELAY] = { "relay", 0 },
};

uint32_t ice_priority(enum ice_cand_type type, uint16_t local_pref,
		      uint8_t component)
{
	uint32_t tp = (unsigned)type <= ICE_CAND_RELAY ? cand_types[type].pref : 0;
	return (tp << 24) | ((uint32_t)local_pref << 8) | (uint32_t)(256 - component);
}

uint64_t ice_pair_priority(uint32_t g, uint32_t d)
{
	uint64_t lo = g < d ? g : d, hi = g < d ? d : g;
	return (lo << 32) + 2 * hi + (g > d ? 1 : 0);
}

const char *ice_cand_type_name(enum ice_cand_type type)
{
	if ((unsigned)type > ICE_CAND_RELAY)
		return "?";
	return cand_types[type].name;
}

bool ice_addr_equal(const struct sockaddr *a, const struct sockaddr *b)
{
	if (!a || !b || a->sa_family != b->sa_family)
		return false;
	if (a->sa_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
		return x->sin_port == y->sin_port &&
		       x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	if (a->sa_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
		return x->sin6_port == y->sin6_port &&
		       memcmp(&x->sin6_addr, &y->sin6_addr, 16) == 0;
	}
	return false;
}

socklen_t ice_addr_len(const struct sockaddr *a)
{
	if (a && a->sa_family == AF_INET)
		return sizeof(struct sockaddr_in);
	if (a && a->sa_family == AF_INET6)
		return sizeof(struct sockaddr_in6);
	return 0;
}

int ice_cand_parse(const char *s, struct ice_cand *out)
{
	char type[8], ip[INET6_ADDRSTRLEN];
	const char *p, *q;
	size_t n;

	if (!s || !out)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	/* TYPE */
	p = strchr(s, '/');
	if (!p || (n = (size_t)(p - s)) == 0 || n >= sizeof(type))
		return -EINVAL;
	memcpy(type, s, n);
	type[n] = 0;
	int t = -1;
	for (int i = 0; i <= ICE_CAND_RELAY; i++)
		if (strcmp(type, cand_types[i].name) == 0)
			t = i;
	if (t < 0)
		return -EINVAL;
	/* IP */
	q = strchr(p + 1, '/');
	if (!q || (n = (size_t)(q - p - 1)) == 0 || n >= sizeof(ip))
		return -EINVAL;
	memcpy(ip, p + 1, n);
	ip[n] = 0;
	/* PORT: 1..65535, digits only, then end or '/' */
	unsigned long port = 0;
	const char *d = q + 1;
	if (*d < '0' || *d > '9')
		return -EINVAL;
	for (; *d >= '0' && *d <= '9'; d++) {
		port = port * 10 + (unsigned long)(*d - '0');
		if (port > 65535)
			return -EINVAL;
	}
	if ((*d != 0 && *d != '/') || port == 0)
		return -EINVAL;

	struct sockaddr_in *sin = (struct sockaddr_in *)&out->addr;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&out->addr;
	if (inet_pton(AF_INET, ip, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
	} else if (inet_pton(AF_INET6, ip, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
	} else {
		memset(out, 0, sizeof(*out));
		return -EINVAL;
	}
	out->type = (enum ice_cand_type)t;
	out->priority = ice_priority(out->type, 65535, 1);
	return 0;
}

int ice_cand_format(const struct ice_cand *c, char *buf, size_t cap)
{
	char ip[INET6_ADDRSTRLEN];
	unsigned port;

	if (!c || !buf || (unsigned)c->type > ICE_CAND_RELAY)
		return -EINVAL;
	if (c->addr.ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const void *)&c->addr;
		inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof(ip));
		port = ntohs(sin->sin_port);
	} else if (c->addr.ss_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const void *)&c->addr;
		inet_ntop(AF_INET6, &sin6->sin6_addr, ip, sizeof(ip));
		port = ntohs(sin6->sin6_port);
	} else {
		return -EINVAL;
	}
	int n = snprintf(buf, cap, "%s/%s/%u", cand_types[c->type].name, ip, port);
	if (n < 0)
		return -EINVAL;
	if ((size_t)n >= cap)
		return -ENOSPC;
	return n;
}
