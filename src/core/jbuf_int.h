/* Internals shared by jbuf.c and jbuf_est.c; not a public header. */
#ifndef P2PCALL_JBUF_INT_H
#define P2PCALL_JBUF_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "p2pcall/jbuf.h"

#define JBUF_SEEN_BITS 1024

/* Delay estimator: transit times over a sliding window of arrival time. */
struct jbuf_est {
	uint32_t cap, head, n;     /* ring of the last n samples */
	uint64_t *t_us;            /* arrival time */
	int64_t  *transit;         /* arrival - timestamp, in samples */
	int64_t  *sort;            /* scratch for the percentile */
	uint64_t window_us;
	uint32_t percentile;
	int64_t  margin, lo, hi, init; /* samples */
	double   decay_us;
	bool     have_min;
	int64_t  min_transit;
	double   target;           /* samples */
	bool     have_time;
	uint64_t last_us;
};

int jbuf_est_init(struct jbuf_est *e, const struct jbuf_config *cfg);
void jbuf_est_fini(struct jbuf_est *e);
/* Forgets the samples (a new stream); keeps the target. */
void jbuf_est_reset(struct jbuf_est *e);
void jbuf_est_add(struct jbuf_est *e, uint64_t now_us, int64_t transit);
/* Expires old samples and moves the target; call once per playout step. */
void jbuf_est_update(struct jbuf_est *e, uint64_t now_us);
int64_t jbuf_est_min(const struct jbuf_est *e);
int64_t jbuf_est_target(const struct jbuf_est *e);

struct jbuf_slot {
	bool     used;
	int64_t  seq, ts;          /* extended */
	uint32_t dur;              /* samples */
	uint16_t len;
	uint64_t arrival_us;
};

struct jbuf {
	struct jbuf_config cfg;
	struct jbuf_slot *slots;   /* indexed by extended seq % capacity */
	uint8_t  *mem;             /* capacity * max_payload */
	uint8_t  *out_buf;         /* what jbuf_out.data points to */
	uint32_t count;
	uint32_t default_dur;

	/* stream tracking */
	bool     have_ref;
	int64_t  hi_seq, hi_ts;    /* highest sequence seen, its timestamp */
	int64_t  first_seq;        /* of the stream */
	int64_t  last_loss_seq;    /* most recent network loss */
	uint64_t seen[JBUF_SEEN_BITS / 64];
	bool     have_stray;
	uint16_t stray_seq;
	uint32_t stray_ts;
	uint64_t stray_arrival;
	size_t   stray_len;
	uint8_t  *stray_buf;

	/* playout */
	bool     playing;
	int64_t  play_ts;          /* timestamp of the next sample to play */
	bool     have_last;
	int64_t  last_seq;         /* last sequence played or concealed */
	bool     have_real;
	int64_t  real_seq;         /* sequence of the last real frame played */
	int64_t  last_end;         /* end timestamp of the last real frame */
	uint32_t last_dur;
	uint64_t empty_run;        /* samples concealed with nothing held */
	uint64_t conceal_run;      /* frames concealed since the last real one */
	int      pending;          /* sign of the current wish */
	uint64_t grown_samples, shrunk_samples;
	uint64_t pending_since_us;
	int64_t  delay;            /* D at the last jbuf_get, samples */

	struct jbuf_est est;
	struct jbuf_stats st;
};

#endif
