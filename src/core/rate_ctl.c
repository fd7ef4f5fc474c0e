/* Encoder rate control; see rate_ctl.h for the policy. */
#include "p2pcall/rate_ctl.h"

#include <errno.h>
#include <math.h>

#define CBR_LEVEL 0.7

int rate_ctl_init(struct rate_ctl *rc, const struct rate_ctl_cfg *cfg, int loss_pct,
		  uint64_t now_us)
{
	if (!rc || !cfg || cfg->min_bps < 6000 || cfg->max_bps < cfg->min_bps || loss_pct < 0 ||
	    loss_pct > 100)
		return -EINVAL;
	*rc = (struct rate_ctl){
		.cfg = *cfg,
		.bitrate = cfg->max_bps,
		.fec_loss = loss_pct,
		.min_rtt_ms = NAN,
		.last_change_us = now_us,
		.last_down_us = now_us,
		.last_bad_us = now_us,
	};
	return 0;
}

/* The next CBR level below (dir < 0) or above (dir > 0) the current rate:
 * max * 0.7^k rounded to 1000 bit/s, clamped to [min, max]. */
static int cbr_level(const struct rate_ctl *rc, int dir)
{
	int lo = rc->cfg.min_bps, hi = rc->cfg.max_bps;
	double v = hi;
	if (dir < 0) {
		while (v >= rc->bitrate - 500 && v > lo)
			v *= CBR_LEVEL;
	} else {
		double prev = v;
		while (v > rc->bitrate + 500) {
			prev = v;
			v *= CBR_LEVEL;
		}
		v = prev;
	}
	int r = (int)(round(v / 1000.0) * 1000.0);
	return r < lo ? lo : r > hi ? hi : r;
}

static void set_rate(struct rate_ctl *rc, int bps, uint64_t now_us)
{
	if (bps < rc->cfg.min_bps)
		bps = rc->cfg.min_bps;
	if (bps > rc->cfg.max_bps)
		bps = rc->cfg.max_bps;
	if (bps == rc->bitrate)
		return;
	if (bps < rc->bitrate) {
		rc->downs++;
		rc->last_down_us = now_us;
	} else {
		rc->ups++;
	}
	rc->bitrate = bps;
	rc->last_change_us = now_us;
	rc->changed_once = true;
}

/* The FEC floor within the configured range. */
static int fec_floor(const struct rate_ctl *rc)
{
	int f = RATE_CTL_FEC_FLOOR;
	return f < rc->cfg.min_bps ? rc->cfg.min_bps : f > rc->cfg.max_bps ? rc->cfg.max_bps : f;
}

/* Down to BPS, but not below FLOOR (and never up). */
static void step_down(struct rate_ctl *rc, int bps, int floor, uint64_t now_us)
{
	if (bps < floor)
		bps = floor;
	if (bps < rc->bitrate)
		set_rate(rc, bps, now_us);
}

void rate_ctl_report(struct rate_ctl *rc, uint64_t now_us, double loss_frac, double rtt_ms)
{
	if (!rc)
		return;
	if (!(loss_frac >= 0))
		loss_frac = 0;
	if (loss_frac > 1)
		loss_frac = 1;
	double loss = loss_frac * 100.0;

	/* FEC: up at once, down by half a report at a time. */
	double up = ceil(loss);
	if (!rc->cfg.fec_pinned) {
		rc->fec_loss = up >= rc->fec_loss ? up : (rc->fec_loss + up) / 2;
		if (rc->fec_loss < 0.5)
			rc->fec_loss = 0;
	}

	bool rtt_high = false;
	if (!isnan(rtt_ms) && rtt_ms >= 0) {
		if (isnan(rc->min_rtt_ms) || rtt_ms < rc->min_rtt_ms)
			rc->min_rtt_ms = rtt_ms;
		rtt_high = rtt_ms > RATE_CTL_RTT_HIGH_MS ||
			   rtt_ms > rc->min_rtt_ms + RATE_CTL_RTT_RISE_MS;
	}
	bool congested = loss >= RATE_CTL_LOSS_HIGH_PCT || rtt_high;
	/* Loss alone keeps enough bits for FEC (rate_ctl.h). */
	int floor = rtt_high ? rc->cfg.min_bps : fec_floor(rc);
	bool clean = loss < RATE_CTL_LOSS_LOW_PCT && !rtt_high;
	uint64_t since_change = now_us - rc->last_change_us;
	uint64_t since_down = now_us - rc->last_down_us;
	if (congested)
		rc->last_bad_us = now_us;
	uint64_t since_bad = now_us - rc->last_bad_us;

	if (rc->cfg.cbr) {
		/* Coarse levels, each held for seconds. */
		if (rc->changed_once && since_change < RATE_CTL_CBR_HOLD_US)
			return;
		if (congested)
			step_down(rc, cbr_level(rc, -1), floor, now_us);
		else if (clean && since_bad >= RATE_CTL_CBR_HOLD_US)
			set_rate(rc, cbr_level(rc, +1), now_us);
		return;
	}
	if (congested) {
		if (!rc->downs || since_down >= RATE_CTL_DOWN_HOLD_US)
			step_down(rc, rc->bitrate * 3 / 4, floor, now_us);
	} else if (clean && since_bad >= RATE_CTL_UP_AFTER_US &&
		   since_change >= RATE_CTL_DOWN_HOLD_US) {
		int step = rc->bitrate / 10 > 1000 ? rc->bitrate / 10 : 1000;
		set_rate(rc, rc->bitrate + step, now_us);
	}
}

void rate_ctl_target(const struct rate_ctl *rc, struct rate_ctl_out *out)
{
	out->bitrate = rc->bitrate;
	int l = (int)ceil(rc->fec_loss);
	out->fec_loss_pct = l < 0 ? 0 : l > 100 ? 100 : l;
}
