/* The jitter buffer's delay estimator (src/core/jbuf_est.c) on its own:
 * fed transit times of made-up arrival patterns, its target is checked
 * against the percentile, margin and largest deviation computed here from
 * the same window. Defaults: window 2 s, 97th percentile, margin 5 ms,
 * decay 1 s; every run lasts 12 s so that the initial target has decayed. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/core/jbuf_int.h"
#include "traces.h"

#define MS 48 /* samples */

struct feed {
	struct jbuf_est e;
	struct jbuf_config cfg;
	int64_t dev[4096];  /* deviation of each packet in the last window */
	uint64_t at[4096];
	size_t n;
};

/* decay_ms: the target's time constant when falling (default 1000) */
static void feed_init(struct feed *f, uint32_t decay_ms)
{
	memset(f, 0, sizeof(*f));
	jbuf_config_default(&f->cfg);
	f->cfg.frame_ms = 10;
	f->cfg.decay_ms = decay_ms;
	ck_assert_int_eq(jbuf_est_init(&f->e, &f->cfg), 0);
}

/* A packet with timestamp ts (samples) arrives at t_us; the estimator is
 * updated as a playout clock would (once per packet here). */
static void feed_one(struct feed *f, uint64_t t_us, int64_t ts)
{
	int64_t now = (int64_t)(t_us * 48 / 1000);
	jbuf_est_add(&f->e, t_us, now - ts);
	jbuf_est_update(&f->e, t_us);
	/* our own copy of the window (arrival time within 2 s) */
	if (f->n == sizeof(f->at) / sizeof(f->at[0])) {
		memmove(f->at, f->at + 1, (f->n - 1) * sizeof(f->at[0]));
		memmove(f->dev, f->dev + 1, (f->n - 1) * sizeof(f->dev[0]));
		f->n--;
	}
	f->at[f->n] = t_us;
	f->dev[f->n++] = now - ts;
	size_t drop = 0;
	while (drop < f->n - 1 && f->at[drop] + f->cfg.window_ms * 1000ull < t_us)
		drop++;
	memmove(f->at, f->at + drop, (f->n - drop) * sizeof(f->at[0]));
	memmove(f->dev, f->dev + drop, (f->n - drop) * sizeof(f->dev[0]));
	f->n -= drop;
}

static int cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

/* The window's 97th percentile and largest deviation above its fastest
 * packet, in samples. */
static void window_figures(const struct feed *f, int64_t *p97, int64_t *top)
{
	int64_t s[4096];
	memcpy(s, f->dev, f->n * sizeof(s[0]));
	qsort(s, f->n, sizeof(s[0]), cmp64);
	size_t idx = (f->n * 97 + 99) / 100 - 1;
	*p97 = s[idx] - s[0];
	*top = s[f->n - 1] - s[0];
}

/* A sender whose sound card delivers every 1024 samples (21.3 ms, what
 * PortAudio picks over ALSA's jack plugin): its 10 ms frames leave in
 * bursts of two or three, each frame as soon as its last sample is in.
 * The deviations are bounded by the period: no tail to cover, so the
 * target is at most 1 ms above the largest one (or 2.5 ms above the
 * percentile, the least margin kept), and no packet is late. */
START_TEST(bursty_sender_needs_no_margin)
{
	struct feed f;
	feed_init(&f, 1000);
	for (int64_t i = 0; i < 1200; i++) {
		int64_t done = (i + 1) * 480;              /* last sample captured */
		int64_t deliver = (done + 1023) / 1024 * 1024; /* period end */
		feed_one(&f, 40000 + (uint64_t)deliver * 1000 / 48, i * 480);
	}
	int64_t p97, top, t = jbuf_est_target(&f.e);
	window_figures(&f, &p97, &top);
	ck_assert_msg(top > 10 * MS && top < 22 * MS, "largest deviation %lld", (long long)top);
	int64_t cap = top + 1 * MS > p97 + 5 * MS / 2 ? top + 1 * MS : p97 + 5 * MS / 2;
	ck_assert_msg(t >= top && t <= cap + 1, "target %lld, largest deviation %lld, p97 %lld", (long long)t,
		      (long long)top, (long long)p97);
	/* the full margin would have added 2 ms or more */
	ck_assert_msg(t + 2 * MS <= p97 + 5 * MS, "target %lld, p97 %lld", (long long)t, (long long)p97);
	jbuf_est_fini(&f.e);
}
END_TEST

/* A clean path (transit within +-0.5 ms): a narrow spread keeps the
 * whole margin (for timer hiccups no window shows). */
START_TEST(clean_path_keeps_margin)
{
	struct feed f;
	feed_init(&f, 1000);
	srand(3);
	for (int64_t i = 0; i < 1200; i++)
		feed_one(&f, 40000 + (uint64_t)i * 10000 + (uint64_t)(rand() % 1000), i * 480);
	int64_t p97, top, t = jbuf_est_target(&f.e);
	window_figures(&f, &p97, &top);
	ck_assert_msg(t >= p97 + 5 * MS - 1 && t <= p97 + 5 * MS + 1, "target %lld, p97 %lld", (long long)t,
		      (long long)p97);
	jbuf_est_fini(&f.e);
}
END_TEST

/* Gaussian jitter has a tail: the largest deviation of a window lies well
 * above its 97th percentile, and the full margin applies. */
START_TEST(gaussian_tail_keeps_margin)
{
	struct feed f;
	feed_init(&f, 1000);
	srand(5);
	for (int64_t i = 0; i < 1200; i++) {
		double u1 = (rand() + 1.0) / (RAND_MAX + 2.0), u2 = (rand() + 1.0) / (RAND_MAX + 2.0);
		double g = sqrt(-2 * log(u1)) * cos(2 * M_PI * u2) * 10.0; /* ms */
		feed_one(&f, 100000 + (uint64_t)i * 10000 + (uint64_t)llround(fabs(g) * 1000), i * 480);
		if (i > 600 && i % 50 == 0) {
			int64_t p97, top, t = jbuf_est_target(&f.e);
			window_figures(&f, &p97, &top);
			if (top >= p97 + 6 * MS) /* a tail beyond the margin */
				ck_assert_msg(t >= p97 + 5 * MS, "at %lld: target %lld, p97 %lld, top %lld",
					      (long long)i, (long long)t, (long long)p97, (long long)top);
		}
	}
	int64_t p97, top, t = jbuf_est_target(&f.e);
	window_figures(&f, &p97, &top);
	ck_assert_msg(t >= p97 + 4 * MS, "target %lld, p97 %lld", (long long)t, (long long)p97);
	jbuf_est_fini(&f.e);
}
END_TEST

/* The sender's clock 0.5 % slower than ours, no jitter: every packet comes
 * a little later than all before it. The window's top is the newest
 * packet, the trend goes on, so the margin stays (the cap would leave the
 * next packets late). */
START_TEST(rising_trend_keeps_margin)
{
	struct feed f;
	feed_init(&f, 1000);
	for (int64_t i = 0; i < 1200; i++)
		feed_one(&f, 40000 + (uint64_t)i * 10050, i * 480);
	int64_t p97, top, t = jbuf_est_target(&f.e);
	window_figures(&f, &p97, &top);
	ck_assert_msg(t >= p97 + 5 * MS - 1, "target %lld, p97 %lld, top %lld", (long long)t, (long long)p97,
		      (long long)top);
	jbuf_est_fini(&f.e);
}
END_TEST

/* The cap needs a full-enough window: right after a reset, a handful of
 * packets of the bursty sender leave the full margin (no decay here, so
 * the target is the raw estimate of each moment). */
static void bursty_packet(struct feed *f, int64_t i)
{
	int64_t done = (i + 1) * 480, deliver = (done + 1023) / 1024 * 1024;
	feed_one(f, 40000 + (uint64_t)deliver * 1000 / 48, i * 480);
}

START_TEST(few_samples_no_cap)
{
	struct feed f;
	feed_init(&f, 0);
	int64_t p97, top;
	for (int64_t i = 0; i < 300; i++)
		bursty_packet(&f, i);
	window_figures(&f, &p97, &top);
	ck_assert_int_lt(jbuf_est_target(&f.e), p97 + 5 * MS); /* capped */
	jbuf_est_reset(&f.e);
	f.n = 0;
	for (int64_t i = 300; i < 320; i++)
		bursty_packet(&f, i);
	window_figures(&f, &p97, &top);
	ck_assert_int_eq(jbuf_est_target(&f.e), p97 + 5 * MS);
	for (int64_t i = 320; i < 420; i++)
		bursty_packet(&f, i);
	window_figures(&f, &p97, &top);
	ck_assert_int_lt(jbuf_est_target(&f.e), p97 + 5 * MS);
	jbuf_est_fini(&f.e);
}
END_TEST

/* With no margin and no decay the target is exactly the window's 97th
 * percentile above its fastest packet, at every step: random transits
 * with many repeats, windows of every size up to 2 s. */
START_TEST(percentile_exact)
{
	struct feed f;
	memset(&f, 0, sizeof(f));
	jbuf_config_default(&f.cfg);
	f.cfg.margin_ms = 0;
	f.cfg.decay_ms = 0;
	f.cfg.init_ms = 0;
	ck_assert_int_eq(jbuf_est_init(&f.e, &f.cfg), 0);
	srand(11);
	for (int64_t i = 0; i < 3000; i++) {
		int spread = i < 1500 ? 8 : 4000; /* repeats, then mostly distinct */
		feed_one(&f, 40000 + (uint64_t)i * 10000 + (uint64_t)(rand() % spread) * 10, i * 480);
		int64_t p97, top;
		window_figures(&f, &p97, &top);
		ck_assert_msg(jbuf_est_target(&f.e) == p97, "step %lld (%zu in window): target %lld, p97 %lld",
			      (long long)i, f.n, (long long)jbuf_est_target(&f.e), (long long)p97);
	}
	jbuf_est_fini(&f.e);
}
END_TEST

/* The bursty sender through the whole jitter buffer (public API, a 5 ms
 * playout tick, wishes applied on quiet frames): nothing concealed, and
 * the margin no longer shows in the delay: a 5 ms margin and a 3 ms one
 * give the same wait (with the margin always added, they were ~2 ms
 * apart). */
static double bursty_wait(uint32_t margin_ms, uint64_t *conceal)
{
	struct trace_params p = { .seed = 1, .n_packets = 3000, .frame_ms = 10, .seq0 = 7,
				  .ts0 = 99, .base_delay_ms = 40 };
	struct trace t;
	ck_assert_int_eq(trace_make(&t, &p), 0);
	/* each frame leaves at the end of the 1024-sample capture period in
	 * which its last sample falls; the trace is sorted by arrival still */
	for (size_t i = 0; i < t.n; i++) {
		uint64_t done = ((uint64_t)t.pkts[i].index + 1) * 480;
		uint64_t deliver = (done + 1023) / 1024 * 1024;
		t.pkts[i].arrival_us = 1000000 + 40000 + deliver * 1000 / 48;
	}
	struct jbuf_config c;
	jbuf_config_default(&c);
	c.frame_ms = 10;
	c.margin_ms = margin_ms;
	struct jbuf *jb;
	ck_assert_int_eq(jbuf_new(&jb, &c), 0);
	struct sim_config sc = { .start_us = 1000000, .tick_ms = 5, .quiet_every = 5, .apply_adjust = true };
	struct sim_result r;
	ck_assert_int_eq(sim_run(&t, jb, &sc, &r), 0);
	ck_assert_uint_eq(r.order_errors, 0);
	*conceal = r.conceal_mid + r.fec_mid;
	double w = r.mean_wait_ms;
	sim_free(&r);
	jbuf_free(jb);
	trace_free(&t);
	return w;
}

START_TEST(bursty_sender_through_jbuf)
{
	uint64_t c5, c3;
	double w5 = bursty_wait(5, &c5), w3 = bursty_wait(3, &c3);
	ck_assert_msg(c5 == 0 && c3 == 0, "concealed %llu / %llu", (unsigned long long)c5,
		      (unsigned long long)c3);
	ck_assert_msg(fabs(w5 - w3) < 0.5, "wait %.2f ms with a 5 ms margin, %.2f with 3 ms", w5, w3);
}
END_TEST

Suite *jbuf_est_suite(void)
{
	Suite *s = suite_create("jbuf_est");
	TCase *tc = tcase_create("estimator");
	tcase_add_test(tc, bursty_sender_needs_no_margin);
	tcase_add_test(tc, clean_path_keeps_margin);
	tcase_add_test(tc, gaussian_tail_keeps_margin);
	tcase_add_test(tc, rising_trend_keeps_margin);
	tcase_add_test(tc, few_samples_no_cap);
	tcase_add_test(tc, percentile_exact);
	tcase_add_test(tc, bursty_sender_through_jbuf);
	suite_add_tcase(s, tc);
	return s;
}
