/* Drift from the echo's impulse response; see echo_drift.h. */
#include "p2pcall/echo_drift.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Loop gain per measurement: the share of the measured ratio taken into
 * the estimate. The filter follows a moving echo with a lag of about a
 * second, so a snapshot shows the effect of a correction late: 0.3 per
 * 250 ms locks +-100 ppm within ~5 s in test_voice_dsp. 0.5 locks as
 * well, but lets a small jump of the echo path through the median more
 * often; a gain that grew while the slides kept one way (to lock 300 ppm
 * sooner) oscillated. */
#define LOOP_GAIN 0.3
/* Snapshots alike enough to compare (see echo_drift.h). 0.8 missed the
 * jumps of a filter that cannot follow 100 ppm on a synthetic talker and
 * never locked; 0.5 locks it in ~5 s. */
#define MIN_CORR 0.5
/* The correlation between integer lags: Hann-windowed sinc over
 * +-REFINE_HALF lags, evaluated at 1/(2 REFINE_STEPS) tap steps. */
#define REFINE_HALF 8
#define REFINE_STEPS 32
#define WIN_BEFORE 256
#define WIN_AFTER 768
/* Don't measure over less than this many microphone samples. */
#define MIN_SPAN 4800

struct echo_drift {
	size_t taps;
	float *prev;          /* the snapshot compared with */
	uint64_t prev_pos;
	int have_prev;
	double est;           /* estimated ratio (loop state) */
	double applied;       /* the ratio returned last: in use since prev */
	double meas[3];       /* the last ratios measured (ring) */
	unsigned nmeas;
	int engaged;
	struct echo_drift_stats st;
	/* refine[k][j]: the weight of lag best + j - REFINE_HALF for the
	 * value at best + (k - REFINE_STEPS) / (2 REFINE_STEPS). */
	double refine[2 * REFINE_STEPS + 1][2 * REFINE_HALF + 1];
};

int echo_drift_new(struct echo_drift **out, size_t taps)
{
	struct echo_drift *x;
	if (!out)
		return -EINVAL;
	*out = NULL;
	if (taps < 4 * ECHO_DRIFT_MAX_LAG)
		return -EINVAL;
	if (!(x = calloc(1, sizeof(*x))))
		return -ENOMEM;
	if (!(x->prev = calloc(taps, sizeof(float)))) {
		free(x);
		return -ENOMEM;
	}
	x->taps = taps;
	for (int k = 0; k <= 2 * REFINE_STEPS; k++) {
		for (int j = 0; j <= 2 * REFINE_HALF; j++) {
			double u = (double)(k - REFINE_STEPS) / (2 * REFINE_STEPS) - (j - REFINE_HALF);
			x->refine[k][j] = u == 0 ? 1 :
				sin(M_PI * u) / (M_PI * u) * (0.5 + 0.5 * cos(M_PI * u / (REFINE_HALF + 1)));
		}
	}
	echo_drift_reset(x);
	*out = x;
	return 0;
}

void echo_drift_free(struct echo_drift *x)
{
	if (!x)
		return;
	free(x->prev);
	free(x);
}

void echo_drift_reset(struct echo_drift *x)
{
	if (!x)
		return;
	x->have_prev = 0;
	x->est = 1.0;
	x->applied = 1.0;
	x->nmeas = 0;
	x->engaged = 0;
	memset(&x->st, 0, sizeof(x->st));
}

/* sum over i of a[i] b[i - lag], over the indices where both exist. */
static double xcorr(const float *a, const float *b, size_t n, int lag)
{
	size_t i0 = lag > 0 ? (size_t)lag : 0, i1 = lag < 0 ? n - (size_t)-lag : n;
	double s = 0;
	for (size_t i = i0; i < i1; i++)
		s += (double)a[i] * b[(size_t)((long)i - lag)];
	return s;
}

/* How far h slid from prev, in taps (later +), or NAN if they differ in
 * shape or hold nothing. Only the part around prev's strongest tap is
 * compared (WIN_BEFORE + WIN_AFTER taps): the direct sound and the early
 * reflections, which slide as the rest does and are learned best; the
 * rest of the filter is mostly misadjustment noise, and comparing it all
 * would cost ten times as much. */
static double slide(const float *h_all, const float *prev_all, size_t n_all,
		    const double (*refine)[2 * REFINE_HALF + 1])
{
	size_t pk = 0;
	for (size_t i = 1; i < n_all; i++)
		if (fabsf(prev_all[i]) > fabsf(prev_all[pk]))
			pk = i;
	size_t lo = pk > WIN_BEFORE ? pk - WIN_BEFORE : 0;
	size_t n = n_all - lo < WIN_BEFORE + WIN_AFTER ? n_all - lo : WIN_BEFORE + WIN_AFTER;
	const float *h = h_all + lo, *prev = prev_all + lo;
	double eh = xcorr(h, h, n, 0), ep = xcorr(prev, prev, n, 0);
	if (!(eh > 0) || !(ep > 0))
		return NAN;
	double c[2 * ECHO_DRIFT_MAX_LAG + 1];
	int best = -ECHO_DRIFT_MAX_LAG;
	for (int l = -ECHO_DRIFT_MAX_LAG; l <= ECHO_DRIFT_MAX_LAG; l++) {
		c[l + ECHO_DRIFT_MAX_LAG] = xcorr(h, prev, n, l);
		if (c[l + ECHO_DRIFT_MAX_LAG] > c[best + ECHO_DRIFT_MAX_LAG])
			best = l;
	}
	/* Between integer lags: the correlation of band-limited responses
	 * is band-limited too, so it is interpolated (Hann-windowed sinc
	 * over +-8 lags) and its peak looked for in 1/64 tap steps. */
	double peak = c[best + ECHO_DRIFT_MAX_LAG], at = best;
	for (int k = -REFINE_STEPS; k <= REFINE_STEPS; k++) {
		double v = 0;
		for (int l = best - REFINE_HALF; l <= best + REFINE_HALF; l++) {
			if (l < -ECHO_DRIFT_MAX_LAG || l > ECHO_DRIFT_MAX_LAG)
				continue;
			v += refine[k + REFINE_STEPS][l - best + REFINE_HALF] * c[l + ECHO_DRIFT_MAX_LAG];
		}
		if (v > peak) {
			peak = v;
			at = best + (double)k / (2 * REFINE_STEPS);
		}
	}
	if (peak / sqrt(eh * ep) < MIN_CORR || best == -ECHO_DRIFT_MAX_LAG || best == ECHO_DRIFT_MAX_LAG)
		return NAN;
	return at;
}

double echo_drift_update(struct echo_drift *x, const float *h, uint64_t mic_pos)
{
	if (!x || !h)
		return x ? echo_drift_ratio(x) : 1.0;
	x->st.snapshots++;
	if (x->have_prev && mic_pos > x->prev_pos && mic_pos - x->prev_pos < MIN_SPAN)
		return echo_drift_ratio(x); /* too soon: keep the older one */
	double s = x->have_prev && mic_pos > x->prev_pos ? slide(h, x->prev, x->taps, x->refine) : NAN;
	if (!isnan(s)) {
		/* Read at ratio r, the echo slides by r - 1/(1 + e) taps
		 * per microphone sample: so each slide measures the ratio
		 * that would have held it still. The estimate follows
		 * these measurements (an exponential average, which is a
		 * frequency-locked loop once the ratio is applied). */
		double rate = s / (double)(mic_pos - x->prev_pos);
		/* The median of the last three measurements: one jump of the
		 * echo path (a device restarted, the laptop moved) is no
		 * drift; a drift shows in every measurement. */
		x->meas[x->nmeas++ % 3] = x->applied - rate;
		if (x->nmeas >= 3) {
			double a = x->meas[0], b = x->meas[1], c = x->meas[2];
			double med = fmax(fmin(a, b), fmin(fmax(a, b), c));
			x->est += LOOP_GAIN * (med - x->est);
		}
		double lim = ECHO_DRIFT_MAX_PPM * 1e-6;
		if (x->est > 1 + lim)
			x->est = 1 + lim;
		if (x->est < 1 - lim)
			x->est = 1 - lim;
		if (fabs(x->est - 1) >= ECHO_DRIFT_ENGAGE_PPM * 1e-6)
			x->engaged = 1;
		x->st.measured++;
		x->st.last_shift = s;
	}
	memcpy(x->prev, h, x->taps * sizeof(float));
	x->prev_pos = mic_pos;
	x->have_prev = 1;
	x->applied = echo_drift_ratio(x);
	return x->applied;
}

double echo_drift_ratio(const struct echo_drift *x)
{
	return x && x->engaged ? x->est : 1.0;
}

void echo_drift_get_stats(const struct echo_drift *x, struct echo_drift_stats *st)
{
	if (!st)
		return;
	if (!x) {
		memset(st, 0, sizeof(*st));
		return;
	}
	*st = x->st;
	st->est_ppm = (1 / x->est - 1) * 1e6;
	st->engaged = x->engaged;
}
