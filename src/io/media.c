/* The media engine; see media.h. */
#include "p2pcall/media.h"
#include "p2pcall/audio_dev.h"
#include "p2pcall/audio_file.h"
#include "p2pcall/clock.h"
#include "p2pcall/jbuf.h"
#include "p2pcall/log.h"
#include "p2pcall/opus_codec.h"
#include "p2pcall/playout.h"
#include "p2pcall/rate_ctl.h"
#include "p2pcall/rtcp.h"
#include "p2pcall/rtp.h"
#include "p2pcall/rxstats.h"
#include "p2pcall/voice_dsp.h"

#include <errno.h>
#include <event2/event.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define RTCP_INTERVAL_US 1000000
#define DEV_POLL_US      5000
/* A real-time timer that fell this far behind (a stopped process, a
 * loaded machine) restarts its schedule instead of bursting to catch up. */
#define MAX_BEHIND_US    200000
/* Packets that arrived this long before media_start belong to an old call. */
#define STALE_PEER_US    2000000

struct media {
	struct event_base *base;
	struct media_cbs cbs;
	void *ctx;
	char *in_path, *out_path;
	unsigned frame_ms;
	size_t frame_samples;
	int bitrate, min_bitrate;
	bool cbr;
	bool fec_pinned;                /* --fec-loss: no FEC adaptation */
	int init_loss_pct;

	struct audio_file_reader *reader;
	bool reader_used;
	struct audio_file_writer *writer;
	bool writer_failed;
	struct audio_dev *dev;
	bool dev_started;
	struct opus_codec_enc *enc;
	struct opus_codec_dec *dec;
	struct jbuf *jb;
	struct voice_dsp *dsp;          /* NULL: no voice processing */
	bool dsp_aec;
	uint64_t dev_underrun_samples;  /* seen so far, to feed the AEC zeros */
	struct rate_ctl rc;
	int cur_bitrate;                /* what the encoder runs at */
	struct event *send_timer, *play_timer, *dev_timer, *rtcp_timer, *done_ev;
	bool running, listening;
	uint64_t start_us;

	/* our stream */
	uint32_t ssrc;
	uint16_t seq;
	uint32_t ts;
	bool first_sent;
	uint32_t tx_pkts, tx_octets;   /* for the SR (payload octets) */
	uint64_t send_next_us;
	bool input_done, bye_sent, done_reported;
	uint64_t input_done_us;
	int loss_pct;                   /* what the encoder is tuned for */
	char cname[32];

	/* the peer's stream */
	struct rxstats rx;
	bool have_peer, peer_bye, peer_ended;
	uint32_t peer_ssrc;
	uint64_t peer_first_us;
	uint64_t play_next_us;
	bool out_started;               /* the first frame was played */

	/* statistics */
	uint64_t bytes_out, bytes_in, bad;
	uint64_t frames, concealed;     /* played frames; PLC ones */
	uint64_t recovered;             /* ... and ones rebuilt from FEC */
	double rtt_ms, rtt_sum;
	unsigned rtt_n;
	double jb_sum;
	unsigned jb_n;
	struct rxstats_mark ui_mark;
	uint64_t iv_us, iv_bytes_out, iv_bytes_in, iv_frames, iv_concealed;
	uint64_t iv_recovered;

	/* the user's side (tui): mute, and the meters */
	bool muted;
	struct media_levels levels;

	int16_t pcm[PLAYOUT_MAX_SAMPLES];
	int16_t dsp_out[OPUS_CODEC_MAX_SAMPLES];
};

__attribute__((format(printf, 3, 4)))
static int fail(char *err, size_t n, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (err && n)
		vsnprintf(err, n, fmt, ap);
	va_end(ap);
	return 0;
}

static uint64_t frame_us(const struct media *m) { return (uint64_t)m->frame_ms * 1000; }

/* --- sending --- */

static void emit(struct media *m, const uint8_t *pkt, size_t len)
{
	m->bytes_out += len;
	m->cbs.send(m->ctx, pkt, len);
}

/* Peak and RMS of N samples as fractions of full scale. */
static void measure(const int16_t *pcm, size_t n, double *peak, double *rms)
{
	int32_t p = 0;
	double e = 0;
	for (size_t i = 0; i < n; i++) {
		int32_t v = pcm[i] < 0 ? -(int32_t)pcm[i] : pcm[i];
		if (v > p)
			p = v;
		e += (double)pcm[i] * pcm[i];
	}
	*peak = p > 32767 ? 1.0 : p / 32767.0;
	*rms = n ? sqrt(e / (double)n) / 32767.0 : 0;
	if (*rms > 1.0)
		*rms = 1.0;
}

static void send_frame(struct media *m, const int16_t *pcm)
{
	static const int16_t silence[OPUS_CODEC_MAX_SAMPLES];
	uint8_t opus[OPUS_CODEC_MAX_PACKET], pkt[RTP_HDR_LEN + OPUS_CODEC_MAX_PACKET];
	measure(pcm, m->frame_samples, &m->levels.mic_peak, &m->levels.mic_rms);
	/* Processed even while muted, so that the echo canceller and the
	 * noise estimate keep up with the room. */
	if (m->dsp && voice_dsp_capture(m->dsp, pcm, m->dsp_out) == 0)
		pcm = m->dsp_out;
	if (m->muted)
		pcm = silence;
	int n = opus_codec_encode(m->enc, pcm, m->frame_samples, opus, sizeof(opus));
	if (n < 0) {
		log_warn("Opus encoder: %s", opus_codec_enc_error(m->enc));
		m->ts += (uint32_t)m->frame_samples;
		return;
	}
	/* RFC 3551 §4.1: the marker flags the first packet of a talkspurt. */
	struct rtp_hdr h = { .marker = !m->first_sent, .pt = RTP_PT_OPUS, .seq = m->seq,
			     .ts = m->ts, .ssrc = m->ssrc };
	int len = rtp_write(pkt, sizeof(pkt), &h, opus, (size_t)n);
	m->seq++;
	m->ts += (uint32_t)m->frame_samples;
	if (len < 0)
		return;
	m->first_sent = true;
	m->tx_pkts++;
	m->tx_octets += (uint32_t)n;
	emit(m, pkt, (size_t)len);
}

/* An SR (or RR before we sent anything) with a block about the peer's
 * stream, SDES CNAME, and BYE when asked: one compound packet. */
static void send_rtcp(struct media *m, bool bye)
{
	uint64_t now = clock_now_us();
	struct rtcp_report r = { .sr = m->tx_pkts > 0, .ssrc = m->ssrc };
	if (r.sr) {
		r.ntp = rtcp_ntp_from_us(now);
		/* The RTP time of this instant: the next frame's timestamp. */
		r.rtp_ts = m->ts;
		r.pkt_count = m->tx_pkts;
		r.octet_count = m->tx_octets;
	}
	if (m->have_peer && m->rx.have_source) {
		rxstats_fill_rb(&m->rx, now, &r.rb[0]);
		r.rb_count = 1;
	}
	uint8_t buf[512];
	int a = rtcp_write_report(buf, sizeof(buf), &r);
	if (a < 0)
		return;
	int b = rtcp_write_sdes(buf + a, sizeof(buf) - (size_t)a, m->ssrc, m->cname);
	if (b < 0)
		return;
	int c = 0;
	if (bye && (c = rtcp_write_bye(buf + a + b, sizeof(buf) - (size_t)(a + b), m->ssrc)) < 0)
		return;
	emit(m, buf, (size_t)(a + b + c));
}

static void check_done(struct media *m);

/* The input file is over: flush the encoder's look-ahead with one silent
 * frame so the last words are heard, then say BYE. */
static void input_finished(struct media *m)
{
	memset(m->pcm, 0, m->frame_samples * sizeof(int16_t));
	send_frame(m, m->pcm);
	m->input_done = true;
	m->input_done_us = clock_now_us();
	/* The BYE ends the peer's recording of us: a lost one would leave
	 * its --output running on. Three copies now, one in each later
	 * report. */
	for (int i = 0; i < 3; i++)
		send_rtcp(m, true);
	m->bye_sent = true;
	log_debug("media: input `%s' sent (%u packets)", m->in_path, (unsigned)m->tx_pkts);
	struct timeval tv = { MEDIA_DONE_TAIL_MS / 1000, (MEDIA_DONE_TAIL_MS % 1000) * 1000 };
	event_add(m->done_ev, &tv);
	check_done(m);
}

static void arm(struct event *ev, uint64_t at_us)
{
	uint64_t now = clock_now_us();
	uint64_t d = at_us > now ? at_us - now : 0;
	struct timeval tv = { (time_t)(d / 1000000), (suseconds_t)(d % 1000000) };
	event_add(ev, &tv);
}

/* Reads the file in real time: every frame whose time has come. */
static void on_send_timer(evutil_socket_t fd, short what, void *arg)
{
	struct media *m = arg;
	uint64_t now = clock_now_us();
	if (now > m->send_next_us + MAX_BEHIND_US)
		m->send_next_us = now;
	while (!m->input_done && m->send_next_us <= now) {
		char err[256];
		long n = audio_file_read(m->reader, m->pcm, m->frame_samples, err, sizeof(err));
		if (n < 0) {
			log_warn("media: %s", err);
			n = 0;
		}
		if (n == 0) {
			input_finished(m);
			return;
		}
		send_frame(m, m->pcm);
		m->send_next_us += frame_us(m);
	}
	arm(m->send_timer, m->send_next_us);
}

/* --- receiving --- */

static void rx_reset(struct media *m)
{
	rxstats_init(&m->rx, RTP_OPUS_CLOCK);
	m->have_peer = m->peer_bye = m->peer_ended = false;
	m->out_started = false;
	m->ui_mark = (struct rxstats_mark){ 0 };
	jbuf_reset(m->jb);
}

static void apply_rate(struct media *m)
{
	struct rate_ctl_out t;
	rate_ctl_target(&m->rc, &t);
	if (t.fec_loss_pct != m->loss_pct && opus_codec_enc_set_loss_pct(m->enc, t.fec_loss_pct) == 0)
		m->loss_pct = t.fec_loss_pct;
	if (t.bitrate != m->cur_bitrate && opus_codec_enc_set_bitrate(m->enc, t.bitrate) == 0) {
		log_debug("media: bitrate %d -> %d bit/s (FEC for %d %% loss)", m->cur_bitrate,
			  t.bitrate, m->loss_pct);
		m->cur_bitrate = t.bitrate;
	}
}

static void on_rtcp(struct media *m, const uint8_t *pkt, size_t len, uint64_t now)
{
	struct rtcp_info info;
	if (rtcp_parse(pkt, len, &info) < 0) {
		m->bad++;
		return;
	}
	const struct rtcp_report *r = &info.report;
	if (m->have_peer && r->ssrc != m->peer_ssrc) {
		m->bad++;
		return;
	}
	if (r->sr && m->have_peer)
		rxstats_on_sr(&m->rx, r->ntp, now);
	for (unsigned i = 0; i < r->rb_count; i++) {
		const struct rtcp_rb *rb = &r->rb[i];
		if (rb->ssrc != m->ssrc)
			continue;
		uint64_t rtt;
		double rtt_ms = NAN;
		if (rtcp_rtt_us(rtcp_ntp_mid(rtcp_ntp_from_us(now)), rb->lsr, rb->dlsr, &rtt) == 0) {
			m->rtt_ms = rtt_ms = (double)rtt / 1000.0;
			m->rtt_sum += m->rtt_ms;
			m->rtt_n++;
		}
		/* The encoder follows the path: FEC tuned to the loss the
		 * peer sees, the bitrate down on loss or a growing RTT. */
		rate_ctl_report(&m->rc, now, rb->fraction_lost / 256.0, rtt_ms);
		apply_rate(m);
	}
	if (info.has_bye && m->have_peer && info.bye_ssrc == m->peer_ssrc && !m->peer_bye) {
		m->peer_bye = true;
		log_debug("media: the peer's stream ended (RTCP BYE)");
	}
}

void media_input(struct media *m, const uint8_t *pkt, size_t len)
{
	if (!m || (!m->running && !m->listening))
		return; /* before the call was answered, or after it ended */
	uint64_t now = clock_now_us();
	m->bytes_in += len;
	if (rtcp_is_rtcp(pkt, len))
		return on_rtcp(m, pkt, len, now);
	struct rtp_pkt p;
	if (rtp_parse(pkt, len, &p) < 0 || p.hdr.pt != RTP_PT_OPUS ||
	    rtp_opus_samples(p.payload, p.payload_len) < 0) {
		m->bad++;
		return;
	}
	if (!m->have_peer) {
		m->have_peer = true;
		m->peer_ssrc = p.hdr.ssrc;
		m->peer_first_us = now;
	} else if (p.hdr.ssrc != m->peer_ssrc) {
		/* One stream per call: anything else is a stranger's. (Its
		 * own packets may still come after its BYE, reordered.) */
		m->bad++;
		return;
	}
	enum rxstats_verdict v = rxstats_update(&m->rx, p.hdr.ssrc, p.hdr.seq, p.hdr.ts, now);
	if (v == RXSTATS_BAD) {
		m->bad++;
		return;
	}
	int rc = jbuf_put(m->jb, now, p.hdr.seq, p.hdr.ts, p.payload, p.payload_len);
	if (rc < 0)
		m->bad++;
}

/* --- playout --- */

static void output(struct media *m, const int16_t *pcm, size_t n)
{
	measure(pcm, n, &m->levels.peer_peak, &m->levels.peer_rms);
	if (m->writer) {
		/* The file's real-time clock is the "speaker" then: all it
		 * plays, silence included, is the reference. */
		if (m->dsp_aec)
			voice_dsp_playback(m->dsp, pcm, n);
		if (!m->out_started || m->peer_ended || m->writer_failed)
			return;
		char err[256];
		if (audio_file_write(m->writer, pcm, n, err, sizeof(err)) < 0) {
			m->writer_failed = true;
			m->cbs.event(m->ctx, MEDIA_EV_FAILED, err);
		}
		return;
	}
	if (m->dev) {
		size_t k = audio_dev_write(m->dev, pcm, n);
		if (m->dsp_aec)
			voice_dsp_playback(m->dsp, pcm, k);
	}
}

/* The speaker played silence for underruns since we last looked: the same
 * silence goes into the echo canceller's reference, or every later sample
 * would pair with the wrong microphone sample. */
static void feed_underruns(struct media *m)
{
	static const int16_t zeros[VOICE_DSP_BLOCK];
	struct audio_dev_stats ds;
	audio_dev_get_stats(m->dev, &ds);
	uint64_t k = ds.underrun_samples - m->dev_underrun_samples;
	m->dev_underrun_samples = ds.underrun_samples;
	if (k > (uint64_t)VOICE_DSP_MAX_AHEAD_MS * VOICE_DSP_RATE / 1000)
		k = (uint64_t)VOICE_DSP_MAX_AHEAD_MS * VOICE_DSP_RATE / 1000;
	while (k > 0) {
		size_t c = k < VOICE_DSP_BLOCK ? (size_t)k : VOICE_DSP_BLOCK;
		voice_dsp_playback(m->dsp, zeros, c);
		k -= c;
	}
}

/* Plays the next piece of the peer's stream; returns its sample count.
 * The jitter buffer's delay changes are made by time-stretching (see
 * playout.h); no lengthening once the peer said BYE. */
static size_t play_one(struct media *m, uint64_t now)
{
	struct playout_res r;
	size_t n = playout_next(m->jb, m->dec, m->frame_samples, now,
				m->out_started && !m->peer_bye, m->pcm, &r);
	m->bad += r.bad;
	if (r.kind != JBUF_SILENCE && !m->peer_ended) {
		m->out_started = true;
		m->frames++;
		m->concealed += r.concealed;
		m->recovered += r.recovered;
	}
	output(m, m->pcm, n);
	if (m->peer_bye && !m->peer_ended) {
		struct jbuf_stats st;
		jbuf_get_stats(m->jb, &st);
		if (st.buffered == 0) {
			m->peer_ended = true;
			check_done(m);
		}
	}
	return n;
}

/* --output FILE: the playout clock is a real-time timer. */
static void on_play_timer(evutil_socket_t fd, short what, void *arg)
{
	struct media *m = arg;
	uint64_t now = clock_now_us();
	if (now > m->play_next_us + MAX_BEHIND_US)
		m->play_next_us = now;
	while (m->running && m->play_next_us <= now) {
		/* Asked at its scheduled time, as a sound card would: a timer
		 * that fires late must not look like a buffer that shrank
		 * (the jitter buffer would stretch to and fro). */
		size_t n = play_one(m, m->play_next_us);
		m->play_next_us += (uint64_t)n * 1000000 / AUDIO_FILE_RATE;
	}
	if (m->running) /* a failed write may have ended the call */
		arm(m->play_timer, m->play_next_us);
}

/* The devices: drain capture as it fills, keep playback a little ahead. */
static void on_dev_timer(evutil_socket_t fd, short what, void *arg)
{
	struct media *m = arg;
	if (!audio_dev_is_active(m->dev)) {
		m->cbs.event(m->ctx, MEDIA_EV_FAILED, "the audio device stopped");
		return;
	}
	if (!m->in_path) {
		for (int i = 0; i < 16 && audio_dev_read_frame(m->dev, m->pcm, m->frame_samples); i++)
			send_frame(m, m->pcm);
	}
	if (!m->out_path) {
		size_t want = m->frame_samples * 2 > 1920 ? m->frame_samples * 2 : 1920;
		uint64_t now = clock_now_us();
		for (int i = 0; i < 16 && m->running && audio_dev_playback_queued(m->dev) < want; i++) {
			if (m->dsp_aec)
				feed_underruns(m);
			play_one(m, now);
		}
	}
	if (!m->running)
		return;
	struct timeval tv = { 0, DEV_POLL_US };
	event_add(m->dev_timer, &tv);
}

static void on_rtcp_timer(evutil_socket_t fd, short what, void *arg)
{
	struct media *m = arg;
	send_rtcp(m, m->bye_sent);
	if (m->have_peer) {
		struct jbuf_stats st;
		jbuf_get_stats(m->jb, &st);
		m->jb_sum += st.delay_ms;
		m->jb_n++;
	}
	struct timeval tv = { 0, RTCP_INTERVAL_US };
	tv.tv_sec = tv.tv_usec / 1000000;
	tv.tv_usec %= 1000000;
	event_add(m->rtcp_timer, &tv);
}

/* --- the end of a file --- */

static void check_done(struct media *m)
{
	if (!m->input_done || m->done_reported || !m->running)
		return;
	bool tail_over = clock_now_us() - m->input_done_us >= (uint64_t)MEDIA_DONE_TAIL_MS * 1000;
	if (!m->peer_ended && !tail_over)
		return;
	m->done_reported = true;
	/* Not from inside playout: the client stops us in its handler. */
	event_active(m->done_ev, EV_READ, 0);
}

static void on_done(evutil_socket_t fd, short what, void *arg)
{
	struct media *m = arg;
	if (!m->running)
		return;
	if (what & EV_TIMEOUT) {
		check_done(m);
		return;
	}
	m->cbs.event(m->ctx, MEDIA_EV_DONE, NULL);
}

/* --- lifetime --- */

int media_open(struct media **out, struct event_base *base, const struct media_cfg *cfg,
	       const struct media_cbs *cbs, void *ctx, char *err, size_t errlen)
{
	*out = NULL;
	if (!base || !cfg || !cbs || !cbs->send || !cbs->event)
		return fail(err, errlen, "internal: bad media arguments"), -EINVAL;
	unsigned fms = cfg->frame_ms ? cfg->frame_ms : MEDIA_DEFAULT_FRAME_MS;
	int rate = cfg->bitrate ? cfg->bitrate : MEDIA_DEFAULT_BITRATE;
	if (fms != 10 && fms != 20 && fms != 40 && fms != 60)
		return fail(err, errlen, "frame duration %u ms: use 10, 20, 40 or 60", fms), -EINVAL;
	if (rate < MEDIA_MIN_BITRATE || rate > MEDIA_MAX_BITRATE)
		return fail(err, errlen, "bitrate %d: use %d..%d bit/s", rate, MEDIA_MIN_BITRATE,
			    MEDIA_MAX_BITRATE), -EINVAL;
	int floor = cfg->min_bitrate ? cfg->min_bitrate
		    : rate < MEDIA_DEFAULT_MIN_BITRATE ? rate : MEDIA_DEFAULT_MIN_BITRATE;
	if (floor < MEDIA_MIN_BITRATE || floor > rate)
		return fail(err, errlen, "minimum bitrate %d: use %d..%d bit/s (the --bitrate)",
			    floor, MEDIA_MIN_BITRATE, rate), -EINVAL;
	struct media *m = calloc(1, sizeof(*m));
	if (!m)
		return fail(err, errlen, "out of memory"), -ENOMEM;
	m->base = base;
	m->cbs = *cbs;
	m->ctx = ctx;
	m->frame_ms = fms;
	m->frame_samples = (size_t)fms * 48;
	m->bitrate = m->cur_bitrate = rate;
	m->min_bitrate = floor;
	m->cbr = cfg->cbr;
	m->fec_pinned = cfg->fec_pinned;
	m->rtt_ms = NAN;
	char why[512];
	int rc = -ENOMEM;
	if ((cfg->input_file && !(m->in_path = strdup(cfg->input_file))) ||
	    (cfg->output_file && !(m->out_path = strdup(cfg->output_file)))) {
		fail(err, errlen, "out of memory");
		goto out;
	}
	if (m->in_path && (rc = audio_file_reader_open(&m->reader, m->in_path, why, sizeof(why))) < 0) {
		fail(err, errlen, "cannot use --input %s", why);
		goto out;
	}
	if (m->out_path && (rc = audio_file_writer_open(&m->writer, m->out_path, why, sizeof(why))) < 0) {
		fail(err, errlen, "cannot use --output %s", why);
		goto out;
	}
	if (!m->in_path || !m->out_path) {
		struct audio_dev_cfg dc;
		audio_dev_cfg_default(&dc);
		dc.input = cfg->input_dev;
		dc.output = cfg->output_dev;
		dc.capture = !m->in_path;
		dc.playback = !m->out_path;
		if ((rc = audio_dev_new(&m->dev, &dc, why, sizeof(why))) < 0) {
			fail(err, errlen, "cannot open the sound %s: %s (see --list-devices, or use %s)",
			     !m->in_path && !m->out_path ? "devices" : !m->in_path ? "capture device"
			     : "playback device", why,
			     !m->in_path && !m->out_path ? "--input FILE and --output FILE"
			     : !m->in_path ? "--input FILE" : "--output FILE");
			goto out;
		}
	}
	struct opus_codec_enc_cfg ec;
	opus_codec_enc_cfg_default(&ec);
	ec.frame_ms = fms;
	ec.bitrate = rate;
	ec.vbr = !cfg->cbr;
	if (cfg->fec_pinned) {
		if (cfg->fec_loss_pct < 0 || cfg->fec_loss_pct > 100) {
			fail(err, errlen, "FEC loss %d %%: use 0..100", cfg->fec_loss_pct);
			rc = -EINVAL;
			goto out;
		}
		ec.loss_pct = cfg->fec_loss_pct;
		ec.fec = cfg->fec_loss_pct > 0;
	}
	m->loss_pct = m->init_loss_pct = ec.loss_pct;
	if ((rc = opus_codec_enc_new(&m->enc, &ec, why, sizeof(why))) < 0 ||
	    (rc = opus_codec_dec_new(&m->dec, why, sizeof(why))) < 0) {
		fail(err, errlen, "Opus: %s", why);
		goto out;
	}
	/* Voice processing: on for a microphone, off for a file unless
	 * asked; the echo canceller needs the speaker's signal as its
	 * reference (or, asked for, what goes to --output FILE). */
	bool cap_dev = !m->in_path, play_dev = !m->out_path;
	struct voice_dsp_cfg vc;
	voice_dsp_cfg_default(&vc);
	vc.frame_samples = m->frame_samples;
	vc.aec = cfg->aec > 0 || (cfg->aec == 0 && cap_dev && play_dev);
	vc.ns = cfg->ns > 0 || (cfg->ns == 0 && cap_dev);
	vc.agc = cfg->agc > 0 || (cfg->agc == 0 && cap_dev);
	if ((vc.aec || vc.ns || vc.agc) && (rc = voice_dsp_new(&m->dsp, &vc)) < 0) {
		fail(err, errlen, "voice processing: %s", strerror(-rc));
		goto out;
	}
	m->dsp_aec = vc.aec;
	struct jbuf_config jc;
	jbuf_config_default(&jc);
	jc.frame_ms = fms;
	if ((rc = jbuf_new(&m->jb, &jc)) < 0) {
		fail(err, errlen, "jitter buffer: %s", strerror(-rc));
		goto out;
	}
	m->send_timer = evtimer_new(base, on_send_timer, m);
	m->play_timer = evtimer_new(base, on_play_timer, m);
	m->dev_timer = evtimer_new(base, on_dev_timer, m);
	m->rtcp_timer = evtimer_new(base, on_rtcp_timer, m);
	m->done_ev = event_new(base, -1, 0, on_done, m);
	rc = -ENOMEM;
	if (!m->send_timer || !m->play_timer || !m->dev_timer || !m->rtcp_timer || !m->done_ev) {
		fail(err, errlen, "out of memory");
		goto out;
	}
	uint32_t id;
	if (getrandom(&id, sizeof(id), 0) != sizeof(id))
		id = (uint32_t)clock_now_us();
	snprintf(m->cname, sizeof(m->cname), "p2pcall-%08x", (unsigned)id);
	rx_reset(m);
	*out = m;
	return 0;
out:
	media_free(m);
	return rc;
}

void media_listen(struct media *m)
{
	if (!m || m->running || m->listening)
		return;
	rx_reset(m);
	m->listening = true;
}

int media_start(struct media *m, char *err, size_t errlen)
{
	if (!m)
		return -EINVAL;
	if (m->running)
		return 0;
	uint64_t now = clock_now_us();
	m->levels = (struct media_levels){ 0 };
	if (m->reader_used) {
		/* A later call (a waiting client) sends the file again. */
		char why[512];
		audio_file_reader_free(m->reader);
		m->reader = NULL;
		int rc = audio_file_reader_open(&m->reader, m->in_path, why, sizeof(why));
		if (rc < 0)
			return fail(err, errlen, "cannot use --input %s", why), rc;
	}
	m->reader_used = m->reader != NULL;
	uint32_t r[3];
	if (getrandom(r, sizeof(r), 0) != sizeof(r)) {
		uint64_t t = clock_now_us();
		r[0] = (uint32_t)(t * 2654435761u), r[1] = (uint32_t)(t >> 7), r[2] = (uint32_t)(t >> 13);
	}
	m->ssrc = r[0];
	m->seq = (uint16_t)r[1];
	m->ts = r[2];
	m->first_sent = false;
	m->tx_pkts = m->tx_octets = 0;
	m->input_done = m->bye_sent = m->done_reported = false;
	if (!m->listening)
		rx_reset(m);
	m->bytes_out = m->bytes_in = m->bad = m->frames = m->concealed = m->recovered = 0;
	m->rtt_ms = NAN;
	m->rtt_sum = m->jb_sum = 0;
	m->rtt_n = m->jb_n = 0;
	m->start_us = m->iv_us = now;
	/* Each call starts from the ceiling; what the last path taught
	 * says nothing about this one. */
	struct rate_ctl_cfg rcc = { .min_bps = m->min_bitrate, .max_bps = m->bitrate, .cbr = m->cbr,
				    .fec_pinned = m->fec_pinned };
	rate_ctl_init(&m->rc, &rcc, m->init_loss_pct, now);
	apply_rate(m);
	voice_dsp_reset(m->dsp);
	if (m->dev) {
		struct audio_dev_stats ds;
		audio_dev_get_stats(m->dev, &ds);
		m->dev_underrun_samples = ds.underrun_samples;
	}
	m->iv_bytes_out = m->iv_bytes_in = m->iv_frames = m->iv_concealed = m->iv_recovered = 0;
	if (m->dev) {
		/* The stream runs from the first call to exit: stopping it
		 * drains the driver, which can block on a stalled sound server
		 * just as the call ends. A later call skips what was captured
		 * in between. */
		if (!m->dev_started) {
			int rc = audio_dev_start(m->dev, err, errlen);
			if (rc < 0)
				return rc;
			m->dev_started = true;
		}
		while (audio_dev_read(m->dev, m->pcm, OPUS_CODEC_MAX_SAMPLES) > 0)
			;
		struct timeval tv = { 0, DEV_POLL_US };
		event_add(m->dev_timer, &tv);
	}
	m->running = true;
	m->listening = false;
	if (m->reader) {
		m->send_next_us = now;
		event_active(m->send_timer, EV_TIMEOUT, 0);
	}
	if (m->writer) {
		m->play_next_us = now;
		arm(m->play_timer, now + frame_us(m));
	}
	struct timeval tv = { 1, 0 };
	event_add(m->rtcp_timer, &tv);
	return 0;
}

void media_stop(struct media *m)
{
	if (!m)
		return;
	m->listening = false;
	if (!m->running)
		return;
	uint64_t now = clock_now_us();
	/* A file holds all the peer sent: play out what is still buffered
	 * (the call may end as its last packets arrive). */
	if (m->writer && m->out_started) {
		for (unsigned i = 0; i < 256 && !m->peer_ended; i++) {
			struct jbuf_stats st;
			jbuf_get_stats(m->jb, &st);
			if (st.buffered == 0)
				break;
			play_one(m, now);
		}
	}
	if (!m->bye_sent)
		send_rtcp(m, true);
	m->bye_sent = true;
	event_del(m->send_timer);
	event_del(m->play_timer);
	event_del(m->dev_timer);
	event_del(m->rtcp_timer);
	event_del(m->done_ev);
	m->running = false;
}

bool media_running(const struct media *m) { return m && m->running; }

void media_free(struct media *m)
{
	if (!m)
		return;
	media_stop(m);
	struct event *evs[] = { m->send_timer, m->play_timer, m->dev_timer, m->rtcp_timer, m->done_ev };
	for (size_t i = 0; i < sizeof(evs) / sizeof(evs[0]); i++)
		if (evs[i])
			event_free(evs[i]);
	char err[256];
	if (m->writer && audio_file_writer_close(m->writer, err, sizeof(err)) < 0)
		log_error("%s", err);
	audio_file_reader_free(m->reader);
	audio_dev_free(m->dev);
	opus_codec_enc_free(m->enc);
	opus_codec_dec_free(m->dec);
	jbuf_free(m->jb);
	voice_dsp_free(m->dsp);
	free(m->in_path);
	free(m->out_path);
	free(m);
}

/* --- statistics --- */

static double pct(uint64_t part, uint64_t whole)
{
	return whole ? 100.0 * (double)part / (double)whole : NAN;
}

static double kbps(uint64_t bytes, uint64_t us)
{
	return us ? (double)bytes * 8.0 * 1000.0 / (double)us : NAN;
}

void media_interval_stats(struct media *m, struct media_stats *st)
{
	uint64_t now = clock_now_us();
	bool rx = m->have_peer && m->rx.have_source;
	*st = (struct media_stats){
		.rtt_ms = m->rtt_ms,
		.loss_pct = rx ? rxstats_fraction_lost(&m->rx, &m->ui_mark) * 100.0 / 256.0 : NAN,
		.jitter_ms = rx ? rxstats_jitter_ms(&m->rx) : NAN,
		.jb_ms = NAN,
		.concealed_pct = pct(m->concealed - m->iv_concealed, m->frames - m->iv_frames),
		.recovered_pct = pct(m->recovered - m->iv_recovered, m->frames - m->iv_frames),
		.kbps_out = kbps(m->bytes_out - m->iv_bytes_out, now - m->iv_us),
		.kbps_in = kbps(m->bytes_in - m->iv_bytes_in, now - m->iv_us),
		.bad_packets = m->bad,
		.target_kbps = m->cur_bitrate / 1000.0,
		.fec_loss_pct = m->loss_pct,
	};
	if (rx) {
		struct jbuf_stats js;
		jbuf_get_stats(m->jb, &js);
		st->jb_ms = js.delay_ms;
	}
	m->iv_us = now;
	m->iv_bytes_out = m->bytes_out;
	m->iv_bytes_in = m->bytes_in;
	m->iv_frames = m->frames;
	m->iv_concealed = m->concealed;
	m->iv_recovered = m->recovered;
}

void media_call_stats(const struct media *m, struct media_stats *st)
{
	uint64_t span = clock_now_us() - m->start_us;
	bool rx = m->have_peer && m->rx.have_source;
	int64_t lost = rx ? rxstats_lost(&m->rx) : 0;
	uint64_t expected = rx ? rxstats_expected(&m->rx) : 0;
	*st = (struct media_stats){
		.rtt_ms = m->rtt_n ? m->rtt_sum / m->rtt_n : NAN,
		.loss_pct = rx ? pct(lost > 0 ? (uint64_t)lost : 0, expected) : NAN,
		.jitter_ms = rx ? rxstats_jitter_ms(&m->rx) : NAN,
		.jb_ms = m->jb_n ? m->jb_sum / m->jb_n : NAN,
		.concealed_pct = pct(m->concealed, m->frames),
		.recovered_pct = pct(m->recovered, m->frames),
		.kbps_out = kbps(m->bytes_out, span),
		.kbps_in = kbps(m->bytes_in, span),
		.bad_packets = m->bad,
		.target_kbps = m->cur_bitrate / 1000.0,
		.fec_loss_pct = m->loss_pct,
	};
}

void media_set_mute(struct media *m, bool mute)
{
	if (m)
		m->muted = mute;
}

bool media_muted(const struct media *m) { return m && m->muted; }

void media_levels(const struct media *m, struct media_levels *lv)
{
	*lv = m ? m->levels : (struct media_levels){ 0 };
}
