/* Latency of p2pcall itself, two ways.
 *
 * 1. Measured end to end through the real audio path. One jackd (dummy
 *    driver, 48 kHz, period 256: a sound card's clock) and this bench as a
 *    JACK client "bench" with an output port that plays a click (a 10 ms
 *    chirp) every CLICK_EVERY samples and an input port that records, both in
 *    the same JACK cycle, so their sample positions share one clock. Two
 *    real `p2pcall' clients call each other through a real server on
 *    loopback with --frame-ms 10: alice's capture device is the ALSA jack
 *    plugin fed from bench:out (PortAudio callback -> ring -> Opus ->
 *    RTP), bob's playback device is the ALSA jack plugin feeding bench:in
 *    (RTP -> jitter buffer -> Opus -> ring -> PortAudio callback). Each
 *    click is found in the recording by normalised cross-correlation; its
 *    delay is mouth-to-ear through the devices. The network adds nothing
 *    here (loopback, < 0.1 ms).
 *    The device share is measured the same way with no p2pcall in the
 *    loop: this process opens the same two devices with p2pcall's
 *    audio_dev settings (10 ms callbacks, 40 ms suggested latency) and
 *    copies capture to playback at once (1 ms polling; the ring between
 *    them holds what the devices' bursts need: PortAudio over the jack
 *    plugin delivers 1024-frame periods, two or three 10 ms callbacks at
 *    once). The tool's own latency is the difference: what p2pcall adds
 *    between the capture callback and the playback callback (polling,
 *    packetisation beyond the device's own blocks, Opus look-ahead,
 *    jitter buffer, playback ring level) with what any pass-through on
 *    these devices pays left out. The devices' phases are drawn anew for
 *    each stream, and the jitter buffer moves in 10 ms steps: the device
 *    loop runs CAL_RUNS times and the call CALLS times, pooled; still,
 *    medians differ by +-5 ms from run to run on a busy machine. A quiet
 *    tone under the clicks finds playback dropouts (digital silence).
 *    Needs jackd2 and libasound2-plugins (test dependencies); prints
 *    SKIP otherwise.
 *
 * 2. A budget under simulated network jitter: two real engines
 *    (src/io/media.c) on one libevent loop, a 3 s sound file each way, and
 *    a simulated network between them that holds every packet for delay +
 *    uniform(0, jitter) ms and drops some. For each setting it prints what
 *    the receiver's jitter buffer settled on and the latency budget:
 *    packetisation (one frame) + Opus look-ahead (6.5 ms) + the fastest
 *    network transit + the jitter buffer's playout delay. Real time:
 *    ~3.5 s per setting.
 *
 * Run time ~2 min; argument "e2e" or "sim" runs one part. */
#include <dlfcn.h>
#include <errno.h>
#include <event2/event.h>
#include <math.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "p2pcall/audio_dev.h"
#include "audio_cmp.h"
#include "p2pcall/media.h"
#include "jackenv.h"
#include "proc.h"

/* --- 1. end to end, measured --- */

#define RATE            48000
/* Longer than any latency seen here, and prime: clicks fall at every
 * phase of the 256-frame JACK cycle and of the 10 ms callbacks and frames,
 * so the figures average over the phase a real sound would have. */
#define CLICK_EVERY     28901 /* samples, 602 ms */
#define CLICK_LEN       480   /* 10 ms chirp */
#define SEARCH_MS       450   /* a click is looked for this long after it left */
#define MIN_CORR        0.5
#define REC_SECONDS     240
#define MAX_CLICKS      256
#define CALL_S          20    /* ... through each of CALLS calls */
#define CALLS           3   /* seconds of clicks through the call */
#define CAL_S           5     /* ... through the device loop, each of CAL_RUNS */
#define CAL_RUNS        3
/* The tone under the clicks: 300 Hz, peak -46 dBFS (RMS ~120 of 32767,
 * below the jitter buffer's quiet threshold, so it may still drop frames
 * there). Where the tone is missing for DROPOUT_MS, exact zeros, the
 * playback device underran (nothing else in the path makes digital
 * silence out of it). */
#define TONE            0.005
#define DROPOUT_MS      2

/* libjack, loaded at run time: the bench needs no -ljack nor its headers
 * (only jackd2's library, which jackd itself needs). */
typedef uint32_t jnframes;
typedef void jclient;
typedef void jport;
#define JACK_NO_START_SERVER 0x01
#define JACK_USE_EXACT_NAME  0x02
#define JACK_PORT_IS_INPUT   0x1
#define JACK_PORT_IS_OUTPUT  0x2
static struct {
	jclient *(*client_open)(const char *, int, int *, ...);
	int (*client_close)(jclient *);
	jport *(*port_register)(jclient *, const char *, const char *, unsigned long, unsigned long);
	int (*set_process_callback)(jclient *, int (*)(jnframes, void *), void *);
	int (*set_xrun_callback)(jclient *, int (*)(void *), void *);
	int (*activate)(jclient *);
	int (*deactivate)(jclient *);
	void *(*port_get_buffer)(jport *, jnframes);
	jnframes (*get_sample_rate)(jclient *);
} jk;

static struct {
	jclient *client;
	jport *out, *in;
	float click[CLICK_LEN];
	float *rec;                    /* REC_SECONDS of bench:in */
	atomic_uint_fast64_t pos;      /* frames processed */
	atomic_bool armed;             /* send clicks */
	atomic_uint n_clicks;
	uint64_t click_at[MAX_CLICKS]; /* sample position of each click sent */
	uint64_t next_click;
	atomic_uint xruns;
	unsigned xruns0;               /* at clicks_start */
} J;

static int jack_process(jnframes n, void *arg)
{
	float *out = jk.port_get_buffer(J.out, n), *in = jk.port_get_buffer(J.in, n);
	uint64_t p0 = atomic_load(&J.pos);
	bool armed = atomic_load(&J.armed);
	unsigned k = atomic_load(&J.n_clicks);
	for (jnframes i = 0; i < n; i++) {
		uint64_t p = p0 + i;
		if (armed && p >= J.next_click && k < MAX_CLICKS &&
		    (k == 0 || p >= J.click_at[k - 1] + CLICK_LEN)) {
			J.click_at[k++] = p;
			J.next_click = p + CLICK_EVERY;
		}
		/* a quiet tone under the clicks, to find playback dropouts */
		float v = armed ? (float)(TONE * sin(2 * M_PI * 300.0 * (double)(p % RATE) / RATE)) : 0.0f;
		if (k > 0 && p - J.click_at[k - 1] < CLICK_LEN)
			v += J.click[p - J.click_at[k - 1]];
		out[i] = v;
		if (p < (uint64_t)REC_SECONDS * RATE)
			J.rec[p] = in[i];
	}
	if (!armed)
		J.next_click = p0 + n;
	atomic_store(&J.n_clicks, k);
	atomic_store(&J.pos, p0 + n);
	return 0;
}

static int jack_xrun(void *arg)
{
	atomic_fetch_add(&J.xruns, 1);
	return 0;
}

static int jack_load(char *why, size_t n)
{
	void *h = dlopen("libjack.so.0", RTLD_NOW);
	if (!h) {
		snprintf(why, n, "libjack.so.0 not found (Debian: jackd2)");
		return -1;
	}
	jk.client_open = (jclient * (*)(const char *, int, int *, ...))dlsym(h, "jack_client_open");
	jk.client_close = (int (*)(jclient *))dlsym(h, "jack_client_close");
	jk.port_register = (jport * (*)(jclient *, const char *, const char *, unsigned long,
				      unsigned long))dlsym(h, "jack_port_register");
	jk.set_process_callback = (int (*)(jclient *, int (*)(jnframes, void *), void *))
		dlsym(h, "jack_set_process_callback");
	jk.set_xrun_callback = (int (*)(jclient *, int (*)(void *), void *))
		dlsym(h, "jack_set_xrun_callback");
	jk.activate = (int (*)(jclient *))dlsym(h, "jack_activate");
	jk.deactivate = (int (*)(jclient *))dlsym(h, "jack_deactivate");
	jk.port_get_buffer = (void *(*)(jport *, jnframes))dlsym(h, "jack_port_get_buffer");
	jk.get_sample_rate = (jnframes(*)(jclient *))dlsym(h, "jack_get_sample_rate");
	if (!jk.client_open || !jk.client_close || !jk.port_register || !jk.set_process_callback ||
	    !jk.set_xrun_callback || !jk.activate || !jk.deactivate || !jk.port_get_buffer ||
	    !jk.get_sample_rate) {
		snprintf(why, n, "libjack.so.0 lacks a symbol");
		return -1;
	}
	return 0;
}

/* The JACK client "bench" with ports out and in, running. */
static int jack_start(char *why, size_t n)
{
	int status = 0;
	for (int i = 0; i < CLICK_LEN; i++) {
		double t = (double)i / RATE, w = 0.5 - 0.5 * cos(2 * M_PI * i / (CLICK_LEN - 1));
		/* 400 -> 3400 Hz over 10 ms: well inside Opus wideband */
		J.click[i] = (float)(0.5 * w * sin(2 * M_PI * (400 * t + 150000 * t * t)));
	}
	J.rec = calloc((size_t)REC_SECONDS * RATE, sizeof(*J.rec));
	if (!J.rec)
		return snprintf(why, n, "out of memory"), -1;
	J.client = jk.client_open("bench", JACK_NO_START_SERVER | JACK_USE_EXACT_NAME, &status);
	if (!J.client)
		return snprintf(why, n, "jack_client_open: status 0x%x", status), -1;
	if (jk.get_sample_rate(J.client) != RATE)
		return snprintf(why, n, "jackd runs at %u Hz", jk.get_sample_rate(J.client)), -1;
	J.out = jk.port_register(J.client, "out", "32 bit float mono audio", JACK_PORT_IS_OUTPUT, 0);
	J.in = jk.port_register(J.client, "in", "32 bit float mono audio", JACK_PORT_IS_INPUT, 0);
	if (!J.out || !J.in || jk.set_process_callback(J.client, jack_process, NULL) ||
	    jk.set_xrun_callback(J.client, jack_xrun, NULL) || jk.activate(J.client))
		return snprintf(why, n, "cannot set up the JACK client"), -1;
	return 0;
}

static void jack_stop(void)
{
	if (J.client) {
		jk.deactivate(J.client);
		jk.client_close(J.client);
	}
	J.client = NULL;
	free(J.rec);
	J.rec = NULL;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, ms % 1000 * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Clicks sent so far are forgotten; sending starts now. */
static void clicks_start(void)
{
	atomic_store(&J.n_clicks, 0);
	J.xruns0 = atomic_load(&J.xruns);
	atomic_store(&J.armed, true);
}

static void clicks_stop(void)
{
	atomic_store(&J.armed, false);
	sleep_ms(SEARCH_MS + 100); /* the last one comes through */
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

struct lat {
	int n, sent;
	unsigned xruns;               /* JACK xruns while clicks were sent */
	unsigned dropouts;            /* runs of DROPOUT_MS of digital silence */
	double concealed;             /* % of bob's frames, sum over calls */
	int calls;
	double d[4 * MAX_CLICKS];     /* delay of each click found, ms */
	double mean, median, p95, min, max; /* ms */
};

/* Finds every click sent since clicks_start in the recording; adds their
 * delays to L and updates its figures. */
static void clicks_find(struct lat *L)
{
	unsigned k = atomic_load(&J.n_clicks);
	uint64_t end = atomic_load(&J.pos), cap = (uint64_t)REC_SECONDS * RATE;
	double tt = 0, d[4 * MAX_CLICKS];
	for (int i = 0; i < CLICK_LEN; i++)
		tt += (double)J.click[i] * J.click[i];
	L->sent += (int)k;
	if (k > 0) { /* from the first click's arrival to the last's */
		uint64_t from = J.click_at[0] + (uint64_t)SEARCH_MS * RATE / 1000;
		uint64_t to = J.click_at[k - 1] < end && J.click_at[k - 1] < cap ? J.click_at[k - 1] : 0;
		uint64_t run = 0;
		for (uint64_t p = from; p < to; p++) {
			run = J.rec[p] == 0.0f ? run + 1 : 0;
			if (run == (uint64_t)DROPOUT_MS * RATE / 1000)
				L->dropouts++;
		}
	}
	L->xruns += atomic_load(&J.xruns) - J.xruns0;
	for (unsigned c = 0; c < k && L->n < 4 * MAX_CLICKS; c++) {
		uint64_t from = J.click_at[c], to = from + (uint64_t)SEARCH_MS * RATE / 1000;
		if (to + CLICK_LEN > end || to + CLICK_LEN > cap)
			continue;
		double best = 0;
		uint64_t at = 0;
		for (uint64_t p = from; p < to; p++) {
			double xs = 0, xx = 0;
			for (int i = 0; i < CLICK_LEN; i++) {
				xs += (double)J.rec[p + i] * J.click[i];
				xx += (double)J.rec[p + i] * J.rec[p + i];
			}
			double r = xx > 0 ? xs / sqrt(xx * tt) : 0;
			if (r > best) {
				best = r;
				at = p;
			}
		}
		if (best >= MIN_CORR)
			L->d[L->n++] = (double)(at - from) * 1000.0 / RATE;
	}
	L->mean = L->median = L->p95 = L->min = L->max = NAN;
	if (L->n == 0)
		return;
	L->mean = 0;
	for (int i = 0; i < L->n; i++)
		L->mean += L->d[i] / L->n;
	memcpy(d, L->d, (size_t)L->n * sizeof(d[0]));
	qsort(d, (size_t)L->n, sizeof(d[0]), cmp_double);
	L->median = L->n % 2 ? d[L->n / 2] : (d[L->n / 2 - 1] + d[L->n / 2]) / 2;
	L->p95 = d[(L->n * 95 + 99) / 100 - 1];
	L->min = d[0];
	L->max = d[L->n - 1];
}

static int write_asoundrc(const char *path)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	/* The jack plugin connects its port to bench's at open. Plug over
	 * jack as in testbed.md (period 256: the default device appears). */
	fprintf(f, "pcm.jackcap { type jack; capture_ports { 0 bench:out } }\n"
		   "pcm.jackplay { type jack; playback_ports { 0 bench:in } }\n"
		   "pcm.!default {\n  type asym\n"
		   "  playback.pcm { type plug; slave.pcm \"jackplay\" }\n"
		   "  capture.pcm { type plug; slave.pcm \"jackcap\" }\n}\n");
	return fclose(f) == 0 ? 0 : -1;
}

/* The device share: capture -> playback in this process at once. */
static int device_loop(struct lat *L, char *why, size_t n)
{
	struct audio_dev_cfg c;
	struct audio_dev *cap = NULL, *play = NULL;
	int16_t buf[4800];
	int rc = -1;
	audio_dev_cfg_default(&c);
	c.playback = false;
	if (audio_dev_new(&cap, &c, why, n) < 0)
		goto out;
	audio_dev_cfg_default(&c);
	c.capture = false;
	if (audio_dev_new(&play, &c, why, n) < 0)
		goto out;
	memset(buf, 0, sizeof(buf));
	if (audio_dev_start(play, why, n) < 0 || audio_dev_start(cap, why, n) < 0)
		goto out;
	sleep_ms(500);
	while (audio_dev_read(cap, buf, 4800) > 0) /* what came before */
		;
	/* One callback of slack from here on: the two streams' callbacks
	 * come at independent phases. */
	memset(buf, 0, sizeof(buf));
	audio_dev_write(play, buf, RATE / 100);
	struct audio_dev_stats st0;
	audio_dev_get_stats(play, &st0);
	clicks_start();
	for (long t = 0; t < (long)CAL_S * 1000 + SEARCH_MS + 100; t++) {
		size_t k;
		while ((k = audio_dev_read(cap, buf, 4800)) > 0)
			audio_dev_write(play, buf, k);
		if (t == (long)CAL_S * 1000)
			atomic_store(&J.armed, false);
		sleep_ms(1);
	}
	struct audio_dev_stats st;
	audio_dev_get_stats(play, &st);
	st.underruns -= st0.underruns;
	if (st.underruns)
		fprintf(stderr, "bench_latency: device loop: %llu playback underruns\n",
			(unsigned long long)st.underruns);
	clicks_find(L);
	rc = 0;
out:
	audio_dev_free(cap);
	audio_dev_free(play);
	return rc;
}

/* The device loop's latency depends on the phase between the two
 * streams' callbacks, fixed for a run: a few runs average it. */
static int device_loops(struct lat *L, char *why, size_t n)
{
	for (int i = 0; i < CAL_RUNS; i++)
		if (device_loop(L, why, n) < 0)
			return -1;
	return 0;
}

static double json_num(const char *l, const char *key)
{
	char pat[64];
	snprintf(pat, sizeof(pat), "\"%s\":", key);
	const char *at = strstr(l, pat);
	return at && strncmp(at + strlen(pat), "null", 4) ? strtod(at + strlen(pat), NULL) : NAN;
}

/* alice (capture device) calls bob (playback device), 10 ms frames. */
static int call_loop(const char *dir, struct lat *L, double *jb_ms, char *why, size_t n)
{
	struct test_server S;
	struct proc alice = { .pid = 0 }, bob = { .pid = 0 };
	char silence[128], out_a[128], id_a[96], id_b[96], dur[16], line[4096];
	int rc = -1;
	*jb_ms = NAN;
	snprintf(silence, sizeof(silence), "%s/silence.wav", dir);
	snprintf(out_a, sizeof(out_a), "%s/alice-heard.wav", dir);
	{
		int16_t *z = calloc((size_t)(CALL_S + 15) * RATE, sizeof(*z));
		int r = z ? audio_save(silence, z, (size_t)(CALL_S + 15) * RATE, why, n) : -1;
		free(z);
		if (r < 0)
			return -1;
	}
	if (server_start(&S, NULL) < 0)
		return snprintf(why, n, "cannot start %s --serve", test_bin()), -1;
	snprintf(id_a, sizeof(id_a), "alice@127.0.0.1:%d", S.port);
	snprintf(id_b, sizeof(id_b), "bob@127.0.0.1:%d", S.port);
	snprintf(dur, sizeof(dur), "%d", CALL_S + 4);
	const char *argv_b[] = { "--json", "--auto-answer", "--once", "--frame-ms", "10",
				 "--input", silence, id_b, NULL };
	const char *argv_a[] = { "--json", "--duration", dur, "--frame-ms", "10",
				 "--output", out_a, id_a, "bob", NULL };
	if (proc_start(&bob, argv_b) < 0 || proc_event(&bob, "registered", line, sizeof(line), 10000) < 0 ||
	    proc_start(&alice, argv_a) < 0 || proc_event(&alice, "connected", line, sizeof(line), 15000) < 0) {
		proc_stderr(&alice, why, n);
		goto out;
	}
	sleep_ms(2000); /* the jitter buffer settles from its initial 60 ms */
	clicks_start();
	sleep_ms((long)CALL_S * 1000);
	clicks_stop();
	clicks_find(L);
	/* bob's view of the jitter buffer over the call */
	double sum = 0;
	int cnt = 0;
	while (proc_line(&bob, line, sizeof(line), 15000) == 0 && !strstr(line, "\"event\":\"ended\""))
		if (strstr(line, "\"event\":\"stats\"") && !isnan(json_num(line, "jb_ms"))) {
			sum += json_num(line, "jb_ms");
			cnt++;
		}
	if (cnt)
		*jb_ms = sum / cnt;
	if (strstr(line, "\"event\":\"ended\"") && !isnan(json_num(line, "concealed_pct"))) {
		L->concealed += json_num(line, "concealed_pct");
		L->calls++;
	}
	rc = 0;
out:
	proc_stop(&alice);
	proc_stop(&bob);
	server_stop(&S);
	return rc;
}

/* The latency through p2pcall changes with the device phases each call
 * starts with and with the jitter buffer's 10 ms steps: a few calls. */
static int calls(const char *dir, struct lat *L, double *jb_ms, char *why, size_t n)
{
	double sum = 0;
	int cnt = 0;
	for (int i = 0; i < CALLS; i++) {
		double jb;
		if (call_loop(dir, L, &jb, why, n) < 0)
			return -1;
		if (!isnan(jb)) {
			sum += jb;
			cnt++;
		}
	}
	*jb_ms = cnt ? sum / cnt : NAN;
	return 0;
}

static void lat_row(const char *what, const struct lat *L)
{
	printf("  %-28s %6.1f %6.1f %6.1f %6.1f %6.1f  %3d/%-3d %8u %5u\n", what, L->mean, L->median, L->p95,
	       L->min, L->max, L->n, L->sent, L->dropouts, L->xruns);
}

static int end_to_end(void)
{
	char why[512] = "", dir[] = "/tmp/p2pcall-blat-XXXXXX";
	struct jackenv *env = NULL;
	static struct lat dev, call;
	double jb = NAN;
	int rc = 0;
	printf("1. End to end, 10 ms frames, loopback (network 0 ms), JACK dummy clock, %d calls, ms:\n", CALLS);
	if (jack_load(why, sizeof(why)) < 0 || jackenv_new(&env, JACKENV_JACK, why, sizeof(why)) < 0) {
		printf("SKIP end to end: %s (apt-get install -y jackd2 libasound2-plugins)\n\n", why);
		jackenv_free(env);
		return 0;
	}
	bool made = mkdtemp(dir) != NULL;
	if (!made || write_asoundrc(jackenv_asoundrc(env)) < 0 || jack_start(why, sizeof(why)) < 0 ||
	    device_loops(&dev, why, sizeof(why)) < 0 || calls(dir, &call, &jb, why, sizeof(why)) < 0) {
		fprintf(stderr, "bench_latency: end to end: %s\n", why);
		rc = -1;
		goto out;
	}
	printf("  %-28s %6s %6s %6s %6s %6s  %7s %8s %5s\n", "", "mean", "median", "p95", "min", "max",
	       "clicks", "dropouts", "xruns");
	lat_row("device loop (no p2pcall)", &dev);
	lat_row("through two p2pcall clients", &call);
	printf("  p2pcall's own: %.1f ms median, %.1f mean, %.1f p95 (goal <= 30 median)\n"
	       "  bob's jitter buffer %.1f ms, frames concealed %.2f %%\n",
	       call.median - dev.median, call.mean - dev.mean, call.p95 - dev.median, jb,
	       call.calls ? call.concealed / call.calls : NAN);
	printf("  (counted: capture polling, packetisation, Opus look-ahead, jitter buffer, decoding and\n"
	       "   the playback ring; not counted: the device loop, i.e. ALSA/JACK buffers and the ring\n"
	       "   a pass-through needs for the devices' bursts)\n\n");
	if (call.n < call.sent / 2 || dev.n < dev.sent / 2) {
		fprintf(stderr, "bench_latency: too few clicks found\n");
		rc = -1;
	}
out:
	jack_stop();
	jackenv_free(env);
	if (made) {
		char cmd[160];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "bench_latency: cannot remove %s\n", dir);
	}
	return rc;
}

/* --- 2. budget under simulated network jitter --- */

struct side {
	struct media *m;
	struct side *peer;
};

struct held {
	struct side *to;
	size_t len;
	uint8_t pkt[1500];
};

static struct event_base *base;
static struct side A, B;
static int delay_ms, jitter_ms;
static double loss_pct;

static void deliver(evutil_socket_t fd, short what, void *arg)
{
	struct held *h = arg;
	media_input(h->to->m, h->pkt, h->len);
	free(h);
}

static void net_send(void *ctx, const uint8_t *pkt, size_t len)
{
	struct side *s = ctx;
	if (len > 1500 || (double)rand() / RAND_MAX * 100.0 < loss_pct)
		return;
	struct held *h = malloc(sizeof(*h));
	if (!h)
		return;
	h->to = s->peer;
	h->len = len;
	memcpy(h->pkt, pkt, len);
	long us = delay_ms * 1000L + (jitter_ms ? rand() % (jitter_ms * 1000L) : 0);
	struct timeval tv = { us / 1000000, us % 1000000 };
	event_base_once(base, -1, EV_TIMEOUT, deliver, h, &tv);
}

static void on_event(void *ctx, enum media_event ev, const char *why)
{
	if (ev != MEDIA_EV_DONE)
		fprintf(stderr, "bench_latency: media failed: %s\n", why ? why : "?");
	event_base_loopexit(base, NULL);
}

static int write_signal(const char *path, double seconds)
{
	size_t n = (size_t)(seconds * 48000);
	int16_t *pcm = calloc(n, sizeof(*pcm));
	if (!pcm)
		return -1;
	for (size_t i = 0; i < n; i++) {
		double t = (double)i / 48000, env = fmax(0, sin(2 * M_PI * 2.5 * t));
		pcm[i] = (int16_t)(8000 * env * sin(2 * M_PI * 180 * t));
	}
	char err[256];
	int rc = audio_save(path, pcm, n, err, sizeof(err));
	if (rc < 0)
		fprintf(stderr, "bench_latency: %s\n", err);
	free(pcm);
	return rc;
}

static int run(const char *in, const char *out_a, const char *out_b, unsigned frame_ms)
{
	static const struct media_cbs cbs = { net_send, on_event };
	struct media_cfg ca = { .input_file = in, .output_file = out_a, .frame_ms = frame_ms };
	struct media_cfg cb = { .input_file = in, .output_file = out_b, .frame_ms = frame_ms };
	char err[512];
	base = event_base_new();
	A.peer = &B;
	B.peer = &A;
	if (!base || media_open(&A.m, base, &ca, &cbs, &A, err, sizeof(err)) < 0 ||
	    media_open(&B.m, base, &cb, &cbs, &B, err, sizeof(err)) < 0 ||
	    media_start(A.m, err, sizeof(err)) < 0 || media_start(B.m, err, sizeof(err)) < 0) {
		fprintf(stderr, "bench_latency: %s\n", err);
		return -1;
	}
	event_base_dispatch(base);
	media_stop(A.m);
	media_stop(B.m);
	struct media_stats st;
	media_call_stats(B.m, &st);
	double budget = frame_ms + 6.5 + delay_ms + st.jb_ms;
	printf("%5u ms %4d +%3d ms %4.0f %% | jb %5.1f ms  jitter %5.1f ms  concealed %4.1f %%  rtt %5.1f ms"
	       " | mouth-to-ear ~%5.1f ms, tool's own ~%5.1f ms\n",
	       frame_ms, delay_ms, jitter_ms, loss_pct, st.jb_ms, st.jitter_ms, st.concealed_pct, st.rtt_ms,
	       budget, budget - delay_ms);
	media_free(A.m);
	media_free(B.m);
	A.m = B.m = NULL;
	/* Packets still held by the "network" are dropped with the base. */
	event_base_free(base);
	return 0;
}

static int simulated(void)
{
	char dir[] = "/tmp/p2pcall-bench-XXXXXX", in[96], oa[96], ob[96];
	if (!mkdtemp(dir))
		return 1;
	snprintf(in, sizeof(in), "%s/in.wav", dir);
	snprintf(oa, sizeof(oa), "%s/a.wav", dir);
	snprintf(ob, sizeof(ob), "%s/b.wav", dir);
	if (write_signal(in, 3.0) < 0)
		return 1;
	static const struct { unsigned frame; int delay, jitter; double loss; } cases[] = {
		{ 10, 0, 0, 0 }, { 10, 20, 5, 0 },
		{ 20, 0, 0, 0 }, { 20, 20, 5, 0 }, { 20, 40, 20, 2 }, { 20, 60, 40, 5 }, { 60, 40, 20, 2 },
	};
	printf("frame  delay jitter loss | receiver (whole call)\n"
	       "(mouth-to-ear is a budget: frame + Opus look-ahead 6.5 ms + transit + jitter-buffer delay;\n"
	       " the tool's own share leaves out the network's delay; goal <= 30 ms with 10 ms frames)\n");
	srand(1);
	int rc = 0;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]) && rc == 0; i++) {
		delay_ms = cases[i].delay;
		jitter_ms = cases[i].jitter;
		loss_pct = cases[i].loss;
		rc = run(in, oa, ob, cases[i].frame);
	}
	unlink(in);
	unlink(oa);
	unlink(ob);
	rmdir(dir);
	return rc ? 1 : 0;
}

/* No argument: both parts; "e2e" or "sim": one. */
int main(int argc, char **argv)
{
	const char *only = argc > 1 ? argv[1] : "";
	int rc = 0;
	if (strcmp(only, "sim") && end_to_end() != 0)
		rc = -1;
	if (strcmp(only, "e2e")) {
		printf("2. Jitter buffer under simulated network jitter (two engines in one process, sound "
		       "files):\n");
		if (simulated() != 0)
			rc = -1;
	}
	return rc ? 1 : 0;
}
