/* Jitter buffer: hand-made sequences for exact behaviour, then arrival
 * traces (tests/support/traces.c, deterministic) for loss, jitter,
 * reordering, duplicates, late packets, wraps, restart, drift, spikes. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "p2pcall/jbuf.h"
#include "traces.h"

#define MS 1000ull

/* 20 ms CELT payload carrying index i (see trace_payload). */
static int put20(struct jbuf *jb, uint64_t now, uint16_t seq, uint32_t ts,
		 uint32_t i)
{
	uint8_t b[64];
	size_t n = trace_payload(b, sizeof(b), 20, i);
	return jbuf_put(jb, now, seq, ts, b, n);
}

static struct jbuf *mk(uint32_t init_ms)
{
	struct jbuf_config c;
	jbuf_config_default(&c);
	c.init_ms = init_ms;
	struct jbuf *jb = NULL;
	ck_assert_int_eq(jbuf_new(&jb, &c), 0);
	return jb;
}

START_TEST(config_and_args)
{
	struct jbuf_config c;
	struct jbuf *jb = NULL;
	jbuf_config_default(&c);
	c.capacity = 2;
	ck_assert_int_eq(jbuf_new(&jb, &c), -EINVAL);
	jbuf_config_default(&c);
	c.min_ms = 600;
	ck_assert_int_eq(jbuf_new(&jb, &c), -EINVAL);
	jbuf_config_default(&c);
	c.frame_ms = 30;
	ck_assert_int_eq(jbuf_new(&jb, &c), -EINVAL);
	jbuf_config_default(&c);
	c.percentile = 101;
	ck_assert_int_eq(jbuf_new(&jb, &c), -EINVAL);
	ck_assert_int_eq(jbuf_new(NULL, NULL), -EINVAL);
	ck_assert_int_eq(jbuf_new(&jb, NULL), 0);
	uint8_t big[1501] = { 0xf8 };
	ck_assert_int_eq(jbuf_put(jb, 0, 1, 0, big, sizeof(big)), -EMSGSIZE);
	ck_assert_int_eq(jbuf_put(jb, 0, 1, 0, NULL, 3), -EINVAL);
	ck_assert_int_eq(jbuf_get(jb, 0, NULL), -EINVAL);
	struct jbuf_stats st;
	jbuf_get_stats(jb, &st);
	ck_assert_uint_eq(st.overflow, 1);
	jbuf_free(jb);
	jbuf_free(NULL);
}
END_TEST

/* Start after init_ms, then FRAME, FEC for a single loss, PLC for a
 * double one, with exact samples and payloads. */
START_TEST(start_fec_conceal)
{
	struct jbuf *jb = mk(40);
	struct jbuf_out o;
	ck_assert_int_eq(put20(jb, 0, 10, 1000, 0), JBUF_PUT_OK);
	ck_assert_int_eq(jbuf_get(jb, 0, &o), 0);
	ck_assert_int_eq(o.kind, JBUF_SILENCE);
	ck_assert_int_eq(jbuf_get(jb, 20 * MS, &o), 0);
	ck_assert_int_eq(o.kind, JBUF_SILENCE);
	put20(jb, 20 * MS, 11, 1960, 1);
	/* 40 ms after the first arrival: the target is reached */
	ck_assert_int_eq(jbuf_get(jb, 40 * MS, &o), 0);
	ck_assert_int_eq(o.kind, JBUF_FRAME);
	ck_assert_uint_eq(o.seq, 10);
	ck_assert_uint_eq(o.ts, 1000);
	ck_assert_uint_eq(o.samples, 960);
	ck_assert_int_eq(trace_payload_index(o.data, o.len), 0);
	/* 12 is lost; 13 arrives */
	put20(jb, 60 * MS, 13, 1000 + 3 * 960, 3);
	ck_assert_int_eq(jbuf_get(jb, 60 * MS, &o), 0);
	ck_assert_int_eq(o.kind, JBUF_FRAME);
	ck_assert_uint_eq(o.seq, 11);
	ck_assert_int_eq(jbuf_get(jb, 80 * MS, &o), 0);
	ck_assert_int_eq(o.kind, JBUF_FEC);
	ck_assert_uint_eq(o.seq, 13);   /* decode 13's FEC data ... */
	ck_assert_uint_eq(o.samples, 960); /* ... for the 20 ms of 12 */
	ck_assert_int_eq(trace_payload_index(o.data, o.len), 3);
	ck_assert_int_eq(jbuf_get(jb, 100 * MS, &o), 0);
	ck_assert_int_eq(o.kind, JBUF_FRAME);
	ck_assert_uint_eq(o.seq, 13);
	/* 14 and 15 lost, 16 there: PLC for 14, FEC for 15 */
	put20(jb, 110 * MS, 16, 1000 + 6 * 960, 6);
	ck_assert_int_eq(jbuf_get(jb, 120 * MS, &o), 0);
	ck_assert_int_eq(o.kind, JBUF_CONCEAL);
	ck_assert_uint_eq(o.samples, 960);
	ck_assert_ptr_null(o.data);
	ck_assert_int_eq(jbuf_get(jb, 140 * MS, &o), 0);
	ck_assert_int_eq(o.kind, JBUF_FEC);
	ck_assert_uint_eq(o.seq, 16);
	ck_assert_int_eq(jbuf_get(jb, 160 * MS, &o), 0);
	ck_assert_int_eq(o.kind, JBUF_FRAME);
	ck_assert_uint_eq(o.seq, 16);
	/* A packet whose slot has passed is late; a duplicate is a dup. */
	ck_assert_int_eq(put20(jb, 170 * MS, 15, 1000 + 5 * 960, 5), JBUF_PUT_LATE);
	ck_assert_int_eq(put20(jb, 170 * MS, 16, 1000 + 6 * 960, 6), JBUF_PUT_DUP);
	struct jbuf_stats st;
	jbuf_get_stats(jb, &st);
	ck_assert_uint_eq(st.played, 4);
	ck_assert_uint_eq(st.fec, 2);
	ck_assert_uint_eq(st.concealed, 1);
	ck_assert_uint_eq(st.silence, 2);
	ck_assert_uint_eq(st.late, 1);
	ck_assert_uint_eq(st.duplicate, 1);
	ck_assert(st.concealed_frac > 0.14 && st.concealed_frac < 0.15);
	jbuf_free(jb);
}
END_TEST

/* A delayed packet arriving after the PLC played in its place is played
 * late instead of dropped: the delay grows by what was concealed. */
START_TEST(adopt_delayed)
{
	struct jbuf *jb = mk(20);
	struct jbuf_out o;
	uint64_t t = 0;
	for (uint32_t i = 0; i < 5; i++) {
		put20(jb, t, (uint16_t)i, i * 960, i);
		jbuf_get(jb, t, &o);
		t += 20 * MS;
	}
	/* packets 5.. are 50 ms late: two slots go to PLC */
	jbuf_get(jb, t, &o);
	ck_assert_int_eq(o.kind, JBUF_FRAME);
	ck_assert_uint_eq(o.seq, 4);
	jbuf_get(jb, t + 20 * MS, &o);
	ck_assert_int_eq(o.kind, JBUF_CONCEAL);
	jbuf_get(jb, t + 40 * MS, &o);
	ck_assert_int_eq(o.kind, JBUF_CONCEAL);
	ck_assert_int_eq(put20(jb, t + 50 * MS, 5, 5 * 960, 5), JBUF_PUT_OK);
	jbuf_get(jb, t + 60 * MS, &o);
	ck_assert_int_eq(o.kind, JBUF_FRAME);
	ck_assert_uint_eq(o.seq, 5);
	struct jbuf_stats st;
	jbuf_get_stats(jb, &st);
	ck_assert_uint_eq(st.adopted, 1);
	ck_assert_uint_eq(st.grows, 1);
	ck_assert_uint_eq(st.grown_ms, 40);
	ck_assert_uint_eq(st.late, 0);
	jbuf_free(jb);
}
END_TEST

/* 5 is lost and 6.. are delayed: 6, arriving late, is adopted with its
 * FEC standing in for 5. */
START_TEST(adopt_delayed_fec)
{
	struct jbuf *jb = mk(20);
	struct jbuf_out o;
	uint64_t t = 0;
	for (uint32_t i = 0; i < 5; i++) {
		put20(jb, t, (uint16_t)i, i * 960, i);
		jbuf_get(jb, t, &o);
		t += 20 * MS;
	}
	jbuf_get(jb, t, &o);
	ck_assert_uint_eq(o.seq, 4);
	for (int k = 1; k <= 3; k++) {
		jbuf_get(jb, t + (uint64_t)k * 20 * MS, &o);
		ck_assert_int_eq(o.kind, JBUF_CONCEAL);
	}
	ck_assert_int_eq(put20(jb, t + 70 * MS, 6, 6 * 960, 6), JBUF_PUT_OK);
	jbuf_get(jb, t + 80 * MS, &o);
	ck_assert_int_eq(o.kind, JBUF_FEC);
	ck_assert_uint_eq(o.seq, 6);
	ck_assert_uint_eq(o.samples, 960);
	jbuf_get(jb, t + 100 * MS, &o);
	ck_assert_int_eq(o.kind, JBUF_FRAME);
	ck_assert_uint_eq(o.seq, 6);
	/* 7 lost, 8 and 9 delayed past both slots: 9 is two after the
	 * last real frame, no FEC can bridge that: 9 is late. */
	jbuf_get(jb, t + 120 * MS, &o);
	ck_assert_int_eq(o.kind, JBUF_CONCEAL);
	jbuf_get(jb, t + 140 * MS, &o);
	ck_assert_int_eq(o.kind, JBUF_CONCEAL);
	jbuf_get(jb, t + 160 * MS, &o);
	ck_assert_int_eq(o.kind, JBUF_CONCEAL);
	ck_assert_int_eq(put20(jb, t + 170 * MS, 9, 9 * 960, 9), JBUF_PUT_LATE);
	struct jbuf_stats st;
	jbuf_get_stats(jb, &st);
	ck_assert_uint_eq(st.adopted, 1);
	ck_assert_uint_eq(st.grown_ms, 60);
	ck_assert_uint_eq(st.late, 1);
	ck_assert_uint_eq(st.fec, 1);
	ck_assert_uint_eq(st.concealed, 6);
	jbuf_free(jb);
}
END_TEST

/* Sequence numbers continue but time jumps: DTX, not loss. */
START_TEST(dtx_gap)
{
	struct jbuf *jb = mk(40);
	struct jbuf_out o;
	uint32_t ts = 0;
	uint16_t seq = 0;
	uint64_t kinds[5] = { 0 };
	uint32_t i = 0;
	uint64_t send = 0;
	for (uint64_t now = 0; now < 3500 * MS; now += 20 * MS) {
		while (i < 100 && send <= now) {
			put20(jb, send, seq++, ts, i);
			i++;
			ts += 960;
			send += 20 * MS;
			if (i == 50) {
				send += 1000 * MS;
				ts += 1000 * 48;
			}
		}
		ck_assert_int_eq(jbuf_get(jb, now, &o), 0);
		kinds[o.kind]++;
	}
	struct jbuf_stats st;
	jbuf_get_stats(jb, &st);
	ck_assert_uint_eq(st.played, 100);
	ck_assert_uint_eq(kinds[JBUF_FRAME], 100);
	/* The 1 s pause was concealed up to max_plc_ms (300 ms = 15
	 * frames), then silence until the target was buffered again; the
	 * PLC was reclassified as DTX when the next packet showed that no
	 * sequence number was missing. Only the PLC after the very last
	 * packet is left as concealment. */
	ck_assert_uint_eq(kinds[JBUF_CONCEAL], 30);
	ck_assert_uint_eq(st.dtx, 15);
	ck_assert_uint_eq(st.concealed, 15);
	ck_assert_uint_eq(st.late, 0);
	ck_assert_double_eq_tol(st.concealed_frac, 15.0 / 115.0, 1e-9);
	jbuf_free(jb);
}
END_TEST

/* A new SSRC: the caller resets; the new stream, with unrelated numbers,
 * plays after the target is buffered again, and is not taken for a
 * stray. */
START_TEST(reset_new_source)
{
	struct jbuf *jb = mk(40);
	struct jbuf_out o;
	uint64_t t = 0;
	for (uint32_t i = 0; i < 50; i++, t += 20 * MS) {
		put20(jb, t, (uint16_t)(1000 + i), 777 + i * 960, i);
		jbuf_get(jb, t, &o);
	}
	jbuf_reset(jb);
	jbuf_get(jb, t, &o);
	ck_assert_int_eq(o.kind, JBUF_SILENCE);
	int frames = 0;
	int64_t last = -1;
	for (uint32_t i = 0; i < 50; i++, t += 20 * MS) {
		ck_assert_int_eq(put20(jb, t, (uint16_t)(40000 + i),
				       0x9000000u + i * 960, 100 + i), JBUF_PUT_OK);
		jbuf_get(jb, t, &o);
		if (o.kind == JBUF_FRAME) {
			int64_t idx = trace_payload_index(o.data, o.len);
			ck_assert_int_gt(idx, last);
			ck_assert_int_ge(idx, 100);
			last = idx;
			frames++;
		}
	}
	ck_assert_int_ge(frames, 46);
	struct jbuf_stats st;
	jbuf_get_stats(jb, &st);
	ck_assert_uint_eq(st.stray, 0);
	ck_assert_uint_eq(st.resyncs, 0);
	ck_assert_uint_eq(st.late, 0);
	jbuf_free(jb);
}
END_TEST

START_TEST(overflow_capacity)
{
	struct jbuf_config c;
	jbuf_config_default(&c);
	c.capacity = 8;
	struct jbuf *jb = NULL;
	ck_assert_int_eq(jbuf_new(&jb, &c), 0);
	for (uint32_t i = 0; i < 20; i++)
		ck_assert_int_eq(put20(jb, 0, (uint16_t)i, i * 960, i), JBUF_PUT_OK);
	struct jbuf_stats st;
	jbuf_get_stats(jb, &st);
	ck_assert_uint_eq(st.buffered, 8);
	ck_assert_uint_eq(st.overflow, 12);
	struct jbuf_out o;
	uint64_t t = 100 * MS;
	int64_t last = -1;
	int frames = 0;
	for (int k = 0; k < 20; k++, t += 20 * MS) {
		jbuf_get(jb, t, &o);
		if (o.kind == JBUF_FRAME) {
			int64_t idx = trace_payload_index(o.data, o.len);
			ck_assert_int_gt(idx, last);
			ck_assert_int_ge(idx, 12); /* the 8 newest were kept */
			last = idx;
			frames++;
		}
	}
	ck_assert_int_eq(frames, 8);
	jbuf_free(jb);
}
END_TEST

/* ---- trace-driven ---- */

static const struct trace_params base = {
	.seed = 7, .n_packets = 3000, .frame_ms = 20, .seq0 = 100,
	.ts0 = 5000, .base_delay_ms = 40,
};

struct run {
	struct trace t;
	struct sim_result r;
	struct jbuf_stats st;
};

static void run_trace_tick(struct run *x, const struct trace_params *p,
			   bool apply, const struct jbuf_config *cfg,
			   uint32_t sample_every, uint32_t tick_ms)
{
	struct jbuf *jb = NULL;
	ck_assert_int_eq(trace_make(&x->t, p), 0);
	ck_assert_int_eq(jbuf_new(&jb, cfg), 0);
	struct sim_config c = {
		.start_us = 1000 * MS, .tick_ms = tick_ms, .quiet_every = 5,
		.apply_adjust = apply, .sample_every = sample_every,
		.end_us = x->t.pkts[x->t.n - 1].arrival_us + 600 * MS,
	};
	ck_assert_int_eq(sim_run(&x->t, jb, &c, &x->r), 0);
	jbuf_get_stats(jb, &x->st);
	jbuf_free(jb);
}

/* A 20 ms audio device period: delay moves by whole frames. */
static void run_trace(struct run *x, const struct trace_params *p, bool apply,
		      const struct jbuf_config *cfg, uint32_t sample_every)
{
	run_trace_tick(x, p, apply, cfg, sample_every, 20);
}

static void run_free(struct run *x)
{
	sim_free(&x->r);
	trace_free(&x->t);
}

/* Packets the network lost between the first and last frame played. */
static uint64_t lost_inside(const struct run *x)
{
	uint8_t *got = calloc(x->t.sent, 1);
	ck_assert_ptr_nonnull(got);
	for (size_t i = 0; i < x->t.n; i++)
		got[x->t.pkts[i].index] = 1;
	uint64_t n = 0;
	for (int64_t i = x->r.first_play_index; i <= x->r.last_play_index; i++)
		n += !got[i];
	free(got);
	return n;
}

static bool was_played(const struct run *x, uint32_t idx)
{
	return x->r.played_seen[idx / 64] >> (idx % 64) & 1;
}

START_TEST(trace_clean)
{
	struct run x;
	run_trace(&x, &base, true, NULL, 0);
	ck_assert_uint_eq(x.r.frames, 3000);
	ck_assert_uint_eq(x.r.order_errors, 0);
	ck_assert_uint_eq(x.r.conceal_mid, 0);
	ck_assert_uint_eq(x.r.fec_mid, 0);
	ck_assert_int_eq(x.r.first_play_index, 0);
	ck_assert_int_eq(x.r.last_play_index, 2999);
	ck_assert_uint_eq(x.st.late, 0);
	/* no jitter: the target falls to the margin, and after the start
	 * (init 60 ms) the wait falls to one tick of phase */
	ck_assert_uint_le(x.st.target_ms, 6);
	ck_assert_msg(x.r.mean_wait_ms < 22.0, "wait %.1f", x.r.mean_wait_ms);
	run_free(&x);
}
END_TEST

START_TEST(trace_gauss_jitter)
{
	struct trace_params p = base;
	p.jitter = TRACE_JIT_GAUSS;
	p.jitter_ms = 10;
	struct run x;
	run_trace(&x, &p, true, NULL, 0);
	ck_assert_uint_eq(x.r.order_errors, 0);
	ck_assert_msg(x.r.frames >= 2985, "frames %llu", (unsigned long long)x.r.frames);
	ck_assert_msg(x.r.conceal_mid <= 3, "conceal %llu",
		      (unsigned long long)x.r.conceal_mid);
	/* 97th percentile of |N(0, 10 ms)| is 21.7 ms, plus 5 ms margin */
	ck_assert_msg(x.r.mean_wait_ms > 15 && x.r.mean_wait_ms < 45,
		      "wait %.1f", x.r.mean_wait_ms);
	run_free(&x);
}
END_TEST

START_TEST(trace_pareto_jitter)
{
	struct trace_params p = base;
	p.jitter = TRACE_JIT_PARETO;
	p.jitter_ms = 10;
	struct run x;
	run_trace(&x, &p, true, NULL, 0);
	ck_assert_uint_eq(x.r.order_errors, 0);
	/* heavy tail: a few percent late, nearly all recovered by FEC */
	ck_assert_msg(x.r.frames >= 2940, "frames %llu", (unsigned long long)x.r.frames);
	ck_assert_msg(x.r.frames + x.r.fec_mid >= 2990, "frames+fec %llu",
		      (unsigned long long)(x.r.frames + x.r.fec_mid));
	ck_assert_msg(x.r.mean_wait_ms < 70, "wait %.1f", x.r.mean_wait_ms);
	run_free(&x);
}
END_TEST

START_TEST(trace_random_loss)
{
	struct trace_params p = base;
	p.loss_pct = 5;
	struct run x;
	run_trace(&x, &p, true, NULL, 0);
	ck_assert_uint_ge(x.t.lost, 120);
	ck_assert_uint_eq(x.r.frames, x.t.sent - x.t.lost);
	ck_assert_uint_eq(x.r.order_errors, 0);
	/* every lost frame is either FEC-recovered or concealed, and with
	 * independent 5% loss most losses are isolated, so FEC dominates */
	uint64_t inside = lost_inside(&x);
	ck_assert_uint_ge(inside, x.t.lost - 3);
	ck_assert_uint_eq(x.r.fec_mid + x.r.conceal_mid, inside);
	ck_assert_msg(x.r.fec_mid >= inside * 9 / 10, "fec %llu of %llu",
		      (unsigned long long)x.r.fec_mid, (unsigned long long)inside);
	ck_assert_uint_eq(x.st.late, 0);
	run_free(&x);
}
END_TEST

START_TEST(trace_burst_loss)
{
	struct trace_params p = base;
	p.burst_every = 100;
	p.burst_len = 5;
	struct run x;
	run_trace(&x, &p, true, NULL, 0);
	ck_assert_uint_eq(x.t.lost, 29 * 5);
	ck_assert_uint_eq(x.r.frames, 3000 - 145);
	/* each burst: PLC for 4 frames, FEC from the next packet for the 5th */
	ck_assert_uint_eq(x.r.fec_mid, 29);
	ck_assert_uint_eq(x.r.conceal_mid, 29 * 4);
	ck_assert_uint_eq(x.r.order_errors, 0);
	for (uint32_t i = 100; i < 105; i++)
		ck_assert(!was_played(&x, i));
	ck_assert(was_played(&x, 105));
	run_free(&x);
}
END_TEST

START_TEST(trace_reorder)
{
	struct trace_params p = base;
	p.reorder_pct = 5;
	struct run x;
	run_trace(&x, &p, true, NULL, 25);
	ck_assert_uint_eq(x.r.order_errors, 0);
	/* 5% of packets overtaken (30 ms late) push the 97th percentile up
	 * to about 30 ms: most arrive in time; when the window happens to
	 * hold fewer than 3% of them, the overtaken one is late, and its
	 * frame comes from the FEC of the packet that overtook it */
	ck_assert_msg(x.r.frames >= 2950, "frames %llu", (unsigned long long)x.r.frames);
	ck_assert_msg(x.r.frames + x.r.fec_mid >= 2995, "frames+fec %llu",
		      (unsigned long long)(x.r.frames + x.r.fec_mid));
	ck_assert_msg(x.st.late <= 50, "late %llu", (unsigned long long)x.st.late);
	double mean_t = 0;
	for (size_t i = 0; i < x.r.npts; i++)
		mean_t += x.r.pts[i].target_ms / (double)x.r.npts;
	ck_assert_msg(mean_t >= 20 && mean_t <= 40, "mean target %.1f", mean_t);
	run_free(&x);
}
END_TEST

START_TEST(trace_duplicates)
{
	struct trace_params p = base;
	p.dup_pct = 5;
	p.jitter = TRACE_JIT_GAUSS;
	p.jitter_ms = 2;
	struct run x;
	run_trace(&x, &p, true, NULL, 0);
	size_t dups = x.t.n - (x.t.sent - x.t.lost);
	ck_assert_uint_ge(dups, 100);
	ck_assert_uint_eq(x.r.frames, 3000);
	ck_assert_uint_eq(x.r.order_errors, 0);
	/* a copy arriving after its original was played is late, not dup */
	ck_assert_uint_eq(x.st.duplicate + x.st.late, dups);
	ck_assert_msg(x.st.duplicate >= dups / 2, "dup %llu of %zu",
		      (unsigned long long)x.st.duplicate, dups);
	run_free(&x);
}
END_TEST

START_TEST(trace_late_packets)
{
	struct trace_params p = base;
	p.late_every = 50;
	p.late_ms = 300;
	struct run x;
	run_trace(&x, &p, true, NULL, 0);
	/* 59 packets (50, 100, ... 2950) 300 ms late: dropped, counted, and
	 * their frames recovered from the successor's FEC */
	ck_assert_uint_eq(x.st.late, 59);
	ck_assert_uint_eq(x.r.fec_mid, 59);
	ck_assert_uint_eq(x.r.frames, 3000 - 59);
	ck_assert(!was_played(&x, 50) && !was_played(&x, 2950));
	ck_assert(was_played(&x, 51));
	/* 2% outliers stay above the 97th percentile: no delay increase */
	ck_assert_uint_le(x.st.target_ms, 10);
	run_free(&x);
}
END_TEST

START_TEST(trace_seq_wrap)
{
	struct trace_params p = base;
	p.seq0 = 65535 - 1000;
	p.jitter = TRACE_JIT_GAUSS;
	p.jitter_ms = 5;
	p.reorder_pct = 2;
	struct run x;
	run_trace(&x, &p, true, NULL, 0);
	ck_assert_uint_eq(x.r.order_errors, 0);
	ck_assert_msg(x.r.frames >= 2985, "frames %llu", (unsigned long long)x.r.frames);
	for (uint32_t i = 990; i < 1010; i++) /* around the wrap */
		ck_assert(was_played(&x, i));
	ck_assert_uint_eq(x.st.resyncs, 0);
	ck_assert_uint_eq(x.st.stray, 0);
	run_free(&x);
}
END_TEST

START_TEST(trace_ts_wrap)
{
	struct trace_params p = base;
	p.ts0 = 0xffffffffu - 960 * 1000 + 1;
	p.jitter = TRACE_JIT_GAUSS;
	p.jitter_ms = 5;
	struct run x;
	run_trace(&x, &p, true, NULL, 0);
	ck_assert_uint_eq(x.r.order_errors, 0);
	ck_assert_msg(x.r.frames >= 2990, "frames %llu", (unsigned long long)x.r.frames);
	for (uint32_t i = 995; i < 1005; i++)
		ck_assert(was_played(&x, i));
	ck_assert_uint_eq(x.st.stray, 0);
	ck_assert_msg(x.r.max_wait_ms < 100, "max wait %.1f", x.r.max_wait_ms);
	run_free(&x);
}
END_TEST

START_TEST(trace_restart)
{
	struct trace_params p = base;
	p.restart_at = 1500; /* seq +20000, ts +2^31 */
	p.jitter = TRACE_JIT_GAUSS;
	p.jitter_ms = 5;
	struct run x;
	run_trace(&x, &p, true, NULL, 0);
	ck_assert_uint_eq(x.st.resyncs, 1);
	ck_assert_uint_eq(x.st.stray, 1); /* the first of the new stream */
	ck_assert_uint_eq(x.r.order_errors, 0);
	ck_assert(was_played(&x, 1499));
	ck_assert(was_played(&x, 1500)); /* held aside, then kept */
	ck_assert(was_played(&x, 1501));
	ck_assert_msg(x.r.frames >= 2985, "frames %llu", (unsigned long long)x.r.frames);
	ck_assert_msg(x.r.max_wait_ms < 150, "max wait %.1f", x.r.max_wait_ms);
	run_free(&x);
}
END_TEST

/* Ten minutes with the sender's clock 0.5% fast or slow: the buffer must
 * drop or insert a frame every 4 s and hold its delay. Without applying
 * its wishes the delay runs away (the negative control). */
static void drift_case(double ppm)
{
	struct trace_params p = base;
	p.n_packets = 30000;
	p.drift_ppm = ppm;
	p.jitter = TRACE_JIT_GAUSS;
	p.jitter_ms = 5;
	struct run x;
	run_trace(&x, &p, true, NULL, 50); /* D every second */
	ck_assert_uint_ge(x.r.npts, 590);
	uint32_t lo = 1000, hi = 0;
	double first = 0, last = 0;
	for (size_t i = 10; i < 600 && i < x.r.npts; i++) {
		uint32_t d = x.r.pts[i].delay_ms;
		lo = d < lo ? d : lo;
		hi = d > hi ? d : hi;
		if (i < 70)
			first += d / 60.0;
		if (i >= 530)
			last += d / 60.0;
	}
	ck_assert_msg(lo >= 5 && hi <= 60, "D in [%u, %u] ms", lo, hi);
	ck_assert_msg(last - first < 10 && first - last < 10,
		      "mean D first minute %.1f, last %.1f", first, last);
	/* 600 s * 0.5% = 3 s to drop or insert, net */
	int64_t net = (int64_t)x.st.grown_ms - (int64_t)x.st.shrunk_ms;
	ck_assert_msg(ppm > 0 ? (net <= -2800 && net >= -3300) :
				(net >= 2800 && net <= 3300),
		      "net adjustment %lld ms", (long long)net);
	ck_assert_msg(x.r.conceal_mid + x.r.fec_mid <= 40, "lost to drift %llu",
		      (unsigned long long)(x.r.conceal_mid + x.r.fec_mid));
	ck_assert_uint_eq(x.r.order_errors, 0);
	run_free(&x);

	/* negative control: a caller ignoring the wishes */
	run_trace(&x, &p, false, NULL, 50);
	lo = 1000, hi = 0;
	for (size_t i = 10; i < x.r.npts; i++) {
		uint32_t d = x.r.pts[i].delay_ms;
		lo = d < lo ? d : lo;
		hi = d > hi ? d : hi;
	}
	if (ppm > 0) { /* runs up to the ceiling, where frames are dropped */
		ck_assert_msg(hi >= 400, "max D %u", hi);
		ck_assert_uint_ge(x.st.overflow, 100);
	} else {
		/* runs dry: every 4 s a packet misses its slot; it is then
		 * played late (adopted) after one frame of PLC */
		ck_assert_msg(x.r.conceal_mid >= 100, "conceal %llu",
			      (unsigned long long)x.r.conceal_mid);
		ck_assert_uint_ge(x.st.adopted, 100);
	}
	run_free(&x);
}

START_TEST(trace_drift_fast)
{
	drift_case(5000);
}
END_TEST

START_TEST(trace_drift_slow)
{
	drift_case(-5000);
}
END_TEST

START_TEST(trace_spike_then_calm)
{
	struct trace_params p = base;
	p.jitter = TRACE_JIT_GAUSS;
	p.jitter_ms = 2;
	p.spike_from = 1000; /* sent 21 s .. 23 s */
	p.spike_to = 1100;
	p.spike_ms = 60;
	struct run x;
	run_trace(&x, &p, true, NULL, 10); /* every 200 ms */
	uint32_t before = 0, peak = 0, after = 0, d_after = 0;
	for (size_t i = 0; i < x.r.npts; i++) {
		double t = (double)x.r.pts[i].t_us / 1e6;
		uint32_t tg = x.r.pts[i].target_ms;
		if (t > 19.5 && t < 20.5)
			before = tg > before ? tg : before;
		if (t > 21 && t < 25)
			peak = tg > peak ? tg : peak;
		if (t > 28.5 && t < 29.5) {
			after = tg > after ? tg : after;
			d_after = x.r.pts[i].delay_ms > d_after ?
				x.r.pts[i].delay_ms : d_after;
		}
	}
	ck_assert_msg(before <= 15, "target before %u", before);
	ck_assert_msg(peak >= 80, "target peak %u", peak);
	/* window 2 s + decay 1 s: back within 6 s of the spike's end */
	ck_assert_msg(after <= 15, "target after %u", after);
	ck_assert_msg(d_after <= 50, "delay after %u", d_after);
	/* the rise is fast enough that the spike costs little */
	ck_assert_msg(x.r.frames + x.r.fec_mid >= 2980, "frames+fec %llu",
		      (unsigned long long)(x.r.frames + x.r.fec_mid));
	run_free(&x);
}
END_TEST

/* With a 5 ms device period the caller can move its requests by 5 ms,
 * and the delay settles closer to the target than with whole frames. */
START_TEST(trace_device_period)
{
	struct trace_params p = base;
	p.jitter = TRACE_JIT_GAUSS;
	p.jitter_ms = 10;
	p.base_delay_ms = 47; /* arrivals off the 20 ms grid */
	struct run a, b;
	run_trace_tick(&a, &p, true, NULL, 0, 20);
	run_trace_tick(&b, &p, true, NULL, 0, 5);
	ck_assert_uint_eq(b.r.order_errors, 0);
	ck_assert_msg(b.r.mean_wait_ms < a.r.mean_wait_ms - 2.0,
		      "wait %.1f ms at 5 ms, %.1f at 20 ms", b.r.mean_wait_ms,
		      a.r.mean_wait_ms);
	ck_assert_msg(b.r.conceal_mid <= 5 && a.r.conceal_mid <= 5,
		      "conceal %llu / %llu", (unsigned long long)b.r.conceal_mid,
		      (unsigned long long)a.r.conceal_mid);
	ck_assert_msg(b.r.frames + b.r.fec_mid >= 2995, "frames+fec %llu",
		      (unsigned long long)(b.r.frames + b.r.fec_mid));
	run_free(&a);
	run_free(&b);
}
END_TEST

/* FEC lookahead: with losses, one more frame of delay makes the successor
 * of a lost packet available in time; without it, little FEC happens. */
START_TEST(trace_fec_lookahead)
{
	struct trace_params p = base;
	p.loss_pct = 5;
	p.base_delay_ms = 47;
	struct jbuf_config cfg;
	jbuf_config_default(&cfg);
	cfg.fec_lookahead = false;
	struct run on, off;
	run_trace_tick(&on, &p, true, NULL, 0, 5);
	run_trace_tick(&off, &p, true, &cfg, 0, 5);
	uint64_t lost = lost_inside(&on);
	ck_assert_msg(on.r.fec_mid >= lost * 9 / 10, "fec %llu of %llu",
		      (unsigned long long)on.r.fec_mid, (unsigned long long)lost);
	ck_assert_msg(off.r.fec_mid <= lost / 2, "fec %llu of %llu without lookahead",
		      (unsigned long long)off.r.fec_mid, (unsigned long long)lost);
	ck_assert_msg(on.r.mean_wait_ms > off.r.mean_wait_ms + 10,
		      "wait %.1f with lookahead, %.1f without", on.r.mean_wait_ms,
		      off.r.mean_wait_ms);
	run_free(&on);
	run_free(&off);
}
END_TEST

START_TEST(adjust_wishes)
{
	struct jbuf *jb = mk(100);
	struct jbuf_out o;
	uint64_t t = 0;
	int32_t seen_adjust = 0;
	/* clean 20 ms stream: T decays from 100 ms toward the margin, D
	 * stays at 100 ms, so shrinking is wished, in 2.5 ms steps, at
	 * most a frame at a time, urgent when far off */
	for (uint32_t i = 0; i < 200; i++, t += 20 * MS) {
		put20(jb, t, (uint16_t)i, i * 960, i);
		ck_assert_int_eq(jbuf_get(jb, t, &o), 0);
		ck_assert_int_eq(o.adjust % 120, 0);
		ck_assert_int_le(o.adjust, 960);
		ck_assert_int_ge(o.adjust, -960);
		if (o.adjust)
			seen_adjust = o.adjust;
	}
	ck_assert_int_eq(seen_adjust, -960);
	ck_assert(o.urgent);
	struct jbuf_stats st;
	jbuf_get_stats(jb, &st);
	ck_assert_uint_ge(st.delay_ms, 95);
	ck_assert_uint_le(st.target_ms, 6);
	/* the caller drops 20 ms, then 12.5 ms */
	jbuf_adjusted(jb, -960);
	jbuf_adjusted(jb, -600);
	jbuf_adjusted(jb, 0);
	jbuf_get_stats(jb, &st);
	ck_assert_uint_eq(st.shrinks, 2);
	ck_assert_uint_eq(st.shrunk_ms, 32);
	/* dropping made the next request come sooner: at the time of the
	 * last one, instead of a frame later */
	ck_assert_int_eq(jbuf_get(jb, t - 20 * MS, &o), 0);
	ck_assert_int_eq(o.kind, JBUF_FRAME);
	jbuf_get_stats(jb, &st);
	ck_assert_uint_le(st.delay_ms, 85);
	ck_assert(!o.urgent || o.adjust < 0);
	jbuf_free(jb);
}
END_TEST

START_TEST(trace_frame_sizes)
{
	const uint32_t sizes[] = { 10, 40, 60 };
	for (size_t k = 0; k < 3; k++) {
		struct trace_params p = base;
		p.frame_ms = sizes[k];
		p.n_packets = 60000 / sizes[k]; /* one minute */
		p.jitter = TRACE_JIT_GAUSS;
		p.jitter_ms = 5;
		p.loss_pct = 2;
		struct run x;
		run_trace(&x, &p, true, NULL, 0);
		ck_assert_uint_eq(x.r.order_errors, 0);
		uint64_t missing = x.t.sent - x.r.frames;
		ck_assert_msg(missing <= x.t.lost + x.t.sent / 100,
			      "%u ms: %llu missing, %zu lost", sizes[k],
			      (unsigned long long)missing, x.t.lost);
		ck_assert_msg(x.r.fec_mid + x.r.conceal_mid >= x.t.lost,
			      "%u ms: fec %llu conceal %llu lost %zu", sizes[k],
			      (unsigned long long)x.r.fec_mid,
			      (unsigned long long)x.r.conceal_mid, x.t.lost);
		run_free(&x);
	}
}
END_TEST

Suite *jbuf_suite(void)
{
	Suite *s = suite_create("jbuf");
	TCase *tc = tcase_create("unit");
	tcase_add_test(tc, config_and_args);
	tcase_add_test(tc, start_fec_conceal);
	tcase_add_test(tc, adopt_delayed);
	tcase_add_test(tc, adopt_delayed_fec);
	tcase_add_test(tc, dtx_gap);
	tcase_add_test(tc, overflow_capacity);
	tcase_add_test(tc, reset_new_source);
	tcase_add_test(tc, adjust_wishes);
	suite_add_tcase(s, tc);
	tc = tcase_create("traces");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, trace_clean);
	tcase_add_test(tc, trace_gauss_jitter);
	tcase_add_test(tc, trace_pareto_jitter);
	tcase_add_test(tc, trace_random_loss);
	tcase_add_test(tc, trace_burst_loss);
	tcase_add_test(tc, trace_reorder);
	tcase_add_test(tc, trace_duplicates);
	tcase_add_test(tc, trace_late_packets);
	tcase_add_test(tc, trace_seq_wrap);
	tcase_add_test(tc, trace_ts_wrap);
	tcase_add_test(tc, trace_restart);
	tcase_add_test(tc, trace_drift_fast);
	tcase_add_test(tc, trace_drift_slow);
	tcase_add_test(tc, trace_spike_then_calm);
	tcase_add_test(tc, trace_frame_sizes);
	tcase_add_test(tc, trace_device_period);
	tcase_add_test(tc, trace_fec_lookahead);
	suite_add_tcase(s, tc);
	return s;
}
