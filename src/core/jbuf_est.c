/* Jitter buffer delay estimator: a high percentile of transit-time
 * deviation over a sliding window, plus a margin, but never more than
 * TOP_SLACK above the largest deviation in a wide window with a tight top
 * (nor less than MIN_MARGIN above the percentile); rises at once, decays
 * with a time constant.
 *
 * Why the cap: the margin is there for deviations beyond those seen. When
 * the top of a wide distribution is tight (the largest deviation close to
 * the percentile) there is no tail to cover: a periodic pattern such as a
 * sender whose sound card delivers 10 ms frames in bursts of two or three
 * every 21 ms (PortAudio over ALSA's jack plugin with 40 ms latency): its
 * deviations are spread evenly over one period and bounded by it. There
 * the full margin only adds delay: the target falls from ~25.6 to ~23.1 ms
 * (test_jbuf_est). MIN_MARGIN stays for what no window shows, a loaded
 * machine running a timer late now and then; and a narrow spread (under
 * CAP_SPREAD: a clean path) keeps the whole margin: there the cap cut the
 * target from ~7 to ~4 ms, and a clean in-process call (test_media) then
 * concealed over 2 % of its frames in 2 of 4 runs on the loaded machine,
 * against none with the margin. With a real tail (Gaussian, Pareto) the
 * largest deviation is well above the percentile and the margin applies
 * as before; so it does when the newer half of the window holds a larger
 * deviation than the older one (a trend: clock drift, a queue building
 * up), and while the window holds too few samples. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "jbuf_int.h"

#define TOP_SLACK  (1 * 48)   /* samples: 1 ms */
#define MIN_MARGIN (5 * 48 / 2) /* samples: 2.5 ms, the step of delay changes */
/* the cap applies to a spread at least this wide (a periodic pattern) */
#define CAP_SPREAD (10 * 48)   /* samples: 10 ms */
/* fewer samples than this in a half window tell nothing about a tail */
#define TOP_MIN_SAMPLES 25

int jbuf_est_init(struct jbuf_est *e, const struct jbuf_config *cfg)
{
	/* room for one sample every 2 ms (Opus frames are >= 2.5 ms) */
	e->cap = cfg->window_ms / 2 + 16;
	e->t_us = calloc(e->cap, sizeof(*e->t_us));
	e->transit = calloc(e->cap, sizeof(*e->transit));
	e->sort = calloc(e->cap, sizeof(*e->sort));
	if (!e->t_us || !e->transit || !e->sort)
		return -ENOMEM;
	e->window_us = (uint64_t)cfg->window_ms * 1000;
	e->percentile = cfg->percentile;
	e->margin = (int64_t)cfg->margin_ms * 48;
	e->lo = (int64_t)cfg->min_ms * 48;
	e->hi = (int64_t)cfg->max_ms * 48;
	e->init = (int64_t)cfg->init_ms * 48;
	if (e->init < e->lo)
		e->init = e->lo;
	if (e->init > e->hi)
		e->init = e->hi;
	e->decay_us = (double)cfg->decay_ms * 1000.0;
	e->target = (double)e->init;
	jbuf_est_reset(e);
	return 0;
}

void jbuf_est_fini(struct jbuf_est *e)
{
	free(e->t_us);
	free(e->transit);
	free(e->sort);
}

void jbuf_est_reset(struct jbuf_est *e)
{
	e->head = 0;
	e->n = 0;
	e->have_min = false;
	e->min_transit = 0;
	e->have_time = false;
}

void jbuf_est_add(struct jbuf_est *e, uint64_t now_us, int64_t transit)
{
	uint32_t i = (e->head + e->n) % e->cap;
	if (e->n == e->cap)
		e->head = (e->head + 1) % e->cap; /* overwrite the oldest */
	else
		e->n++;
	e->t_us[i] = now_us;
	e->transit[i] = transit;
	/* A faster packet lowers the floor at once (D must see it now). */
	if (!e->have_min || transit < e->min_transit) {
		e->min_transit = transit;
		e->have_min = true;
	}
}

static void swap64(int64_t *a, int64_t *b)
{
	int64_t t = *a;
	*a = *b;
	*b = t;
}

/* The k-th smallest of v[0..n) (quickselect, median-of-three pivots; v is
 * reordered). This runs on every playout step over the whole window (200
 * samples with 10 ms frames): a full qsort there was ~2 % of a call's CPU
 * in a profile, more than all the rest of the jitter buffer. */
static int64_t select_kth(int64_t *v, uint32_t n, uint32_t k)
{
	uint32_t lo = 0, hi = n - 1;
	while (hi > lo) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (v[mid] < v[lo])
			swap64(&v[mid], &v[lo]);
		if (v[hi] < v[lo])
			swap64(&v[hi], &v[lo]);
		if (v[hi] < v[mid])
			swap64(&v[hi], &v[mid]);
		int64_t pivot = v[mid];
		uint32_t i = lo, j = hi;
		while (i <= j) { /* Hoare partition around the pivot value */
			while (v[i] < pivot)
				i++;
			while (v[j] > pivot)
				j--;
			if (i <= j) {
				swap64(&v[i], &v[j]);
				i++;
				if (j == 0)
					break;
				j--;
			}
		}
		/* now v[lo..j] <= pivot <= v[i..hi], and j < i */
		if (k <= j && j != UINT32_MAX)
			hi = j;
		else if (k >= i)
			lo = i;
		else
			return v[k];
	}
	return v[k];
}

void jbuf_est_update(struct jbuf_est *e, uint64_t now_us)
{
	while (e->n > 1 && e->t_us[e->head] + e->window_us < now_us) {
		e->head = (e->head + 1) % e->cap;
		e->n--;
	}
	double dt = e->have_time && now_us > e->last_us ?
		(double)(now_us - e->last_us) : 0.0;
	e->last_us = now_us;
	e->have_time = true;
	/* Nothing new for a whole window (pause, outage): hold. */
	if (e->n == 0 || e->t_us[(e->head + e->n - 1) % e->cap] + e->window_us < now_us)
		return;

	/* the smallest transit, and the largest in the older and in the
	 * newer half of the window */
	int64_t lo_x = INT64_MAX, top_old = INT64_MIN, top_new = INT64_MIN;
	for (uint32_t k = 0; k < e->n; k++) {
		int64_t x = e->transit[(e->head + k) % e->cap];
		e->sort[k] = x;
		lo_x = x < lo_x ? x : lo_x;
		if (k < e->n / 2)
			top_old = x > top_old ? x : top_old;
		else
			top_new = x > top_new ? x : top_new;
	}
	e->min_transit = lo_x;
	e->have_min = true;
	uint32_t idx = (uint32_t)(((uint64_t)e->n * e->percentile + 99) / 100);
	if (idx > 0)
		idx--;
	int64_t pct = select_kth(e->sort, e->n, idx);
	int64_t raw = pct - e->min_transit + e->margin;
	/* The cap, unless the top is rising (the sender's clock slower than
	 * ours, a queue building up): then later packets will come later
	 * than any in the window, and the margin is needed. */
	int64_t top_x = top_old > top_new ? top_old : top_new;
	int64_t top = top_x - e->min_transit + TOP_SLACK;
	int64_t least = pct - e->min_transit + (e->margin < MIN_MARGIN ? e->margin : MIN_MARGIN);
	if (top < least)
		top = least;
	if (raw > top && e->n >= 2 * TOP_MIN_SAMPLES && top_new <= top_old + TOP_SLACK &&
	    top_x - e->min_transit >= CAP_SPREAD)
		raw = top;
	if (raw < e->lo)
		raw = e->lo;
	if (raw > e->hi)
		raw = e->hi;

	if ((double)raw >= e->target)
		e->target = (double)raw;
	else if (e->decay_us > 0)
		e->target -= (e->target - (double)raw) * dt / (e->decay_us + dt);
	else
		e->target = (double)raw;
}

int64_t jbuf_est_min(const struct jbuf_est *e)
{
	return e->min_transit;
}

int64_t jbuf_est_target(const struct jbuf_est *e)
{
	return (int64_t)(e->target + 0.5);
}
