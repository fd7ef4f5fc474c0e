/* bench_voice_dsp: what the voice processing costs and how much echo it
 * removes as the tail length changes.
 *
 * 1. CPU: microseconds per 20 ms frame (and % of one core in real time)
 *    for each feature alone and for the whole chain, 200 ms tail.
 * 2. ERLE against tail length, on the test suite's room (40 ms delay,
 *    8-tap reflection, -6 dB) for three synthetic talkers and espeak-ng
 *    speech: linear canceller alone and with the residual suppressor;
 *    plus the time a 1 s window first reaches 20 dB (full chain). A
 *    longer tail covers more device delay but converges more slowly.
 * 3. Two clocks: ERLE (AEC+NS) against the drift between speaker and
 *    microphone, 20 s of a synthetic talker in 10 ms wall-time steps (as
 *    test_voice_dsp echo_drift, which uses espeak-ng), the drift the
 *    canceller compensated, and its CPU per 20 ms frame. `bench_voice_dsp
 *    drift' prints this part alone. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audio_cmp.h"
#include "dsp_signals.h"
#include "p2pcall/voice_dsp.h"

#define RATE VOICE_DSP_RATE
#define N ((size_t)10 * RATE)
#define FRAME 960
#define WIN (RATE / 4)

static const double room_h[] = { 0.8, 0.45, -0.3, 0.2, -0.12, 0.07, -0.04, 0.02 };

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int run(const struct voice_dsp_cfg *cfg, const int16_t *far, const int16_t *mic, int16_t *out,
	       double *secs)
{
	struct voice_dsp *d;
	if (voice_dsp_new(&d, cfg) != 0)
		return -1;
	double t = now_s();
	for (size_t f = 0; f + cfg->frame_samples <= N; f += cfg->frame_samples) {
		voice_dsp_playback(d, far + f, cfg->frame_samples);
		voice_dsp_capture(d, mic + f, out + f);
	}
	if (secs)
		*secs = now_s() - t;
	voice_dsp_free(d);
	return 0;
}

static void cpu(const int16_t *far, const int16_t *mic, int16_t *out)
{
	static const struct {
		const char *name;
		bool aec, ns, agc;
	} rows[] = {
		{ "AEC", true, false, false },
		{ "NS", false, true, false },
		{ "AGC", false, false, true },
		{ "AEC+NS+AGC", true, true, true },
	};
	printf("CPU per 20 ms frame (200 ms tail), best of 3 runs of 10 s:\n");
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct voice_dsp_cfg cfg;
		voice_dsp_cfg_default(&cfg);
		cfg.aec = rows[i].aec;
		cfg.ns = rows[i].ns;
		cfg.agc = rows[i].agc;
		double best = 1e9;
		for (int k = 0; k < 3; k++) {
			double s;
			if (run(&cfg, far, mic, out, &s) == 0 && s < best)
				best = s;
		}
		double per = best / (double)(N / FRAME) * 1e6;
		printf("  %-11s %7.1f us/frame  %5.2f %% of a core\n", rows[i].name, per, per / 20000 * 100);
	}
}

/* ERLE over [3 s, end) and the first time a 1 s window reaches 20 dB. */
static void erle(const double *echo, const int16_t *out, double *total, double *conv)
{
	double e = 0, o = 0;
	for (size_t i = 3 * (size_t)RATE; i < N; i++) {
		e += echo[i] * echo[i];
		o += (double)out[i] * out[i];
	}
	*total = dsp_db(e / (o > 0 ? o : 1e-3));
	*conv = -1;
	for (size_t w = 0; w + 4 <= N / WIN; w++) {
		double we = dsp_power(echo + w * WIN, 4 * WIN), wo = dsp_power16(out + w * WIN, 4 * WIN);
		if (dsp_db(we / (wo > 0 ? wo : 1e-3)) >= 20) {
			*conv = (double)((w + 4) * WIN) / RATE;
			break;
		}
	}
}

static bool load_espeak(double *x)
{
	char dir[] = "/tmp/bench_voice_dsp-XXXXXX", path[256];
	int16_t *pcm = NULL;
	size_t n = 0;
	bool ok = mkdtemp(dir) &&
		  audio_make_speech(dir, "far", "Hello Bob, can you hear me now? I am calling from the "
				    "office, and the line seems good today. Let us talk about the plans "
				    "for next week, the meeting on Tuesday, and the report.",
				    path, sizeof(path)) == 0 &&
		  audio_load(path, &pcm, &n) == 0;
	audio_sh("rm -rf '%s'", dir);
	if (!ok)
		return false;
	for (size_t i = 0; i < N; i++)
		x[i] = i < n ? pcm[i] : 0;
	free(pcm);
	double g = 32767.0 * pow(10, -24 / 20.0) / sqrt(dsp_power(x, N));
	for (size_t i = 0; i < N; i++)
		x[i] *= g;
	return true;
}

static void drift(void)
{
	static const double ppm[] = { 0, 20, 50, -50, 100, -100, 300, -300, 1000 };
	size_t nm = 20 * (size_t)RATE, nsp = nm + RATE;
	double *far = calloc(nsp, sizeof(double)), *echo = calloc(nsp, sizeof(double));
	double *mecho = calloc(nm, sizeof(double)), *noise = calloc(nm, sizeof(double));
	int16_t *farq = calloc(nsp, sizeof(int16_t)), *mic = calloc(nm, sizeof(int16_t));
	int16_t *out = calloc(nm, sizeof(int16_t));

	if (!far || !echo || !mecho || !noise || !farq || !mic || !out)
		goto out;
	dsp_speech(far, nm, 1, -18);
	dsp_mix16(farq, far, NULL, NULL, nsp);
	for (size_t i = 0; i < nsp; i++)
		far[i] = farq[i];
	dsp_echo_path(far, echo, nsp, 40 * RATE / 1000, room_h, sizeof(room_h) / sizeof(room_h[0]), 0.5);
	dsp_white(noise, nm, 2, -70);
	printf("Two clocks (synthetic talker, AEC+NS, 20 s): ERLE from 8 s / last 3 s, drift compensated, "
	       "CPU per 20 ms frame\n");
	for (size_t p = 0; p < sizeof(ppm) / sizeof(ppm[0]); p++) {
		double e = ppm[p] * 1e-6;
		dsp_clock_skew(echo, nsp, mecho, nm, e);
		dsp_mix16(mic, mecho, noise, NULL, nm);
		struct voice_dsp_cfg cfg;
		struct voice_dsp *d;
		voice_dsp_cfg_default(&cfg);
		cfg.agc = false;
		if (voice_dsp_new(&d, &cfg) != 0)
			goto out;
		size_t cap = 0;
		double t = now_s();
		for (size_t k = 0; cap + FRAME <= nm; k++) {
			voice_dsp_playback(d, farq + k * VOICE_DSP_BLOCK, VOICE_DSP_BLOCK);
			size_t rec = (size_t)floor((double)((k + 1) * VOICE_DSP_BLOCK) * (1 + e));
			for (; cap + FRAME <= rec && cap + FRAME <= nm; cap += FRAME)
				voice_dsp_capture(d, mic + cap, out + cap);
		}
		t = now_s() - t;
		struct voice_dsp_stats st;
		voice_dsp_get_stats(d, &st);
		voice_dsp_free(d);
		size_t s0 = 8 * (size_t)RATE, l0 = cap - 3 * (size_t)RATE;
		double a = dsp_db(dsp_power(mecho + s0, cap - s0) / fmax(dsp_power16(out + s0, cap - s0), 1e-3));
		double b = dsp_db(dsp_power(mecho + l0, cap - l0) / fmax(dsp_power16(out + l0, cap - l0), 1e-3));
		printf("  %+5.0f ppm: %5.1f / %5.1f dB, compensated %+7.1f ppm, %6.1f us/frame\n", ppm[p], a, b,
		       st.drift_ppm, t / (double)(cap / FRAME) * 1e6);
	}
out:
	free(far);
	free(echo);
	free(mecho);
	free(noise);
	free(farq);
	free(mic);
	free(out);
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "drift") == 0) { /* that part alone */
		drift();
		return 0;
	}
	double *far = calloc(N, sizeof(double)), *echo = calloc(N, sizeof(double));
	double *noise = calloc(N, sizeof(double));
	int16_t *farq = calloc(N, sizeof(int16_t)), *mic = calloc(N, sizeof(int16_t));
	int16_t *out = calloc(N, sizeof(int16_t));
	static const unsigned tails[] = { 60, 100, 150, 200, 250, 300 };
	int rc = 1;

	if (!far || !echo || !noise || !farq || !mic || !out)
		goto out;
	dsp_white(noise, N, 2, -70);
	printf("ERLE after 3 s, dB (linear AEC / AEC+NS), and s until a 1 s window reaches 20 dB (AEC+NS)\n");
	printf("  %-10s", "talker");
	for (size_t t = 0; t < sizeof(tails) / sizeof(tails[0]); t++)
		printf("  %4u ms tail     ", tails[t]);
	printf("\n");
	for (uint32_t seed = 0; seed <= 3; seed++) {
		if (seed == 0) {
			if (!load_espeak(far)) {
				printf("  espeak     (espeak-ng or sox failed: row left out)\n");
				continue;
			}
		} else {
			dsp_speech(far, N, seed, -18);
		}
		dsp_mix16(farq, far, NULL, NULL, N);
		for (size_t i = 0; i < N; i++)
			far[i] = farq[i];
		dsp_echo_path(far, echo, N, 40 * RATE / 1000, room_h, sizeof(room_h) / sizeof(room_h[0]), 0.5);
		dsp_mix16(mic, echo, noise, NULL, N);
		char name[16];
		snprintf(name, sizeof(name), seed ? "synth %u" : "espeak", seed);
		printf("  %-10s", name);
		for (size_t t = 0; t < sizeof(tails) / sizeof(tails[0]); t++) {
			struct voice_dsp_cfg cfg;
			double lin, full, c0, conv;
			voice_dsp_cfg_default(&cfg);
			cfg.tail_ms = tails[t];
			cfg.agc = false;
			cfg.ns = false;
			if (run(&cfg, farq, mic, out, NULL) != 0)
				goto out;
			erle(echo, out, &lin, &c0);
			cfg.ns = true;
			if (run(&cfg, farq, mic, out, NULL) != 0)
				goto out;
			erle(echo, out, &full, &conv);
			printf("  %4.1f/%4.1f %4.2fs", lin, full, conv);
		}
		printf("\n");
	}
	cpu(farq, mic, out);
	drift();
	rc = 0;
out:
	free(far);
	free(echo);
	free(noise);
	free(farq);
	free(mic);
	free(out);
	return rc;
}
