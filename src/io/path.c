/* One call's media path: the ICE agent on the libevent loop. */
#include "p2pcall/path.h"
#include "p2pcall/clock.h"
#include "p2pcall/ice.h"
#include "p2pcall/log.h"
#include "p2pcall/netaddr.h"

#include <errno.h>
#include <event2/event.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

struct path {
	struct ice_agent *ice;
	struct event *timer;
	int udp;
	struct path_cbs cbs;
	void *ctx;
	struct sockaddr_storage remote;
	bool up;
	/* The owner may free the path from inside an event callback, while
	 * the agent is still on the stack: then freeing waits until the
	 * outermost call into the agent returns. */
	int depth;
	bool dead;
};

static void destroy(struct path *p)
{
	if (p->timer)
		event_free(p->timer);
	ice_free(p->ice);
	free(p);
}

static void enter(struct path *p) { p->depth++; }

/* Returns true if P was freed meanwhile and must not be touched. */
static bool leave(struct path *p)
{
	if (--p->depth == 0 && p->dead) {
		destroy(p);
		return true;
	}
	return p->dead;
}

static void random_bytes(void *ctx, void *buf, size_t len)
{
	/* getrandom never fails for small requests once the pool is ready. */
	if (getrandom(buf, len, 0) != (ssize_t)len)
		memset(buf, 0, len);
}

void path_random_token(char *buf, size_t n)
{
	static const char set[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
	uint8_t r[128];
	if (n > sizeof(r))
		n = sizeof(r);
	random_bytes(NULL, r, n);
	for (size_t i = 0; i < n; i++)
		buf[i] = set[r[i] % (sizeof(set) - 1)];
	buf[n] = '\0';
}

static void rearm(struct path *p)
{
	uint64_t d = ice_next_deadline(p->ice);
	if (d == UINT64_MAX) {
		evtimer_del(p->timer);
		return;
	}
	uint64_t now = clock_now_us(), wait = d > now ? d - now : 0;
	struct timeval tv = { (time_t)(wait / 1000000), (suseconds_t)(wait % 1000000) };
	evtimer_add(p->timer, &tv);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct path *p = arg;
	enter(p);
	ice_tick(p->ice, clock_now_us());
	if (!leave(p))
		rearm(p);
}

static void on_send(void *ctx, const struct sockaddr *dest, socklen_t len, const uint8_t *buf, size_t n)
{
	struct path *p = ctx;
	if (p->cbs.send) {
		p->cbs.send(p->ctx, dest, buf, n);
		return;
	}
	if (sendto(p->udp, buf, n, 0, dest, len) < 0)
		log_debug("path: sendto: %s", strerror(errno));
}

static void on_ice(void *ctx, const struct ice_event *ev)
{
	struct path *p = ctx;
	switch (ev->type) {
	case ICE_EVENT_SELECTED:
	case ICE_EVENT_REMOTE_CHANGED:
		memcpy(&p->remote, &ev->remote->addr, sizeof(p->remote));
		p->cbs.event(p->ctx, ev->type == ICE_EVENT_SELECTED ? PATH_UP : PATH_CHANGED,
			     (const struct sockaddr *)&p->remote, NULL);
		p->up = true;
		break;
	case ICE_EVENT_FAILED:
		p->up = false;
		p->cbs.event(p->ctx, PATH_FAILED, NULL, ev->reason ? ev->reason : "no path");
		break;
	case ICE_EVENT_CONSENT_LOST:
		p->up = false;
		p->cbs.event(p->ctx, PATH_LOST, NULL, "consent lost");
		break;
	}
}

int path_new(struct path **out, struct event_base *base, int udp, const struct path_config *cfg,
	     const struct path_cbs *cbs, void *ctx)
{
	struct path *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->udp = udp;
	p->cbs = *cbs;
	p->ctx = ctx;
	struct ice_config ic = {
		.role = cfg->controlling ? ICE_CONTROLLING : ICE_CONTROLLED,
		.local_ufrag = cfg->local_ufrag,
		.local_pwd = cfg->local_pwd,
		.remote_ufrag = cfg->remote_ufrag,
		.remote_pwd = cfg->remote_pwd,
		.send_cb = on_send,
		.event_cb = on_ice,
		.random_cb = random_bytes,
		.ctx = p,
		.check_timeout_us = cfg->check_timeout_us,
	};
	int rc = ice_new(&p->ice, &ic);
	if (rc < 0) {
		free(p);
		return rc;
	}
	p->timer = evtimer_new(base, on_timer, p);
	if (!p->timer) {
		path_free(p);
		return -ENOMEM;
	}
	*out = p;
	return 0;
}

void path_free(struct path *p)
{
	if (!p)
		return;
	if (p->depth > 0) {
		p->dead = true;
		evtimer_del(p->timer);
		return;
	}
	destroy(p);
}

int path_set_remote(struct path *p, const char *ufrag, const char *pwd)
{
	return ice_set_remote(p->ice, ufrag, pwd);
}

int path_add_local(struct path *p, const char *cand)
{
	struct ice_cand c;
	int rc = ice_cand_parse(cand, &c);
	return rc < 0 ? rc : ice_add_local(p->ice, &c);
}

int path_add_remote(struct path *p, const char *cand)
{
	enter(p);
	int rc = ice_add_remote_str(p->ice, cand);
	if (!leave(p) && rc == 0)
		rearm(p);
	return rc;
}

int path_probe_remote(struct path *p, const char *cand)
{
	struct ice_cand c;
	int rc = ice_cand_parse(cand, &c);
	if (rc < 0)
		return rc;
	enter(p);
	rc = ice_probe_remote(p->ice, clock_now_us(), &c);
	if (!leave(p))
		rearm(p);
	return rc;
}

int path_start(struct path *p)
{
	enter(p);
	int rc = ice_start(p->ice, clock_now_us());
	if (!leave(p))
		rearm(p);
	return rc;
}

bool path_packet(struct path *p, const struct sockaddr *from, const uint8_t *buf, size_t len)
{
	enter(p);
	bool mine = ice_handle_packet(p->ice, clock_now_us(), from, buf, len);
	if (!leave(p))
		rearm(p);
	return mine;
}

const struct sockaddr *path_remote(const struct path *p)
{
	return p->up ? (const struct sockaddr *)&p->remote : NULL;
}

size_t path_host_candidates(int family, uint16_t port, bool include_loopback, char (*out)[64], size_t max)
{
	struct ifaddrs *ifs, *i;
	size_t n = 0;
	if (getifaddrs(&ifs) < 0)
		return 0;
	for (i = ifs; i && n < max; i = i->ifa_next) {
		if (!i->ifa_addr || i->ifa_addr->sa_family != family || !(i->ifa_flags & IFF_UP))
			continue;
		if ((i->ifa_flags & IFF_LOOPBACK) && !include_loopback)
			continue;
		if (family == AF_INET6) {
			const struct in6_addr *a = &((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr;
			/* Link-local needs a scope id the peer cannot use. */
			if (IN6_IS_ADDR_LINKLOCAL(a))
				continue;
		}
		char ip[INET6_ADDRSTRLEN];
		netaddr_ip_str(i->ifa_addr, ip, sizeof(ip));
		snprintf(out[n++], 64, "host/%s/%u", ip, port);
	}
	freeifaddrs(ifs);
	return n;
}
