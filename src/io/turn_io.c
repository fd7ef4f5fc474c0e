/* The TURN client on the libevent loop: see include/p2pcall/turn_io.h. */
#include "p2pcall/turn_io.h"
#include "p2pcall/clock.h"
#include "p2pcall/log.h"
#include "p2pcall/netaddr.h"

#include <errno.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

struct turn_io {
	struct turn_client *t;
	struct event_base *base;
	struct event *timer;
	struct event *read_ev; /* turn_io_watch only */
	int udp;
	bool v6_socket; /* dual-stack: write IPv4 destinations mapped */
	turn_io_event_cb event_cb;
	turn_io_other_cb other_cb;
	void *ctx;
};

static void random_bytes(void *ctx, void *buf, size_t len)
{
	(void)ctx;
	/* getrandom never fails for small requests once the pool is ready. */
	if (getrandom(buf, len, 0) != (ssize_t)len)
		memset(buf, 0, len);
}

static void rearm(struct turn_io *io)
{
	uint64_t d = turn_next_deadline(io->t);
	if (d == UINT64_MAX) {
		evtimer_del(io->timer);
		return;
	}
	uint64_t now = clock_now_us(), wait = d > now ? d - now : 0;
	struct timeval tv = { (time_t)(wait / 1000000), (suseconds_t)(wait % 1000000) };
	evtimer_add(io->timer, &tv);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct turn_io *io = arg;
	turn_tick(io->t, clock_now_us());
	rearm(io);
}

static void on_send(void *ctx, const struct sockaddr *dest, socklen_t len,
		    const uint8_t *buf, size_t n)
{
	struct turn_io *io = ctx;
	struct sockaddr_in6 mapped;
	if (io->v6_socket && dest->sa_family == AF_INET) {
		const struct sockaddr_in *v4 = (const struct sockaddr_in *)dest;
		memset(&mapped, 0, sizeof(mapped));
		mapped.sin6_family = AF_INET6;
		mapped.sin6_port = v4->sin_port;
		mapped.sin6_addr.s6_addr[10] = 0xff;
		mapped.sin6_addr.s6_addr[11] = 0xff;
		memcpy(&mapped.sin6_addr.s6_addr[12], &v4->sin_addr, 4);
		dest = (const struct sockaddr *)&mapped;
		len = sizeof(mapped);
	}
	if (sendto(io->udp, buf, n, 0, dest, len) < 0)
		log_debug("turn: sendto: %s", strerror(errno));
}

static void on_event(void *ctx, const struct turn_event *ev)
{
	struct turn_io *io = ctx;
	if (io->event_cb)
		io->event_cb(io->ctx, ev);
}

int turn_io_new(struct turn_io **out, struct event_base *base, int udp,
		const struct turn_io_config *cfg, turn_io_event_cb event_cb, void *ctx)
{
	struct turn_io *io = NULL;
	int rc = -EINVAL;
	if (!out || !base || udp < 0 || !cfg)
		goto out;
	rc = -ENOMEM;
	io = calloc(1, sizeof(*io));
	if (!io)
		goto out;
	io->base = base;
	io->udp = udp;
	io->event_cb = event_cb;
	io->ctx = ctx;
	struct sockaddr_storage local;
	socklen_t ll = sizeof(local);
	io->v6_socket = getsockname(udp, (struct sockaddr *)&local, &ll) == 0 &&
			local.ss_family == AF_INET6;
	struct turn_config tc = {
		.server = cfg->server,
		.username = cfg->username,
		.password = cfg->password,
		.send_cb = on_send,
		.event_cb = on_event,
		.random_cb = random_bytes,
		.ctx = io,
		.lifetime_s = cfg->lifetime_s,
		.software = cfg->software,
	};
	rc = turn_new(&io->t, &tc);
	if (rc < 0)
		goto out;
	rc = -ENOMEM;
	io->timer = evtimer_new(base, on_timer, io);
	if (!io->timer)
		goto out;
	*out = io;
	io = NULL;
	rc = 0;
out:
	turn_io_free(io);
	return rc;
}

void turn_io_free(struct turn_io *io)
{
	if (!io)
		return;
	if (io->timer)
		event_free(io->timer);
	if (io->read_ev)
		event_free(io->read_ev);
	turn_free(io->t);
	free(io);
}

int turn_io_start(struct turn_io *io)
{
	int rc = turn_start(io->t, clock_now_us());
	rearm(io);
	return rc;
}

bool turn_io_packet(struct turn_io *io, const struct sockaddr *from,
		    const uint8_t *buf, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl = netaddr_len(from);
	if (!sl || sl > sizeof(ss))
		return false;
	memcpy(&ss, from, sl);
	netaddr_unmap(&ss, &sl);
	bool mine = turn_handle_packet(io->t, clock_now_us(), (const struct sockaddr *)&ss, buf, len);
	if (mine)
		rearm(io);
	return mine;
}

static void on_read(evutil_socket_t fd, short what, void *arg)
{
	struct turn_io *io = arg;
	for (int i = 0; i < 64; i++) {
		uint8_t buf[2048];
		struct sockaddr_storage from;
		socklen_t fl = sizeof(from);
		ssize_t n = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl);
		if (n < 0)
			return;
		netaddr_unmap(&from, &fl);
		if (!turn_io_packet(io, (const struct sockaddr *)&from, buf, (size_t)n) &&
		    io->other_cb)
			io->other_cb(io->ctx, (const struct sockaddr *)&from, buf, (size_t)n);
	}
}

int turn_io_watch(struct turn_io *io, turn_io_other_cb other_cb)
{
	io->other_cb = other_cb;
	if (io->read_ev)
		return 0;
	io->read_ev = event_new(io->base, io->udp, EV_READ | EV_PERSIST, on_read, io);
	if (!io->read_ev || event_add(io->read_ev, NULL) < 0)
		return -ENOMEM;
	return 0;
}

int turn_io_permit(struct turn_io *io, const struct sockaddr *peer)
{
	int rc = turn_permit(io->t, clock_now_us(), peer);
	rearm(io);
	return rc;
}

int turn_io_bind_channel(struct turn_io *io, const struct sockaddr *peer)
{
	int rc = turn_bind_channel(io->t, clock_now_us(), peer);
	rearm(io);
	return rc;
}

int turn_io_send(struct turn_io *io, const struct sockaddr *peer,
		 const uint8_t *payload, size_t len)
{
	return turn_send(io->t, clock_now_us(), peer, payload, len);
}

int turn_io_close(struct turn_io *io)
{
	int rc = turn_close(io->t, clock_now_us());
	rearm(io);
	return rc;
}

struct turn_client *turn_io_client(struct turn_io *io)
{
	return io->t;
}
