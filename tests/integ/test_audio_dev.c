/* audio_dev through PortAudio's real ALSA callback path, without a sound
 * card (tests/support/jackenv.h):
 *  - file mode (data only, faster than real time): capture from a raw file
 *    and playback to a raw file, each checked sample-exact after aligning
 *    away the silence that ALSA/PortAudio prepend;
 *  - jack mode (real time, jackd dummy driver): full duplex, capture ring ->
 *    loopback in the test -> playback ring, the chirp must come out.
 * Plus: device errors and --list-devices output. */
#include <check.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "jackenv.h"
#include "p2pcall/audio_dev.h"

#define RATE AUDIO_DEV_RATE

static void make_chirp(int16_t *pcm, size_t n, double f0, double f1)
{
	double dur = (double)n / RATE;

	for (size_t i = 0; i < n; i++) {
		double t = (double)i / RATE;

		pcm[i] = (int16_t)lrint(9000 * sin(2 * M_PI * (f0 * t + (f1 - f0) * t * t / (2 * dur))));
	}
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void sleep_ms(long ms)
{
	nanosleep(&(struct timespec){ .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000 },
		  NULL);
}

/* Counts positions where a[i] != b[i]. */
static size_t mismatches(const int16_t *a, const int16_t *b, size_t n)
{
	size_t bad = 0;

	for (size_t i = 0; i < n; i++)
		bad += a[i] != b[i];
	return bad;
}

/* Index of the first exact copy of pat[0..n) in sig at or after from, or -1. */
static long find_exact(const int16_t *pat, size_t n, const int16_t *sig, size_t nsig, long from)
{
	for (size_t k = (size_t)from; k + n <= nsig; k++)
		if (sig[k] == pat[0] && memcmp(sig + k, pat, n * sizeof(*pat)) == 0)
			return (long)k;
	return -1;
}

/* Length of the pieces the jack test looks for: 50 ms. */
#define SEG (RATE / 20)

static struct jackenv *env_or_fail(enum jackenv_mode mode)
{
	struct jackenv *e = NULL;
	char err[256] = "";
	int rc = jackenv_new(&e, mode, err, sizeof(err));

	ck_assert_msg(rc == 0, "audio test environment: %s (%d)", err, rc);
	return e;
}

/* No ALSA device at all and no JACK server: the default device is missing,
 * with an error that says so. The ALSA configuration names a card that does
 * not exist; an empty one would hit an assert() in PortAudio 19.6's
 * BuildDeviceList (pa_linux_alsa.c:1454) and abort. */
START_TEST(test_no_device)
{
	char path[] = "/tmp/p2pcall-noaudio-XXXXXX", err[256] = "";
	struct audio_dev *d = NULL;
	int fd = mkstemp(path);
	char server[64];

	static const char conf[] = "pcm.!default { type hw; card 99 }\n";

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, conf, sizeof(conf) - 1), (int)sizeof(conf) - 1);
	close(fd);
	snprintf(server, sizeof(server), "p2pcall-none-%ld", (long)getpid());
	setenv("ALSA_CONFIG_PATH", path, 1);
	setenv("JACK_DEFAULT_SERVER", server, 1);
	setenv("JACK_NO_START_SERVER", "1", 1);
	ck_assert_int_eq(audio_dev_new(&d, NULL, err, sizeof(err)), -ENODEV);
	ck_assert_ptr_null(d);
	ck_assert_msg(strstr(err, "no default audio input device"), "%s", err);

	FILE *out = tmpfile();
	char buf[512] = "";
	ck_assert_int_eq(audio_dev_list(out, err, sizeof(err)), 0);
	rewind(out);
	fread(buf, 1, sizeof(buf) - 1, out);
	fclose(out);
	ck_assert_msg(strstr(buf, "no audio devices"), "%s", buf);
	unlink(path);
	unsetenv("ALSA_CONFIG_PATH");
	unsetenv("JACK_DEFAULT_SERVER");
	unsetenv("JACK_NO_START_SERVER");
}
END_TEST

START_TEST(test_device_selection)
{
	struct jackenv *e = env_or_fail(JACKENV_FILE);
	struct audio_dev_cfg cfg;
	struct audio_dev *d = NULL;
	char err[256] = "", buf[1024] = "";

	audio_dev_cfg_default(&cfg);
	/* No clock: a SCHED_FIFO callback would spin and starve the test. */
	cfg.realtime = false;
	cfg.input = "nosuchcard";
	ck_assert_int_eq(audio_dev_new(&d, &cfg, err, sizeof(err)), -ENODEV);
	ck_assert_msg(strstr(err, "`nosuchcard'") && strstr(err, "--list-devices"), "%s", err);
	cfg.input = NULL;
	cfg.output = "99";
	ck_assert_int_eq(audio_dev_new(&d, &cfg, err, sizeof(err)), -ENODEV);
	ck_assert_msg(strstr(err, "number 99"), "%s", err);

	/* The file environment has exactly one device, "default", index 0:
	 * found by case-insensitive name, substring and index. */
	cfg.input = "DEFAULT";
	cfg.output = "efau";
	ck_assert_msg(audio_dev_new(&d, &cfg, err, sizeof(err)) == 0, "%s", err);
	ck_assert_str_eq(audio_dev_input_name(d), "default");
	ck_assert_str_eq(audio_dev_output_name(d), "default");
	audio_dev_free(d);
	cfg.input = "0";
	cfg.playback = false;
	ck_assert_msg(audio_dev_new(&d, &cfg, err, sizeof(err)) == 0, "%s", err);
	ck_assert_str_eq(audio_dev_output_name(d), "");
	audio_dev_free(d);
	cfg.capture = false;
	ck_assert_int_eq(audio_dev_new(&d, &cfg, err, sizeof(err)), -EINVAL);

	FILE *out = tmpfile();
	ck_assert_int_ge(audio_dev_list(out, err, sizeof(err)), 1);
	rewind(out);
	fread(buf, 1, sizeof(buf) - 1, out);
	fclose(out);
	/* index, name, host API, in/out channels, default marks. */
	ck_assert_msg(strstr(buf, "0     default") && strstr(buf, "ALSA") &&
			      strstr(buf, "default-input") && strstr(buf, "default-output"),
		      "%s", buf);
	audio_dev_free(NULL);
	jackenv_free(e);
}
END_TEST

/* Capture: the device reads capture.raw; every sample must come through
 * the callback and the capture ring, in order. */
START_TEST(test_file_capture)
{
	struct jackenv *e = env_or_fail(JACKENV_FILE);
	struct audio_dev_cfg cfg;
	struct audio_dev *d = NULL;
	struct audio_dev_stats st;
	const size_t n = RATE; /* 1 s chirp */
	const size_t want = n + RATE / 2;
	int16_t *chirp = malloc(n * sizeof(*chirp));
	int16_t *got = calloc(want + 4096, sizeof(*got));
	size_t have = 0;
	char err[256] = "";
	double corr, t0;

	make_chirp(chirp, n, 300, 3000);
	ck_assert_int_eq(jackenv_write_capture(e, chirp, n), 0);
	audio_dev_cfg_default(&cfg);
	/* No clock: a SCHED_FIFO callback would spin and starve the test. */
	cfg.realtime = false;
	cfg.playback = false;
	cfg.ring_samples = 1 << 20; /* data-only mode outruns real time */
	ck_assert_msg(audio_dev_new(&d, &cfg, err, sizeof(err)) == 0, "%s", err);
	ck_assert_msg(audio_dev_start(d, err, sizeof(err)) == 0, "%s", err);
	t0 = now_s();
	while (have < want && now_s() - t0 < 10) {
		size_t k = audio_dev_read(d, got + have, want - have);

		have += k;
		if (k == 0)
			sleep_ms(1);
	}
	ck_assert(audio_dev_is_active(d));
	ck_assert_msg(audio_dev_stop(d, err, sizeof(err)) == 0, "%s", err);
	audio_dev_get_stats(d, &st);
	audio_dev_free(d);
	ck_assert_msg(have >= want, "captured only %zu samples in 10 s", have);
	ck_assert_uint_gt(st.callbacks, 0);
	ck_assert_uint_ge(st.captured, have);
	ck_assert_uint_eq(st.capture_dropped, 0);

	long k = jackenv_align(chirp, n, got, have, &corr);
	fprintf(stderr, "audio_dev file capture: chirp at sample %ld, corr %.6f, %llu callbacks\n",
		k, corr, (unsigned long long)st.callbacks);
	ck_assert_int_ge(k, 0);
	ck_assert_msg(mismatches(chirp, got + k, n) == 0, "captured chirp differs");
	free(chirp);
	free(got);
	jackenv_free(e);
}
END_TEST

/* Nobody drains the capture ring: it fills up, then the callback drops
 * new samples (it must not block or overwrite) and counts them. */
START_TEST(test_file_capture_overrun)
{
	struct jackenv *e = env_or_fail(JACKENV_FILE);
	struct audio_dev_cfg cfg;
	struct audio_dev *d = NULL;
	struct audio_dev_stats st;
	int16_t *src = malloc(RATE * sizeof(*src)), got[4096];
	char err[256] = "";
	double t0;

	for (size_t i = 0; i < RATE; i++)
		src[i] = (int16_t)(i % 30000 + 1);
	ck_assert_int_eq(jackenv_write_capture(e, src, RATE), 0);
	audio_dev_cfg_default(&cfg);
	/* No clock: a SCHED_FIFO callback would spin and starve the test. */
	cfg.realtime = false;
	cfg.playback = false;
	cfg.ring_samples = 4096;
	ck_assert_msg(audio_dev_new(&d, &cfg, err, sizeof(err)) == 0, "%s", err);
	ck_assert_msg(audio_dev_start(d, err, sizeof(err)) == 0, "%s", err);
	t0 = now_s();
	do {
		sleep_ms(5);
		audio_dev_get_stats(d, &st);
	} while (st.capture_dropped == 0 && now_s() - t0 < 10);
	ck_assert_msg(audio_dev_stop(d, err, sizeof(err)) == 0, "%s", err);
	audio_dev_get_stats(d, &st);
	ck_assert_uint_gt(st.capture_dropped, 0);
	ck_assert_uint_eq(st.captured, 4096);
	/* What is in the ring is the oldest audio, intact and in order. */
	ck_assert_uint_eq(audio_dev_capture_avail(d), 4096);
	ck_assert(audio_dev_read_frame(d, got, 4096));
	ck_assert(!audio_dev_read_frame(d, got, 1));
	audio_dev_free(d);
	double corr;
	long k = jackenv_align(got + 2048, 2048, src, RATE, &corr);
	ck_assert_int_ge(k, 2048);
	ck_assert_uint_eq(mismatches(got + 2048, src + k, 2048), 0);
	ck_assert_uint_eq(mismatches(got, src + k - 2048, 2048), 0);
	free(src);
	jackenv_free(e);
}
END_TEST

/* Playback: the whole chirp is queued before start; playback.raw must
 * hold it exactly (after the pre-fill silence), and once the ring runs
 * dry the underrun counters move. */
START_TEST(test_file_playback)
{
	struct jackenv *e = env_or_fail(JACKENV_FILE);
	struct audio_dev_cfg cfg;
	struct audio_dev *d = NULL;
	struct audio_dev_stats st;
	const size_t n = RATE;
	int16_t *chirp = malloc(n * sizeof(*chirp)), *out = NULL;
	size_t nout = 0;
	char err[256] = "";
	double corr, t0;

	make_chirp(chirp, n, 200, 4000);
	audio_dev_cfg_default(&cfg);
	/* No clock: a SCHED_FIFO callback would spin and starve the test. */
	cfg.realtime = false;
	cfg.capture = false;
	cfg.ring_samples = 2 * RATE;
	ck_assert_msg(audio_dev_new(&d, &cfg, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(audio_dev_write(d, chirp, n), n);
	ck_assert_uint_eq(audio_dev_playback_queued(d), n);
	ck_assert_msg(audio_dev_start(d, err, sizeof(err)) == 0, "%s", err);
	t0 = now_s();
	do {
		sleep_ms(2);
		audio_dev_get_stats(d, &st);
	} while ((audio_dev_playback_queued(d) > 0 || st.underruns == 0) && now_s() - t0 < 10);
	ck_assert_msg(audio_dev_stop(d, err, sizeof(err)) == 0, "%s", err);
	ck_assert(!audio_dev_is_active(d));
	audio_dev_get_stats(d, &st);
	audio_dev_free(d); /* closes the ALSA file: playback.raw complete */
	ck_assert_uint_eq(st.played, n);
	ck_assert_uint_gt(st.underruns, 0);
	ck_assert_uint_gt(st.underrun_samples, 0);

	ck_assert_int_eq(jackenv_read_playback(e, &out, &nout), 0);
	long k = jackenv_align(chirp, n, out, nout, &corr);
	fprintf(stderr, "audio_dev file playback: %zu samples written, chirp at %ld, corr %.6f\n",
		nout, k, corr);
	ck_assert_int_ge(k, 0);
	ck_assert_msg(mismatches(chirp, out + k, n) == 0, "played chirp differs");
	/* Before the chirp: only the silence PortAudio pre-fills. */
	for (long i = 0; i < k; i++)
		ck_assert_int_eq(out[i], 0);
	free(chirp);
	free(out);
	jackenv_free(e);
}
END_TEST

/* Real time: jackd's dummy driver clocks the ALSA jack plugin. The test is
 * the event loop: it moves captured samples to the playback ring, as a
 * call's far end would; the chirp must arrive in playback.raw, and the
 * callbacks must run at the real sample rate. */
START_TEST(test_jack_duplex_loopback)
{
	struct jackenv *e = NULL;
	struct audio_dev_cfg cfg;
	struct audio_dev *d = NULL;
	struct audio_dev_stats st;
	const size_t lead = RATE / 5, n = RATE, total = lead + n + RATE / 2;
	int16_t *src = calloc(total, sizeof(*src)), *out = NULL, buf[4096];
	static const int16_t cushion[2048];
	size_t moved = 0, nout = 0;
	char err[256] = "";
	double corr, t0, elapsed;
	int rc = jackenv_new(&e, JACKENV_JACK, err, sizeof(err));

	if (rc == -ENOENT) {
		/* Only when the packages are missing; contrib/install-deps.sh
		 * --test installs them, so CI never takes this branch. */
		fprintf(stderr, "SKIP test_jack_duplex_loopback: %s\n", err);
		free(src);
		return;
	}
	ck_assert_msg(rc == 0, "jack environment: %s", err);
	make_chirp(src + lead, n, 250, 3500);
	ck_assert_int_eq(jackenv_write_capture(e, src, total), 0);

	audio_dev_cfg_default(&cfg);
	cfg.ring_samples = 1 << 16;
	ck_assert_msg(audio_dev_new(&d, &cfg, err, sizeof(err)) == 0, "%s (jack server %s)", err,
		      jackenv_server(e));
	/* 42 ms of silence queued first: the loopback below runs on a
	 * best-effort thread and must not underrun when it is late. */
	ck_assert_uint_eq(audio_dev_write(d, cushion, 2048), 2048);
	ck_assert_msg(audio_dev_start(d, err, sizeof(err)) == 0, "%s", err);
	t0 = now_s();
	while (moved < total && now_s() - t0 < 10) {
		size_t k = audio_dev_read(d, buf, sizeof(buf) / sizeof(buf[0]));

		ck_assert_uint_eq(audio_dev_write(d, buf, k), k);
		moved += k;
		if (k == 0)
			sleep_ms(2);
	}
	elapsed = now_s() - t0;
	/* Underruns so far: the loopback's own. From here on the ring runs
	 * dry on purpose while the tail plays out. */
	audio_dev_get_stats(d, &st);
	uint64_t loop_underruns = st.underruns;
	/* Let the cushion and the last samples play out. */
	while (audio_dev_playback_queued(d) > 0 && now_s() - t0 < 12)
		sleep_ms(5);
	sleep_ms(100);
	ck_assert(audio_dev_is_active(d));
	ck_assert_msg(audio_dev_stop(d, err, sizeof(err)) == 0, "%s", err);
	audio_dev_get_stats(d, &st);
	audio_dev_free(d);
	fprintf(stderr,
		"audio_dev jack duplex: moved %zu samples in %.2f s, %llu callbacks, "
		"%llu underruns during loopback, %llu dropped\n",
		moved, elapsed, (unsigned long long)st.callbacks,
		(unsigned long long)loop_underruns, (unsigned long long)st.capture_dropped);
	ck_assert_msg(moved >= total, "captured %zu of %zu samples in 10 s", moved, total);
	/* Real-time pacing: 1.7 s of audio takes about 1.7 s (a data-only
	 * device would take milliseconds). */
	ck_assert_msg(elapsed > 0.8 * total / RATE && elapsed < 1.5 * total / RATE + 0.3,
		      "%.2f s for %.2f s of audio", elapsed, (double)total / RATE);
	ck_assert_uint_eq(st.capture_dropped, 0);
	/* The tail ran dry after the loopback stopped: the counter works. */
	ck_assert_uint_gt(st.underruns, loop_underruns);

	ck_assert_int_eq(jackenv_read_playback(e, &out, &nout), 0);
	long k = jackenv_align(src + lead, n, out, nout, &corr);
	size_t found = 0, segs = n / SEG;
	long last = -1;

	/* Each 50 ms piece of the chirp, searched bit-exact (the path is S16
	 * end to end: ALSA's file plugin sits above the float conversion for
	 * jack) in order in the output. */
	for (size_t g = 0; g < segs; g++) {
		long at = find_exact(src + lead + g * SEG, SEG, out, nout, last + 1);

		if (at >= 0) {
			found++;
			last = at;
		}
	}
	fprintf(stderr,
		"audio_dev jack duplex: %zu samples played, chirp at %ld, corr %.6f, "
		"%zu/%zu pieces exact, xruns in %llu out %llu\n",
		nout, k, corr, found, segs, (unsigned long long)st.input_overflows,
		(unsigned long long)st.output_underflows);
	ck_assert_int_ge(k, 0);
	/* A non-realtime jackd on a busy 2-core machine may glitch (an xrun
	 * drops or repeats a period), so the tone must arrive whole in all but
	 * a couple of pieces; a broken path (silence, noise, wrong format or
	 * rate) finds none. */
	ck_assert_msg(found >= segs - 2, "only %zu of %zu pieces of the chirp arrived", found, segs);
	free(src);
	free(out);
	jackenv_free(e);
}
END_TEST

Suite *audio_dev_suite(void);
Suite *audio_dev_suite(void)
{
	Suite *s = suite_create("audio_dev");
	TCase *tc = tcase_create("alsa_file");
	TCase *tj = tcase_create("jack");

	tcase_add_test(tc, test_no_device);
	tcase_add_test(tc, test_device_selection);
	tcase_add_test(tc, test_file_capture);
	tcase_add_test(tc, test_file_capture_overrun);
	tcase_add_test(tc, test_file_playback);
	tcase_set_timeout(tc, 30);
	suite_add_tcase(s, tc);
	tcase_add_test(tj, test_jack_duplex_loopback);
	tcase_set_timeout(tj, 40);
	suite_add_tcase(s, tj);
	return s;
}
