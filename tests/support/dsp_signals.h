/* Deterministic test signals and measurements for the voice processing
 * tests (48 kHz mono). Signals are doubles in sample units (full scale
 * 32767) so that echo and noise can be measured exactly before they are
 * mixed and rounded to 16 bits. */
#ifndef P2PCALL_TEST_DSP_SIGNALS_H
#define P2PCALL_TEST_DSP_SIGNALS_H

#include <stddef.h>
#include <stdint.h>

#define DSP_RATE 48000

/* A speech-like signal: "syllables" of 120..320 ms, voiced (a harmonic
 * series on a pitch that glides within 90..260 Hz, shaped by two formant
 * resonances that move from syllable to syllable) or unvoiced (filtered
 * noise bursts, like fricatives), each with an attack/decay envelope,
 * separated by pauses of 40..250 ms. Its long-term RMS is about rms_dbfs
 * (the level is set on the active parts). seed picks the talker. */
void dsp_speech(double *x, size_t n, uint32_t seed, double rms_dbfs);

/* Gaussian white noise, and pink noise (-3 dB/octave, Kellet's filter),
 * of the given RMS level. */
void dsp_white(double *x, size_t n, uint32_t seed, double rms_dbfs);
void dsp_pink(double *x, size_t n, uint32_t seed, double rms_dbfs);

/* y = gain * (h * x) delayed by delay samples: a room's echo path as a
 * pure delay plus a short FIR. y must not alias x. */
void dsp_echo_path(const double *x, double *y, size_t n, size_t delay, const double *h,
		   size_t nh, double gain);

/* A signal on the speaker's clock as a microphone whose clock runs E
 * fast (e.g. 50e-6) records it: y[n] = x at time n / (1 + e), for n <
 * ny, band-limited interpolation (Kaiser-windowed sinc, 48 taps each
 * side, cut off at 0.95 of Nyquist; linear interpolation would itself
 * limit an echo canceller at high frequencies). Outside x counts as 0. */
void dsp_clock_skew(const double *x, size_t nx, double *y, size_t ny, double e);

/* x + y (+ z if not NULL) rounded and clipped to 16 bits; returns how
 * many samples clipped. */
size_t dsp_mix16(int16_t *out, const double *x, const double *y, const double *z, size_t n);

/* Mean square and the RMS level in dBFS (-200 for silence). */
double dsp_power(const double *x, size_t n);
double dsp_power16(const int16_t *x, size_t n);
double dsp_dbfs16(const int16_t *x, size_t n);
double dsp_db(double ratio);  /* 10 log10, floored at -200 */

/* Normalised correlation of a (16 bits) with b (doubles). */
double dsp_corr(const int16_t *a, const double *b, size_t n);

/* The lag in [0, max_lag] where out[i + lag] best matches ref[i]. */
size_t dsp_best_lag(const int16_t *out, size_t nout, const double *ref, size_t n, size_t max_lag);

/* SNR of out against the clean ref: out is projected on ref (least
 * squares gain a), SNR = a^2 E[ref^2] / E[(out - a ref)^2], in dB. So
 * speech distortion counts as noise, and a pure level change does not. */
double dsp_snr_db(const int16_t *out, const double *ref, size_t n);

#endif
