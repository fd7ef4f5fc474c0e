/* Mouth-to-ear latency of the media engine under network jitter: two real
 * engines (src/io/media.c) on one libevent loop, a 3 s sound file each
 * way, and a simulated network between them that holds every packet for
 * delay + uniform(0, jitter) ms and drops some. For each setting it
 * prints what the receiver's jitter buffer settled on and the latency
 * budget: packetisation (one frame) + Opus look-ahead (6.5 ms) + the
 * fastest network transit + the jitter buffer's playout delay. Real time:
 * ~3.5 s per setting. */
#include <event2/event.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "p2pcall/audio_file.h"
#include "p2pcall/media.h"

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
	struct audio_file_writer *w;
	char err[256];
	int rc = audio_file_writer_open(&w, path, err, sizeof(err));
	if (rc == 0)
		rc = audio_file_write(w, pcm, n, err, sizeof(err));
	if (rc == 0)
		rc = audio_file_writer_close(w, err, sizeof(err));
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

int main(void)
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
