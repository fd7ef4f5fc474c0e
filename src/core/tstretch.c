/* Pitch-synchronous time-stretching; see tstretch.h. */
#include "p2pcall/tstretch.h"

#include <math.h>
#include <string.h>

static int16_t clip(double v)
{
	return v > 32767 ? 32767 : v < -32768 ? -32768 : (int16_t)lrint(v);
}

/* Normalised cross-correlation of a[0..w) and b[0..w); 1 for two silent
 * windows (nothing to hear either way). */
static double ncc(const int16_t *a, const int16_t *b, size_t w)
{
	double ab = 0, aa = 0, bb = 0;
	for (size_t i = 0; i < w; i++) {
		ab += (double)a[i] * b[i];
		aa += (double)a[i] * a[i];
		bb += (double)b[i] * b[i];
	}
	if (aa + bb < 1.0 * (double)w)
		return 1.0;
	if (aa <= 0 || bb <= 0)
		return 0.0;
	return ab / sqrt(aa * bb);
}

/* out[i] = a[i] fading out, b[i] fading in, raised-cosine weights. */
static void crossfade(const int16_t *a, const int16_t *b, size_t w, int16_t *out)
{
	for (size_t i = 0; i < w; i++) {
		double g = 0.5 - 0.5 * cos(M_PI * ((double)i + 0.5) / (double)w);
		out[i] = clip((1.0 - g) * a[i] + g * b[i]);
	}
}

long tstretch(const int16_t *in, size_t n, long want, double min_corr, int16_t *out,
	      double *corr)
{
	if (corr)
		*corr = 0;
	if (!in || !out || want == 0 || n < TSTRETCH_MIN_FRAME)
		return 0;
	size_t w = n / 4 < TSTRETCH_MAX_WIN ? n / 4 : TSTRETCH_MAX_WIN;
	size_t mag = (size_t)(want < 0 ? -want : want);
	size_t hi = mag > TSTRETCH_MIN_LAG ? mag : TSTRETCH_MIN_LAG;
	if (hi > TSTRETCH_MAX_LAG)
		hi = TSTRETCH_MAX_LAG;
	if (hi > n / 2) /* at most 1.5x or 0.67x speed: still speech */
		hi = n / 2;
	if (hi < TSTRETCH_MIN_LAG)
		return 0;
	/* The best lag; among near-equal ones (a tone repeats every period)
	 * the one closest to what is wanted. */
	size_t best = 0;
	double bc = -2.0, bscore = -1e9;
	for (size_t l = TSTRETCH_MIN_LAG; l <= hi; l++) {
		double c = ncc(in, in + l, w);
		double dist = fabs((double)l - (double)mag) / (double)TSTRETCH_MAX_LAG;
		double score = c - 0.05 * dist;
		if (score > bscore) {
			bscore = score;
			bc = c;
			best = l;
		}
	}
	if (corr)
		*corr = bc;
	if (!best || bc < min_corr)
		return 0;
	if (want < 0) {
		crossfade(in, in + best, w, out);
		memcpy(out + w, in + best + w, (n - best - w) * sizeof(int16_t));
		return -(long)best;
	}
	memcpy(out, in, best * sizeof(int16_t));
	crossfade(in + best, in, w, out + best);
	memcpy(out + best + w, in + w, (n - w) * sizeof(int16_t));
	return (long)best;
}
