/* One call's media path: the ICE agent on the libevent loop. */
#include "p2pcall/path.h"
#include "p2pcall/birthday.h"
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
#include <unistd.h>

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
	struct event_base *base;
	char method[12]; /* how the path in use was found: path_method() */

	/* Birthday probing (core/birthday.c). SPRAY: n_socks extra sockets;
	 * once an authentic check from the peer arrives on one of them, all
	 * traffic to that peer address goes through it (route_fd). */
	struct birthday *bday;
	struct event *bday_timer;
	struct sockaddr_storage bday_target; /* the peer's server-reflexive address */
	int *socks;
	struct event **sock_ev;
	unsigned n_socks;
	int route_fd;
	struct sockaddr_storage route_peer;
};

static void close_socks(struct path *p, int keep)
{
	for (unsigned i = 0; i < p->n_socks; i++) {
		if (p->socks[i] < 0 || p->socks[i] == keep)
			continue;
		event_free(p->sock_ev[i]);
		close(p->socks[i]);
		p->socks[i] = -1;
	}
}

/* The attempt is over: no more probes, the extra sockets closed (but the
 * one the path runs through, if any), the agent free to fail. */
static void birthday_stop(struct path *p, bool keep_route)
{
	if (!p->bday)
		return;
	log_debug("birthday: %s after %llu datagrams",
		  keep_route ? "path opened" : birthday_get_state(p->bday) == BIRTHDAY_GAVE_UP ? "gave up" : "stopped",
		  (unsigned long long)birthday_sent(p->bday));
	birthday_done(p->bday);
	evtimer_del(p->bday_timer);
	if (!keep_route)
		p->route_fd = -1;
	close_socks(p, p->route_fd);
	ice_hold(p->ice, false);
}

static void destroy(struct path *p)
{
	p->route_fd = -1;
	close_socks(p, -1);
	free(p->socks);
	free(p->sock_ev);
	birthday_free(p->bday);
	if (p->bday_timer)
		event_free(p->bday_timer);
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

bool path_send_routed(struct path *p, const struct sockaddr *dest, const uint8_t *buf, size_t len)
{
	if (!p || p->route_fd < 0 || !ice_addr_equal(dest, (const struct sockaddr *)&p->route_peer))
		return false;
	if (send(p->route_fd, buf, len, 0) < 0 && sendto(p->route_fd, buf, len, 0, dest, ice_addr_len(dest)) < 0)
		log_debug("path: send through the birthday socket: %s", strerror(errno));
	return true;
}

static void on_send(void *ctx, const struct sockaddr *dest, socklen_t len, const uint8_t *buf, size_t n)
{
	struct path *p = ctx;
	if (path_send_routed(p, dest, buf, n))
		return;
	if (p->cbs.send) {
		p->cbs.send(p->ctx, dest, buf, n);
		return;
	}
	if (sendto(p->udp, buf, n, 0, dest, len) < 0)
		log_debug("path: sendto: %s", strerror(errno));
}

/* Did birthday probing open the path to REMOTE? On the spraying side the
 * peer's checks came through an extra socket; on the probing side the
 * peer answers from a mapping of its NAT that one of our probes hit. */
static bool by_birthday(const struct path *p, const struct ice_cand *remote)
{
	const struct sockaddr *r = (const struct sockaddr *)&remote->addr;
	if (p->route_fd >= 0 && ice_addr_equal(r, (const struct sockaddr *)&p->route_peer))
		return true;
	const struct sockaddr_in *a = (const void *)r, *t = (const void *)&p->bday_target;
	return p->bday && r->sa_family == AF_INET && t->sin_family == AF_INET &&
	       a->sin_addr.s_addr == t->sin_addr.s_addr && a->sin_port != t->sin_port &&
	       birthday_probed(p->bday, ntohs(a->sin_port));
}

static void on_ice(void *ctx, const struct ice_event *ev)
{
	struct path *p = ctx;
	switch (ev->type) {
	case ICE_EVENT_SELECTED:
	case ICE_EVENT_REMOTE_CHANGED: {
		bool bd = by_birthday(p, ev->remote);
		snprintf(p->method, sizeof(p->method), "%s", bd ? "birthday" : ice_cand_type_name(ev->remote->type));
		/* The path is chosen: the extra sockets go, but the one it
		 * runs through. */
		if (p->bday && birthday_get_state(p->bday) != BIRTHDAY_DONE)
			birthday_stop(p, bd);
		memcpy(&p->remote, &ev->remote->addr, sizeof(p->remote));
		p->up = true; /* before the owner hears of it: path_method() */
		p->cbs.event(p->ctx, ev->type == ICE_EVENT_SELECTED ? PATH_UP : PATH_CHANGED,
			     (const struct sockaddr *)&p->remote, NULL);
		break;
	}
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
	p->base = base;
	p->route_fd = -1;
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

/* Checks the peer at FROM at once (a path towards it just opened). */
static void check_now(struct path *p, const struct sockaddr *from)
{
	struct ice_cand c = { .type = ICE_CAND_PRFLX };
	memcpy(&c.addr, from, ice_addr_len(from));
	if (ice_probe_remote(p->ice, clock_now_us(), &c) < 0)
		log_debug("birthday: cannot check the opened path");
}

bool path_packet(struct path *p, const struct sockaddr *from, const uint8_t *buf, size_t len)
{
	enter(p);
	bool mine = ice_handle_packet(p->ice, clock_now_us(), from, buf, len);
	if (!mine && p->bday && birthday_get_state(p->bday) == BIRTHDAY_RUNNING &&
	    birthday_get_config(p->bday)->role == BIRTHDAY_PROBE && from->sa_family == AF_INET &&
	    ((const struct sockaddr_in *)from)->sin_addr.s_addr ==
		    ((const struct sockaddr_in *)&p->bday_target)->sin_addr.s_addr &&
	    birthday_probed(p->bday, ntohs(((const struct sockaddr_in *)from)->sin_port)) &&
	    ice_authentic_response(p->ice, buf, len)) {
		/* The peer answered a probe: a hit. Check that address now. */
		log_debug("birthday: a probe hit after %llu", (unsigned long long)birthday_sent(p->bday));
		check_now(p, from);
		mine = true;
	}
	if (!leave(p))
		rearm(p);
	return mine;
}

/* --- birthday probing --- */

static void bday_rearm(struct path *p)
{
	uint64_t d = birthday_next_deadline(p->bday);
	if (d == UINT64_MAX) {
		evtimer_del(p->bday_timer);
		return;
	}
	uint64_t now = clock_now_us(), wait = d > now ? d - now : 0;
	struct timeval tv = { (time_t)(wait / 1000000), (suseconds_t)(wait % 1000000) };
	evtimer_add(p->bday_timer, &tv);
}

/* A datagram on an extra socket: only the peer's authentic check opens
 * it (strangers' packets do not count); then everything from the peer
 * through it is the call's. */
static void on_bday_sock(evutil_socket_t fd, short what, void *arg)
{
	struct path *p = arg;
	enter(p);
	for (int k = 0; k < 16 && !p->dead; k++) {
		uint8_t buf[1500];
		struct sockaddr_storage from;
		socklen_t fl = sizeof(from);
		ssize_t n = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl);
		if (n < 0)
			break;
		bool opened = false;
		if (p->route_fd < 0) {
			if (!ice_authentic_request(p->ice, buf, (size_t)n))
				continue;
			p->route_fd = fd;
			memcpy(&p->route_peer, &from, sizeof(from));
			/* Replies leave by send(), whatever the address family. */
			connect(fd, (struct sockaddr *)&from, fl);
			log_debug("birthday: the peer's check came through extra socket %d", fd);
			opened = true;
		}
		if (fd != p->route_fd || !ice_addr_equal((struct sockaddr *)&from, (struct sockaddr *)&p->route_peer))
			continue;
		if (p->cbs.input)
			p->cbs.input(p->ctx, (struct sockaddr *)&from, buf, (size_t)n);
		else
			path_packet(p, (struct sockaddr *)&from, buf, (size_t)n);
		if (opened && !p->dead)
			check_now(p, (struct sockaddr *)&from);
		/* The path may have been chosen meanwhile, and this socket
		 * closed with the others. */
		if (fd != p->route_fd)
			break;
	}
	if (!leave(p))
		rearm(p);
}

static int open_socks(struct path *p, unsigned k)
{
	p->socks = calloc(k, sizeof(*p->socks));
	p->sock_ev = calloc(k, sizeof(*p->sock_ev));
	if (!p->socks || !p->sock_ev)
		return -ENOMEM;
	for (unsigned i = 0; i < k; i++) {
		int fd = socket(p->bday_target.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		struct event *ev = fd >= 0 ? event_new(p->base, fd, EV_READ | EV_PERSIST, on_bday_sock, p) : NULL;
		if (!ev) {
			/* Out of descriptors: go on with what we have. */
			log_debug("birthday: %u extra sockets (%s)", i, strerror(errno));
			if (fd >= 0)
				close(fd);
			break;
		}
		event_add(ev, NULL);
		p->socks[i] = fd;
		p->sock_ev[i] = ev;
		p->n_socks = i + 1;
	}
	return 0;
}

static void on_bday_timer(evutil_socket_t fd, short what, void *arg)
{
	struct path *p = arg;
	uint64_t now = clock_now_us();
	enter(p);
	struct birthday_probe out[64];
	size_t n = birthday_poll(p->bday, now, out, 64);
	bool spray = birthday_get_config(p->bday)->role == BIRTHDAY_SPRAY;
	if (n && spray && !p->socks && open_socks(p, birthday_get_config(p->bday)->sockets) < 0)
		n = 0;
	const struct sockaddr *t = (const struct sockaddr *)&p->bday_target;
	for (size_t i = 0; i < n; i++) {
		uint8_t pkt[256];
		ssize_t len = ice_build_probe(p->ice, pkt, sizeof(pkt));
		if (len < 0)
			break;
		if (spray) {
			if (out[i].socket < p->n_socks && p->socks[out[i].socket] >= 0)
				sendto(p->socks[out[i].socket], pkt, (size_t)len, 0, t, ice_addr_len(t));
			continue;
		}
		struct sockaddr_in to = *(const struct sockaddr_in *)t;
		to.sin_port = htons(out[i].port);
		sendto(p->udp, pkt, (size_t)len, 0, (struct sockaddr *)&to, sizeof(to));
	}
	if (birthday_get_state(p->bday) == BIRTHDAY_GAVE_UP) {
		birthday_stop(p, false);
		ice_tick(p->ice, now); /* released: fails now if nothing works */
	}
	if (!leave(p)) {
		bday_rearm(p);
		rearm(p);
	}
}

int path_birthday(struct path *p, bool local_edm, bool remote_edm)
{
	if (!p || p->bday || local_edm == remote_edm || ice_get_state(p->ice) != ICE_STATE_CHECKING)
		return 0;
	/* The peer's public address, IPv4 (NATs): where the sprayer aims,
	 * or the IP the prober tries the ports of. */
	const struct ice_cand *target = NULL;
	for (size_t i = 0; i < ice_remote_count(p->ice) && !target; i++) {
		const struct ice_cand *c = ice_remote_at(p->ice, i);
		if (c->type == ICE_CAND_SRFLX && c->addr.ss_family == AF_INET)
			target = c;
	}
	if (!target)
		return 0;
	struct birthday_config bc = { .role = local_edm ? BIRTHDAY_SPRAY : BIRTHDAY_PROBE };
	random_bytes(NULL, &bc.seed, sizeof(bc.seed));
	/* A test knob: a longer head start lets the relay come first, to
	 * test the upgrade from the relay to the direct path. */
	const char *hs = getenv("P2PCALL_BIRTHDAY_HEADSTART_MS");
	if (hs && atoi(hs) > 0)
		bc.head_start_us = (uint64_t)atoi(hs) * 1000u;
	p->bday_timer = evtimer_new(p->base, on_bday_timer, p);
	if (!p->bday_timer || birthday_new(&p->bday, &bc, clock_now_us()) < 0)
		return -ENOMEM;
	memcpy(&p->bday_target, &target->addr, sizeof(p->bday_target));
	ice_hold(p->ice, true);
	bday_rearm(p);
	log_debug("birthday: %s (%s NAT mapping here, %s at the peer)", local_edm ? "spraying" : "probing",
		  local_edm ? "endpoint-dependent" : "endpoint-independent",
		  remote_edm ? "endpoint-dependent" : "endpoint-independent");
	return 1;
}

const char *path_method(const struct path *p)
{
	return p && p->up ? p->method : NULL;
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
