/* Playout: jitter buffer -> decoder -> time-stretch; see playout.h. */
#include "p2pcall/playout.h"

#include <string.h>

/* Below this RMS (of 32767) a frame is quiet enough to stretch however
 * it resembles itself. */
#define QUIET_RMS 200.0
/* In speech, stretch only where a pitch period is this clear. */
#define MIN_CORR 0.7

static double energy(const int16_t *pcm, size_t n)
{
	double e = 0;
	for (size_t i = 0; i < n; i++)
		e += (double)pcm[i] * pcm[i];
	return n ? e / (double)n : 0;
}

/* Decodes what the jitter buffer gave into pcm; returns the count. */
static size_t decode(struct opus_codec_dec *dec, size_t frame_samples, const struct jbuf_out *o,
		     int16_t *pcm, struct playout_res *res)
{
	size_t want = o->samples ? o->samples : frame_samples;
	if (want > OPUS_CODEC_MAX_SAMPLES)
		want = OPUS_CODEC_MAX_SAMPLES;
	int n = -1;
	switch (o->kind) {
	case JBUF_FRAME:
		n = opus_codec_decode(dec, o->data, o->len, pcm, OPUS_CODEC_MAX_SAMPLES);
		if (n < 0)
			res->bad = true; /* truncated or corrupt: conceal instead */
		break;
	case JBUF_FEC:
		n = opus_codec_decode_fec(dec, o->data, o->len, pcm, want);
		/* Without LBRR data in the next packet libopus conceals. */
		if (n >= 0 && opus_codec_has_fec(o->data, o->len))
			res->recovered = true;
		else if (n >= 0)
			res->concealed = true;
		break;
	case JBUF_CONCEAL:
		res->concealed = true;
		break;
	case JBUF_DTX:
		break;
	case JBUF_SILENCE:
		memset(pcm, 0, want * sizeof(int16_t));
		return want;
	}
	if (n < 0) {
		n = want >= 120 ? opus_codec_conceal(dec, pcm, want - want % 120) : -1;
		if (n < 0) {
			memset(pcm, 0, want * sizeof(int16_t));
			n = (int)want;
		}
		res->concealed = o->kind != JBUF_DTX;
	}
	return (size_t)n;
}

size_t playout_next(struct jbuf *jb, struct opus_codec_dec *dec, size_t frame_samples,
		    uint64_t now_us, bool may_grow, int16_t *pcm, struct playout_res *res)
{
	struct jbuf_out o;
	*res = (struct playout_res){ 0 };
	jbuf_get(jb, now_us, &o);
	res->kind = o.kind;
	size_t n = decode(dec, frame_samples, &o, pcm, res);
	if (o.kind != JBUF_SILENCE && o.adjust != 0 && (o.adjust < 0 || may_grow)) {
		bool quiet = res->concealed || res->recovered || o.kind == JBUF_DTX ||
			     energy(pcm, n) < QUIET_RMS * QUIET_RMS;
		int16_t tmp[PLAYOUT_MAX_SAMPLES];
		/* A small deficit in speech waits for a quiet frame or for the
		 * wish to become urgent: D wobbles by a device period around
		 * the target, and lengthening every time would be busy work. */
		long d = o.adjust > 0 && !quiet && !o.urgent ? 0
			 : tstretch(pcm, n, o.adjust, quiet || o.urgent ? -1.0 : MIN_CORR, tmp, NULL);
		if (d) {
			n = (size_t)((long)n + d);
			memcpy(pcm, tmp, n * sizeof(int16_t));
			jbuf_adjusted(jb, (int32_t)d);
			res->stretched = d;
		}
	}
	res->samples = n;
	return n;
}
