/* Address strings as typed by people; see endpoint.h. */
#include "p2pcall/endpoint.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int parse_port(const char *s, uint16_t *port)
{
	char *end;
	if (!*s || strlen(s) > 5)
		return -EINVAL;
	for (const char *p = s; *p; p++)
		if (!isdigit((unsigned char)*p))
			return -EINVAL;
	long v = strtol(s, &end, 10);
	if (v > 65535)
		return -EINVAL;
	*port = (uint16_t)v;
	return 0;
}

static int set_host(struct endpoint *out, const char *s, size_t n)
{
	if (n == 0 || n >= sizeof(out->host))
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!isgraph((unsigned char)s[i]) || s[i] == '[' || s[i] == ']' || s[i] == '@')
			return -EINVAL;
	memcpy(out->host, s, n);
	out->host[n] = '\0';
	return 0;
}

int endpoint_parse(const char *s, uint16_t default_port, struct endpoint *out)
{
	out->port = default_port;
	if (!s)
		return -EINVAL;
	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (!close || set_host(out, s + 1, (size_t)(close - s - 1)) < 0)
			return -EINVAL;
		if (close[1] == '\0')
			return 0;
		return close[1] == ':' ? parse_port(close + 2, &out->port) : -EINVAL;
	}
	const char *colon = strchr(s, ':');
	if (colon && strchr(colon + 1, ':')) /* bare IPv6 */
		return set_host(out, s, strlen(s));
	if (!colon)
		return set_host(out, s, strlen(s));
	if (set_host(out, s, (size_t)(colon - s)) < 0)
		return -EINVAL;
	return parse_port(colon + 1, &out->port);
}

int endpoint_parse_identity(const char *s, uint16_t default_port,
			    char *name, size_t name_cap, struct endpoint *out)
{
	const char *at = s ? strrchr(s, '@') : NULL;
	if (!at || at == s || (size_t)(at - s) >= name_cap)
		return -EINVAL;
	size_t n = (size_t)(at - s);
	for (size_t i = 0; i < n; i++)
		name[i] = (char)tolower((unsigned char)s[i]);
	name[n] = '\0';
	return endpoint_parse(at + 1, default_port, out);
}
