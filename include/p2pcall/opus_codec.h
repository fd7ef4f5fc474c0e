/* Thin wrapper around libopus for p2pcall's one use: 48 kHz mono voice.
 *
 * Encoder: OPUS_APPLICATION_VOIP, frames of 10/20/40/60 ms, in-band FEC on
 * by default (it only costs bits when the expected loss set with
 * opus_codec_enc_set_loss_pct is above zero).
 * Decoder: normal decode, FEC decode of a lost frame from the packet that
 * follows it, and packet-loss concealment (PLC) when there is nothing.
 *
 * Every function returns 0 / a count, or -errno: -EINVAL bad argument,
 * -EBADMSG corrupt packet, -ENOSPC output buffer too small, -ENOMEM, -EIO
 * libopus internal error. The object keeps a message for the last error
 * (opus_codec_enc_error / opus_codec_dec_error) for logs. Encoder and
 * decoder are each used from one thread (the event loop), never from the
 * audio callback. */
#ifndef P2PCALL_OPUS_CODEC_H
#define P2PCALL_OPUS_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define OPUS_CODEC_RATE 48000
/* Samples in the longest Opus packet (120 ms at 48 kHz): enough output
 * space for any packet a peer may send. */
#define OPUS_CODEC_MAX_SAMPLES 5760
/* Output buffer size that always holds one encoded frame (RFC 6716: at most
 * 1275 bytes per frame, 3 frames for 60 ms, plus framing). */
#define OPUS_CODEC_MAX_PACKET 4000

struct opus_codec_enc;
struct opus_codec_dec;

struct opus_codec_enc_cfg {
	unsigned frame_ms; /* 10, 20, 40 or 60 */
	int bitrate;       /* bits/s, 6000..510000 */
	int complexity;    /* 0..10 */
	int loss_pct;      /* expected packet loss 0..100: tunes FEC */
	bool vbr;          /* false = CBR */
	bool fec;          /* in-band FEC (LBRR) */
};

/* Defaults: 20 ms, 32 kbit/s, complexity 9, 10 % expected loss, VBR, FEC. */
void opus_codec_enc_cfg_default(struct opus_codec_enc_cfg *cfg);

/* Creates an encoder. cfg NULL = defaults. On error writes a message to err
 * (if not NULL) and returns -errno; on success the caller owns *out. */
int opus_codec_enc_new(struct opus_codec_enc **out, const struct opus_codec_enc_cfg *cfg,
		       char *err, size_t errlen);
void opus_codec_enc_free(struct opus_codec_enc *enc);

/* Samples per frame this encoder expects (e.g. 960 for 20 ms). */
size_t opus_codec_enc_frame_samples(const struct opus_codec_enc *enc);

/* Setters, usable between frames (e.g. from RTCP loss reports). 0 or -EINVAL. */
int opus_codec_enc_set_bitrate(struct opus_codec_enc *enc, int bitrate);
int opus_codec_enc_set_loss_pct(struct opus_codec_enc *enc, int loss_pct);
int opus_codec_enc_set_vbr(struct opus_codec_enc *enc, bool vbr);
int opus_codec_enc_set_complexity(struct opus_codec_enc *enc, int complexity);
int opus_codec_enc_set_fec(struct opus_codec_enc *enc, bool fec);

/* Encodes exactly one frame (nsamples == opus_codec_enc_frame_samples) into
 * out (outlen bytes; OPUS_CODEC_MAX_PACKET always suffices). Returns the
 * packet length (>= 1), -EINVAL for a wrong frame size, -ENOSPC. */
int opus_codec_encode(struct opus_codec_enc *enc, const int16_t *pcm, size_t nsamples,
		      uint8_t *out, size_t outlen);

/* Samples of encoder look-ahead: the decoded signal lags the input by this
 * much (312 at 48 kHz for VOIP in libopus 1.3). */
int opus_codec_enc_lookahead(const struct opus_codec_enc *enc);

/* Message for the last error of this encoder ("" if none). */
const char *opus_codec_enc_error(const struct opus_codec_enc *enc);

int opus_codec_dec_new(struct opus_codec_dec **out, char *err, size_t errlen);
void opus_codec_dec_free(struct opus_codec_dec *dec);

/* Decodes one packet into pcm (room for max_samples). Returns the number of
 * samples decoded, -EBADMSG for an empty or corrupt packet, -ENOSPC if the
 * packet holds more than max_samples. */
int opus_codec_decode(struct opus_codec_dec *dec, const uint8_t *pkt, size_t len,
		      int16_t *pcm, size_t max_samples);

/* A packet was lost but the one after it (next, len) has arrived: rebuilds
 * the lost frame (nsamples long, a multiple of 2.5 ms = 120 samples) from
 * the FEC data in next. If next carries no FEC, libopus falls back to PLC
 * for that span. Decode next normally afterwards. Returns nsamples or
 * -errno. */
int opus_codec_decode_fec(struct opus_codec_dec *dec, const uint8_t *next, size_t len,
			  int16_t *pcm, size_t nsamples);

/* Whether pkt carries in-band FEC (SILK LBRR data) for the frame before
 * it, i.e. whether opus_codec_decode_fec on it rebuilds that frame rather
 * than falling back to PLC. False for a CELT-only or bad packet. (Like
 * opus_packet_has_lbrr of libopus 1.5, which Debian 12's 1.3 lacks.) */
bool opus_codec_has_fec(const uint8_t *pkt, size_t len);

/* Nothing to decode: conceals nsamples (a multiple of 120) from the past
 * signal (PLC). Returns nsamples or -errno. */
int opus_codec_conceal(struct opus_codec_dec *dec, int16_t *pcm, size_t nsamples);

/* Duration of a packet in samples at 48 kHz without decoding it, or
 * -EBADMSG. Lets a jitter buffer size a frame before decoding. */
int opus_codec_packet_samples(const uint8_t *pkt, size_t len);

const char *opus_codec_dec_error(const struct opus_codec_dec *dec);

#endif
