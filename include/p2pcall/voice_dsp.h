/* Voice processing of the microphone signal (48 kHz mono, 16-bit):
 * acoustic echo cancellation (AEC), noise suppression (NS) and automatic
 * gain control (AGC), built on speexdsp (MDF echo canceller + the
 * preprocessor, which is linked to the echo state so that it also
 * suppresses the residual echo the linear filter leaves).
 *
 * Data flow. The caller hands over two streams:
 *   - voice_dsp_playback(): the far-end reference, i.e. every sample
 *     exactly as it is queued for the speaker, in that order, in pieces
 *     of any size;
 *   - voice_dsp_capture(): each microphone frame, in the order it was
 *     recorded; out gets the cleaned frame to encode and send.
 *
 * Alignment. The reference must reach the canceller no later than its
 * echo does, and the echo must lag it by less than the tail. We pair them
 * ourselves rather than with speex_echo_playback/speex_echo_capture: those
 * expect playback and capture calls strictly interleaved with a fixed
 * two-frame lag, pass the microphone through uncancelled (and print to
 * stderr) when a capture finds no reference, and drop reference frames
 * when more than three arrive in a row, which loses alignment for good.
 * An event loop that drains capture in bursts and keeps playback a few
 * frames ahead does exactly that. Here played samples go into a FIFO
 * (up to VOICE_DSP_MAX_AHEAD_MS); each capture block takes the oldest
 * block of them, or silence if less than a block waits (the speaker had
 * nothing to play). Since a frame is handed over when it is
 * written to the device, before it is heard, the reference is always
 * early; the device buffering (output queue + output and input latency,
 * minus the FIFO depth) becomes part of the echo path the adaptive filter
 * learns, so it must stay well under tail_ms.
 *
 * Clock drift. Two sound cards for speaker and microphone run on two
 * clocks, 10..100 ppm apart: the echo path then slides (2.4 samples a
 * second at 50 ppm), and a linear canceller chasing it loses most of its
 * depth (measured, espeak far end, from 8 s: 42 dB with one clock, 14 dB
 * at 50 ppm, 9 dB at 100, 6 dB at 300). So the reference is read from
 * the FIFO at a ratio (reference samples per microphone sample) through a
 * 32-tap Kaiser-windowed sinc, and echo_drift.h sets the ratio from the
 * canceller's own impulse response: every 250 ms a snapshot is compared
 * with the last, and its slide, to a hundredth of a sample, drives a
 * frequency-locked loop. Chosen by measurement over the FIFO level: the
 * FIFO is filled and drained in whole device periods, so its level shows
 * a drift of a few samples a second only once it has added up to a whole
 * period (at 100 ppm and 10 ms periods, ~100 s), and the times of the
 * calls are quantised the same way by the event loop. The echo shows it
 * within seconds: compensated, +-50 and +-100 ppm lock within ~5 s and
 * then cancel as deeply as one clock, also with bursty calls
 * (test_voice_dsp echo_drift), and a jump of the echo path is not taken
 * for a drift (echo_path_jump). Beyond that it is slow: at +-300 ppm the
 * filter shows the slide only in occasional jumps, which the tracker
 * takes for jumps of the echo path, and does not lock within 20 s (it did
 * in ~8..17 s without that guard); at 1000 ppm the filter never converges
 * enough to show where the echo is. With no far-end speech there is
 * nothing to measure and the ratio holds. Until a drift of
 * ECHO_DRIFT_ENGAGE_PPM is measured the reference is a plain copy, so
 * with one clock nothing changes. Compensated or not, the reference
 * passes 16 samples (0.33 ms) later than it was handed over, so that the
 * interpolator never needs a sample not yet played: that is part of the
 * echo path too. The drift tracking costs ~0.2 ms every 250 ms (an
 * inverse FFT of the filter and a cross-correlation), the interpolation
 * ~15 us per 10 ms block once engaged.
 *
 * Frames. frame_samples may be any multiple of VOICE_DSP_BLOCK (10 ms)
 * up to 60 ms, so each Opus frame size (10/20/40/60 ms) passes as is;
 * the library works on 10 ms blocks inside. With NS or AGC on, the
 * output is one block (10 ms) late: the preprocessor overlaps windows.
 * The echo canceller adds no delay, but like all of speexdsp's MDF it
 * high-passes its input (a DC notch, about 60 Hz at 48 kHz).
 *
 * Measured (test_voice_dsp.c, bench_voice_dsp.c; 40 ms + 8-tap room,
 * 200 ms tail): ERLE 30 dB on espeak-ng speech after 3 s with the whole
 * chain (23.5 dB for the linear filter alone), 25 dB over a 1 s window
 * from 2.25 s; synthetic talkers 16..24 dB. A shorter tail converges
 * faster and deeper (espeak: 38 dB with 100 ms) but covers less device
 * delay. About 320 us of one core per 20 ms frame with everything on.
 *
 * Not thread-safe: one thread (the event loop) calls everything, never
 * the real-time audio callback (the calls allocate nothing but cost a few
 * hundred microseconds of FFTs per frame). */
#ifndef P2PCALL_VOICE_DSP_H
#define P2PCALL_VOICE_DSP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VOICE_DSP_RATE 48000
#define VOICE_DSP_BLOCK 480               /* 10 ms: the unit speexdsp works on */
#define VOICE_DSP_MAX_FRAME (6 * VOICE_DSP_BLOCK)
#define VOICE_DSP_MAX_AHEAD_MS 500        /* reference FIFO capacity */

struct voice_dsp;

struct voice_dsp_cfg {
	size_t frame_samples; /* multiple of VOICE_DSP_BLOCK, <= VOICE_DSP_MAX_FRAME */
	unsigned tail_ms;     /* echo path length the filter covers, 20..1000 */
	bool aec, ns, agc;
	int ns_db;            /* noise attenuation, dB < 0 (speexdsp's default -15) */
	int agc_dbfs;         /* AGC target: long-term RMS of speech, pauses
				 included, in dBFS, -45..-19 */
	int agc_max_gain_db;  /* most AGC may amplify, 0..60 */
};

/* Defaults: 20 ms frames, 200 ms tail, AEC+NS+AGC on, NS -25 dB, AGC to
 * -24 dBFS with at most +30 dB. */
void voice_dsp_cfg_default(struct voice_dsp_cfg *cfg);

/* Creates the processor. cfg NULL = defaults. 0 and *out (owned by the
 * caller), -EINVAL for a bad cfg (frame size not a multiple of 480 or
 * above 2880, tail or levels out of range), -ENOMEM. */
int voice_dsp_new(struct voice_dsp **out, const struct voice_dsp_cfg *cfg);
void voice_dsp_free(struct voice_dsp *d);

/* The far-end reference: n samples (any count: the decoder's output
 * need not come in our frame size) exactly as just queued for the
 * speaker, i.e. only what the device accepted. Copied; beyond
 * VOICE_DSP_MAX_AHEAD_MS not yet consumed by captures the oldest
 * reference is dropped (counted). A no-op with AEC off. 0 or -EINVAL
 * (far NULL with n > 0). */
int voice_dsp_playback(struct voice_dsp *d, const int16_t *far, size_t n);

/* One microphone frame of frame_samples: echo removed (AEC), then noise
 * suppressed, residual echo suppressed and level adjusted (preprocessor).
 * out may equal near. With every feature off it copies. 0 or -EINVAL. */
int voice_dsp_capture(struct voice_dsp *d, const int16_t *near, int16_t *out);

/* Forgets what the filters learned and the queued reference (new call,
 * device change). */
void voice_dsp_reset(struct voice_dsp *d);

struct voice_dsp_stats {
	uint64_t captured;    /* capture blocks (10 ms) processed */
	uint64_t ref_missing; /* capture blocks that found less than a block of
				 reference (silence used) */
	uint64_t ref_dropped; /* reference samples dropped: FIFO full */
	size_t ref_queued;    /* reference samples waiting now */
	double drift_ppm;     /* clock drift compensated: how much faster the
				 microphone runs than the speaker (0: none) */
};
void voice_dsp_get_stats(const struct voice_dsp *d, struct voice_dsp_stats *st);

#endif
