/* The signalling server's logic: greeting, registry of names, call set-up
 * and tear-down (doc/protocol.md). Pure: the I/O layer hands in bytes and
 * the time, and the switchboard answers through callbacks. It never reads
 * the clock and owns no sockets, so tests drive it with a fake clock. */
#ifndef P2PCALL_SWITCHBOARD_H
#define P2PCALL_SWITCHBOARD_H

#include <stddef.h>
#include <stdint.h>

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
};

/* 0, -EINVAL or -ENOMEM. CFG and OPS are copied; CTX is passed back. */
int sb_new(struct sb **out, const struct sb_config *cfg, const struct sb_ops *ops, void *ctx);
/* Frees the switchboard and every connection state still in it (their IO
 * handles are the caller's). NULL is fine. */
void sb_free(struct sb *sb);

/* A new connection, seen coming from SEEN ("ip:port"). Sends the greeting.
 * Returns the connection's state, or NULL on -ENOMEM (close the socket). */
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
