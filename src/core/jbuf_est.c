/* Jitter buffer delay estimator: a high percentile of transit-time
 * deviation over a sliding window, plus a margin; rises at once, decays
 * with a time constant. */
#include <errno.h>
#include <stdlib.h>

#include "jbuf_int.h"

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

static int cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
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

	for (uint32_t k = 0; k < e->n; k++)
		e->sort[k] = e->transit[(e->head + k) % e->cap];
	qsort(e->sort, e->n, sizeof(*e->sort), cmp64);
	e->min_transit = e->sort[0];
	e->have_min = true;
	uint32_t idx = (uint32_t)(((uint64_t)e->n * e->percentile + 99) / 100);
	if (idx > 0)
		idx--;
	int64_t raw = e->sort[idx] - e->min_transit + e->margin;
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
