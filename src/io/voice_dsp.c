/* Voice processing on speexdsp; see voice_dsp.h for the data flow. */
#include "p2pcall/voice_dsp.h"
#include "p2pcall/echo_drift.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <speex/speex_echo.h>
#include <speex/speex_preprocess.h>

#define RING_CAP ((size_t)VOICE_DSP_MAX_AHEAD_MS * VOICE_DSP_RATE / 1000)

/* Drift compensation (see voice_dsp.h): the reference is read at a
 * fractional step through a windowed sinc of 2 * SINC_HALF taps, centred
 * SINC_HALF samples behind the read position so that it needs no sample
 * the plain copy would not. The ring keeps 2 * SINC_HALF consumed samples
 * behind its head for it. */
#define SINC_HALF 16
#define SINC_TAPS (2 * SINC_HALF)
#define SINC_PHASES 1024          /* nearest phase: <= 1/2048 sample off */
#define RING_PHYS (RING_CAP + SINC_TAPS)
#define DRIFT_EVERY 25            /* capture blocks between impulse response snapshots */

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
	/* Reference FIFO: head is the oldest sample not yet consumed; the
	 * SINC_TAPS before it stay for the interpolator. */
	int16_t ring[RING_PHYS];
	size_t head, len;
	/* Drift compensation, with AEC only. */
	struct echo_drift *drift;
	double ratio;                   /* reference samples per capture sample */
	double frac;                    /* read position after head, [0, 1) */
	float (*sinc)[SINC_TAPS];       /* [SINC_PHASES + 1] */
	/* A block's reference span: at most 2 * VOICE_DSP_BLOCK, as the
	 * ratio stays within ECHO_DRIFT_MAX_PPM of 1. */
	float span[2 * VOICE_DSP_BLOCK + SINC_TAPS];
	int32_t *ir;                    /* the canceller's impulse response */
	float *irf;
	size_t ir_taps;
	unsigned since_snap;
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

/* The windowed sinc, by phase: sinc[p][m] weighs the sample m -
 * (SINC_TAPS - 1) places from the one under the read position t, of
 * fraction p / SINC_PHASES, for the value at t - SINC_HALF. Cut off at Nyquist, so
 * that phase 0 is a plain copy (every other tap a zero of the sinc);
 * Kaiser window, beta 8. */
static double bessel_i0(double x)
{
	double s = 1, t = 1;
	for (int k = 1; k < 40; k++) {
		t *= (x / (2 * k)) * (x / (2 * k));
		s += t;
	}
	return s;
}

static void sinc_fill(float (*tab)[SINC_TAPS])
{
	const double beta = 8;
	for (int p = 0; p <= SINC_PHASES; p++) {
		double frac = (double)p / SINC_PHASES;
		for (int m = 0; m < SINC_TAPS; m++) {
			double x = frac + SINC_HALF - 1 - m;
			double w = x / SINC_HALF;
			double win = fabs(w) >= 1 ? 0 : bessel_i0(beta * sqrt(1 - w * w)) / bessel_i0(beta);
			tab[p][m] = (float)(x == 0 ? 1 : (p == 0 ? 0 : sin(M_PI * x) / (M_PI * x) * win));
		}
	}
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
	d->ratio = 1.0;
	if (cfg->aec) {
		int rate = VOICE_DSP_RATE;
		int taps = (int)(cfg->tail_ms * (VOICE_DSP_RATE / 1000));
		if (!(d->echo = speex_echo_state_init(VOICE_DSP_BLOCK, taps)))
			goto out;
		speex_echo_ctl(d->echo, SPEEX_ECHO_SET_SAMPLING_RATE, &rate);
		int n = 0;
		speex_echo_ctl(d->echo, SPEEX_ECHO_GET_IMPULSE_RESPONSE_SIZE, &n);
		d->ir_taps = (size_t)n;
		if (!(d->ir = calloc(d->ir_taps, sizeof(*d->ir))) ||
		    !(d->irf = calloc(d->ir_taps, sizeof(*d->irf))) ||
		    echo_drift_new(&d->drift, d->ir_taps) < 0 ||
		    !(d->sinc = malloc((SINC_PHASES + 1) * sizeof(*d->sinc))))
			goto out;
		sinc_fill(d->sinc);
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
	echo_drift_free(d->drift);
	free(d->sinc);
	free(d->ir);
	free(d->irf);
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
	memset(d->ring, 0, sizeof(d->ring));
	echo_drift_reset(d->drift);
	d->ratio = 1.0;
	d->frac = 0;
	d->since_snap = 0;
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
		d->head = (d->head + drop) % RING_PHYS;
		d->len -= drop;
		d->frac = 0;
		d->st.ref_dropped += drop;
	}
	size_t tail = (d->head + d->len) % RING_PHYS;
	size_t first = n < RING_PHYS - tail ? n : RING_PHYS - tail;
	memcpy(d->ring + tail, far, first * sizeof(int16_t));
	memcpy(d->ring, far + first, (n - first) * sizeof(int16_t));
	d->len += n;
	return 0;
}

static int16_t ring_at(const struct voice_dsp *d, long rel)
{
	/* rel >= -SINC_TAPS: the history behind head is kept. */
	return d->ring[(size_t)((long)d->head + rel + (long)RING_PHYS) % RING_PHYS];
}

/* The reference for the next capture block: from the FIFO at the current
 * ratio, or silence when it holds too little (nothing was played, so the
 * speaker was silent; a part stays for the next one). At ratio 1 and
 * fraction 0 this is the oldest whole block, SINC_HALF samples back. */
static const int16_t *take_ref(struct voice_dsp *d)
{
	double last = d->frac + (VOICE_DSP_BLOCK - 1) * d->ratio, end = d->frac + VOICE_DSP_BLOCK * d->ratio;
	size_t need = (size_t)last + 1, adv = (size_t)end;
	if (adv > need)
		need = adv;
	if (d->len < need || need > 2 * VOICE_DSP_BLOCK) {
		memset(d->ref, 0, sizeof(d->ref));
		d->st.ref_missing++;
		return d->ref;
	}
	if (d->ratio == 1.0 && d->frac == 0) {
		for (size_t j = 0; j < VOICE_DSP_BLOCK; j++)
			d->ref[j] = ring_at(d, (long)j - SINC_HALF);
	} else {
		/* The span the block reads, unwrapped: x[k] is the sample
		 * k - SINC_TAPS + 1 places from head. */
		size_t span = need + SINC_TAPS - 1;
		for (size_t k = 0; k < span; k++)
			d->span[k] = ring_at(d, (long)k - SINC_TAPS + 1);
		for (size_t j = 0; j < VOICE_DSP_BLOCK; j++) {
			double t = d->frac + (double)j * d->ratio;
			size_t i = (size_t)t;
			const float *w = d->sinc[(size_t)((t - (double)i) * SINC_PHASES + 0.5)];
			const float *x = d->span + i;
			float acc = 0;
			for (int m = 0; m < SINC_TAPS; m++)
				acc += w[m] * x[m];
			long v = lrintf(acc);
			d->ref[j] = (int16_t)(v > 32767 ? 32767 : v < -32768 ? -32768 : v);
		}
	}
	d->head = (d->head + adv) % RING_PHYS;
	d->len -= adv;
	d->frac = end - (double)adv;
	return d->ref;
}

/* Every DRIFT_EVERY blocks: the canceller's impulse response to the drift
 * tracker, which says at what ratio to read the reference from now on. */
static void track_drift(struct voice_dsp *d)
{
	if (!d->drift || ++d->since_snap < DRIFT_EVERY)
		return;
	d->since_snap = 0;
	speex_echo_ctl(d->echo, SPEEX_ECHO_GET_IMPULSE_RESPONSE, d->ir);
	for (size_t i = 0; i < d->ir_taps; i++)
		d->irf[i] = (float)d->ir[i];
	double r = echo_drift_update(d->drift, d->irf, d->st.captured * VOICE_DSP_BLOCK);
	d->ratio = r;
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
			track_drift(d);
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
	st->drift_ppm = (1 / d->ratio - 1) * 1e6;
}
