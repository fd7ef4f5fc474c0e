/* ICE-like connectivity checks (RFC 8445 subset, RFC 7675 consent), as a
 * pure state machine: it never reads the clock or touches a socket. Time
 * comes in as microseconds (any monotonic origin), packets leave through
 * send_cb, results through event_cb, and ice_next_deadline() says when
 * ice_tick() must run next.
 *
 * Model: one UDP socket per call, one component. Every local candidate
 * (host addresses, the server-reflexive mapping of that socket) shares the
 * socket as its base, so checks from "different" local candidates to one
 * remote address would be the same packet: the agent therefore forms one
 * pair per remote candidate, with the best local candidate of the same
 * family (host first) as its local side. Local relay candidates are only
 * advertised, never checked: the I/O layer falls back to the relay on
 * ICE_EVENT_FAILED. Remote relay candidates are checked like any other.
 *
 * Flow: the caller is controlling. Both sides start checks at once, paced
 * (one new check per pace_us), each retransmitted with a doubling RTO. A
 * pair fails when its check gets no answer, unless the peer's own checks
 * keep arriving over it (then only answers were lost: it is checked
 * again), and a lost nomination is retried; both until check_timeout_us.
 * Requests are answered when USERNAME is "ourufrag:theirufrag" and
 * MESSAGE-INTEGRITY verifies with our password (else dropped and
 * counted); they trigger a check back, and an unknown source becomes a
 * peer-reflexive candidate. Responses must carry MESSAGE-INTEGRITY keyed
 * with the remote password and come from the address the check went to.
 * The controlling side nominates the first pair that succeeds (a check with
 * USE-CANDIDATE) and reports ICE_EVENT_SELECTED when that check succeeds;
 * the controlled side reports it on receiving the authenticated
 * nomination (or at ice_start, if the nomination came earlier).
 * Afterwards: consent checks (retransmitted like checks) every
 * consent_interval_us, consent lost after
 * consent_timeout_us without an authenticated response, a Binding
 * indication as keepalive when nothing was sent for keepalive_us, and an
 * authenticated request from a new address of the peer (NAT rebinding) is
 * checked and, when the check succeeds, adopted (ICE_EVENT_REMOTE_CHANGED).
 */
#ifndef P2PCALL_ICE_H
#define P2PCALL_ICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

enum ice_cand_type {
	ICE_CAND_HOST,
	ICE_CAND_SRFLX,
	ICE_CAND_PRFLX,
	ICE_CAND_RELAY,
};

/* A candidate: a plain value. */
struct ice_cand {
	enum ice_cand_type type;
	struct sockaddr_storage addr; /* AF_INET or AF_INET6 */
	uint32_t priority;
};

/* RFC 8445 5.1.2.1: (2^24) type preference + (2^8) local preference +
 * (256 - component). Type preferences: host 126, prflx 110, srflx 100,
 * relay 0. */
uint32_t ice_priority(enum ice_cand_type type, uint16_t local_pref,
		      uint8_t component);

/* RFC 8445 6.1.2.3: 2^32 MIN(G,D) + 2 MAX(G,D) + (G>D ? 1 : 0), G the
 * controlling agent's candidate priority, D the controlled one's. */
uint64_t ice_pair_priority(uint32_t controlling, uint32_t controlled);

/* "host", "srflx", "prflx", "relay". */
const char *ice_cand_type_name(enum ice_cand_type type);

/* Parses the signalling form TYPE/IP/PORT (doc/protocol.md): IPv6 written
 * plainly, further '/'-parts ignored. Sets priority to
 * ice_priority(type, 65535, 1). Returns 0 or -EINVAL. */
int ice_cand_parse(const char *s, struct ice_cand *out);

/* Writes TYPE/IP/PORT (NUL-terminated) into buf; returns its length, or
 * -ENOSPC / -EINVAL. 64 bytes are always enough. */
int ice_cand_format(const struct ice_cand *c, char *buf, size_t cap);

/* Address helpers shared with the tests and the I/O layer. */
bool ice_addr_equal(const struct sockaddr *a, const struct sockaddr *b);
socklen_t ice_addr_len(const struct sockaddr *a);

enum ice_role { ICE_CONTROLLING, ICE_CONTROLLED };

enum ice_event_type {
	ICE_EVENT_SELECTED,       /* a pair is selected: send media there */
	ICE_EVENT_REMOTE_CHANGED, /* NAT rebinding: new remote address */
	ICE_EVENT_FAILED,         /* no pair worked: fall back to relay */
	ICE_EVENT_CONSENT_LOST,   /* RFC 7675: stop sending on the pair */
};

struct ice_event {
	enum ice_event_type type;
	const struct ice_cand *local;  /* SELECTED / REMOTE_CHANGED */
	const struct ice_cand *remote; /* SELECTED / REMOTE_CHANGED */
	const char *reason;            /* FAILED: "all-pairs-failed", "timeout" */
};

/* dest is where to send len bytes (from the call's UDP socket). */
typedef void (*ice_send_cb)(void *ctx, const struct sockaddr *dest,
			    socklen_t destlen, const uint8_t *buf, size_t len);
/* The event and what it points to are valid during the call only. The
 * callbacks must not call ice_free(). */
typedef void (*ice_event_cb)(void *ctx, const struct ice_event *ev);
/* Fills buf with len unpredictable bytes (e.g. libsodium randombytes_buf). */
typedef void (*ice_random_cb)(void *ctx, void *buf, size_t len);

/* Zero for any time field means its default. */
struct ice_config {
	enum ice_role role;
	const char *local_ufrag; /* 4..64 bytes of printable ASCII, no ':' */
	const char *local_pwd;   /* 1..128 bytes */
	const char *remote_ufrag; /* may be NULL: set later, ice_set_remote() */
	const char *remote_pwd;
	ice_send_cb send_cb;
	ice_event_cb event_cb;
	ice_random_cb random_cb; /* NULL: a PRNG seeded with seed (tests) */
	void *ctx;
	uint64_t seed;
	uint64_t pace_us;             /* 5 ms: one new check per pace */
	uint64_t rto_us;              /* 100 ms, doubling ... */
	uint64_t rto_max_us;          /* ... up to 1.6 s */
	unsigned max_transmits;       /* 6: a dead pair fails after 4.7 s */
	uint64_t check_timeout_us;    /* 10 s from ice_start to failure */
	uint64_t keepalive_us;        /* 15 s idle -> Binding indication */
	uint64_t consent_interval_us; /* 5 s (randomised 0.8..1.2) */
	uint64_t consent_timeout_us;  /* 30 s */
};

/* The longest time any default interval can be disabled with. */
#define ICE_NEVER UINT64_MAX

struct ice_stats {
	uint64_t checks_sent;        /* new check transactions */
	uint64_t retransmits;
	uint64_t requests_received;  /* authenticated */
	uint64_t responses_received; /* authenticated */
	uint64_t late_responses;     /* to finished/cancelled checks: ignored */
	uint64_t dropped_bad_credentials; /* bad USERNAME or integrity */
	uint64_t dropped_malformed;
	uint64_t dropped_other;      /* unexpected, asymmetric, table full */
	uint64_t role_conflicts;
	uint64_t prflx_learned;
	uint64_t consent_sent;
	uint64_t keepalives_sent;
	uint64_t pairs_failed;
};

enum ice_state {
	ICE_STATE_NEW,       /* answering requests, not checking yet */
	ICE_STATE_CHECKING,
	ICE_STATE_CONNECTED, /* a pair is selected */
	ICE_STATE_FAILED,
	ICE_STATE_CONSENT_LOST,
};

struct ice_agent;

/* Creates an agent; strings are copied. Returns 0, -EINVAL (bad config),
 * -ENOMEM. */
int ice_new(struct ice_agent **out, const struct ice_config *cfg);
void ice_free(struct ice_agent *a);

/* Sets (or replaces) the peer's credentials; needed before ice_start. */
int ice_set_remote(struct ice_agent *a, const char *ufrag, const char *pwd);

/* Adds a candidate. priority 0 means "compute it". Duplicate addresses are
 * merged (the higher priority kept). Returns 0, -EINVAL, -ENOSPC (table
 * full: 8 local, 32 remote). Remote candidates may be added at any time,
 * also after ice_start. */
int ice_add_local(struct ice_agent *a, const struct ice_cand *c);
int ice_add_remote(struct ice_agent *a, const struct ice_cand *c);
/* Adds a remote candidate the peer signalled during the call (its NAT
 * mapping changed: with filtering NATs on both sides, the new address must
 * be signalled, as our NAT would drop the peer's packets from it). When
 * connected, it is checked at once and adopted on success
 * (ICE_EVENT_REMOTE_CHANGED); while checking, a pair that has not
 * succeeded is checked at once too (a path towards it just opened).
 * Returns 0, -EINVAL or -ENOSPC. */
int ice_probe_remote(struct ice_agent *a, uint64_t now_us, const struct ice_cand *c);

/* ice_cand_parse + ice_add_remote. */
int ice_add_remote_str(struct ice_agent *a, const char *s);

/* Starts checking. Returns 0, or -EINVAL without remote credentials,
 * -EALREADY if started. */
int ice_start(struct ice_agent *a, uint64_t now_us);

/* Offers one received datagram. Returns true if it was ICE's (a STUN
 * Binding request or indication, or a response to one of our checks),
 * also when it was dropped; false for anything else (media, or a STUN
 * response to someone else's transaction, e.g. the client's own server
 * Binding request), which the caller handles. */
bool ice_handle_packet(struct ice_agent *a, uint64_t now_us,
		       const struct sockaddr *from, const uint8_t *buf,
		       size_t len);

/* Does whatever is due at now_us (checks, retransmissions, consent,
 * keepalive, timeouts). */
void ice_tick(struct ice_agent *a, uint64_t now_us);

/* When ice_tick must next be called (absolute), or UINT64_MAX for never
 * (until a packet arrives). Valid after any call into the agent. */
uint64_t ice_next_deadline(const struct ice_agent *a);

/* Tells the agent that media was sent on the selected pair, so no
 * keepalive is needed before now_us + keepalive_us. */
void ice_note_sent(struct ice_agent *a, uint64_t now_us);

/* The selected pair: 0 and copies, or -ENOENT. */
int ice_selected(const struct ice_agent *a, struct ice_cand *local,
		 struct ice_cand *remote);

enum ice_state ice_get_state(const struct ice_agent *a);
enum ice_role ice_get_role(const struct ice_agent *a);
const struct ice_stats *ice_get_stats(const struct ice_agent *a);

/* Birthday probing (core/birthday.c) opens a pair the agent cannot
 * predict: the peer's checks then arrive from a peer-reflexive address.
 * While held, the agent does not fail because every pair it knows has
 * failed (the check timeout still applies); releasing it takes effect at
 * the next ice_tick. */
void ice_hold(struct ice_agent *a, bool on);

/* Whether buf is a Binding request with our credentials (USERNAME
 * "ourufrag:theirufrag", MESSAGE-INTEGRITY with our password): a check
 * from the peer, not a stranger's packet. Changes nothing. */
bool ice_authentic_request(const struct ice_agent *a, const uint8_t *buf, size_t len);

/* Whether buf is a Binding success response keyed with the peer's
 * password: the peer answered one of our checks or probes. */
bool ice_authentic_response(const struct ice_agent *a, const uint8_t *buf, size_t len);

/* Writes into buf an authenticated Binding request as a check from us
 * would be (the peer answers it and checks back), with a fresh
 * transaction id the agent does not track: its answer is not ICE's
 * (ice_handle_packet returns false). Returns its length, -EINVAL (no
 * remote credentials yet) or -ENOSPC. 200 bytes are enough. */
ssize_t ice_build_probe(struct ice_agent *a, uint8_t *buf, size_t cap);

/* Remote candidates known so far (signalled and peer-reflexive). */
size_t ice_remote_count(const struct ice_agent *a);
const struct ice_cand *ice_remote_at(const struct ice_agent *a, size_t i);

#endif
