/* libopus wrapper, see include/p2pcall/opus_codec.h. */
#include "p2pcall/opus_codec.h"

#include <errno.h>
#include <limits.h>
#include <opus.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#define OPUS_CODEC_ERRLEN 160

struct opus_codec_enc {
	OpusEncoder *st;
	size_t frame_samples;
	char errmsg[OPUS_CODEC_ERRLEN];
};

struct opus_codec_dec {
	OpusDecoder *st;
	char errmsg[OPUS_CODEC_ERRLEN];
};

/* libopus error codes are negative and not errno values: map them once. */
static int opus_to_errno(int code)
{
	switch (code) {
	case OPUS_BAD_ARG:
		return -EINVAL;
	case OPUS_BUFFER_TOO_SMALL:
		return -ENOSPC;
	case OPUS_INVALID_PACKET:
		return -EBADMSG;
	case OPUS_UNIMPLEMENTED:
		return -ENOTSUP;
	case OPUS_INVALID_STATE:
		return -EINVAL;
	case OPUS_ALLOC_FAIL:
		return -ENOMEM;
	case OPUS_INTERNAL_ERROR:
	default:
		return -EIO;
	}
}

__attribute__((format(printf, 3, 4)))
static void set_msg(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (!buf || len == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}

void opus_codec_enc_cfg_default(struct opus_codec_enc_cfg *cfg)
{
	cfg->frame_ms = 20;
	cfg->bitrate = 32000;
	cfg->complexity = 9;
	cfg->loss_pct = 10;
	cfg->vbr = true;
	cfg->fec = true;
}

static int enc_ctl_result(struct opus_codec_enc *enc, int rc, const char *what, int value)
{
	if (rc == OPUS_OK) {
		enc->errmsg[0] = '\0';
		return 0;
	}
	set_msg(enc->errmsg, sizeof(enc->errmsg), "opus: cannot set %s to %d: %s", what, value,
		opus_strerror(rc));
	return opus_to_errno(rc);
}

int opus_codec_enc_set_bitrate(struct opus_codec_enc *enc, int bitrate)
{
	/* libopus clamps out-of-range bitrates silently; refuse them instead so a
	 * typo in a command line is noticed. */
	if (bitrate < 6000 || bitrate > 510000)
		return enc_ctl_result(enc, OPUS_BAD_ARG, "bitrate", bitrate);
	return enc_ctl_result(enc, opus_encoder_ctl(enc->st, OPUS_SET_BITRATE(bitrate)),
			      "bitrate", bitrate);
}

int opus_codec_enc_set_loss_pct(struct opus_codec_enc *enc, int loss_pct)
{
	return enc_ctl_result(enc, opus_encoder_ctl(enc->st, OPUS_SET_PACKET_LOSS_PERC(loss_pct)),
			      "packet loss percentage", loss_pct);
}

int opus_codec_enc_set_vbr(struct opus_codec_enc *enc, bool vbr)
{
	return enc_ctl_result(enc, opus_encoder_ctl(enc->st, OPUS_SET_VBR(vbr ? 1 : 0)), "VBR",
			      vbr);
}

int opus_codec_enc_set_complexity(struct opus_codec_enc *enc, int complexity)
{
	return enc_ctl_result(enc, opus_encoder_ctl(enc->st, OPUS_SET_COMPLEXITY(complexity)),
			      "complexity", complexity);
}

int opus_codec_enc_set_fec(struct opus_codec_enc *enc, bool fec)
{
	return enc_ctl_result(enc, opus_encoder_ctl(enc->st, OPUS_SET_INBAND_FEC(fec ? 1 : 0)),
			      "in-band FEC", fec);
}

int opus_codec_enc_new(struct opus_codec_enc **out, const struct opus_codec_enc_cfg *cfg,
		       char *err, size_t errlen)
{
	struct opus_codec_enc_cfg def;
	struct opus_codec_enc *enc = NULL;
	int rc = 0, oerr = OPUS_OK;

	if (!out) {
		set_msg(err, errlen, "opus: no output pointer");
		return -EINVAL;
	}
	if (!cfg) {
		opus_codec_enc_cfg_default(&def);
		cfg = &def;
	}
	if (cfg->frame_ms != 10 && cfg->frame_ms != 20 && cfg->frame_ms != 40 &&
	    cfg->frame_ms != 60) {
		set_msg(err, errlen, "opus: frame duration %u ms not supported (use 10, 20, 40 or 60)",
			cfg->frame_ms);
		return -EINVAL;
	}
	enc = calloc(1, sizeof(*enc));
	if (!enc) {
		rc = -ENOMEM;
		set_msg(err, errlen, "opus: out of memory");
		goto out;
	}
	enc->frame_samples = (size_t)OPUS_CODEC_RATE / 1000 * cfg->frame_ms;
	enc->st = opus_encoder_create(OPUS_CODEC_RATE, 1, OPUS_APPLICATION_VOIP, &oerr);
	if (!enc->st || oerr != OPUS_OK) {
		rc = opus_to_errno(oerr);
		set_msg(err, errlen, "opus: cannot create encoder: %s", opus_strerror(oerr));
		goto out;
	}
	/* The signal is speech; telling the encoder avoids wasting bits on its
	 * music detector's guesses. */
	opus_encoder_ctl(enc->st, OPUS_SET_SIGNAL(OPUS_SIGNAL_VOICE));
	if ((rc = opus_codec_enc_set_bitrate(enc, cfg->bitrate)) < 0 ||
	    (rc = opus_codec_enc_set_complexity(enc, cfg->complexity)) < 0 ||
	    (rc = opus_codec_enc_set_loss_pct(enc, cfg->loss_pct)) < 0 ||
	    (rc = opus_codec_enc_set_vbr(enc, cfg->vbr)) < 0 ||
	    (rc = opus_codec_enc_set_fec(enc, cfg->fec)) < 0) {
		set_msg(err, errlen, "%s", enc->errmsg);
		goto out;
	}
	*out = enc;
	enc = NULL;
out:
	opus_codec_enc_free(enc);
	return rc;
}

void opus_codec_enc_free(struct opus_codec_enc *enc)
{
	if (!enc)
		return;
	if (enc->st)
		opus_encoder_destroy(enc->st);
	free(enc);
}

size_t opus_codec_enc_frame_samples(const struct opus_codec_enc *enc)
{
	return enc->frame_samples;
}

int opus_codec_enc_lookahead(const struct opus_codec_enc *enc)
{
	opus_int32 la = 0;

	opus_encoder_ctl(enc->st, OPUS_GET_LOOKAHEAD(&la));
	return (int)la;
}

int opus_codec_encode(struct opus_codec_enc *enc, const int16_t *pcm, size_t nsamples,
		      uint8_t *out, size_t outlen)
{
	int n;

	if (!pcm || !out || nsamples != enc->frame_samples) {
		set_msg(enc->errmsg, sizeof(enc->errmsg),
			"opus: encode needs exactly %zu samples, got %zu", enc->frame_samples,
			nsamples);
		return -EINVAL;
	}
	if (outlen == 0) {
		set_msg(enc->errmsg, sizeof(enc->errmsg), "opus: no room for the packet");
		return -ENOSPC;
	}
	if (outlen > INT32_MAX)
		outlen = INT32_MAX;
	n = opus_encode(enc->st, pcm, (int)nsamples, out, (opus_int32)outlen);
	if (n < 0) {
		set_msg(enc->errmsg, sizeof(enc->errmsg), "opus: encode failed: %s",
			opus_strerror(n));
		return opus_to_errno(n);
	}
	return n;
}

const char *opus_codec_enc_error(const struct opus_codec_enc *enc)
{
	return enc->errmsg;
}

int opus_codec_dec_new(struct opus_codec_dec **out, char *err, size_t errlen)
{
	struct opus_codec_dec *dec = NULL;
	int oerr = OPUS_OK, rc = 0;

	if (!out) {
		set_msg(err, errlen, "opus: no output pointer");
		return -EINVAL;
	}
	dec = calloc(1, sizeof(*dec));
	if (!dec) {
		rc = -ENOMEM;
		set_msg(err, errlen, "opus: out of memory");
		goto out;
	}
	dec->st = opus_decoder_create(OPUS_CODEC_RATE, 1, &oerr);
	if (!dec->st || oerr != OPUS_OK) {
		rc = opus_to_errno(oerr);
		set_msg(err, errlen, "opus: cannot create decoder: %s", opus_strerror(oerr));
		goto out;
	}
	*out = dec;
	dec = NULL;
out:
	opus_codec_dec_free(dec);
	return rc;
}

void opus_codec_dec_free(struct opus_codec_dec *dec)
{
	if (!dec)
		return;
	if (dec->st)
		opus_decoder_destroy(dec->st);
	free(dec);
}

static int dec_result(struct opus_codec_dec *dec, int n, const char *what)
{
	if (n >= 0) {
		dec->errmsg[0] = '\0';
		return n;
	}
	set_msg(dec->errmsg, sizeof(dec->errmsg), "opus: %s failed: %s", what, opus_strerror(n));
	return opus_to_errno(n);
}

/* 2.5 ms at 48 kHz: the granularity libopus accepts for PLC and FEC. */
#define OPUS_CODEC_MIN_FRAME 120

static int check_span(struct opus_codec_dec *dec, const int16_t *pcm, size_t nsamples)
{
	if (!pcm || nsamples == 0 || nsamples % OPUS_CODEC_MIN_FRAME != 0 ||
	    nsamples > OPUS_CODEC_MAX_SAMPLES) {
		set_msg(dec->errmsg, sizeof(dec->errmsg),
			"opus: %zu samples is not a multiple of 2.5 ms up to 120 ms", nsamples);
		return -EINVAL;
	}
	return 0;
}

int opus_codec_decode(struct opus_codec_dec *dec, const uint8_t *pkt, size_t len,
		      int16_t *pcm, size_t max_samples)
{
	/* libopus treats a NULL or empty packet as "lost" and conceals it;
	 * here an empty payload from the wire is an error, concealment is asked
	 * for explicitly with opus_codec_conceal. */
	if (!pkt || len == 0 || len > INT32_MAX) {
		set_msg(dec->errmsg, sizeof(dec->errmsg), "opus: empty packet");
		return -EBADMSG;
	}
	if (!pcm || max_samples == 0)
		return dec_result(dec, OPUS_BAD_ARG, "decode");
	if (max_samples > OPUS_CODEC_MAX_SAMPLES)
		max_samples = OPUS_CODEC_MAX_SAMPLES;
	return dec_result(dec,
			  opus_decode(dec->st, pkt, (opus_int32)len, pcm, (int)max_samples, 0),
			  "decode");
}

int opus_codec_decode_fec(struct opus_codec_dec *dec, const uint8_t *next, size_t len,
			  int16_t *pcm, size_t nsamples)
{
	int rc = check_span(dec, pcm, nsamples);

	if (rc < 0)
		return rc;
	if (!next || len == 0 || len > INT32_MAX) {
		set_msg(dec->errmsg, sizeof(dec->errmsg), "opus: empty packet for FEC");
		return -EBADMSG;
	}
	return dec_result(dec,
			  opus_decode(dec->st, next, (opus_int32)len, pcm, (int)nsamples, 1),
			  "FEC decode");
}

bool opus_codec_has_fec(const uint8_t *pkt, size_t len)
{
	const unsigned char *frames[48];
	opus_int16 size[48];

	/* TOC configs 0..11 are SILK-only, 12..15 hybrid, 16..31 CELT. */
	if (!pkt || len == 0 || len > INT32_MAX || (pkt[0] >> 3) >= 16)
		return false;
	int fs = opus_packet_get_samples_per_frame(pkt, OPUS_CODEC_RATE);
	int nb = fs > 960 ? fs / 960 : 1; /* SILK frames of 20 ms in one Opus frame */
	int ch = opus_packet_get_nb_channels(pkt);
	if (opus_packet_parse(pkt, (opus_int32)len, NULL, frames, size, NULL) <= 0 || size[0] == 0)
		return false;
	/* The SILK header opens the range coder: one VAD flag per 20 ms
	 * frame, then the LBRR flag, each coded with probability 1/2, so
	 * they are the first bits of the first frame's bytes. */
	bool lbrr = (frames[0][0] >> (7 - nb)) & 1;
	if (ch == 2)
		lbrr = lbrr || ((frames[0][0] >> (6 - 2 * nb)) & 1);
	return lbrr;
}

int opus_codec_conceal(struct opus_codec_dec *dec, int16_t *pcm, size_t nsamples)
{
	int rc = check_span(dec, pcm, nsamples);

	if (rc < 0)
		return rc;
	return dec_result(dec, opus_decode(dec->st, NULL, 0, pcm, (int)nsamples, 0),
			  "concealment");
}

int opus_codec_packet_samples(const uint8_t *pkt, size_t len)
{
	int n;

	if (!pkt || len == 0 || len > INT32_MAX)
		return -EBADMSG;
	n = opus_packet_get_nb_samples(pkt, (opus_int32)len, OPUS_CODEC_RATE);
	if (n < 0)
		return opus_to_errno(n);
	/* A code 3 packet may announce zero frames: nothing to play is as bad
	 * as garbage for a caller sizing a frame. */
	if (n == 0 || n > OPUS_CODEC_MAX_SAMPLES)
		return -EBADMSG;
	return n;
}

const char *opus_codec_dec_error(const struct opus_codec_dec *dec)
{
	return dec->errmsg;
}
