/* Adaptive jitter buffer: storage, stream tracking and playout decisions.
 * The delay estimator (transit window, percentile, target) is in
 * jbuf_est.c. All times inside are in 48 kHz samples. */
#include "p2pcall/jbuf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "p2pcall/rtp.h"
#include "jbuf_int.h"

#define MAX_SEQ_JUMP   1000
#define MAX_TS_JUMP    (30 * JBUF_CLOCK)
#define LOSS_LAG       64
#define LOOKAHEAD_SEQS 500 /* keep FEC lookahead this long after a loss */

void jbuf_config_default(struct jbuf_config *c)
{
	c->capacity = 128;
	c->max_payload = 1500;
	c->min_ms = 0;
	c->max_ms = 500;
	c->init_ms = 60;
	c->window_ms = 2000;
	c->percentile = 97;
	c->margin_ms = 5;
	c->decay_ms = 1000;
	c->hyst_ms = 5;
	c->patience_ms = 2000;
	c->max_plc_ms = 300;
	c->frame_ms = 20;
	c->fec_lookahead = true;
}

static bool config_ok(const struct jbuf_config *c)
{
	return c->capacity >= 4 && c->capacity <= 65536 &&
	       c->max_payload > 0 && c->max_payload <= 65535 &&
	       c->min_ms <= c->max_ms && c->max_ms <= 10000 &&
	       c->percentile >= 50 && c->percentile <= 100 &&
	       c->window_ms > 0 && c->window_ms <= 60000 &&
	       (c->frame_ms == 10 || c->frame_ms == 20 || c->frame_ms == 40 ||
		c->frame_ms == 60);
}

int jbuf_new(struct jbuf **out, const struct jbuf_config *cfg)
{
	struct jbuf_config def;
	struct jbuf *jb = NULL;
	int err = -EINVAL;

	if (!out)
		return -EINVAL;
	*out = NULL;
	if (!cfg) {
		jbuf_config_default(&def);
		cfg = &def;
	}
	if (!config_ok(cfg))
		goto out;

	err = -ENOMEM;
	jb = calloc(1, sizeof(*jb));
	if (!jb)
		goto out;
	jb->cfg = *cfg;
	jb->slots = calloc(cfg->capacity, sizeof(*jb->slots));
	jb->mem = malloc((size_t)cfg->capacity * cfg->max_payload);
	jb->out_buf = malloc(cfg->max_payload);
	jb->stray_buf = malloc(cfg->max_payload);
	if (!jb->slots || !jb->mem || !jb->out_buf || !jb->stray_buf)
		goto out;
	if (jbuf_est_init(&jb->est, cfg))
		goto out;
	jb->default_dur = cfg->frame_ms * (JBUF_CLOCK / 1000);
	jbuf_reset(jb);
	*out = jb;
	return 0;
out:
	jbuf_free(jb);
	return err;
}

void jbuf_free(struct jbuf *jb)
{
	if (!jb)
		return;
	jbuf_est_fini(&jb->est);
	free(jb->slots);
	free(jb->mem);
	free(jb->out_buf);
	free(jb->stray_buf);
	free(jb);
}

void jbuf_reset(struct jbuf *jb)
{
	if (!jb)
		return;
	for (uint32_t i = 0; i < jb->cfg.capacity; i++)
		jb->slots[i].used = false;
	jb->count = 0;
	jb->have_ref = false;
	memset(jb->seen, 0, sizeof(jb->seen));
	jb->have_stray = false;
	jb->playing = false;
	jb->have_last = false;
	jb->have_real = false;
	jb->last_dur = jb->default_dur;
	jb->empty_run = 0;
	jb->conceal_run = 0;
	jb->pending = 0;
	jbuf_est_reset(&jb->est);
}

static uint8_t *slot_data(struct jbuf *jb, uint32_t i)
{
	return jb->mem + (size_t)i * jb->cfg.max_payload;
}

static void slot_free(struct jbuf *jb, struct jbuf_slot *s)
{
	s->used = false;
	jb->count--;
}

/* The held packet with the smallest timestamp, or NULL. */
static struct jbuf_slot *earliest(struct jbuf *jb)
{
	struct jbuf_slot *best = NULL;
	if (jb->count == 0)
		return NULL;
	for (uint32_t i = 0; i < jb->cfg.capacity; i++) {
		struct jbuf_slot *s = &jb->slots[i];
		if (s->used && (!best || s->ts < best->ts))
			best = s;
	}
	return best;
}

/* Duplicate detection: one bit per sequence number within JBUF_SEEN_BITS
 * below the highest one. */
static bool seen_test(const struct jbuf *jb, int64_t seq)
{
	uint64_t b = (uint64_t)seq % JBUF_SEEN_BITS;
	return jb->seen[b / 64] >> (b % 64) & 1;
}

static void seen_set(struct jbuf *jb, int64_t seq)
{
	uint64_t b = (uint64_t)seq % JBUF_SEEN_BITS;
	jb->seen[b / 64] |= 1ull << (b % 64);
}

static void seen_clear(struct jbuf *jb, int64_t seq)
{
	uint64_t b = (uint64_t)seq % JBUF_SEEN_BITS;
	jb->seen[b / 64] &= ~(1ull << (b % 64));
}

static int64_t now_samples(uint64_t now_us)
{
	/* 48 samples per ms; exact for the integer part of a ms */
	return (int64_t)(now_us / 1000 * 48 + now_us % 1000 * 48 / 1000);
}

/* Stores a packet that passed the stream checks. */
static int store(struct jbuf *jb, int64_t now, uint64_t now_us, int64_t seq,
		 int64_t ts, const uint8_t *payload, size_t len)
{
	int dur = rtp_opus_samples(payload, len);
	if (dur <= 0)
		dur = (int)jb->last_dur;

	if (seq <= jb->hi_seq - JBUF_SEEN_BITS) {
		jb->st.late++;
		return JBUF_PUT_LATE;
	}
	if (seq <= jb->hi_seq && seen_test(jb, seq)) {
		jb->st.duplicate++;
		return JBUF_PUT_DUP;
	}
	if (seq > jb->hi_seq) {
		int64_t from = jb->hi_seq + 1;
		if (seq - from >= JBUF_SEEN_BITS)
			from = seq - JBUF_SEEN_BITS + 1;
		for (int64_t s = from; s <= seq; s++) {
			/* A sequence number still missing LOSS_LAG packets
			 * later was lost by the network (late ones count as
			 * seen): that is what FEC lookahead is for. */
			int64_t old = s - LOSS_LAG;
			if (old >= jb->first_seq && !seen_test(jb, old))
				jb->last_loss_seq = old;
			seen_clear(jb, s);
		}
		jb->hi_seq = seq;
		jb->hi_ts = ts;
	}
	seen_set(jb, seq);

	/* Every packet, late or not, tells how late the network can be. */
	jbuf_est_add(&jb->est, now_us, now - ts);

	int64_t k = jb->have_real ? seq - jb->real_seq : 0;
	if ((k == 1 || k == 2) && jb->conceal_run >= (uint64_t)k && jb->playing &&
	    ts < jb->play_ts &&
	    (k == 1 ? ts == jb->last_end :
	     ts > jb->last_end && ts - jb->last_end <= dur)) {
		/* The packet we concealed in place of (k = 1), or the one
		 * after it, whose FEC rebuilds it (k = 2), came late: play
		 * from there rather than drop it. The frames concealed
		 * meanwhile become the delay increase. */
		int64_t d = now - jb->last_end - jbuf_est_min(&jb->est);
		if (d <= (int64_t)jb->cfg.max_ms * 48) {
			jb->st.adopted++;
			jb->st.grows++;
			jb->grown_samples += (uint64_t)(jb->play_ts - jb->last_end);
			jb->play_ts = jb->last_end;
			jb->last_seq = jb->real_seq;
			jb->conceal_run = 0;
			jb->empty_run = 0;
		}
	} else if (k == 1 && jb->conceal_run > 0 && ts > jb->last_end) {
		/* Sequence numbers went on but time jumped: the sender
		 * paused (DTX). What we concealed was not lost. */
		jb->st.concealed -= jb->conceal_run;
		jb->st.dtx += jb->conceal_run;
		jb->conceal_run = 0;
	}

	if (jb->playing && ts + dur <= jb->play_ts) {
		jb->st.late++;
		return JBUF_PUT_LATE;
	}

	uint32_t i = (uint32_t)((uint64_t)seq % jb->cfg.capacity);
	struct jbuf_slot *s = &jb->slots[i];
	if (s->used) {
		/* capacity packets apart: keep the newer one */
		jb->st.overflow++;
		if (s->seq > seq)
			return JBUF_PUT_OVERFLOW;
		slot_free(jb, s);
	}
	s->used = true;
	s->seq = seq;
	s->ts = ts;
	s->dur = (uint32_t)dur;
	s->arrival_us = now_us;
	s->len = (uint16_t)len;
	if (len)
		memcpy(slot_data(jb, i), payload, len);
	jb->count++;
	jb->st.received++;
	return JBUF_PUT_OK;
}

int jbuf_put(struct jbuf *jb, uint64_t now_us, uint16_t seq, uint32_t rtp_ts,
	     const uint8_t *payload, size_t len)
{
	if (!jb || (!payload && len))
		return -EINVAL;
	if (len > jb->cfg.max_payload) {
		jb->st.overflow++;
		return -EMSGSIZE;
	}
	int64_t now = now_samples(now_us);

	if (!jb->have_ref) {
		jb->have_ref = true;
		/* Start high so that extended values stay positive. */
		jb->hi_seq = ((int64_t)1 << 32) + seq;
		jb->hi_ts = ((int64_t)1 << 40) + rtp_ts;
		jb->first_seq = jb->hi_seq;
		jb->last_loss_seq = INT64_MIN / 2;
		return store(jb, now, now_us, jb->hi_seq, jb->hi_ts, payload, len);
	}

	int64_t dseq = rtp_seq_diff((uint16_t)jb->hi_seq, seq);
	int64_t ext_seq = jb->hi_seq + dseq;
	int64_t ext_ts = jb->hi_ts + rtp_ts_diff((uint32_t)jb->hi_ts, rtp_ts);
	int64_t expect_ts = jb->hi_ts + dseq * (int64_t)jb->last_dur;
	int64_t off = ext_ts - expect_ts;

	if (dseq > MAX_SEQ_JUMP || dseq < -MAX_SEQ_JUMP ||
	    off > MAX_TS_JUMP || off < -MAX_TS_JUMP) {
		if (jb->have_stray && seq == (uint16_t)(jb->stray_seq + 1) &&
		    rtp_ts_diff(jb->stray_ts, rtp_ts) >= 0 &&
		    rtp_ts_diff(jb->stray_ts, rtp_ts) <= MAX_TS_JUMP) {
			/* Two in a row: the sender restarted. */
			uint16_t sseq = jb->stray_seq;
			uint32_t sts = jb->stray_ts;
			size_t slen = jb->stray_len;
			uint64_t sat = jb->stray_arrival;
			jbuf_reset(jb);
			jb->st.resyncs++;
			jb->have_ref = true;
			jb->hi_seq = ((int64_t)1 << 32) + sseq;
			jb->hi_ts = ((int64_t)1 << 40) + sts;
			jb->first_seq = jb->hi_seq;
			jb->last_loss_seq = INT64_MIN / 2;
			store(jb, now_samples(sat), sat, jb->hi_seq, jb->hi_ts,
			      jb->stray_buf, slen);
			int64_t s2 = jb->hi_seq + rtp_seq_diff(sseq, seq);
			int64_t t2 = jb->hi_ts + rtp_ts_diff(sts, rtp_ts);
			int rc = store(jb, now, now_us, s2, t2, payload, len);
			return rc == JBUF_PUT_OK ? JBUF_PUT_RESYNC : rc;
		}
		jb->have_stray = true;
		jb->stray_seq = seq;
		jb->stray_ts = rtp_ts;
		jb->stray_arrival = now_us;
		jb->stray_len = len;
		if (len)
			memcpy(jb->stray_buf, payload, len);
		jb->st.stray++;
		return JBUF_PUT_STRAY;
	}
	jb->have_stray = false;
	return store(jb, now, now_us, ext_seq, ext_ts, payload, len);
}

/* Copies a held packet into out (the slot may be reused afterwards). */
static void emit(struct jbuf *jb, struct jbuf_out *out, enum jbuf_kind kind,
		 const struct jbuf_slot *s, uint32_t samples)
{
	out->kind = kind;
	out->samples = samples;
	out->seq = (uint16_t)s->seq;
	out->ts = (uint32_t)s->ts;
	out->len = s->len;
	uint32_t i = (uint32_t)(s - jb->slots);
	if (s->len)
		memcpy(jb->out_buf, slot_data(jb, i), s->len);
	out->data = jb->out_buf;
}

static void emit_none(struct jbuf_out *out, enum jbuf_kind kind, uint32_t samples)
{
	out->kind = kind;
	out->samples = samples;
	out->data = NULL;
	out->len = 0;
}

#define ADJ_STEP 120 /* 2.5 ms: Opus PLC granularity */

/* The estimator's target, plus one frame while the network loses packets:
 * in-band FEC for a lost frame is in the next packet, which must be here
 * by the time the lost one is due. */
static int64_t target_of(const struct jbuf *jb)
{
	int64_t t = jbuf_est_target(&jb->est);
	if (jb->cfg.fec_lookahead && jb->have_ref &&
	    jb->hi_seq - jb->last_loss_seq < LOOKAHEAD_SEQS) {
		t += jb->last_dur;
		if (t > (int64_t)jb->cfg.max_ms * 48)
			t = (int64_t)jb->cfg.max_ms * 48;
	}
	return t;
}

/* Sets out->adjust/urgent from D and T; returns the wish in samples. */
static int32_t wish(struct jbuf *jb, uint64_t now_us, int64_t d, struct jbuf_out *out)
{
	int64_t t = target_of(jb);
	int64_t h = (int64_t)jb->cfg.hyst_ms * 48;
	int64_t f = jb->last_dur;
	int64_t want = 0;
	/* Shrinking by the excess, rounded down, leaves D in [T, T + 2.5
	 * ms): no grow follows unless T itself rises. */
	if (d - t > h)
		want = -((d - t) / ADJ_STEP * ADJ_STEP);
	else if (d < t)
		want = (t - d + ADJ_STEP - 1) / ADJ_STEP * ADJ_STEP;
	if (want > f)
		want = f / ADJ_STEP * ADJ_STEP;
	if (want < -f)
		want = -(f / ADJ_STEP * ADJ_STEP);
	int sign = (want > 0) - (want < 0);
	if (sign != jb->pending) {
		jb->pending = sign;
		jb->pending_since_us = now_us;
	}
	out->adjust = (int32_t)want;
	out->urgent = want != 0 &&
		(now_us - jb->pending_since_us >= (uint64_t)jb->cfg.patience_ms * 1000 ||
		 d > t + 3 * f || d < t - 3 * f);
	return (int32_t)want;
}

static void drop_stale(struct jbuf *jb)
{
	if (jb->count == 0)
		return;
	for (uint32_t i = 0; i < jb->cfg.capacity; i++) {
		struct jbuf_slot *s = &jb->slots[i];
		if (s->used && s->ts + s->dur <= jb->play_ts) {
			slot_free(jb, s);
			jb->st.late++;
		}
	}
}

int jbuf_get(struct jbuf *jb, uint64_t now_us, struct jbuf_out *out)
{
	if (!jb || !out)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	int64_t now = now_samples(now_us);
	jbuf_est_update(&jb->est, now_us);
	int64_t minx = jbuf_est_min(&jb->est);
	int64_t target = target_of(jb);

	if (!jb->playing) {
		struct jbuf_slot *p = earliest(jb);
		if (!p || now - p->ts - minx < target) {
			emit_none(out, JBUF_SILENCE, jb->last_dur);
			jb->st.silence++;
			jb->delay = 0;
			return 0;
		}
		jb->playing = true;
		jb->play_ts = p->ts;
		jb->empty_run = 0;
		jb->have_last = false;
	}

	int64_t d = now - jb->play_ts - minx;
	/* Far beyond the ceiling (a flood after an outage): catch up now. */
	int64_t ceiling = (int64_t)jb->cfg.max_ms * 48 + 2 * (int64_t)jb->last_dur;
	if (d > ceiling && jb->count > 0) {
		jb->play_ts += d - target;
		d = target;
		for (uint32_t i = 0; i < jb->cfg.capacity; i++) {
			struct jbuf_slot *s = &jb->slots[i];
			if (s->used && s->ts + s->dur <= jb->play_ts) {
				slot_free(jb, s);
				jb->st.overflow++;
			}
		}
		jb->have_last = false;
	}
	jb->delay = d;
	drop_stale(jb);
	int32_t want = wish(jb, now_us, d, out);

	struct jbuf_slot *p = earliest(jb);
	if (p && p->ts <= jb->play_ts) {
		emit(jb, out, JBUF_FRAME, p, p->dur);
		jb->play_ts = p->ts + p->dur;
		jb->last_seq = p->seq;
		jb->real_seq = p->seq;
		jb->have_real = true;
		jb->last_end = jb->play_ts;
		jb->last_dur = p->dur;
		jb->have_last = true;
		jb->empty_run = 0;
		jb->conceal_run = 0;
		slot_free(jb, p);
		jb->st.played++;
		return 0;
	}
	if (p) {
		int64_t gap = p->ts - jb->play_ts;
		uint32_t n = (uint32_t)(gap < jb->last_dur ? gap : jb->last_dur);
		jb->empty_run = 0;
		if (jb->have_last && p->seq == jb->last_seq + 1) {
			/* Nothing missing, time jumped: a DTX pause. Silence
			 * is where delay can change unheard. */
			emit_none(out, JBUF_DTX, n);
			jb->st.dtx++;
			if (want > 0) {
				/* play n samples of comfort noise, advance less */
				int64_t g = want < (int64_t)n ? want : (int64_t)n;
				jb->play_ts += n - g;
				jb->st.grows++;
				jb->grown_samples += (uint64_t)g;
			} else {
				jb->play_ts += n;
				int64_t room = p->ts - jb->play_ts;
				int64_t s = -(int64_t)want < room ? -(int64_t)want : room;
				if (s > 0) {
					jb->play_ts += s;
					jb->st.shrinks++;
					jb->shrunk_samples += (uint64_t)s;
				}
			}
			if (want) {
				jb->pending = 0;
				out->adjust = 0;
				out->urgent = false;
			}
			return 0;
		}
		if (gap <= p->dur) {
			/* The frame right before p is missing: p carries it
			 * as in-band FEC. */
			emit(jb, out, JBUF_FEC, p, (uint32_t)gap);
			jb->play_ts = p->ts;
			jb->last_seq = p->seq - 1;
			/* recovered: the lost packet, should it still come,
			 * is not to be adopted */
			jb->conceal_run = 0;
			jb->st.fec++;
			return 0;
		}
		emit_none(out, JBUF_CONCEAL, n);
		jb->play_ts += n;
		jb->last_seq++;
		jb->conceal_run++;
		jb->st.concealed++;
		return 0;
	}

	/* Nothing held at all: conceal a while, then rebuffer. */
	if (jb->empty_run >= (uint64_t)jb->cfg.max_plc_ms * 48) {
		jb->playing = false;
		emit_none(out, JBUF_SILENCE, jb->last_dur);
		out->adjust = 0;
		out->urgent = false;
		jb->st.silence++;
		return 0;
	}
	emit_none(out, JBUF_CONCEAL, jb->last_dur);
	jb->play_ts += jb->last_dur;
	jb->empty_run += jb->last_dur;
	jb->last_seq++;
	jb->conceal_run++;
	jb->st.concealed++;
	return 0;
}

void jbuf_adjusted(struct jbuf *jb, int32_t samples)
{
	if (!jb || samples == 0)
		return;
	if (samples < 0) {
		jb->st.shrinks++;
		jb->shrunk_samples += (uint64_t)-(int64_t)samples;
	} else {
		jb->st.grows++;
		jb->grown_samples += (uint64_t)samples;
	}
	jb->pending = 0;
}

void jbuf_get_stats(const struct jbuf *jb, struct jbuf_stats *st)
{
	*st = jb->st;
	int64_t d = jb->delay < 0 ? 0 : jb->delay;
	st->delay_ms = (uint32_t)(d / 48);
	st->target_ms = (uint32_t)(target_of(jb) / 48);
	st->buffered = jb->count;
	st->shrunk_ms = jb->shrunk_samples / 48;
	st->grown_ms = jb->grown_samples / 48;
	uint64_t tot = st->played + st->fec + st->concealed;
	st->concealed_frac = tot ? (double)st->concealed / (double)tot : 0.0;
}
