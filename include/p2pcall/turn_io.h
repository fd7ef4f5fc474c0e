/* The TURN client (core/turn.c) on a libevent loop and a UDP socket: one
 * timer follows turn_next_deadline(), datagrams go out with sendto() on the
 * given socket (IPv4 destinations written as ::ffff:a.b.c.d when the socket
 * is IPv6 dual-stack), random transaction ids come from getrandom().
 *
 * The socket stays the caller's. Two ways to feed it:
 *  - shared socket (the call's, also carrying ICE, STUN, RTP and relay
 *    frames): the caller's read callback offers each datagram to
 *    turn_io_packet() first (after path_packet(), before its own relay
 *    frames) and handles it itself when that returns false;
 *  - turn_io_watch(): turn_io reads the socket itself and hands every
 *    datagram that is not TURN's to other_cb (tools and tests).
 * Callbacks must not call turn_io_free(). */
#ifndef P2PCALL_TURN_IO_H
#define P2PCALL_TURN_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "p2pcall/turn.h"

struct event_base;
struct turn_io;

struct turn_io_config {
	const struct sockaddr *server; /* turn_parse_uri() host, resolved */
	const char *username;
	const char *password;
	uint32_t lifetime_s;  /* 0: 600 s */
	const char *software; /* SOFTWARE attribute, or NULL */
};

/* Every TURN event (see turn.h), valid during the call only. */
typedef void (*turn_io_event_cb)(void *ctx, const struct turn_event *ev);
/* A datagram that was not TURN's (turn_io_watch mode). */
typedef void (*turn_io_other_cb)(void *ctx, const struct sockaddr *from,
				 const uint8_t *buf, size_t len);

/* 0, -EINVAL (bad config, see turn_new), -ENOMEM. Does not send yet. */
int turn_io_new(struct turn_io **out, struct event_base *base, int udp,
		const struct turn_io_config *cfg, turn_io_event_cb event_cb,
		void *ctx);
/* Frees without deallocating (call turn_io_close first and wait for
 * TURN_EVENT_CLOSED to be polite); accepts NULL. */
void turn_io_free(struct turn_io *io);

/* Starts the allocation. 0 or -EALREADY. */
int turn_io_start(struct turn_io *io);

/* Offers one received datagram; true if it was TURN's (see
 * turn_handle_packet). An IPv4-mapped from is unmapped first. */
bool turn_io_packet(struct turn_io *io, const struct sockaddr *from,
		    const uint8_t *buf, size_t len);

/* Reads the socket from now on (EV_READ|EV_PERSIST); datagrams that are
 * not TURN's go to other_cb (may be NULL: dropped). 0 or -ENOMEM. */
int turn_io_watch(struct turn_io *io, turn_io_other_cb other_cb);

/* turn_permit / turn_bind_channel / turn_send / turn_close with the
 * current time; same results. */
int turn_io_permit(struct turn_io *io, const struct sockaddr *peer);
int turn_io_bind_channel(struct turn_io *io, const struct sockaddr *peer);
int turn_io_send(struct turn_io *io, const struct sockaddr *peer,
		 const uint8_t *payload, size_t len);
int turn_io_close(struct turn_io *io);

/* The state machine, for turn_relayed_address, turn_get_stats, ... */
struct turn_client *turn_io_client(struct turn_io *io);

#endif
