/* Playout (jitter buffer + Opus decoder + time-stretch) on a simulated
 * clock: a 440 Hz tone sent as 20 ms Opus frames, one every 20 ms, over a
 * path with 20 ms delay and a little jitter; at 3 s the path stalls for
 * 300 ms and then delivers the held packets at once (a delay spike). The
 * output must return to its pre-spike delay within a few seconds (the
 * target's memory of the spike plus its decay; measured 5.1 s), by
 * stretching (no frame dropped or inserted whole), and have no
 * discontinuity: its largest sample-to-sample step stays close to the
 * clean run's. The playout clock is a device that pulls 10 ms periods. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "p2pcall/jbuf.h"
#include "p2pcall/opus_codec.h"
#include "p2pcall/playout.h"
#include "dsp_signals.h"

#define FRAME 960
#define SECONDS 12
#define NPKT (SECONDS * 50)
#define SPIKE_AT_MS 3000
#define SPIKE_MS 300

struct run {
	int max_jump;            /* largest step after the first 0.5 s of sound */
	double delay_before_ms;  /* D just before the spike */
	double peak_ms;          /* largest D after it */
	double settle_s;         /* from the spike's end to D within 15 ms of before */
	double final_ms;
	uint64_t shrunk_ms, grown_ms, stretches;
};

static uint8_t pkt[NPKT][400];
static int pkt_len[NPKT];

/* speech false: the tone; true: synthetic speech (dsp_signals.h). */
static void encode(bool speech)
{
	static double x[NPKT * FRAME];
	if (speech)
		dsp_speech(x, NPKT * FRAME, 11, -20);
	struct opus_codec_enc *enc;
	struct opus_codec_enc_cfg c;
	opus_codec_enc_cfg_default(&c);
	c.bitrate = 32000;
	char err[128];
	ck_assert_int_eq(opus_codec_enc_new(&enc, &c, err, sizeof(err)), 0);
	int16_t pcm[FRAME];
	for (int k = 0; k < NPKT; k++) {
		for (int i = 0; i < FRAME; i++)
			pcm[i] = (int16_t)lrint(speech ? x[k * FRAME + i]
						: 8000 * sin(2 * M_PI * 440 * (double)(k * FRAME + i) / 48000));
		pkt_len[k] = opus_codec_encode(enc, pcm, FRAME, pkt[k], sizeof(pkt[k]));
		ck_assert_int_gt(pkt_len[k], 0);
	}
	opus_codec_enc_free(enc);
}

/* Arrival of packet k in ms: 20 ms plus 0..4 ms of jitter, and with the
 * spike, held until the path comes back. */
static double arrival_ms(int k, bool spike)
{
	double sent = k * 20.0;
	double a = sent + 20 + (k * 7919 % 5);
	if (spike && sent >= SPIKE_AT_MS - 20 && a < SPIKE_AT_MS + SPIKE_MS)
		a = SPIKE_AT_MS + SPIKE_MS + (k % 3) * 0.1;
	return a;
}

static void run(bool spike, struct run *r)
{
	struct jbuf *jb;
	struct opus_codec_dec *dec;
	char err[128];
	ck_assert_int_eq(jbuf_new(&jb, NULL), 0);
	ck_assert_int_eq(opus_codec_dec_new(&dec, err, sizeof(err)), 0);
	*r = (struct run){ .settle_s = -1 };
	static int16_t buf[PLAYOUT_MAX_SAMPLES];
	int16_t prev = 0;
	bool have_prev = false;
	size_t held = 0, played = 0, sound = 0;
	int next = 0;
	const uint64_t t0 = 1000000000ull;
	double settled_at = -1;
	for (uint64_t ms = 0; ms < (uint64_t)SECONDS * 1000 + 200; ms++) {
		uint64_t now = t0 + ms * 1000;
		while (next < NPKT && arrival_ms(next, spike) <= (double)ms) {
			uint32_t ts = (uint32_t)(next * FRAME);
			jbuf_put(jb, now, (uint16_t)(1000 + next), 5000 + ts, pkt[next], (size_t)pkt_len[next]);
			next++;
		}
		/* a device with 10 ms periods, pulled every 10 ms */
		if (ms % 10)
			continue;
		while (held < 480) {
			struct playout_res res;
			size_t n = playout_next(jb, dec, FRAME, now, true, buf, &res);
			if (res.stretched)
				r->stretches++;
			for (size_t i = 0; i < n; i++) {
				if (res.kind != JBUF_SILENCE && abs(buf[i]) > 100)
					sound++;
				if (have_prev && sound > 24000) {
					int j = abs(buf[i] - prev);
					if (j > r->max_jump)
						r->max_jump = j;
				}
				prev = buf[i];
				have_prev = true;
			}
			held += n;
			played += n;
		}
		held -= 480;
		struct jbuf_stats st;
		jbuf_get_stats(jb, &st);
		if (ms == SPIKE_AT_MS - 10)
			r->delay_before_ms = st.delay_ms;
		if (ms > SPIKE_AT_MS && st.delay_ms > r->peak_ms)
			r->peak_ms = st.delay_ms;
		if (ms >= SPIKE_AT_MS + SPIKE_MS) {
			bool ok = fabs(st.delay_ms - r->delay_before_ms) <= 15;
			if (ok && settled_at < 0)
				settled_at = (double)(ms - SPIKE_AT_MS - SPIKE_MS) / 1000.0;
			else if (!ok)
				settled_at = -1;
		}
		r->final_ms = st.delay_ms;
	}
	r->settle_s = settled_at;
	struct jbuf_stats st;
	jbuf_get_stats(jb, &st);
	r->shrunk_ms = st.shrunk_ms;
	r->grown_ms = st.grown_ms;
	jbuf_free(jb);
	opus_codec_dec_free(dec);
}

START_TEST(spike_is_stretched_away)
{
	encode(false);
	struct run clean, sp;
	run(false, &clean);
	run(true, &sp);
	fprintf(stderr, "playout: clean: max step %d, delay %.0f ms; spike: max step %d, delay %.0f ms "
		"before, %.0f peak, back within 15 ms after %.2f s (final %.0f), shrunk %llu ms and "
		"grown %llu ms in %llu stretches\n", clean.max_jump, clean.final_ms, sp.max_jump,
		sp.delay_before_ms, sp.peak_ms, sp.settle_s, sp.final_ms,
		(unsigned long long)sp.shrunk_ms, (unsigned long long)sp.grown_ms,
		(unsigned long long)sp.stretches);
	/* 440 Hz at 8000: 8000 * 2 pi 440 / 48000 = 461 per sample at most */
	ck_assert_int_lt(clean.max_jump, 600);
	ck_assert_msg(sp.peak_ms >= SPIKE_MS - 50, "the spike did not show: %.0f ms", sp.peak_ms);
	/* The estimator remembers the spike for its 2 s window, then lowers
	 * the target with a 1 s time constant; D follows the target down by
	 * stretching. */
	ck_assert_msg(sp.settle_s >= 0 && sp.settle_s <= 6.0, "settled after %.2f s", sp.settle_s);
	ck_assert_msg(sp.max_jump <= clean.max_jump * 3 / 2, "step %d against %d clean", sp.max_jump,
		      clean.max_jump);
	ck_assert_uint_ge(sp.shrunk_ms, SPIKE_MS - 60);
}
END_TEST

/* The same with speech: pauses let the delay go quicker, and stretching
 * inside syllables must not click either. */
START_TEST(spike_in_speech)
{
	encode(true);
	struct run clean, sp;
	run(false, &clean);
	run(true, &sp);
	fprintf(stderr, "playout: speech: clean max step %d; spike: max step %d, delay %.0f ms before, "
		"%.0f peak, back after %.2f s, shrunk %llu ms grown %llu ms in %llu stretches\n",
		clean.max_jump, sp.max_jump, sp.delay_before_ms, sp.peak_ms, sp.settle_s,
		(unsigned long long)sp.shrunk_ms, (unsigned long long)sp.grown_ms,
		(unsigned long long)sp.stretches);
	ck_assert_msg(sp.peak_ms >= SPIKE_MS - 50, "the spike did not show: %.0f ms", sp.peak_ms);
	ck_assert_msg(sp.settle_s >= 0 && sp.settle_s <= 6.0, "settled after %.2f s", sp.settle_s);
	ck_assert_msg(sp.max_jump <= clean.max_jump * 3 / 2, "step %d against %d clean", sp.max_jump,
		      clean.max_jump);
}
END_TEST

Suite *playout_suite(void)
{
	Suite *s = suite_create("playout");
	TCase *c = tcase_create("core");
	tcase_set_timeout(c, 30);
	tcase_add_test(c, spike_is_stretched_away);
	tcase_add_test(c, spike_in_speech);
	suite_add_tcase(s, c);
	return s;
}
