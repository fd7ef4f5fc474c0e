/* TURN client over UDP (RFC 8656), as a pure state machine: it never reads
 * the clock or touches a socket. Time comes in as microseconds (any
 * monotonic origin), packets leave through send_cb (always to the TURN
 * server), results through event_cb, and turn_next_deadline() says when
 * turn_tick() must run next. Same shape as ice.h.
 *
 * Flow:
 *   turn_start  -> Allocate (REQUESTED-TRANSPORT UDP, LIFETIME), without
 *                  credentials; the server answers 401 with REALM and
 *                  NONCE; the client retries with USERNAME, REALM, NONCE
 *                  and MESSAGE-INTEGRITY keyed with the long-term key
 *                  MD5(username ":" realm ":" password) (RFC 8489 9.2.2).
 *                  Success: TURN_EVENT_ALLOCATED with the relayed
 *                  (XOR-RELAYED-ADDRESS) and mapped (XOR-MAPPED-ADDRESS)
 *                  addresses.
 *   refresh      -> Refresh one minute before the allocation expires (half
 *                  way for lifetimes under two minutes).
 *   turn_permit  -> CreatePermission for the peer's IP, refreshed every
 *                  4 minutes (permissions last 5).
 *   turn_bind_channel -> ChannelBind (channels from 0x4000 up), refreshed
 *                  every 9 minutes (bindings last 10); it also installs the
 *                  permission. Once bound, turn_send uses ChannelData (4-byte
 *                  header, padded to 4 bytes, RFC 8656 12.5); before, and for
 *                  peers without a channel, a Send indication.
 *   turn_close   -> Refresh with LIFETIME 0 (deallocation), then
 *                  TURN_EVENT_CLOSED.
 *
 * Requests are retransmitted per RFC 8489 6.2.1: RTO doubling from rto_us,
 * max_transmits sends, the last waited for 16 x rto_us (defaults: 500 ms,
 * 7, so a dead server is declared after 39.5 s). A 438 Stale Nonce answer
 * takes the new NONCE and retries (three times at most per request).
 *
 * Security: every success response must match an outstanding transaction
 * (method, transaction id) and carry a MESSAGE-INTEGRITY that verifies
 * with the long-term key. Error responses must too, except 401 and 438
 * (which servers cannot sign: RFC 8489 9.2.5). Anything else is dropped
 * and counted in turn_stats. Data indications and ChannelData are accepted
 * only from the server address and only for peers we asked a permission
 * (or channel) for.
 */
#ifndef P2PCALL_TURN_H
#define P2PCALL_TURN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Largest payload turn_send() accepts (a datagram to a peer). */
#define TURN_MAX_PAYLOAD 1400
/* Largest datagram the client ever sends (a Send indication of
 * TURN_MAX_PAYLOAD bytes plus its attributes). */
#define TURN_MAX_PACKET 1536
/* Peers (permissions/channels) one client tracks. */
#define TURN_MAX_PEERS 16
/* RFC 8656 12: channel numbers 0x4000 through 0x4FFF. */
#define TURN_CHANNEL_MIN 0x4000
#define TURN_CHANNEL_MAX 0x4FFF

enum turn_event_type {
	TURN_EVENT_ALLOCATED,          /* relayed, mapped, lifetime_s */
	TURN_EVENT_FAILED,             /* code (0 for timeouts), reason */
	TURN_EVENT_DATA,               /* peer, data, len, channel (0: Data ind.) */
	TURN_EVENT_PERMISSION_OK,      /* peer */
	TURN_EVENT_PERMISSION_FAILED,  /* peer, code, reason */
	TURN_EVENT_CHANNEL_OK,         /* peer, channel */
	TURN_EVENT_CHANNEL_FAILED,     /* peer, channel, code, reason */
	TURN_EVENT_CLOSED,             /* after turn_close: deallocated */
};

/* Valid during the event callback only. */
struct turn_event {
	enum turn_event_type type;
	const struct sockaddr *relayed; /* ALLOCATED */
	const struct sockaddr *mapped;  /* ALLOCATED (NULL if not given) */
	uint32_t lifetime_s;            /* ALLOCATED */
	const struct sockaddr *peer;    /* DATA, PERMISSION_*, CHANNEL_* */
	const uint8_t *data;            /* DATA */
	size_t len;
	uint16_t channel;               /* CHANNEL_*, DATA via ChannelData */
	uint16_t code;                  /* STUN error code, 0 for timeouts */
	/* FAILED / *_FAILED: for people, e.g. "401 Unauthorized: wrong username
	 * or password for realm `r'" or "timeout: no answer from the TURN
	 * server after 7 tries". */
	const char *reason;
};

/* dest is always the TURN server. */
typedef void (*turn_send_cb)(void *ctx, const struct sockaddr *dest,
			     socklen_t destlen, const uint8_t *buf, size_t len);
/* Must not call turn_free(). */
typedef void (*turn_event_cb)(void *ctx, const struct turn_event *ev);
/* Fills buf with len unpredictable bytes (transaction ids). */
typedef void (*turn_random_cb)(void *ctx, void *buf, size_t len);

/* Zero for any number means its default. */
struct turn_config {
	const struct sockaddr *server; /* AF_INET or AF_INET6; copied */
	const char *username;          /* 1..127 bytes; copied */
	const char *password;          /* 0..127 bytes; copied */
	turn_send_cb send_cb;
	turn_event_cb event_cb;        /* may be NULL */
	turn_random_cb random_cb;      /* NULL: a PRNG seeded with seed (tests) */
	void *ctx;
	uint64_t seed;
	uint32_t lifetime_s;           /* requested LIFETIME: 600 s */
	uint64_t rto_us;               /* 500 ms */
	unsigned max_transmits;        /* 7 (RFC 8489 Rc) */
	const char *software;          /* SOFTWARE in requests, or NULL */
};

enum turn_state {
	TURN_STATE_NEW,
	TURN_STATE_ALLOCATING,
	TURN_STATE_ALLOCATED,
	TURN_STATE_CLOSING, /* deallocation sent */
	TURN_STATE_CLOSED,  /* deallocated (or close without allocation) */
	TURN_STATE_FAILED,
};

struct turn_stats {
	uint64_t requests_sent;        /* new transactions */
	uint64_t retransmits;
	uint64_t responses_accepted;   /* matched and authenticated */
	uint64_t stale_nonces;         /* 438 answers */
	uint64_t dropped_unmatched;    /* no such transaction / method */
	uint64_t dropped_bad_integrity;/* missing or wrong MESSAGE-INTEGRITY */
	uint64_t dropped_malformed;    /* not parseable, missing attributes */
	uint64_t dropped_unknown_peer; /* data from a peer we did not permit */
	uint64_t send_indications;     /* sent */
	uint64_t channel_data_sent;
	uint64_t data_indications;     /* received, delivered */
	uint64_t channel_data_received;/* received, delivered */
};

struct turn_client;

/* Creates a client; strings and the server address are copied. Returns 0,
 * -EINVAL (bad config), -ENOMEM. */
int turn_new(struct turn_client **out, const struct turn_config *cfg);
/* Frees without deallocating (see turn_close); accepts NULL. */
void turn_free(struct turn_client *t);

/* Sends the first Allocate. Returns 0, -EALREADY if already started. */
int turn_start(struct turn_client *t, uint64_t now_us);

/* Offers one datagram received on the shared socket. Returns true if it was
 * TURN's: it came from the server and is a STUN message of a TURN method
 * (Allocate, Refresh, CreatePermission, ChannelBind, Data) or ChannelData
 * (first byte 0x40..0x4F), also when it was dropped. False for anything
 * else (other sources; a Binding response from a server that is also our
 * STUN server), which the caller handles. */
bool turn_handle_packet(struct turn_client *t, uint64_t now_us,
			const struct sockaddr *from, const uint8_t *buf,
			size_t len);

/* Does whatever is due at now_us: retransmissions, timeouts, refreshes. */
void turn_tick(struct turn_client *t, uint64_t now_us);

/* When turn_tick must next run (absolute), or UINT64_MAX for never. Valid
 * after any call into the client. */
uint64_t turn_next_deadline(const struct turn_client *t);

/* Asks the server to let peer's IP send to our relayed address (and keeps
 * it so). Idempotent per address. Returns 0, -ENOTCONN before ALLOCATED,
 * -EINVAL, -ENOSPC (TURN_MAX_PEERS). */
int turn_permit(struct turn_client *t, uint64_t now_us,
		const struct sockaddr *peer);

/* Binds a channel to peer (which also permits it). Idempotent per address.
 * Returns the channel number (> 0), or -ENOTCONN, -EINVAL, -ENOSPC. */
int turn_bind_channel(struct turn_client *t, uint64_t now_us,
		      const struct sockaddr *peer);

/* Relays len bytes to peer: ChannelData if a channel is bound (confirmed),
 * else a Send indication. The peer must have been given to turn_permit or
 * turn_bind_channel. Returns 0, -ENOTCONN (not allocated), -ENOENT
 * (unknown peer), -EMSGSIZE (len > TURN_MAX_PAYLOAD), -EINVAL. */
int turn_send(struct turn_client *t, uint64_t now_us,
	      const struct sockaddr *peer, const uint8_t *payload, size_t len);

/* Deallocates (Refresh with LIFETIME 0); TURN_EVENT_CLOSED follows when
 * the server answers or the request times out. Before allocation: CLOSED
 * at once. Returns 0 or -EALREADY. */
int turn_close(struct turn_client *t, uint64_t now_us);

/* The relayed (and mapped) address once ALLOCATED: 0, or -ENOTCONN. */
int turn_relayed_address(const struct turn_client *t,
			 struct sockaddr_storage *out);
int turn_mapped_address(const struct turn_client *t,
			struct sockaddr_storage *out);

/* Is from the TURN server (address and port)? */
bool turn_is_server(const struct turn_client *t, const struct sockaddr *from);

enum turn_state turn_get_state(const struct turn_client *t);
const struct turn_stats *turn_get_stats(const struct turn_client *t);
const char *turn_state_name(enum turn_state s);

/* Splits the --turn form USER:PASS@HOST[:PORT] (HOST a name, an IPv4
 * literal or a bracketed IPv6 literal; PORT defaults to 3478; USER may not
 * contain ':', PASS may contain ':' and '@': the first ':' and the last
 * '@' separate). Writes NUL-terminated user, pass and host (IPv6 without
 * brackets), for the I/O layer to resolve (netaddr_resolve). Returns 0,
 * -EINVAL (malformed: quote it to the user), or -ENOSPC (a part does not
 * fit its buffer). */
int turn_parse_uri(const char *s, char *user, size_t usercap, char *pass,
		   size_t passcap, char *host, size_t hostcap, uint16_t *port);

#endif
