/* aec_compare: speexdsp (our shipped voice_dsp.c) against Debian's
 * webrtc-audio-processing 0.3 on the same signals, to choose the echo
 * canceller by measurement (the choice and the figures: doc/voice.md).
 * Tables: ERLE per 0.5 s window to 4 s, time for a 1 s window to reach
 * 20 and 25 dB, ERLE after 3 s and CPU, for 40 and 150 ms of echo delay;
 * double talk; webrtc with a wrong delay figure; clock drift.
 *
 * Signals are those of tests/unit/test_voice_dsp.c (dsp_signals.c is
 * compiled in): the far end is espeak-ng speech (raw s16 files made by
 * run.sh, same text and resampling as the tests) or a synthetic talker,
 * played at -24 dBFS (synthetic -18); the microphone holds its echo
 * through the test room (40 ms delay, 8-tap reflection, -6 dB), white
 * noise at -70 dBFS, and in the double-talk case a near talker from 3 s.
 * Both processors get the reference 10 ms block by 10 ms block just
 * before the capture block of the same index, as our event loop does.
 *
 * Usage: aec_compare FAR.s16 NEAR.s16 (espeak speech, 48 kHz mono s16le);
 * with no arguments the espeak rows are left out. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <string>
#include <vector>

#include <webrtc/modules/audio_processing/include/audio_processing.h>

extern "C" {
#include "dsp_signals.h"
#include "p2pcall/voice_dsp.h"
}

#define RATE 48000
#define BLK 480

static const double room_h[] = { 0.8, 0.45, -0.3, 0.2, -0.12, 0.07, -0.04, 0.02 };
static const size_t NROOM = sizeof(room_h) / sizeof(room_h[0]);

/* One canceller under test: a 10 ms reference block, then the 10 ms
 * microphone block of the same index, out gets the cleaned block. */
struct proc {
	virtual ~proc() {}
	virtual bool ok() const = 0;
	virtual void block(const int16_t *far, const int16_t *mic, int16_t *out) = 0;
};

struct speex_proc : proc {
	struct voice_dsp *d = nullptr;
	speex_proc(bool ns, unsigned tail_ms)
	{
		struct voice_dsp_cfg cfg;
		voice_dsp_cfg_default(&cfg);
		cfg.frame_samples = BLK;
		cfg.tail_ms = tail_ms;
		cfg.ns = ns;
		cfg.agc = false; /* a gain would count as echo (or its removal) */
		if (voice_dsp_new(&d, &cfg) != 0)
			d = nullptr;
	}
	~speex_proc() override { voice_dsp_free(d); }
	bool ok() const override { return d != nullptr; }
	void block(const int16_t *far, const int16_t *mic, int16_t *out) override
	{
		voice_dsp_playback(d, far, BLK);
		voice_dsp_capture(d, mic, out);
	}
};

/* AECM (EchoControlMobile) is left out: it refuses 48 kHz streams
 * (kBadSampleRateError, -7, at set-up). */
enum wmode {
	W_AEC,          /* the classic AEC, ~48 ms filter, on the delay told */
	W_AEC_AGNOSTIC, /* ... with its own delay estimate */
	W_AEC_EXTENDED, /* ... extended filter (~128 ms) and own delay estimate */
	W_AEC_EXT_TOLD, /* extended filter on the delay told */
};

struct webrtc_proc : proc {
	webrtc::AudioProcessing *apm = nullptr;
	int delay_ms;
	bool good = false;
	webrtc::StreamConfig sc{ RATE, 1 };
	float fb[BLK], mb[BLK];
	webrtc_proc(wmode m, bool ns, int reported_delay_ms, webrtc::EchoCancellation::SuppressionLevel level)
		: delay_ms(reported_delay_ms)
	{
		webrtc::Config c;
		c.Set<webrtc::ExperimentalAgc>(new webrtc::ExperimentalAgc(false));
		c.Set<webrtc::DelayAgnostic>(new webrtc::DelayAgnostic(m == W_AEC_AGNOSTIC || m == W_AEC_EXTENDED));
		c.Set<webrtc::ExtendedFilter>(new webrtc::ExtendedFilter(m == W_AEC_EXTENDED || m == W_AEC_EXT_TOLD));
		apm = webrtc::AudioProcessing::Create(c);
		if (!apm)
			return;
		webrtc::ProcessingConfig pc = { { sc, sc, sc, sc } };
		int rc = apm->Initialize(pc);
		rc |= apm->high_pass_filter()->Enable(true);
		rc |= apm->echo_cancellation()->Enable(true);
		rc |= apm->echo_cancellation()->set_suppression_level(level);
		rc |= apm->echo_cancellation()->enable_drift_compensation(false);
		if (ns) {
			rc |= apm->noise_suppression()->Enable(true);
			rc |= apm->noise_suppression()->set_level(webrtc::NoiseSuppression::kHigh);
		}
		rc |= apm->gain_control()->Enable(false);
		good = rc == 0;
		if (!good)
			fprintf(stderr, "aec_compare: webrtc set-up failed (%d)\n", rc);
	}
	~webrtc_proc() override { delete apm; }
	bool ok() const override { return good; }
	void block(const int16_t *far, const int16_t *mic, int16_t *out) override
	{
		for (int i = 0; i < BLK; i++) {
			fb[i] = far[i] / 32768.0f;
			mb[i] = mic[i] / 32768.0f;
		}
		float *fp = fb, *mp = mb;
		int rc = apm->ProcessReverseStream(&fp, sc, sc, &fp);
		apm->set_stream_delay_ms(delay_ms);
		rc = rc ? rc : apm->ProcessStream(&mp, sc, sc, &mp);
		if (rc && good) {
			fprintf(stderr, "aec_compare: webrtc processing failed (%d)\n", rc);
			good = false;
		}
		for (int i = 0; i < BLK; i++) {
			long v = lrintf(mb[i] * 32768.0f);
			out[i] = (int16_t)(v > 32767 ? 32767 : v < -32768 ? -32768 : v);
		}
	}
};

struct variant {
	const char *name;
	bool speex;
	wmode m;
	bool ns;
	bool report_delay; /* webrtc: tell it the true delay, else 0 */
	webrtc::EchoCancellation::SuppressionLevel level;
	unsigned tail_ms; /* speex; 0: 200 ms, the default */
};

static const variant variants[] = {
#define HI webrtc::EchoCancellation::kHighSuppression
#define MOD webrtc::EchoCancellation::kModerateSuppression
#define LO webrtc::EchoCancellation::kLowSuppression
	{ "speex AEC+NS (shipped), 200 ms tail", true, W_AEC, true, false, HI, 0 },
	{ "speex AEC only", true, W_AEC, false, false, HI, 0 },
	/* What a bulk delay estimate (an aligned reference) could buy:
	 * the filter then only has to cover the room. */
	{ "speex AEC+NS, 100 ms tail", true, W_AEC, true, false, HI, 100 },
	{ "webrtc AEC+NS high, delay told", false, W_AEC, true, true, HI, 0 },
	{ "webrtc AEC+NS moderate, delay told", false, W_AEC, true, true, MOD, 0 },
	{ "webrtc AEC+NS low, delay told", false, W_AEC, true, true, LO, 0 },
	{ "webrtc AEC only low, delay told", false, W_AEC, false, true, LO, 0 },
	{ "webrtc AEC+NS moderate, agnostic", false, W_AEC_AGNOSTIC, true, false, MOD, 0 },
	{ "webrtc AEC+NS mod., agnostic+extended", false, W_AEC_EXTENDED, true, false, MOD, 0 },
};
static const size_t NVAR = sizeof(variants) / sizeof(variants[0]);

static proc *make(const variant &v, int true_delay_ms)
{
	if (v.speex)
		return new speex_proc(v.ns, v.tail_ms ? v.tail_ms : 200);
	return new webrtc_proc(v.m, v.ns, v.report_delay ? true_delay_ms : 0, v.level);
}

static double cpu_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Runs n samples through p; returns the CPU seconds spent, or -1. */
static double run(proc *p, const int16_t *far, const int16_t *mic, int16_t *out, size_t n)
{
	double t = cpu_s();
	for (size_t i = 0; i + BLK <= n; i += BLK)
		p->block(far + i, mic + i, out + i);
	t = cpu_s() - t;
	return p->ok() ? t : -1;
}

static double erle_db(const double *echo, const int16_t *out, size_t a, size_t b)
{
	double e = dsp_power(echo + a, b - a), o = dsp_power16(out + a, b - a);
	return dsp_db(e / (o > 0 ? o : 1e-3));
}

/* The first time a 1 s window (hop 250 ms) reaches db, as in the tests. */
static double conv_s(const double *echo, const int16_t *out, size_t n, double db)
{
	for (size_t a = 0; a + RATE <= n; a += RATE / 4)
		if (erle_db(echo, out, a, a + RATE) >= db)
			return (double)(a + RATE) / RATE;
	return -1;
}

static std::vector<double> load_s16(const char *path, size_t n, double dbfs)
{
	std::vector<double> x(n, 0.0);
	FILE *f = fopen(path, "rb");
	if (!f)
		return {};
	std::vector<int16_t> pcm(n);
	size_t got = fread(pcm.data(), sizeof(int16_t), n, f);
	fclose(f);
	if (got < 5 * (size_t)RATE)
		return {};
	for (size_t i = 0; i < got; i++)
		x[i] = pcm[i];
	double g = 32767.0 * pow(10, dbfs / 20) / sqrt(dsp_power(x.data(), n));
	for (auto &v : x)
		v *= g;
	return x;
}

/* The far end as played (16 bits) and its echo. ppm < 0: an integer
 * delay through dsp_echo_path(), exactly as in the tests. ppm >= 0: the
 * delay at mic sample i is delay + ppm * 1e-6 * i (clock drift), by
 * windowed sinc interpolation (ppm 0 checks the interpolation). */
static void make_echo(const std::vector<double> &farx, std::vector<int16_t> &farq, std::vector<double> &far,
		      std::vector<double> &echo, double delay, double ppm)
{
	size_t n = farx.size();
	farq.assign(n, 0);
	far.assign(n, 0);
	echo.assign(n, 0);
	dsp_mix16(farq.data(), farx.data(), nullptr, nullptr, n);
	for (size_t i = 0; i < n; i++)
		far[i] = farq[i];
	if (ppm < 0) {
		dsp_echo_path(far.data(), echo.data(), n, (size_t)delay, room_h, NROOM, 0.5);
		return;
	}
	std::vector<double> room(n, 0.0);
	dsp_echo_path(far.data(), room.data(), n, 0, room_h, NROOM, 0.5);
	for (size_t i = 0; i < n; i++) {
		double t = (double)i - delay - (ppm > 0 ? ppm : 0) * 1e-6 * (double)i;
		long c = (long)floor(t);
		double v = 0;
		for (long k = c - 15; k <= c + 16; k++) {
			if (k < 0 || k >= (long)n)
				continue;
			double x = t - (double)k;
			double s = fabs(x) < 1e-9 ? 1 : sin(M_PI * x) / (M_PI * x);
			double w = 0.5 + 0.5 * cos(M_PI * x / 16.5); /* Hann */
			v += room[(size_t)k] * s * w;
		}
		echo[i] = v;
	}
}

static std::vector<double> noise(size_t n)
{
	std::vector<double> x(n);
	dsp_white(x.data(), n, 2, -70);
	return x;
}

/* ERLE per 500 ms window to 4 s, time to 20/25 dB over 1 s, ERLE
 * after 3 s, CPU per second of audio. */
static void echo_table(const char *title, const std::vector<double> &farx, double delay_ms)
{
	size_t n = farx.size();
	std::vector<int16_t> farq, mic(n), out(n);
	std::vector<double> far, echo, nz = noise(n);
	make_echo(farx, farq, far, echo, delay_ms * RATE / 1000, -1);
	dsp_mix16(mic.data(), echo.data(), nz.data(), nullptr, n);

	printf("\n%s\n", title);
	printf("  %-36s", "ERLE dB per 0.5 s window ending at:");
	for (int k = 1; k <= 8; k++)
		printf(" %4.1fs", k * 0.5);
	printf("  >=20dB >=25dB  3s..end  CPU %%core\n");
	for (size_t v = 0; v < NVAR; v++) {
		proc *p = make(variants[v], (int)delay_ms);
		double cpu = p->ok() ? run(p, farq.data(), mic.data(), out.data(), n) : -1;
		delete p;
		printf("  %-36s", variants[v].name);
		if (cpu < 0) {
			printf(" (failed to set up or to process)\n");
			continue;
		}
		for (int k = 1; k <= 8; k++) {
			size_t a = (size_t)(k - 1) * RATE / 2, b = (size_t)k * RATE / 2;
			/* A pause of the far end says nothing. */
			if (dsp_power(echo.data() + a, b - a) < dsp_power(echo.data(), n) / 1000)
				printf("     -");
			else
				printf(" %5.1f", erle_db(echo.data(), out.data(), a, b));
		}
		printf("  %5.2fs %5.2fs  %6.1f   %6.2f\n", conv_s(echo.data(), out.data(), n, 20),
		       conv_s(echo.data(), out.data(), n, 25), erle_db(echo.data(), out.data(), 3 * RATE, n),
		       cpu / ((double)n / RATE) * 100);
	}
}

/* Clock drift: the microphone's clock runs ppm faster than the
 * speaker's, so the echo's delay grows by ppm * t; ERLE per 5 s. */
static void drift_table(const char *title, const std::vector<double> &farx, double ppm)
{
	size_t n = farx.size();
	std::vector<int16_t> farq, mic(n), out(n);
	std::vector<double> far, echo, nz = noise(n);
	make_echo(farx, farq, far, echo, 40.0 * RATE / 1000, ppm);
	dsp_mix16(mic.data(), echo.data(), nz.data(), nullptr, n);
	printf("\n%s\n  %-36s", title, "ERLE dB per 5 s window ending at:");
	for (size_t k = 1; k <= n / (5 * RATE); k++)
		printf("  %3zus", k * 5);
	printf("\n");
	for (size_t v = 0; v < NVAR; v++) {
		proc *p = make(variants[v], 40);
		double cpu = p->ok() ? run(p, farq.data(), mic.data(), out.data(), n) : -1;
		delete p;
		printf("  %-36s", variants[v].name);
		if (cpu < 0) {
			printf(" (failed)\n");
			continue;
		}
		for (size_t k = 1; k <= n / (5 * RATE); k++)
			printf(" %5.1f", erle_db(echo.data(), out.data(), (k - 1) * 5 * RATE, k * 5 * RATE));
		printf("\n");
	}
}

/* webrtc's AEC needs the delay (set_stream_delay_ms) and its filter
 * only covers ~48 ms (128 ms extended) past it: how wrong may the
 * figure be? True delay 150 ms; speex (200 ms tail) for comparison. */
static void delay_error_table(const std::vector<double> &farx)
{
	static const int told[] = { 0, 50, 100, 120, 140, 150, 160, 180, 200 };
	size_t n = farx.size();
	std::vector<int16_t> farq, mic(n), out(n);
	std::vector<double> far, echo, nz = noise(n);
	make_echo(farx, farq, far, echo, 150.0 * RATE / 1000, -1);
	dsp_mix16(mic.data(), echo.data(), nz.data(), nullptr, n);
	printf("\nWrong delay figure: espeak-ng, true echo delay 150 ms; ERLE 3 s..end / s to 25 dB\n");
	printf("  %-36s", "delay told (ms):");
	for (int t : told)
		printf(" %11d", t);
	printf("\n");
	static const variant rows[] = {
		{ "webrtc AEC+NS moderate", false, W_AEC, true, true, MOD, 0 },
		{ "webrtc AEC+NS moderate, extended", false, W_AEC_EXT_TOLD, true, true, MOD, 0 },
	};
	for (const variant &v : rows) {
		printf("  %-36s", v.name);
		for (int t : told) {
			webrtc_proc p(v.m, v.ns, t, v.level);
			if (!p.ok() || run(&p, farq.data(), mic.data(), out.data(), n) < 0) {
				printf("      failed");
				continue;
			}
			printf(" %4.1f/%5.2fs", erle_db(echo.data(), out.data(), 3 * RATE, n),
			       conv_s(echo.data(), out.data(), n, 25));
		}
		printf("\n");
	}
	speex_proc sp(true, 200);
	run(&sp, farq.data(), mic.data(), out.data(), n);
	printf("  %-36s %4.1f/%5.2fs (needs no figure)\n", "speex AEC+NS, 200 ms tail",
	       erle_db(echo.data(), out.data(), 3 * RATE, n), conv_s(echo.data(), out.data(), n, 25));
}

/* Far end alone for 3 s, then the near talker at the echo's level.
 * Measured on [4 s, end): correlation of the output with the clean near
 * talker and with the echo, and the near talker's level (least squares
 * gain) against the same processor fed the near talker alone. */
static void double_talk(const char *title, const std::vector<double> &farx, const std::vector<double> &nearx)
{
	size_t n = farx.size(), t0 = 4 * (size_t)RATE, m = n - t0 - 2 * BLK;
	std::vector<int16_t> farq, mic(n), out(n), alone(n), silent(n, 0);
	std::vector<double> far, echo, nz = noise(n);
	make_echo(farx, farq, far, echo, 40.0 * RATE / 1000, -1);
	dsp_mix16(mic.data(), echo.data(), nearx.data(), nz.data(), n);
	std::vector<int16_t> mic_alone(n);
	dsp_mix16(mic_alone.data(), nearx.data(), nz.data(), nullptr, n);

	printf("\n%s\n", title);
	printf("  %-36s corr near  corr echo  near level  (alone)  lag\n", "");
	printf("  %-36s %9.2f  %9.2f\n", "microphone input", dsp_corr(mic.data() + t0, nearx.data() + t0, m),
	       dsp_corr(mic.data() + t0, echo.data() + t0, m));
	for (size_t v = 0; v < NVAR; v++) {
		proc *p = make(variants[v], 40);
		double c1 = p->ok() ? run(p, farq.data(), mic.data(), out.data(), n) : -1;
		delete p;
		p = make(variants[v], 40);
		double c2 = p->ok() ? run(p, silent.data(), mic_alone.data(), alone.data(), n) : -1;
		delete p;
		printf("  %-36s", variants[v].name);
		if (c1 < 0 || c2 < 0) {
			printf(" (failed)\n");
			continue;
		}
		size_t lag = dsp_best_lag(out.data() + t0, n - t0, nearx.data() + t0, m, 2 * BLK);
		double on = 0, an = 0, nn = 0;
		for (size_t i = t0; i < t0 + m; i++) {
			on += out[i + lag] * nearx[i];
			an += alone[i + lag] * nearx[i];
			nn += nearx[i] * nearx[i];
		}
		printf(" %9.2f  %9.2f  %+7.1f dB %+6.1f dB %4zu\n",
		       dsp_corr(out.data() + t0 + lag, nearx.data() + t0, m),
		       dsp_corr(out.data() + t0 + lag, echo.data() + t0, m), 20 * log10(on / nn),
		       20 * log10(an / nn), lag);
	}
}

int main(int argc, char **argv)
{
	const size_t n = 10 * (size_t)RATE;
	std::vector<double> esp_far, esp_near, syn(n), syn_near(n);
	if (argc >= 3) {
		esp_far = load_s16(argv[1], n, -24);
		esp_near = load_s16(argv[2], n - 3 * (size_t)RATE, -24);
		if (esp_far.empty() || esp_near.empty())
			fprintf(stderr, "aec_compare: cannot read %s or %s: espeak rows left out\n", argv[1], argv[2]);
	}
	dsp_speech(syn.data(), n, 1, -18);
	dsp_speech(syn_near.data(), n, 7, -24);
	memset(syn_near.data(), 0, 3 * (size_t)RATE * sizeof(double));

	printf("Echo cancellers on the voice_dsp test signals (48 kHz, 10 ms blocks, AGC off,\n"
	       "room: 40 ms + 8 taps, -6 dB; mic noise -70 dBFS). \">=25dB\": end of the first\n"
	       "1 s window whose ERLE reaches 25 dB (-1: never). CPU on this machine.\n");
	if (!esp_far.empty()) {
		echo_table("espeak-ng far end, 40 ms echo delay", esp_far, 40);
		echo_table("espeak-ng far end, 150 ms echo delay (device buffering)", esp_far, 150);
	}
	echo_table("synthetic talker 1, 40 ms echo delay", syn, 40);
	if (!esp_far.empty()) {
		std::vector<double> nr(n, 0.0);
		for (size_t i = 3 * (size_t)RATE; i < n; i++)
			nr[i] = esp_near[i - 3 * (size_t)RATE];
		double_talk("Double talk, espeak-ng (near talker from 3 s at the echo's level), AGC off", esp_far, nr);
	}
	double_talk("Double talk, synthetic talkers 1 (far) and 7 (near)", syn, syn_near);
	if (!esp_far.empty())
		delay_error_table(esp_far);

	/* 30 s: the far end repeats. */
	const std::vector<double> &base = esp_far.empty() ? syn : esp_far;
	std::vector<double> longx(3 * n);
	for (size_t i = 0; i < 3 * n; i++)
		longx[i] = base[i % n];
	drift_table("Control: the drift code with 0 ppm, 30 s", longx, 0);
	drift_table("Clock drift +100 ppm (4.8 samples/s), 30 s", longx, 100);
	drift_table("Clock drift +20 ppm (echo delay grows 0.96 samples/s), 30 s", longx, 20);
	return 0;
}
