/* The media engine without sockets: two engines on one libevent loop,
 * each sending a sound file to the other through a "network" in this
 * test that can drop, and an attacker that injects garbage. What each
 * writes to its --output file must be the other's file (envelope match,
 * see tests/support/audio_cmp.h), with the right length, and every bad
 * packet counted, never a crash or a stall. Real time: ~2.5 s per call. */
#include <check.h>
#include <errno.h>
#include <event2/event.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audio_cmp.h"
#include "dsp_signals.h"
#include "p2pcall/media.h"
#include "p2pcall/rtp.h"

static char dir[64], in_a[128], in_b[128], out_a[128], out_b[128];

struct side {
	struct media *m;
	struct side *peer;
	unsigned sent, dropped, drop_every;
	unsigned drop_pct;     /* random loss, from a seeded generator */
	uint32_t rng;
	bool done;
	uint8_t last[1500];    /* the last RTP packet sent, to forge from */
	size_t last_len;
};

static struct side A, B;
/* For both sides of the next calls: FEC pinned at 0 (no FEC). */
static bool no_fec;
/* ... and a fixed 24 kbit/s (no bitrate adaptation). */
static bool fixed_rate;
static struct event_base *base;
static unsigned garbage_sent;

/* Syllable-like bursts: harmonics of F0 Hz under a 60-180 ms envelope,
 * with pauses, a pattern per seed. */
static void make_signal(const char *path, double f0, unsigned seed, double seconds)
{
	size_t n = (size_t)(seconds * 48000);
	int16_t *pcm = calloc(n, sizeof(*pcm));
	ck_assert_ptr_nonnull(pcm);
	srand(seed);
	for (size_t t = 4800; t + 9600 < n;) {
		size_t len = (size_t)(2880 + rand() % 5760), gap = (size_t)(960 + rand() % 9600);
		double amp = 3000 + rand() % 9000;
		for (size_t i = 0; i < len; i++) {
			double env = sin(M_PI * (double)i / (double)len), x = 0, tt = (double)(t + i) / 48000;
			for (int h = 1; h <= 4; h++)
				x += sin(2 * M_PI * f0 * h * tt) / h;
			pcm[t + i] = (int16_t)(amp * env * x / 2);
		}
		t += len + gap;
	}
	char err[256];
	ck_assert_msg(audio_save(path, pcm, n, err, sizeof(err)) == 0, "%s", err);
	free(pcm);
}

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/p2pcall-media-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(in_a, sizeof(in_a), "%s/a.wav", dir);
	snprintf(in_b, sizeof(in_b), "%s/b.wav", dir);
	snprintf(out_a, sizeof(out_a), "%s/heard-by-a.wav", dir);
	snprintf(out_b, sizeof(out_b), "%s/heard-by-b.wav", dir);
	make_signal(in_a, 140, 1, 2.0);
	make_signal(in_b, 210, 2, 1.7);
	memset(&A, 0, sizeof(A));
	memset(&B, 0, sizeof(B));
	A.peer = &B;
	B.peer = &A;
	garbage_sent = 0;
	no_fec = fixed_rate = false;
	base = event_base_new();
	ck_assert_ptr_nonnull(base);
}

static void teardown(void)
{
	media_free(A.m);
	media_free(B.m);
	A.m = B.m = NULL;
	if (base)
		event_base_free(base);
	base = NULL;
	audio_sh("rm -rf '%s'", dir);
}

static void net_send(void *ctx, const uint8_t *pkt, size_t len)
{
	struct side *s = ctx;
	bool rtp = !(len > 1 && pkt[1] >= 192 && pkt[1] <= 223);
	if (rtp) {
		s->sent++;
		memcpy(s->last, pkt, len);
		s->last_len = len;
		/* xorshift32: the same drop pattern in every run */
		s->rng ^= s->rng << 13;
		s->rng ^= s->rng >> 17;
		s->rng ^= s->rng << 5;
		if ((s->drop_every && s->sent % s->drop_every == 0) ||
		    (s->drop_pct && s->rng % 100 < s->drop_pct)) {
			s->dropped++;
			return;
		}
	}
	media_input(s->peer->m, pkt, len);
}

static void on_event(void *ctx, enum media_event ev, const char *why)
{
	struct side *s = ctx;
	ck_assert_msg(ev == MEDIA_EV_DONE, "media failed: %s", why ? why : "?");
	s->done = true;
	/* Like the client: the first to be done hangs up the call. */
	media_stop(A.m);
	media_stop(B.m);
	event_base_loopexit(base, NULL);
}

/* Settings for the next open_side (the voice tests). */
static struct media_cfg next_cfg;

static void open_side(struct side *s, const char *in, const char *out, unsigned frame_ms)
{
	static const struct media_cbs cbs = { net_send, on_event };
	struct media_cfg cfg = next_cfg;
	cfg.input_file = in;
	cfg.output_file = out;
	cfg.frame_ms = frame_ms;
	next_cfg = (struct media_cfg){ 0 };
	if (no_fec)
		cfg.fec_pinned = true, cfg.fec_loss_pct = 0;
	if (fixed_rate)
		cfg.bitrate = cfg.min_bitrate = 24000;
	char err[512];
	ck_assert_msg(media_open(&s->m, base, &cfg, &cbs, s, err, sizeof(err)) == 0, "%s", err);
}

/* Voiced sound without pauses: harmonics of a gliding F0 in syllables of
 * 167 ms. Opus codes FEC only for frames its voice activity detector
 * finds active: about two in three here (the troughs between syllables
 * get none), more than with pauses. */
static void make_voiced(const char *path, double f0, double seconds)
{
	size_t n = (size_t)(seconds * 48000);
	int16_t *pcm = calloc(n, sizeof(*pcm));
	ck_assert_ptr_nonnull(pcm);
	double ph = 0;
	for (size_t i = 0; i < n; i++) {
		double t = (double)i / 48000, x = 0;
		ph += 2 * M_PI * f0 * (1 + 0.1 * sin(2 * M_PI * 3 * t)) / 48000;
		for (int h = 1; h <= 6; h++)
			x += sin(h * ph) / h;
		pcm[i] = (int16_t)(8000 * (0.25 + 0.75 * fabs(sin(2 * M_PI * 3 * t))) * x / 2);
	}
	char err[256];
	ck_assert_msg(audio_save(path, pcm, n, err, sizeof(err)) == 0, "%s", err);
	free(pcm);
}

/* Garbage for B every 10 ms, of every kind the engine must shrug off. */
static void on_garbage(evutil_socket_t fd, short what, void *arg)
{
	struct event *self = arg;
	uint8_t pkt[1500];
	size_t len = A.last_len;
	if (len >= RTP_HDR_LEN + 2) {
		memcpy(pkt, A.last, len);
		switch (garbage_sent % 6) {
		case 0: /* random bytes that look like RTP by the first byte */
			for (size_t i = 1; i < len; i++)
				pkt[i] = (uint8_t)rand();
			break;
		case 1: /* a stranger's SSRC */
			pkt[8] ^= 0x5a;
			break;
		case 2: /* wrong payload type */
			pkt[1] = (pkt[1] & 0x80) | 96;
			break;
		case 3: /* absurd timestamp and sequence, same SSRC */
			pkt[2] ^= 0x80;
			pkt[4] ^= 0x7f;
			break;
		case 4: /* header only: no Opus payload */
			len = RTP_HDR_LEN;
			break;
		case 5: /* a truncated, corrupted Opus frame in a bogus RTCP */
			pkt[1] = 200;
			len = 9;
			break;
		}
		media_input(B.m, pkt, len);
		garbage_sent++;
	}
	struct timeval tv = { 0, 10000 };
	event_add(self, &tv);
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
	ck_abort_msg("the call did not end by itself in 10 s");
}

static void on_late_start(evutil_socket_t fd, short what, void *arg)
{
	char err[256];
	ck_assert_int_eq(media_start(B.m, err, sizeof(err)), 0);
}

/* Runs one call until an engine reports its file done. B_LATE_MS: B only
 * listens at first and starts that much after A (its side of the path
 * came up later). */
static void run_call_late(unsigned fa, unsigned fb, bool garbage, long b_late_ms, struct media_stats *sa,
			  struct media_stats *sb)
{
	open_side(&A, in_a, out_a, fa);
	open_side(&B, in_b, out_b, fb);
	char err[256];
	struct event *late = evtimer_new(base, on_late_start, NULL);
	if (b_late_ms) {
		media_listen(B.m);
		ck_assert(!media_running(B.m));
		struct timeval lt = { 0, b_late_ms * 1000 };
		event_add(late, &lt);
	}
	ck_assert_int_eq(media_start(A.m, err, sizeof(err)), 0);
	if (!b_late_ms) {
		ck_assert_int_eq(media_start(B.m, err, sizeof(err)), 0);
		ck_assert(media_running(A.m) && media_running(B.m));
	}
	struct event *g = NULL, *limit = evtimer_new(base, on_timeout, NULL);
	struct timeval tv = { 10, 0 };
	event_add(limit, &tv);
	if (garbage) {
		g = event_new(base, -1, 0, on_garbage, NULL);
		event_assign(g, base, -1, 0, on_garbage, g);
		event_active(g, EV_TIMEOUT, 0);
	}
	event_base_dispatch(base);
	if (g)
		event_free(g);
	event_free(limit);
	event_free(late);
	ck_assert(!media_running(A.m) && !media_running(B.m));
	media_call_stats(A.m, sa);
	media_call_stats(B.m, sb);
	/* media_free finishes the WAV files. */
	media_free(A.m);
	media_free(B.m);
	A.m = B.m = NULL;
}

static void run_call(unsigned fa, unsigned fb, bool garbage, struct media_stats *sa, struct media_stats *sb)
{
	run_call_late(fa, fb, garbage, 0, sa, sb);
}

/* The envelope match a call must reach, as in test_audio_call.c: right
 * speech scores 0.97-0.99 on an idle machine, the wrong sentence ~0.5;
 * 0.85 leaves room for the odd frame concealed when a loaded machine
 * runs a timer late, and still tells the two apart. */
#define MIN_MATCH 0.85

static double heard(const char *sent, const char *out, long *len_diff_ms)
{
	int16_t *a, *b;
	size_t na, nb;
	struct audio_match m;
	ck_assert_int_eq(audio_load(sent, &a, &na), 0);
	ck_assert_int_eq(audio_load(out, &b, &nb), 0);
	ck_assert_msg(audio_match(a, na, b, nb, 300, &m) == 0, "%s: %zu samples for %zu", out, nb, na);
	*len_diff_ms = ((long)nb - (long)na) / 48;
	fprintf(stderr, "media: %s: corr %.3f (warped %.3f) at %+ld ms, length %+ld ms\n", out, m.corr,
		m.corr_warped, m.offset_ms, *len_diff_ms);
	free(a);
	free(b);
	return m.corr_warped;
}

START_TEST(clean_call_both_ways)
{
	struct media_stats sa, sb;
	long da, db;
	run_call(20, 20, false, &sa, &sb);
	ck_assert(heard(in_b, out_a, &da) >= MIN_MATCH);
	ck_assert(heard(in_a, out_b, &db) >= MIN_MATCH);
	/* B's file is shorter: A heard all of it, and B all of A's up to
	 * the end of B's own file plus the tail. */
	ck_assert_msg(labs(da) <= 60, "A heard %+ld ms more than B sent", da);
	ck_assert_uint_eq(sa.bad_packets, 0);
	ck_assert_uint_eq(sb.bad_packets, 0);
	ck_assert(sa.loss_pct == 0 && sb.loss_pct == 0);
	/* Nothing is lost, so nothing should be concealed; a frame or two may
	 * be, when a loaded machine runs the playout timer late. */
	ck_assert_msg(sa.concealed_pct <= 2.0, "concealed %.1f %% on a clean call", sa.concealed_pct);
	ck_assert_msg(isfinite(sa.rtt_ms) && sa.rtt_ms < 20, "rtt %f", sa.rtt_ms);
	ck_assert_msg(sa.kbps_out > 15 && sa.kbps_out < 45, "kbps_out %f", sa.kbps_out);
}
END_TEST

/* Every 7th packet lost each way: FEC and PLC fill in, loss is seen and
 * counted, the speech is still there. */
START_TEST(lossy_call)
{
	struct media_stats sa, sb;
	long da, db;
	A.drop_every = B.drop_every = 7;
	run_call(20, 20, false, &sa, &sb);
	ck_assert(heard(in_b, out_a, &da) >= 0.85);
	ck_assert(heard(in_a, out_b, &db) >= 0.85);
	ck_assert_msg(labs(da) <= 60, "length %+ld ms", da);
	ck_assert_msg(sa.loss_pct > 10 && sa.loss_pct < 20, "A saw %.1f %% loss", sa.loss_pct);
	/* Each lost frame is either rebuilt from FEC or made up by PLC. */
	double filled = sa.concealed_pct + sa.recovered_pct;
	ck_assert_msg(filled > 8 && filled < 25, "A concealed %.1f %%, recovered %.1f %%", sa.concealed_pct,
		      sa.recovered_pct);
}
END_TEST

/* Issue 6, at unit level: the same seeded 10 % random loss both ways,
 * once with the adaptive FEC and once with --fec-loss 0, both at a fixed
 * 24 kbit/s. Without FEC every lost frame is made up by PLC; with it,
 * only those whose successor carries no FEC (a third, see make_voiced)
 * or was lost too (one in ten) should be.
 * (The bitrate is fixed because at 10 % loss the adaptation takes it down
 * to its 12 kbit/s floor, where libopus 1.3 finds too few bits for FEC
 * and drops it: bench_loss_step shows that.) */
START_TEST(adaptive_fec_conceals_less)
{
	struct media_stats sa[2], sb[2];
	make_voiced(in_a, 150, 3.0);
	make_voiced(in_b, 220, 3.0);
	for (int run = 0; run < 2; run++) {
		no_fec = run == 1;
		fixed_rate = true;
		A.sent = B.sent = A.dropped = B.dropped = 0;
		A.drop_pct = B.drop_pct = 10;
		A.rng = 0x2545f491u;
		B.rng = 0x9e3779b9u;
		run_call(20, 20, false, &sa[run], &sb[run]);
		fprintf(stderr, "media: %s FEC: A lost %u of %u, B concealed %.1f %% recovered %.1f %%; "
			"B lost %u of %u, A concealed %.1f %% recovered %.1f %%; FEC for %.0f %%\n",
			run ? "no" : "adaptive", A.dropped, A.sent, sb[run].concealed_pct,
			sb[run].recovered_pct, B.dropped, B.sent, sa[run].concealed_pct,
			sa[run].recovered_pct, sa[run].fec_loss_pct);
		ck_assert_uint_ge(A.dropped, A.sent / 20);
		ck_assert_uint_ge(B.dropped, B.sent / 20);
	}
	/* No FEC: nothing recovered, and the loss shows whole as PLC. */
	ck_assert_msg(sa[1].fec_loss_pct == 0, "FEC for %.0f %% when pinned at 0", sa[1].fec_loss_pct);
	ck_assert_msg(sa[1].recovered_pct == 0 && sb[1].recovered_pct == 0, "recovered without FEC");
	ck_assert_msg(sa[1].concealed_pct >= 5 && sb[1].concealed_pct >= 5, "no-FEC PLC %.1f / %.1f %%",
		      sa[1].concealed_pct, sb[1].concealed_pct);
	/* Adaptive: much of the loss rebuilt, and (the same drop pattern)
	 * PLC well below the no-FEC run's: about 0.45 of it when measured,
	 * 0.7 leaves room for a loaded machine's late timers. */
	ck_assert_msg(sa[0].recovered_pct >= 3 && sb[0].recovered_pct >= 3, "recovered %.1f / %.1f %%",
		      sa[0].recovered_pct, sb[0].recovered_pct);
	ck_assert_msg(sa[0].concealed_pct < sa[1].concealed_pct && sb[0].concealed_pct < sb[1].concealed_pct,
		      "PLC %.1f / %.1f %% adaptive, %.1f / %.1f %% no FEC", sa[0].concealed_pct,
		      sb[0].concealed_pct, sa[1].concealed_pct, sb[1].concealed_pct);
	double plc = sa[0].concealed_pct + sb[0].concealed_pct, plc0 = sa[1].concealed_pct + sb[1].concealed_pct;
	ck_assert_msg(plc < 0.7 * plc0, "PLC %.1f %% adaptive, %.1f %% no FEC (both sides)", plc, plc0);
}
END_TEST

/* Garbage of every kind for B while it listens to A: all dropped and
 * counted, A's audio intact. */
START_TEST(garbage_is_dropped)
{
	struct media_stats sa, sb;
	long d;
	run_call(20, 20, true, &sa, &sb);
	fprintf(stderr, "media: %u garbage packets, %llu counted bad\n", garbage_sent,
		(unsigned long long)sb.bad_packets);
	ck_assert_uint_ge(garbage_sent, 100);
	/* All but the absurd-timestamp ones (which the RTP receiver
	 * statistics and the jitter buffer set aside) count as bad. */
	ck_assert_uint_ge(sb.bad_packets, garbage_sent * 4 / 6);
	ck_assert_uint_eq(sa.bad_packets, 0);
	ck_assert(heard(in_a, out_b, &d) >= 0.85);
}
END_TEST

/* A 60 ms sender and a 10 ms sender: each receiver follows the packets. */
START_TEST(mixed_frame_sizes)
{
	struct media_stats sa, sb;
	long da, db;
	run_call(60, 10, false, &sa, &sb);
	ck_assert(heard(in_b, out_a, &da) >= MIN_MATCH);
	ck_assert(heard(in_a, out_b, &db) >= MIN_MATCH);
	ck_assert_msg(labs(da) <= 130, "length %+ld ms", da);
}
END_TEST

/* B's path comes up 300 ms after A's: what A sent meanwhile is buffered
 * (media_listen), not lost. A sends a tone without pauses here, 200 Hz
 * for 125 ms, 300 Hz to 500 ms, then 600 Hz: the jitter buffer sheds the
 * extra delay by time-stretching (removing whole periods, at most half
 * of each frame), so B hears the start at up to twice the speed (dropping
 * the backlog would lose the 200 Hz part), and the whole a little
 * shorter than sent. */
static size_t zero_crossings(const int16_t *p, size_t n)
{
	size_t z = 0;
	for (size_t i = 1; i < n; i++)
		z += (p[i - 1] < 0) != (p[i] < 0);
	return z;
}

START_TEST(late_start_keeps_the_beginning)
{
	struct media_stats sa, sb;
	size_t n = 4 * 48000, low = 24000;
	int16_t *pcm = malloc(n * sizeof(*pcm));
	ck_assert_ptr_nonnull(pcm);
	double ph = 0;
	for (size_t i = 0; i < n; i++) {
		double t = (double)i / 48000;
		ph += 2 * M_PI * (i < low / 4 ? 200 : i < low ? 300 : 600) / 48000;
		pcm[i] = (int16_t)((6000 + 3000 * sin(2 * M_PI * 3 * t)) * sin(ph));
	}
	char err[256];
	ck_assert_msg(audio_save(in_a, pcm, n, err, sizeof(err)) == 0, "%s", err);
	free(pcm);
	run_call_late(20, 20, false, 300, &sa, &sb);
	ck_assert_uint_eq(sb.bad_packets, 0);
	/* (The envelope match of audio_cmp.h is no measure here: the
	 * stretched part moves the 3 Hz envelope.) The 300 Hz part: 10 ms
	 * windows with about 6 zero crossings, from the first sound on; then
	 * the 600 Hz part, about 12. */
	int16_t *b;
	size_t nb, i = 0, ms200 = 0, ms300 = 0, ms600 = 0;
	ck_assert_int_eq(audio_load(out_b, &b, &nb), 0);
	long d = ((long)nb - (long)n) / 48;
	while (i < nb && abs(b[i]) < 1000)
		i++;
	for (; i + 480 <= nb; i += 480) {
		size_t z = zero_crossings(b + i, 480);
		if (z > 5)
			break;
		ms200 += 10;
	}
	for (; i + 480 <= nb; i += 480) {
		size_t z = zero_crossings(b + i, 480);
		if (z > 9)
			break;
		ms300 += 10;
	}
	for (; i + 480 <= nb; i += 480) {
		size_t z = zero_crossings(b + i, 480);
		ms600 += z >= 11 && z <= 13 ? 10 : 0;
	}
	free(b);
	fprintf(stderr, "media: late start: 125 ms at 200 Hz heard as %zu, 375 at 300 Hz as %zu, "
		"3500 at 600 Hz as %zu, length %+ld ms\n", ms200, ms300, ms600, d);
	ck_assert_msg(d >= -360 && d <= 60, "B heard %+ld ms more than A sent", d);
	/* At most twice as fast: 60 ms of the first 125, 250 of the first
	 * 500; dropping the backlog would leave none of the 200 Hz part. */
	ck_assert_msg(ms200 >= 50, "the first 125 ms were heard as %zu ms", ms200);
	ck_assert_msg(ms200 + ms300 >= 230 && ms200 + ms300 <= 520,
		      "the first 500 ms were heard as %zu ms", ms200 + ms300);
	ck_assert_msg(ms600 >= 3200, "the 3.5 s at 600 Hz were heard as %zu ms", ms600);
}
END_TEST

/* Echo cancellation wired into the engine. A plays B's speech (to its
 * --output file, which then is its "speaker": --aec takes the reference
 * from there) and its "microphone" (--input file) holds nothing but the
 * echo of that speech: B's signal through a room (150 ms, a short FIR,
 * -6 dB), timed so that it comes after A plays the same sound (A's
 * playout starts some 60 ms after B sends). What B hears from A is then
 * the residual echo. B sends at 128 kbit/s so that what A plays is close
 * to what the echo was made from (Opus is not waveform-exact).
 * The echo is made in advance, from what B sends, so it must not move
 * against what A plays: B's speech starts after 3 s of silence, in which
 * A's jitter buffer settles its delay (time-stretching silence); in a
 * real room the echo is of what is played, stretched or not. Measured
 * from 3 s into the speech, after the filter has converged. */
static double echo_sent_db(int aec, int ns, double *echo_db)
{
	size_t n = 10 * 48000, lead = 3 * 48000, delay = 150 * 48;
	double *far = calloc(n, sizeof(double)), *echo = calloc(n, sizeof(double));
	double *noise = calloc(n, sizeof(double));
	int16_t *pcm = calloc(n, sizeof(int16_t));
	ck_assert(far && echo && noise && pcm);
	dsp_speech(far + lead, n - lead, 5, -20);
	dsp_mix16(pcm, far, NULL, NULL, n);
	for (size_t i = 0; i < n; i++)
		far[i] = pcm[i];
	static const double h[] = { 0.6, 0.3, -0.2, 0.1, 0.05, -0.05, 0.02, 0.01 };
	dsp_echo_path(far, echo, n, delay, h, sizeof(h) / sizeof(h[0]), 0.5);
	dsp_white(noise, n, 9, -70);
	char err[256];
	ck_assert_msg(audio_save(in_b, pcm, n, err, sizeof(err)) == 0, "%s", err);
	dsp_mix16(pcm, echo, noise, NULL, n);
	ck_assert_msg(audio_save(in_a, pcm, n, err, sizeof(err)) == 0, "%s", err);
	size_t from = 6 * 48000, to = n - 48000 / 2;
	*echo_db = dsp_dbfs16(pcm + from, to - from);

	next_cfg = (struct media_cfg){ .aec = aec, .ns = ns, .agc = -1 };
	open_side(&A, in_a, out_a, 20);
	next_cfg = (struct media_cfg){ .bitrate = 128000 };
	open_side(&B, in_b, out_b, 20);
	ck_assert_int_eq(media_start(A.m, err, sizeof(err)), 0);
	ck_assert_int_eq(media_start(B.m, err, sizeof(err)), 0);
	struct event *limit = evtimer_new(base, on_timeout, NULL);
	struct timeval tv = { 14, 0 };
	event_add(limit, &tv);
	event_base_dispatch(base);
	event_free(limit);
	media_free(A.m);
	media_free(B.m);
	A.m = B.m = NULL;
	int16_t *heard;
	size_t nh;
	ck_assert_int_eq(audio_load(out_b, &heard, &nh), 0);
	ck_assert_uint_ge(nh, to);
	/* B's file starts with A's first frame: the same time line. */
	double sent_db = dsp_dbfs16(heard + from, to - from);
	free(heard);
	free(far);
	free(echo);
	free(noise);
	free(pcm);
	return sent_db;
}

START_TEST(echo_is_cancelled)
{
	double echo_db, off = echo_sent_db(-1, -1, &echo_db);
	double aec = echo_sent_db(1, -1, &echo_db);
	double ns = echo_sent_db(-1, 1, &echo_db);
	double full = echo_sent_db(1, 1, &echo_db);
	fprintf(stderr, "media: echo %.1f dBFS in the microphone; sent %.1f dBFS without processing, "
		"%.1f with AEC, %.1f with NS alone, %.1f with AEC+NS\n", echo_db, off, aec, ns, full);
	/* Without AEC the echo goes out as it came (Opus keeps the level). */
	ck_assert_msg(fabs(off - echo_db) < 3, "no AEC: %.1f against %.1f", off, echo_db);
	/* The linear filter alone: 10-19 dB measured, down to 6 when a delay
	 * change of the jitter buffer (timers late on a busy machine) moves
	 * the echo path during the speech and the filter re-converges. */
	ck_assert_msg(echo_db - aec >= 3, "AEC: only %.1f dB less echo sent", echo_db - aec);
	/* The whole chain: 29-34 dB measured on a quiet machine, but as low
	 * as 6 dB (under ASan, on a busy machine) when the echo path moves
	 * mid-speech (the echo in A's input
	 * file sits at a fixed place, while A's playout of B shifts whenever
	 * its jitter buffer changes delay, as late timers on a busy machine
	 * make it do; a real room's echo follows the speaker). What this
	 * test proves is the wiring: the reference is what was played, and
	 * it is the canceller that removes the echo, not the denoiser (NS
	 * alone leaves speech-like echo as it is). How deep a fixed path is
	 * cancelled is measured deterministically in test_voice_dsp. A
	 * reference that is not what was played takes off ~0 dB. */
	ck_assert_msg(echo_db - full >= 3, "AEC+NS: only %.1f dB less echo sent", echo_db - full);
	ck_assert_msg(fabs(ns - off) < 3, "NS alone changed the echo: %.1f against %.1f dBFS", ns, off);
	ck_assert_msg(ns - full >= 3, "AEC+NS %.1f dBFS against NS alone %.1f", full, ns);
}
END_TEST

START_TEST(open_errors)
{
	static const struct media_cbs cbs = { net_send, on_event };
	char err[512], txt[160];
	struct media *m = (struct media *)1;
	struct media_cfg cfg = { .input_file = "/nonexistent/x.wav", .output_file = out_a };
	ck_assert_int_lt(media_open(&m, base, &cfg, &cbs, NULL, err, sizeof(err)), 0);
	ck_assert_ptr_null(m);
	ck_assert_ptr_nonnull(strstr(err, "/nonexistent/x.wav"));
	snprintf(txt, sizeof(txt), "%s/t.txt", dir);
	ck_assert_int_eq(audio_sh("echo hello > '%s'", txt), 0);
	cfg.input_file = txt;
	ck_assert_int_eq(media_open(&m, base, &cfg, &cbs, NULL, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, txt));
	cfg.input_file = in_a;
	cfg.output_file = "/nonexistent/dir/out.wav";
	ck_assert_int_lt(media_open(&m, base, &cfg, &cbs, NULL, err, sizeof(err)), 0);
	ck_assert_ptr_nonnull(strstr(err, "/nonexistent/dir/out.wav"));
	cfg.output_file = out_a;
	cfg.frame_ms = 30;
	ck_assert_int_eq(media_open(&m, base, &cfg, &cbs, NULL, err, sizeof(err)), -EINVAL);
	cfg.frame_ms = 20;
	cfg.bitrate = 1000;
	ck_assert_int_eq(media_open(&m, base, &cfg, &cbs, NULL, err, sizeof(err)), -EINVAL);
	/* Not started: input is ignored, stats are empty, stop is harmless. */
	cfg.bitrate = 0;
	ck_assert_int_eq(media_open(&m, base, &cfg, &cbs, NULL, err, sizeof(err)), 0);
	media_input(m, (const uint8_t *)"\x80\x6f", 2);
	media_stop(m);
	ck_assert(!media_running(m));
	media_free(m);
	media_input(NULL, (const uint8_t *)"\x80", 1);
	media_free(NULL);
}
END_TEST

Suite *media_suite(void)
{
	Suite *s = suite_create("media");
	TCase *c = tcase_create("engine");
	tcase_set_timeout(c, 30);
	tcase_add_checked_fixture(c, setup, teardown);
	tcase_add_test(c, clean_call_both_ways);
	tcase_add_test(c, lossy_call);
	tcase_add_test(c, adaptive_fec_conceals_less);
	tcase_add_test(c, garbage_is_dropped);
	tcase_add_test(c, mixed_frame_sizes);
	tcase_add_test(c, late_start_keeps_the_beginning);
	tcase_add_test(c, open_errors);
	suite_add_tcase(s, c);
	c = tcase_create("voice");
	tcase_set_timeout(c, 90);
	tcase_add_checked_fixture(c, setup, teardown);
	tcase_add_test(c, echo_is_cancelled);
	suite_add_tcase(s, c);
	return s;
}
