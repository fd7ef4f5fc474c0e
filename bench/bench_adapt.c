/* Encoder adaptation, adaptive against fixed: two calls side by side on
 * one event loop, each between two real media engines (Opus, RTP, RTCP,
 * jitter buffers, real time) sending 24 s of synthetic speech to each
 * other over an impaired path in this process: 20 ms one way, and from
 * 4 s to 12 s either
 *   loss:       10 % random loss each way (then 0 % again), or
 *   bottleneck: a 32 kbit/s link each way (headers included) with a
 *               drop-tail queue of 10 packets (they wait their turn, the
 *               RTT grows, what finds the queue full is dropped), then
 *               unlimited again.
 * "adaptive" runs with --bitrate 32000 (floor 12000), "fixed" with
 * --bitrate 32000 --min-bitrate 32000 (FEC tuning still follows loss in
 * both). Both calls see the same impairment (same random sequence).
 *
 * Printed every 2 s for A's stream: the encoder's target bitrate, the
 * loss its FEC is tuned for, the wire rate, and at B the loss and the
 * frames concealed (made up by PLC; those rebuilt from FEC are not
 * counted: media.h); then per phase the mean concealment.
 *
 * The impairment is in-process rather than the NAT lab's impair tool
 * (tests/lab/impair.c): the lab cannot change its loss in the middle of a
 * call and needs root; the engines and their RTCP feedback are the same.
 * Takes about 50 s. */
#include <event2/event.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audio_cmp.h"
#include "p2pcall/clock.h"
#include "p2pcall/media.h"

#define SECONDS 24
#define BAD_FROM_S 4
#define BAD_TO_S 12
#define ONE_WAY_US 20000
#define CAP_BPS 32000.0
#define QUEUE_PKTS 10

enum scenario { LOSS, BOTTLENECK };

struct side;

struct pair {
	const char *name;
	struct side *a, *b;
	uint64_t rng;              /* the same seed in both pairs */
	double conc_sum[3];        /* per phase: concealed % sums, samples */
	unsigned conc_n[3];
	double kbps_sum[3];
};

struct side {
	struct media *m;
	struct side *peer;
	struct pair *pair;
	uint64_t queue[QUEUE_PKTS]; /* departures from the bottleneck, FIFO */
	unsigned queued;
};

struct inflight {
	struct event *ev;
	struct media *to;
	size_t len;
	uint8_t pkt[1500];
};

static struct event_base *base;
static enum scenario scen;
static uint64_t t0;

static double rnd(uint64_t *s)
{
	*s = *s * 6364136223846793005ull + 1442695040888963407ull;
	return (double)(*s >> 11) / 9007199254740992.0;
}

static int phase_of(uint64_t now)
{
	double t = (double)(now - t0) / 1e6;
	return t < BAD_FROM_S ? 0 : t < BAD_TO_S ? 1 : 2;
}

static void deliver(evutil_socket_t fd, short what, void *arg)
{
	struct inflight *f = arg;
	media_input(f->to, f->pkt, f->len);
	event_free(f->ev);
	free(f);
}

static void net_send(void *ctx, const uint8_t *pkt, size_t len)
{
	struct side *s = ctx;
	uint64_t now = clock_now_us();
	if (!s->peer->m || len > 1500)
		return;
	uint64_t wait = 0;
	if (phase_of(now) == 1) {
		if (scen == LOSS && rnd(&s->pair->rng) < 0.10)
			return;
		if (scen == BOTTLENECK) {
			/* IP + UDP headers count on the link too */
			uint64_t tx = (uint64_t)(((double)len + 28) * 8 / CAP_BPS * 1e6);
			unsigned gone = 0;
			while (gone < s->queued && s->queue[gone] <= now)
				gone++;
			memmove(s->queue, s->queue + gone, (s->queued - gone) * sizeof(uint64_t));
			s->queued -= gone;
			if (s->queued == QUEUE_PKTS)
				return;
			uint64_t start = s->queued ? s->queue[s->queued - 1] : now;
			s->queue[s->queued++] = start + tx;
			wait = start + tx - now;
		}
	}
	struct inflight *f = malloc(sizeof(*f));
	if (!f)
		return;
	f->to = s->peer->m;
	f->len = len;
	memcpy(f->pkt, pkt, len);
	f->ev = evtimer_new(base, deliver, f);
	uint64_t d = ONE_WAY_US + wait;
	struct timeval tv = { (time_t)(d / 1000000), (suseconds_t)(d % 1000000) };
	evtimer_add(f->ev, &tv);
}

static void on_event(void *ctx, enum media_event ev, const char *why)
{
	if (ev == MEDIA_EV_FAILED)
		fprintf(stderr, "bench_adapt: media failed: %s\n", why ? why : "?");
}

static struct pair pairs[2];
static struct side sides[4];

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct event *self = arg;
	uint64_t now = clock_now_us();
	double t = (double)(now - t0) / 1e6;
	int ph = phase_of(now - 1000000); /* the interval just past */
	if ((long)lrint(t) % 2 == 0)
		printf("  %4.0f s  %-10s", t, ph == 1 ? (scen == LOSS ? "10 % loss" : "32 kbit/s") : "clean");
	for (int i = 0; i < 2; i++) {
		struct pair *p = &pairs[i];
		struct media_stats sa, sb;
		media_interval_stats(p->a->m, &sa);
		media_interval_stats(p->b->m, &sb);
		if (!isnan(sb.concealed_pct)) {
			p->conc_sum[ph] += sb.concealed_pct;
			p->conc_n[ph]++;
			p->kbps_sum[ph] += sa.kbps_out;
		}
		if ((long)lrint(t) % 2 == 0)
			printf("  | %5.1f %3.0f %5.1f  %4.1f %5.1f", sa.target_kbps, sa.fec_loss_pct,
			       sa.kbps_out, isnan(sb.loss_pct) ? 0.0 : sb.loss_pct, sb.concealed_pct);
	}
	if ((long)lrint(t) % 2 == 0)
		printf("\n");
	fflush(stdout);
	if (t >= SECONDS - 0.5) {
		event_base_loopexit(base, NULL);
		return;
	}
	struct timeval tv = { 1, 0 };
	evtimer_add(self, &tv);
}

/* The synthetic talker, long enough for the whole call. */
static int make_wav(const char *path, uint32_t seed)
{
	char err[256];
	int rc = audio_make_synthetic_speech(path, SECONDS + 2, seed, -22, err, sizeof(err));
	if (rc < 0)
		fprintf(stderr, "bench_adapt: %s\n", err);
	return rc;
}

static char outdir[64];

static int run(enum scenario sc, const char *wav_a, const char *wav_b)
{
	static const struct media_cbs cbs = { net_send, on_event };
	char err[512];
	scen = sc;
	memset(pairs, 0, sizeof(pairs));
	memset(sides, 0, sizeof(sides));
	for (int i = 0; i < 2; i++) {
		struct pair *p = &pairs[i];
		p->name = i == 0 ? "adaptive" : "fixed";
		p->a = &sides[2 * i];
		p->b = &sides[2 * i + 1];
		p->rng = 12345;
		p->a->peer = p->b;
		p->b->peer = p->a;
		p->a->pair = p->b->pair = p;
		for (int k = 0; k < 2; k++) {
			struct side *s = k ? p->b : p->a;
			char out[96];
			snprintf(out, sizeof(out), "%s/out%d%d.wav", outdir, i, k);
			struct media_cfg cfg = { .input_file = k ? wav_b : wav_a, .output_file = out,
						 .bitrate = 32000, .min_bitrate = i == 0 ? 0 : 32000 };
			if (media_open(&s->m, base, &cfg, &cbs, s, err, sizeof(err)) < 0) {
				fprintf(stderr, "bench_adapt: %s\n", err);
				return -1;
			}
		}
	}
	printf("%s: 0-%d s clean, %d-%d s %s, then clean; 20 ms one way\n",
	       sc == LOSS ? "loss step" : "bottleneck", BAD_FROM_S, BAD_FROM_S, BAD_TO_S,
	       sc == LOSS ? "10 % random loss" : "32 kbit/s link, 10-packet queue");
	printf("  %6s  %-10s  | %-29s| %s\n", "", "path", "adaptive", "fixed");
	printf("  %6s  %-10s", "", "");
	for (int i = 0; i < 2; i++)
		printf("  | %5s %3s %5s  %4s %5s", "kbps", "fec", "wire", "loss", "conc");
	printf("\n");
	t0 = clock_now_us();
	for (int i = 0; i < 4; i++)
		if (media_start(sides[i].m, err, sizeof(err)) < 0) {
			fprintf(stderr, "bench_adapt: %s\n", err);
			return -1;
		}
	struct event *tick = evtimer_new(base, on_tick, NULL);
	event_assign(tick, base, -1, 0, on_tick, tick);
	struct timeval tv = { 1, 0 };
	evtimer_add(tick, &tv);
	event_base_dispatch(base);
	event_free(tick);
	for (int i = 0; i < 4; i++)
		media_stop(sides[i].m);
	static const char *ph[] = { "before", "during", "after" };
	printf("  concealed (PLC) %% at B (mean per phase) and A's wire kbit/s:\n");
	for (int i = 0; i < 2; i++) {
		printf("    %-9s", pairs[i].name);
		for (int k = 0; k < 3; k++) {
			unsigned n = pairs[i].conc_n[k];
			printf("  %s %5.1f %% %5.1f kbit/s", ph[k], n ? pairs[i].conc_sum[k] / n : NAN,
			       n ? pairs[i].kbps_sum[k] / n : NAN);
		}
		printf("\n");
	}
	/* Deliver what is still in flight (the engines ignore it now). */
	struct timeval drain = { 0, 3 * ONE_WAY_US };
	event_base_loopexit(base, &drain);
	event_base_dispatch(base);
	for (int i = 0; i < 4; i++) {
		media_free(sides[i].m);
		sides[i].m = NULL;
		char out[96];
		snprintf(out, sizeof(out), "%s/out%d%d.wav", outdir, i / 2, i % 2);
		unlink(out);
	}
	return 0;
}

int main(void)
{
	char dir[] = "/tmp/p2pcall-bench-adapt-XXXXXX";
	if (!mkdtemp(dir)) {
		perror("bench_adapt: mkdtemp");
		return 1;
	}
	char a[96], b[96];
	snprintf(outdir, sizeof(outdir), "%s", dir);
	snprintf(a, sizeof(a), "%s/a.wav", dir);
	snprintf(b, sizeof(b), "%s/b.wav", dir);
	int rc = 1;
	base = event_base_new();
	if (!base || make_wav(a, 3) < 0 || make_wav(b, 4) < 0)
		goto out;
	printf("bench_adapt: encoder adaptation (kbps = target, fec = loss %% FEC is tuned for, "
	       "wire = RTP+RTCP kbit/s out; loss and conc(ealed) %% at the receiver)\n");
	if (run(LOSS, a, b) < 0 || run(BOTTLENECK, a, b) < 0)
		goto out;
	rc = 0;
out:
	if (base)
		event_base_free(base);
	unlink(a);
	unlink(b);
	rmdir(dir);
	return rc;
}
