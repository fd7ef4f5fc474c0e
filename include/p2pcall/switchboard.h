/* The signalling server's logic: greeting, registry of names, call set-up
 * and tear-down (doc/protocol.md). Pure: the I/O layer hands in bytes and
 * the time, and the switchboard answers through callbacks. It never reads
 * the clock and owns no sockets, so tests drive it with a fake clock. */
#ifndef P2PCALL_SWITCHBOARD_H
#define P2PCALL_SWITCHBOARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SB_KEY_LEN 32 /* Ed25519 public key (regproof.h) */

struct sb;
struct sb_conn;

struct sb_config {
	const char *agent;            /* e.g. "p2pcall/0.1.0" */
	unsigned keepalive_s;         /* announced in HELLO; 0: 30 */
	uint64_t register_timeout_us; /* 0: 10 s */
	uint64_t ring_timeout_us;     /* 0: 30 s */
	size_t max_known_names;       /* offline names remembered; 0: 100000 */
	unsigned max_malformed;       /* then close; 0: 16 */
	uint64_t line_timeout_us;     /* a line begun must end within; 0: 10 s */
	unsigned lines_per_s;         /* per connection, sustained; 0: 50 */
	unsigned lines_burst;         /* per connection, at once; 0: 100 */
	size_t max_line;              /* bytes with the LF, <= SIG_MAX_LINE; 0: SIG_MAX_LINE */
	/* Commands that cost the server work or reach other users, per
	 * connection: sustained per second, and at once. Excess is answered
	 * ERR code=429 reason=too-many; max_refused of those close. */
	unsigned register_per_s;      /* 0: 2 */
	unsigned register_burst;      /* 0: 5 */
	unsigned invite_per_s;        /* 0: 5 */
	unsigned invite_burst;        /* 0: 10 */
	unsigned max_refused;         /* 0: 20 */
	size_t max_bindings;          /* name -> key bindings held; 0: 100000 */
	bool require_keys;            /* refuse keyless REGISTERs */
	bool closed;                  /* only names bound with sb_bind may register */
};

struct sb_ops {
	/* Queue LEN bytes of LINE (one LF-terminated line) for IO. */
	void (*send)(void *ctx, void *io, const char *line, size_t len);
	/* Close IO once its queued output is written. The switchboard has
	 * already released the connection's name and calls; the I/O layer
	 * must call sb_conn_close() later, never from inside this callback. */
	void (*close)(void *ctx, void *io);
	/* Optional: a relay for an answered call. Fills the two parties'
	 * tokens as 16 hex digits + NUL; 0 or -errno (then no relay). */
	int (*relay_alloc)(void *ctx, unsigned long long call_id, char caller_tok[17], char callee_tok[17]);
	void (*relay_release)(void *ctx, unsigned long long call_id);
	/* Fills N bytes from a CSPRNG; 0 or -errno. It draws each
	 * connection's registration challenge (HELLO challenge=). Without
	 * it no challenge is offered and keyed REGISTERs fail
	 * (bad-signature): keyless ones still work. */
	int (*random)(void *ctx, uint8_t *buf, size_t n);
	/* Optional: NAME was just bound to PK by its first keyed REGISTER.
	 * Make it durable before returning: 0, or -errno, and then the
	 * registration is refused (503 store-failed) and the binding
	 * undone. Not called for sb_bind. */
	int (*bound)(void *ctx, const char *name, const uint8_t pk[SB_KEY_LEN]);
};

struct sb_stats {
	uint64_t conns;            /* open now */
	uint64_t registered;       /* names held now */
	uint64_t calls;            /* in progress now */
	uint64_t calls_total;
	uint64_t lines;            /* lines received */
	uint64_t malformed;        /* unparsable lines */
	uint64_t overlong;         /* lines over the limit */
	uint64_t errors_sent;      /* ERR replies */
	uint64_t register_timeouts;
	uint64_t line_timeouts;    /* slow lines (a partial line left hanging) */
	uint64_t rate_limited;     /* lines refused for coming too fast */
	uint64_t no_answer;
	uint64_t peer_gone;
	uint64_t bindings;         /* names bound to keys now */
	uint64_t keyed;            /* registrations proved by a key */
	uint64_t bad_signatures;   /* 401 bad-signature */
	uint64_t key_refusals;     /* key-mismatch, key-required, not-listed */
	uint64_t store_failures;   /* ops.bound failed */
	uint64_t verb_rate_limited; /* REGISTER/INVITE refused with too-many */
};

/* 0, -EINVAL or -ENOMEM. CFG and OPS are copied; CTX is passed back. */
int sb_new(struct sb **out, const struct sb_config *cfg, const struct sb_ops *ops, void *ctx);
/* Frees the switchboard and every connection state still in it (their IO
 * handles are the caller's). NULL is fine. */
void sb_free(struct sb *sb);

/* Binds NAME to the public key PK, as if its holder had registered:
 * bindings from the store or the operator's list, loaded at start (in
 * closed mode they are the only names that may register). ops.bound is not
 * called. Returns 0 (also when already bound to PK), -EINVAL for a bad
 * name, -EEXIST if NAME is bound to another key, -ENOSPC beyond
 * max_bindings, -ENOMEM. */
int sb_bind(struct sb *sb, const char *name, const uint8_t pk[SB_KEY_LEN]);
/* Copies NAME's key to PK: 0, or -ENOENT if NAME is bound to none. */
int sb_key_of(const struct sb *sb, const char *name, uint8_t pk[SB_KEY_LEN]);

/* A new connection, seen coming from SEEN ("ip:port"). Sends the greeting.
 * Returns the connection's state, or NULL when out of memory or when
 * ops.random fails (close the socket). */
struct sb_conn *sb_conn_open(struct sb *sb, void *io, const char *seen, uint64_t now_us);
/* Bytes received on C. DATA may be modified. */
void sb_conn_feed(struct sb *sb, struct sb_conn *c, char *data, size_t n, uint64_t now_us);
/* The connection is gone (EOF, error, silence, or after ops.close): its
 * name is released, its call ends for the other party, C is freed. */
void sb_conn_close(struct sb *sb, struct sb_conn *c, uint64_t now_us);

/* Runs timeouts due at NOW. */
void sb_tick(struct sb *sb, uint64_t now_us);
/* When sb_tick next has work, or UINT64_MAX. */
uint64_t sb_next_deadline(const struct sb *sb);

const struct sb_stats *sb_stats(const struct sb *sb);

#endif
