/* Birthday-style hole punching between an endpoint-dependent mapping
 * ("symmetric" NAT, EDM) and an endpoint-independent one (a cone, EIM),
 * as a pure schedule: time in, probes out, next deadline. No sockets.
 *
 * Port prediction cannot work against a NAT that picks a random external
 * port for every destination, but a collision can be made likely:
 *  - the EDM side (BIRTHDAY_SPRAY) sends one check from each of K extra
 *    sockets to the cone side's public address: each gets its own random
 *    external port, and each such mapping then accepts packets from the
 *    cone side's address;
 *  - the EIM side (BIRTHDAY_PROBE) sends checks from its media socket to
 *    distinct random ports of the EDM side's public IP, paced: each one
 *    also opens its own NAT's filter for that port.
 * When a probe lands on one of the K mappings, the EDM socket behind it
 * hears the check and answers, and the path is up. With N ports to choose
 * from, P(no hit after n probes) = prod_{i<n} (1 - K/(N-i)) ~ e^(-nK/N):
 * K = 256, n = 2000, N = 64512 gives 99.96 %.
 *
 * Both sides start after head_start_us (the normal checks get their
 * chance first) and give up at the same moment, head_start_us +
 * max_probes/rate + linger_us after birthday_new, unless birthday_done()
 * says a path opened. */
#ifndef P2PCALL_BIRTHDAY_H
#define P2PCALL_BIRTHDAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum birthday_role {
	BIRTHDAY_SPRAY, /* behind the EDM: K sockets towards one address */
	BIRTHDAY_PROBE, /* behind the EIM: one socket towards random ports */
};

enum birthday_state {
	BIRTHDAY_WAITING, /* head start */
	BIRTHDAY_RUNNING,
	BIRTHDAY_DONE,    /* birthday_done(): a path opened */
	BIRTHDAY_GAVE_UP, /* the time is up */
};

/* Zero for any field means its default. */
struct birthday_config {
	enum birthday_role role;
	uint64_t head_start_us; /* 300 ms */
	unsigned sockets;       /* SPRAY: K, 256 */
	uint64_t respray_us;    /* SPRAY: every socket again after 1 s */
	unsigned rate;          /* PROBE: 1000 probes per second */
	unsigned max_probes;    /* PROBE: 3000 */
	uint64_t linger_us;     /* after the last probe, for answers: 1 s */
	uint16_t port_min;      /* PROBE: ports drawn from 1024 ... */
	uint16_t port_max;      /* ... 65535 */
	uint64_t seed;          /* PROBE: port order (0: a fixed seed) */
};

/* One datagram to send: SPRAY from extra socket `socket` (0..K-1) to
 * the peer's public address; PROBE from the media socket to `port` of
 * the peer's public IP. */
struct birthday_probe {
	unsigned socket;
	uint16_t port;
};

struct birthday;

/* Starts the schedule at now_us. 0, -EINVAL (port_min > port_max, or
 * more probes than ports), -ENOMEM. */
int birthday_new(struct birthday **out, const struct birthday_config *cfg, uint64_t now_us);
void birthday_free(struct birthday *b);

/* Writes up to max probes that are due at now_us into out and returns
 * how many; further due ones come with the next call (the deadline is
 * then now). Moves to GAVE_UP when the time is up. */
size_t birthday_poll(struct birthday *b, uint64_t now_us, struct birthday_probe *out, size_t max);

/* When birthday_poll must next run (absolute), UINT64_MAX once done or
 * given up. */
uint64_t birthday_next_deadline(const struct birthday *b);

/* A path opened: no more probes. */
void birthday_done(struct birthday *b);

enum birthday_state birthday_get_state(const struct birthday *b);
const struct birthday_config *birthday_get_config(const struct birthday *b);

/* PROBE: whether a probe went to port (a path to it was opened by this
 * attempt). */
bool birthday_probed(const struct birthday *b, uint16_t port);

/* Datagrams handed out so far. */
uint64_t birthday_sent(const struct birthday *b);

#endif
