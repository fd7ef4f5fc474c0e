/* The server's UDP relay for calls that cannot go direct. Pure: the I/O
 * layer passes datagrams, addresses and the time in, and gets back where
 * to send what.
 *
 * Wire format, on the server's STUN/UDP port (RFC 7983 puts 64-79 in the
 * TURN channel range, so the first byte never collides with STUN or RTP):
 *
 *   client -> server   0x40 0x00 0x00 0x00 | token (8) | payload
 *   server -> client   0x41 0x00 0x00 0x00 | payload               (from the peer)
 *   server -> client   0x42 0x00 0x00 0x00 | token (8)             (bound: ack)
 *
 * Each party of a call gets its own secret token over signalling. A frame
 * with a valid token binds that party to the address it came from (so a
 * NAT rebinding is followed); its payload, if any, goes to the other
 * party's bound address. Nothing is ever sent to an address that did not
 * itself send a frame with the right token, answers are never larger than
 * the frame that caused them, and each party is held to a byte rate. */
#ifndef P2PCALL_RELAY_H
#define P2PCALL_RELAY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define RELAY_HDR 4
#define RELAY_TOKEN_LEN 8
#define RELAY_TO_SERVER 0x40
#define RELAY_FROM_PEER 0x41
#define RELAY_BOUND     0x42

struct relay;

struct relay_config {
	size_t max_calls;          /* 0: 10000 */
	uint32_t rate_bytes_per_s; /* per party; 0: 32000 (256 kbit/s) */
	uint32_t burst_bytes;      /* 0: 16000 */
};

struct relay_stats {
	uint64_t allocations, active;
	uint64_t forwarded, forwarded_bytes;
	uint64_t dropped_bad_token, dropped_malformed, dropped_unbound_peer, dropped_rate;
};

int relay_new(struct relay **out, const struct relay_config *cfg);
void relay_free(struct relay *r);

/* Allocates the relay of call CALL_ID with the two parties' tokens (drawn
 * by the caller from a CSPRNG). 0, -EEXIST, -ENOSPC (max_calls), -ENOMEM. */
int relay_alloc(struct relay *r, uint64_t call_id, const uint8_t tok_caller[RELAY_TOKEN_LEN],
		const uint8_t tok_callee[RELAY_TOKEN_LEN]);
/* Frees the call's relay; unknown ids are ignored. */
void relay_release(struct relay *r, uint64_t call_id);

/* True if the datagram is a relay frame (by its first byte). */
int relay_is_frame(const uint8_t *buf, size_t len);

/* Handles a frame from FROM at NOW. Returns the length of OUT to send to
 * *DEST (forwarded payload, or a bind ack to the sender), or 0 to drop.
 * OUT must hold LEN bytes. */
size_t relay_handle(struct relay *r, uint64_t now_us, const struct sockaddr *from,
		    const uint8_t *buf, size_t len, uint8_t *out, struct sockaddr_storage *dest);

const struct relay_stats *relay_stats(const struct relay *r);

#endif
