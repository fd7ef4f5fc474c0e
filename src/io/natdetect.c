/* Mapping behaviour detection: see include/p2pcall/natdetect.h. */
#include "p2pcall/natdetect.h"
#include "p2pcall/log.h"
#include "p2pcall/netaddr.h"
#include "p2pcall/stun.h"

#include <errno.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#define TRIES 4          /* at 0, 150, 350, 650 ms ... */
#define LIMIT_MS 1000    /* ... and the verdict at 1 s at the latest */

struct natdetect {
	int fd;
	struct event *rd, *timer;
	struct sockaddr_storage to[2]; /* the server's port, and port + 1 */
	uint8_t txid[2][STUN_TXID_LEN];
	struct sockaddr_storage mapped[2];
	bool have[2], done;
	int tries;
	enum natdetect_result result;
	natdetect_cb cb;
	void *ctx;
};

static void finish(struct natdetect *d, enum natdetect_result r)
{
	if (d->done)
		return;
	d->done = true;
	d->result = r;
	event_del(d->rd);
	event_del(d->timer);
	close(d->fd);
	d->fd = -1;
	static const char *const names[] = { "unknown", "endpoint-independent", "endpoint-dependent" };
	log_debug("NAT mapping: %s", names[r]);
	d->cb(d->ctx, r);
}

static void send_queries(struct natdetect *d)
{
	for (int i = 0; i < 2; i++) {
		uint8_t buf[64];
		ssize_t n = stun_build_binding_request(buf, sizeof(buf), d->txid[i], NULL);
		if (!d->have[i] && n > 0)
			sendto(d->fd, buf, (size_t)n, 0, (struct sockaddr *)&d->to[i],
			       netaddr_len((struct sockaddr *)&d->to[i]));
	}
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct natdetect *d = arg;
	if (d->tries == TRIES) {
		finish(d, NATDETECT_UNKNOWN);
		return;
	}
	send_queries(d);
	static const int at_ms[TRIES + 1] = { 0, 150, 350, 650, LIMIT_MS };
	int wait = at_ms[d->tries + 1] - at_ms[d->tries];
	d->tries++;
	struct timeval tv = { 0, wait * 1000 };
	event_add(d->timer, &tv);
}

static void on_read(evutil_socket_t fd, short what, void *arg)
{
	struct natdetect *d = arg;
	for (int k = 0; k < 8 && !d->done; k++) {
		uint8_t buf[512];
		struct sockaddr_storage from;
		socklen_t len = sizeof(from);
		ssize_t n = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &len);
		if (n < 0)
			return;
		netaddr_unmap(&from, &len);
		for (int i = 0; i < 2; i++) {
			if (d->have[i] || !netaddr_equal((struct sockaddr *)&from, (struct sockaddr *)&d->to[i]) ||
			    stun_parse_binding_response(buf, (size_t)n, d->txid[i], &d->mapped[i], NULL) < 0)
				continue;
			d->have[i] = true;
		}
		if (d->have[0] && d->have[1])
			finish(d, netaddr_equal((struct sockaddr *)&d->mapped[0], (struct sockaddr *)&d->mapped[1])
					  ? NATDETECT_EIM : NATDETECT_EDM);
	}
}

int natdetect_new(struct natdetect **out, struct event_base *base, const struct sockaddr *stun,
		  natdetect_cb cb, void *ctx)
{
	if (!out || !base || !stun || !cb || (stun->sa_family != AF_INET && stun->sa_family != AF_INET6))
		return -EINVAL;
	uint16_t port = netaddr_port(stun);
	if (port == 0 || port == 65535)
		return -EINVAL;
	struct natdetect *d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->cb = cb;
	d->ctx = ctx;
	for (int i = 0; i < 2; i++) {
		memcpy(&d->to[i], stun, netaddr_len(stun));
		if (getrandom(d->txid[i], STUN_TXID_LEN, 0) != STUN_TXID_LEN)
			memset(d->txid[i], i + 1, STUN_TXID_LEN);
	}
	if (stun->sa_family == AF_INET)
		((struct sockaddr_in *)&d->to[1])->sin_port = htons((uint16_t)(port + 1));
	else
		((struct sockaddr_in6 *)&d->to[1])->sin6_port = htons((uint16_t)(port + 1));
	d->fd = socket(stun->sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (d->fd < 0) {
		int err = -errno;
		free(d);
		return err;
	}
	d->rd = event_new(base, d->fd, EV_READ | EV_PERSIST, on_read, d);
	d->timer = evtimer_new(base, on_timer, d);
	if (!d->rd || !d->timer) {
		d->done = true; /* nothing to report: just free */
		natdetect_free(d);
		return -ENOMEM;
	}
	event_add(d->rd, NULL);
	event_active(d->timer, EV_TIMEOUT, 0);
	*out = d;
	return 0;
}

void natdetect_free(struct natdetect *d)
{
	if (!d)
		return;
	if (d->rd)
		event_free(d->rd);
	if (d->timer)
		event_free(d->timer);
	if (d->fd >= 0)
		close(d->fd);
	free(d);
}

bool natdetect_done(const struct natdetect *d)
{
	return !d || d->done;
}

enum natdetect_result natdetect_get(const struct natdetect *d)
{
	return d ? d->result : NATDETECT_UNKNOWN;
}

const char *natdetect_name(enum natdetect_result r)
{
	return r == NATDETECT_EIM ? "eim" : r == NATDETECT_EDM ? "edm" : NULL;
}
