/* Voice processing on speexdsp; see voice_dsp.h for the data flow. */
#include "p2pcall/voice_dsp.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <speex/speex_echo.h>
#include <speex/speex_preprocess.h>

#define RING_CAP ((size_t)VOICE_DSP_MAX_AHEAD_MS * VOICE_DSP_RATE / 1000)

/* speexdsp's AGC level is not an RMS: it is compared with a spectrally
 * weighted loudness. Measured with espeak-ng speech and with our
 * synthetic speech (tests/support/dsp_signals.c) at input levels from
 * -40 to -14 dBFS, the long-term RMS that comes out (pauses included) is
 * 19 dB under the level set, whatever the input level. */
#define AGC_CAL_DB 19

struct voice_dsp {
	struct voice_dsp_cfg cfg;
	SpeexEchoState *echo;           /* NULL with AEC off */
	SpeexPreprocessState *pre;      /* NULL with NS and AGC off */
	/* Reference FIFO: head is the oldest sample. */
	int16_t ring[RING_CAP];
	size_t head, len;
	int16_t ref[VOICE_DSP_BLOCK], block[VOICE_DSP_BLOCK];
	struct voice_dsp_stats st;
};

void voice_dsp_cfg_default(struct voice_dsp_cfg *cfg)
{
	*cfg = (struct voice_dsp_cfg){
		.frame_samples = 2 * VOICE_DSP_BLOCK,
		.tail_ms = 200,
		.aec = true, .ns = true, .agc = true,
		.ns_db = -25,
		.agc_dbfs = -24,
		.agc_max_gain_db = 30,
	};
}

static bool cfg_ok(const struct voice_dsp_cfg *c)
{
	return c->frame_samples >= VOICE_DSP_BLOCK && c->frame_samples <= VOICE_DSP_MAX_FRAME &&
	       c->frame_samples % VOICE_DSP_BLOCK == 0 &&
	       c->tail_ms >= 20 && c->tail_ms <= 1000 &&
	       c->ns_db < 0 && c->ns_db >= -90 &&
	       c->agc_dbfs >= -45 && c->agc_dbfs <= -AGC_CAL_DB &&
	       c->agc_max_gain_db >= 0 && c->agc_max_gain_db <= 60;
}

/* Settings of the preprocessor that survive a reset. */
static void pre_setup(struct voice_dsp *d)
{
	const struct voice_dsp_cfg *c = &d->cfg;
	int on = 1, off = 0;

	/* The residual echo suppression is part of the denoiser's gains:
	 * without NS the preprocessor applies none, so with NS off the
	 * echo is only what the linear filter removed. */
	speex_preprocess_ctl(d->pre, SPEEX_PREPROCESS_SET_DENOISE, c->ns ? &on : &off);
	int ns_db = c->ns_db;
	speex_preprocess_ctl(d->pre, SPEEX_PREPROCESS_SET_NOISE_SUPPRESS, &ns_db);
	speex_preprocess_ctl(d->pre, SPEEX_PREPROCESS_SET_AGC, c->agc ? &on : &off);
	if (c->agc) {
		float level = (float)(32767.0 * pow(10.0, (c->agc_dbfs + AGC_CAL_DB) / 20.0));
		int max_gain = c->agc_max_gain_db;
		speex_preprocess_ctl(d->pre, SPEEX_PREPROCESS_SET_AGC_LEVEL, &level);
		speex_preprocess_ctl(d->pre, SPEEX_PREPROCESS_SET_AGC_MAX_GAIN, &max_gain);
	}
	speex_preprocess_ctl(d->pre, SPEEX_PREPROCESS_SET_DEREVERB, &off);
	if (d->echo)
		speex_preprocess_ctl(d->pre, SPEEX_PREPROCESS_SET_ECHO_STATE, d->echo);
}

int voice_dsp_new(struct voice_dsp **out, const struct voice_dsp_cfg *cfg)
{
	struct voice_dsp_cfg def;
	struct voice_dsp *d = NULL;
	int rc = -EINVAL;

	if (!out)
		return -EINVAL;
	*out = NULL;
	if (!cfg) {
		voice_dsp_cfg_default(&def);
		cfg = &def;
	}
	if (!cfg_ok(cfg))
		goto out;
	rc = -ENOMEM;
	if (!(d = calloc(1, sizeof(*d))))
		goto out;
	d->cfg = *cfg;
	if (cfg->aec) {
		int rate = VOICE_DSP_RATE;
		int taps = (int)(cfg->tail_ms * (VOICE_DSP_RATE / 1000));
		if (!(d->echo = speex_echo_state_init(VOICE_DSP_BLOCK, taps)))
			goto out;
		speex_echo_ctl(d->echo, SPEEX_ECHO_SET_SAMPLING_RATE, &rate);
	}
	if (cfg->ns || cfg->agc) {
		if (!(d->pre = speex_preprocess_state_init(VOICE_DSP_BLOCK, VOICE_DSP_RATE)))
			goto out;
		pre_setup(d);
	}
	*out = d;
	d = NULL;
	rc = 0;
out:
	voice_dsp_free(d);
	return rc;
}

void voice_dsp_free(struct voice_dsp *d)
{
	if (!d)
		return;
	if (d->pre)
		speex_preprocess_state_destroy(d->pre);
	if (d->echo)
		speex_echo_state_destroy(d->echo);
	free(d);
}

void voice_dsp_reset(struct voice_dsp *d)
{
	if (!d)
		return;
	if (d->echo)
		speex_echo_state_reset(d->echo);
	if (d->pre) {
		/* The preprocessor has no reset: a new one forgets the noise
		 * estimate and the AGC gain. On failure keep the old one. */
		SpeexPreprocessState *p = speex_preprocess_state_init(VOICE_DSP_BLOCK, VOICE_DSP_RATE);
		if (p) {
			speex_preprocess_state_destroy(d->pre);
			d->pre = p;
			pre_setup(d);
		}
	}
	d->head = d->len = 0;
}

int voice_dsp_playback(struct voice_dsp *d, const int16_t *far, size_t n)
{
	if (!d || (!far && n))
		return -EINVAL;
	if (!d->echo || !n)
		return 0;
	if (n > RING_CAP) {
		/* Only the newest RING_CAP can ever be used. */
		d->st.ref_dropped += n - RING_CAP;
		far += n - RING_CAP;
		n = RING_CAP;
	}
	if (d->len + n > RING_CAP) {
		/* Nobody captures (input from a file, a stalled device):
		 * keep the newest reference. */
		size_t drop = d->len + n - RING_CAP;
		d->head = (d->head + drop) % RING_CAP;
		d->len -= drop;
		d->st.ref_dropped += drop;
	}
	size_t tail = (d->head + d->len) % RING_CAP;
	size_t first = n < RING_CAP - tail ? n : RING_CAP - tail;
	memcpy(d->ring + tail, far, first * sizeof(int16_t));
	memcpy(d->ring, far + first, (n - first) * sizeof(int16_t));
	d->len += n;
	return 0;
}

/* The reference for the next capture block: the oldest whole block in
 * the FIFO, or silence when there is less than a block (nothing was
 * played, so the speaker was silent; a part stays for the next one). */
static const int16_t *take_ref(struct voice_dsp *d)
{
	if (d->len < VOICE_DSP_BLOCK) {
		memset(d->ref, 0, sizeof(d->ref));
		d->st.ref_missing++;
		return d->ref;
	}
	size_t first = RING_CAP - d->head < VOICE_DSP_BLOCK ? RING_CAP - d->head : VOICE_DSP_BLOCK;
	memcpy(d->ref, d->ring + d->head, first * sizeof(int16_t));
	memcpy(d->ref + first, d->ring, (VOICE_DSP_BLOCK - first) * sizeof(int16_t));
	d->head = (d->head + VOICE_DSP_BLOCK) % RING_CAP;
	d->len -= VOICE_DSP_BLOCK;
	return d->ref;
}

int voice_dsp_capture(struct voice_dsp *d, const int16_t *near, int16_t *out)
{
	if (!d || !near || !out)
		return -EINVAL;
	for (size_t off = 0; off < d->cfg.frame_samples; off += VOICE_DSP_BLOCK) {
		const int16_t *in = near + off;
		int16_t *o = out + off;
		if (d->echo) {
			/* Through a copy: out may be near. */
			speex_echo_cancellation(d->echo, in, take_ref(d), d->block);
			memcpy(o, d->block, sizeof(d->block));
		} else if (o != in) {
			memmove(o, in, VOICE_DSP_BLOCK * sizeof(int16_t));
		}
		if (d->pre)
			speex_preprocess_run(d->pre, o);
		d->st.captured++;
	}
	return 0;
}

void voice_dsp_get_stats(const struct voice_dsp *d, struct voice_dsp_stats *st)
{
	if (!st)
		return;
	if (!d) {
		memset(st, 0, sizeof(*st));
		return;
	}
	*st = d->st;
	st->ref_queued = d->len;
}
