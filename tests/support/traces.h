/* Arrival traces for jitter buffer tests and benchmarks: a sender emits
 * one Opus packet per frame on its own clock (which may drift), a network
 * delays, loses, reorders and duplicates them, deterministically from a
 * seed. Also a playout simulator driving a jbuf with a caller's policy. */
#ifndef P2PCALL_TRACES_H
#define P2PCALL_TRACES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "p2pcall/jbuf.h"

/* xoshiro256** seeded by splitmix64: same seed, same trace everywhere. */
struct trace_rng {
	uint64_t s[4];
};
void trace_rng_seed(struct trace_rng *r, uint64_t seed);
uint64_t trace_rng_next(struct trace_rng *r);
double trace_rng_uniform(struct trace_rng *r);   /* [0, 1) */
double trace_rng_gauss(struct trace_rng *r);     /* N(0, 1) */

enum trace_jitter {
	TRACE_JIT_NONE = 0,
	TRACE_JIT_GAUSS,   /* |N(0, jitter_ms)|, independent per packet */
	TRACE_JIT_PARETO,  /* jitter_ms * (U^(-1/alpha) - 1): heavy tail */
};

struct trace_params {
	uint64_t seed;
	uint32_t n_packets;
	uint32_t frame_ms;      /* 10, 20, 40 or 60 */
	uint16_t seq0;
	uint32_t ts0;
	uint32_t base_delay_ms; /* fixed network delay */
	enum trace_jitter jitter;
	double   jitter_ms;
	double   pareto_alpha;  /* default 2.5 when 0 */
	double   loss_pct;      /* independent loss */
	uint32_t burst_every;   /* every N packets, lose burst_len in a row */
	uint32_t burst_len;
	double   reorder_pct;   /* swap with the next packet's delay */
	double   dup_pct;       /* deliver twice (second copy 1..10 ms later) */
	double   drift_ppm;     /* sender clock rate error: > 0 sends faster */
	uint32_t late_every;    /* every N packets, one delayed by late_ms */
	uint32_t late_ms;
	uint32_t restart_at;    /* at this packet, seq and ts jump (0: never) */
	uint32_t spike_from;    /* packets [from, to) get spike_ms extra */
	uint32_t spike_to;      /*   gaussian jitter */
	double   spike_ms;
};

struct trace_pkt {
	uint64_t send_us;
	uint64_t arrival_us;
	uint32_t index;         /* position in the sender's stream */
	uint16_t seq;
	uint32_t ts;
	uint32_t samples;
};

struct trace {
	struct trace_pkt *pkts; /* sorted by arrival */
	size_t n;
	size_t sent;            /* packets the sender emitted */
	size_t lost;            /* of those, never delivered */
};

/* Builds a trace; returns 0 or -ENOMEM/-EINVAL. */
int trace_make(struct trace *t, const struct trace_params *p);
void trace_free(struct trace *t);

/* Writes an Opus-looking payload (valid TOC for frame_ms, CELT/SILK,
 * then index bytes) into buf; returns its length. */
size_t trace_payload(uint8_t *buf, size_t size, uint32_t frame_ms, uint32_t index);
/* Reads back the index written by trace_payload, or -1. */
int64_t trace_payload_index(const uint8_t *buf, size_t len);

/* The caller side of the playout: an audio device consuming tick_ms of
 * audio per period; whenever what the caller holds would not cover the
 * next period, it asks the buffer for more (so with a period shorter
 * than a frame, dropping or inserting part of a frame moves the next
 * request earlier or later). */
struct sim_config {
	uint64_t start_us;      /* first tick */
	uint32_t tick_ms;       /* device period (default 20) */
	uint32_t quiet_every;   /* frames with index % N == 0 are quiet
				   (0: none; concealed frames always are) */
	bool     apply_adjust;  /* follow the buffer's wishes, at most one
				   per tick, on quiet frames or when urgent */
	uint64_t end_us;        /* stop here (0: last arrival + 1 s) */
	uint32_t sample_every;  /* record D/T every N ticks (0: never) */
};

struct sim_point {
	uint64_t t_us;
	uint32_t delay_ms;
	uint32_t target_ms;
};

struct sim_result {
	uint64_t ticks;
	uint64_t frames, fec, conceal, dtx, silence; /* by result kind */
	uint64_t fec_mid, conceal_mid; /* the same, up to the last FRAME */
	uint64_t order_errors;  /* FRAME index not above the previous one */
	uint64_t dropped, inserted; /* adjustments applied by the caller */
	double   dropped_ms, inserted_ms;
	double   mean_wait_ms;  /* arrival -> playout of FRAMEs */
	double   max_wait_ms;
	int64_t  first_play_index, last_play_index;
	struct sim_point *pts;  /* every sample_every ticks */
	size_t   npts;
	uint64_t *played_seen;  /* bitmap over trace index: played as FRAME */
};

/* Runs trace t through jb; the result owns pts, free with sim_free. */
int sim_run(const struct trace *t, struct jbuf *jb, const struct sim_config *c,
	    struct sim_result *r);
void sim_free(struct sim_result *r);

#endif
