/* Comparing what came out of a lossy voice path with what went in.
 *
 * Sample-exact comparison is meaningless after Opus, jitter-buffer delay
 * changes and concealment, so the measure is the shape of the speech:
 * short-time RMS envelopes (10 ms windows, 1 ms hop) of the two signals
 * are aligned by cross-correlation, and their Pearson correlation at the
 * best alignment is the score. Identical speech scores ~1, different
 * sentences by the same voice score far lower (see test_audio_call.c for
 * the measured figures behind the thresholds). */
#ifndef P2PCALL_TEST_AUDIO_CMP_H
#define P2PCALL_TEST_AUDIO_CMP_H

#include <stddef.h>
#include <stdint.h>

struct audio_match {
	long offset_ms;   /* sig[offset + t] matches ref[t] */
	double corr;      /* envelope correlation at that offset */
	double corr_warped; /* the same after re-aligning each 500 ms piece
			       within +-65 ms (frames the jitter buffer
			       dropped or inserted): the score to use */
	double overlap;   /* fraction of ref's envelope that sig covers there */
};

/* Reads any sound file libsndfile reads as 48 kHz mono; *pcm is malloc'd.
 * 0, or -errno. */
int audio_load(const char *path, int16_t **pcm, size_t *n);

/* Writes N samples of 48 kHz mono as a WAV file. 0, or -errno with a
 * message quoting PATH in ERR. */
int audio_save(const char *path, const int16_t *pcm, size_t n, char *err, size_t errlen);

/* A WAV file of SECONDS of dsp_speech (the synthetic talker of
 * dsp_signals.h) from SEED at RMS_DBFS. 0, or -errno with ERR set. */
int audio_make_synthetic_speech(const char *path, double seconds, uint32_t seed, double rms_dbfs, char *err,
				size_t errlen);

/* Finds the offset in [-max_ms, +max_ms] (1 ms steps) where sig's
 * envelope best matches ref's, counting only offsets where sig covers at
 * least 90 % of ref. Returns 0, or -1 if no offset qualifies. */
int audio_match(const int16_t *ref, size_t nref, const int16_t *sig, size_t nsig, long max_ms,
		struct audio_match *out);

/* Runs a shell command line (bounded by `timeout'); 0 if it exited 0. */
int audio_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Makes DIR/NAME.wav: TEXT spoken by espeak-ng, resampled by sox to
 * 48 kHz mono 16-bit. 0, or -1 (with the command on stderr). */
int audio_make_speech(const char *dir, const char *name, const char *text, char *path, size_t n);

#endif
