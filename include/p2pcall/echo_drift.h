/* Clock drift between speaker and microphone, measured on the echo
 * canceller's impulse response (pure: no audio library).
 *
 * When playback and capture run on different clocks, the echo path the
 * canceller sees slides: with the microphone e fast, its impulse response
 * moves by e taps per microphone sample (2.4 taps a second at 50 ppm),
 * and a linear canceller that must keep re-learning it loses most of its
 * depth. The FIFO of reference samples cannot tell the clocks apart
 * finely enough: it is fed and drained in whole device periods (10 ms),
 * so its level says nothing of a slide of a few samples a second until
 * it has slid a whole period. The echo itself can: its impulse response
 * is where the two clocks meet, to a fraction of a sample.
 *
 * So snapshots of the impulse response (every ~250 ms) are compared with
 * the previous one, around its strongest tap (the direct sound and early
 * reflections: 1024 taps): the lag of their cross-correlation peak (the
 * correlation sinc-interpolated between integer lags, to 1/64 tap) is how
 * far the echo slid. Only snapshots somewhat alike in shape count
 * (normalised correlation >= 0.5): while the filter first converges or
 * re-learns a changed room the response changes shape, not place. (Not
 * stricter: a filter that cannot keep up with a fast drift re-learns the
 * echo in jumps, and those jumps are the drift.) Frozen snapshots (no far
 * end, so no adaptation) count as no slide; the filter catches up later,
 * so on average the slides still add up to the drift. Each slide says
 * what ratio would have held the echo still; the median of the last three
 * (one jump of the echo path, a device restarted or the laptop moved, is
 * no drift) drives a frequency-locked loop whose output is the ratio at
 * which to read the reference: reference samples per microphone sample
 * (1/(1 + e) when settled). Until the drift is clearly measured
 * (ECHO_DRIFT_ENGAGE_PPM) the ratio is exactly 1, so without drift the
 * reference stays a plain copy. */
#ifndef P2PCALL_ECHO_DRIFT_H
#define P2PCALL_ECHO_DRIFT_H

#include <stddef.h>
#include <stdint.h>

#define ECHO_DRIFT_MAX_LAG 24       /* taps a snapshot may slide (2000 ppm at 250 ms) */
#define ECHO_DRIFT_ENGAGE_PPM 4.0   /* estimates below this stay 1.0 until engaged */
#define ECHO_DRIFT_MAX_PPM 2000.0   /* larger estimates are clamped */

struct echo_drift;

/* A tracker for impulse responses of taps coefficients. 0 and *out
 * (owned by the caller), -EINVAL (taps < 4 * ECHO_DRIFT_MAX_LAG), -ENOMEM. */
int echo_drift_new(struct echo_drift **out, size_t taps);
void echo_drift_free(struct echo_drift *x);

/* Forgets the snapshot and the estimate (ratio back to 1). */
void echo_drift_reset(struct echo_drift *x);

/* One snapshot h (taps coefficients, copied) of the impulse response
 * after mic_pos microphone samples (a count that only grows; the filter
 * was learning with the reference read at the current ratio since the
 * previous snapshot). Returns the ratio to read the reference at from
 * now on. */
double echo_drift_update(struct echo_drift *x, const float *h, uint64_t mic_pos);

/* The current ratio (reference samples per microphone sample). */
double echo_drift_ratio(const struct echo_drift *x);

struct echo_drift_stats {
	uint64_t snapshots;  /* updates */
	uint64_t measured;   /* of them, slides measured (shape alike) */
	double last_shift;   /* taps the last measured slide moved the echo (later +) */
	double est_ppm;      /* the loop's estimate: (1/ratio - 1) 1e6, also before engaging */
	int engaged;         /* the ratio is applied */
};
void echo_drift_get_stats(const struct echo_drift *x, struct echo_drift_stats *st);

#endif
