/* Time-stretching of one decoded frame, a pure module: makes a piece of
 * audio shorter or longer by about one pitch period without a
 * discontinuity, so that the jitter buffer can change its delay inside
 * speech rather than by dropping or inserting whole frames.
 *
 * Method (pitch-synchronous overlap-add, as in WebRTC NetEq's accelerate
 * and preemptive expand): find the lag L, 2 ms to half the frame (at most
 * 15 ms), at which the frame
 * best resembles itself (normalised cross-correlation of a W-sample window
 * at 0 with the one at L), then
 *   shorten: crossfade x[0..W) into x[L..L+W), go on with x[L+W..n):
 *            n - L samples, x[0] first and x[n-1] last;
 *   lengthen: x[0..L), crossfade x[L..L+W) into x[0..W), go on with
 *            x[W..n): n + L samples, same first and last sample.
 * The ends stay those of the input, so the frame joins its neighbours as
 * it did; inside, a crossfade of two similar pieces. For a periodic signal
 * (voiced speech, a tone) L is a whole number of periods and the result is
 * the same waveform with periods removed or repeated.
 *
 * W is n/4, at most 5 ms; L <= n/2, so W + L <= n. The caller asks for a
 * change and gets the nearest the signal allows (up to the lag search). */
#ifndef P2PCALL_TSTRETCH_H
#define P2PCALL_TSTRETCH_H

#include <stddef.h>
#include <stdint.h>

#define TSTRETCH_MIN_LAG  96    /* 2 ms at 48 kHz: a 500 Hz voice */
#define TSTRETCH_MAX_LAG  720   /* 15 ms */
#define TSTRETCH_MAX_WIN  240   /* 5 ms crossfade */
#define TSTRETCH_MIN_FRAME 480  /* shorter frames are left alone */

/* Shortens (want < 0) or lengthens (want > 0) in[0..n) into out (room for
 * n + TSTRETCH_MAX_LAG samples; out must not overlap in). The lag is
 * searched in [TSTRETCH_MIN_LAG, max(|want|, TSTRETCH_MIN_LAG)] clipped
 * to n/2 and TSTRETCH_MAX_LAG (never much more than asked: overshooting
 * would make the jitter buffer wish the opposite); if the best correlation there is
 * below min_corr (-1 accepts anything) nothing is done. Returns the change
 * made in samples (negative: shortened; the output has n + result
 * samples), 0 when nothing was done (out untouched): want 0, a frame
 * shorter than TSTRETCH_MIN_FRAME, or too little resemblance. *corr, if
 * not NULL, gets the best correlation found (0 if no search). */
long tstretch(const int16_t *in, size_t n, long want, double min_corr, int16_t *out,
	      double *corr);

#endif
