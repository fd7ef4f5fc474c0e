/* Jitter buffer benchmark: the same arrival traces through our jbuf and
 * through speexdsp's jitter buffer (defaults, get + tick every 20 ms),
 * side by side. Per trace, averaged over a few seeds:
 *   wait  mean time a played packet spent in the buffer (arrival to
 *         playout, ms): the delay the buffer adds;
 *   late  packets that arrived but were not played (late, overflow), in %
 *         of frames sent (network loss, the same for both, is apart);
 *   conc  frames played as concealment (PLC or insertion), in % of
 *         frames sent, loss included; ours first tries Opus in-band FEC
 *         from the next packet, which speex's buffer cannot offer.
 *
 * The trace generator is the test support code's (benches link it). */
#include <speex/speex_jitter.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "traces.h"

/* The audio device period: the caller asks for audio when what it holds
 * would not cover the next period (PortAudio with 240-frame buffers). */
#define PERIOD_MS 5

struct row {
	const char *name;
	struct trace_params p;
	bool no_lookahead;  /* ours with fec_lookahead off */
};

struct figures {
	double wait_ms;    /* mean arrival -> playout of played packets */
	double late;       /* (sent - lost - played) / sent */
	double conc;       /* (sent - played - fec) / sent */
};

static void run_ours(const struct trace *t, bool no_lookahead, struct figures *f)
{
	struct jbuf_config cfg;
	jbuf_config_default(&cfg);
	cfg.fec_lookahead = !no_lookahead;
	struct jbuf *jb = NULL;
	struct sim_result r;
	struct sim_config c = {
		.start_us = 1000000, .tick_ms = PERIOD_MS, .quiet_every = 5,
		.apply_adjust = true,
		.end_us = t->pkts[t->n - 1].arrival_us + 200000,
	};
	if (jbuf_new(&jb, &cfg) || sim_run(t, jb, &c, &r)) {
		fprintf(stderr, "bench_jbuf: out of memory\n");
		exit(1);
	}
	f->wait_ms = r.mean_wait_ms;
	f->late = (double)(t->sent - t->lost - r.frames) / (double)t->sent;
	f->conc = (double)(t->sent - r.frames - r.fec_mid) / (double)t->sent;
	sim_free(&r);
	jbuf_free(jb);
}

static void run_speex(const struct trace *t, struct figures *f)
{
	const uint32_t step = 960;
	JitterBuffer *jb = jitter_buffer_init((int)step);
	uint64_t *arr = calloc(t->sent, sizeof(*arr));
	uint8_t *played = calloc(t->sent, 1);
	if (!jb || !arr || !played) {
		fprintf(stderr, "bench_jbuf: out of memory\n");
		exit(1);
	}
	for (size_t i = 0; i < t->n; i++)
		if (!arr[t->pkts[i].index])
			arr[t->pkts[i].index] = t->pkts[i].arrival_us;

	uint64_t end = t->pkts[t->n - 1].arrival_us + 200000;
	size_t k = 0, nplayed = 0;
	double wait = 0;
	char data[64], out[1500];
	int64_t queued = 0, period = PERIOD_MS * 48;
	for (uint64_t now = 1000000; now < end; now += PERIOD_MS * 1000) {
		for (; k < t->n && t->pkts[k].arrival_us <= now; k++) {
			const struct trace_pkt *p = &t->pkts[k];
			JitterBufferPacket jp = {
				.data = data,
				.len = (spx_uint32_t)trace_payload((uint8_t *)data,
					sizeof(data), p->samples / 48, p->index),
				.timestamp = p->ts, .span = p->samples,
				.sequence = p->seq, .user_data = p->index,
			};
			jitter_buffer_put(jb, &jp);
		}
		/* one frame per tick of speex's clock, when the device needs it */
		while (queued < period) {
			JitterBufferPacket o = { .data = out, .len = sizeof(out) };
			spx_int32_t off = 0;
			int rc = jitter_buffer_get(jb, &o, (spx_int32_t)step, &off);
			if (rc == JITTER_BUFFER_OK && o.user_data < t->sent &&
			    !played[o.user_data]) {
				played[o.user_data] = 1;
				nplayed++;
				wait += (double)(now + (uint64_t)queued * 1000 / 48 -
						 arr[o.user_data]) / 1000.0;
			}
			jitter_buffer_tick(jb);
			queued += step;
		}
		queued -= period;
	}
	f->wait_ms = nplayed ? wait / (double)nplayed : 0;
	f->late = (double)(t->sent - t->lost - nplayed) / (double)t->sent;
	f->conc = (double)(t->sent - nplayed) / (double)t->sent;
	jitter_buffer_destroy(jb);
	free(arr);
	free(played);
}

int main(void)
{
	const struct trace_params base = {
		.seed = 42, .n_packets = 6000, .frame_ms = 20, .seq0 = 1000,
		.ts0 = 12345, .base_delay_ms = 47, /* arrivals off the tick */
	};
	struct row rows[9];
	int n = 0;
	rows[n] = (struct row){ "clean (1 ms jitter)", base, false };
	rows[n].p.jitter = TRACE_JIT_GAUSS;
	rows[n++].p.jitter_ms = 1;
	rows[n] = (struct row){ "gaussian 10 ms", base, false };
	rows[n].p.jitter = TRACE_JIT_GAUSS;
	rows[n++].p.jitter_ms = 10;
	rows[n] = (struct row){ "gaussian 30 ms", base, false };
	rows[n].p.jitter = TRACE_JIT_GAUSS;
	rows[n++].p.jitter_ms = 30;
	rows[n] = (struct row){ "pareto 10 ms", base, false };
	rows[n].p.jitter = TRACE_JIT_PARETO;
	rows[n++].p.jitter_ms = 10;
	rows[n] = (struct row){ "bursty loss 5x5 +10ms", base, false };
	rows[n].p.jitter = TRACE_JIT_GAUSS;
	rows[n].p.jitter_ms = 10;
	rows[n].p.burst_every = 100;
	rows[n++].p.burst_len = 5;
	rows[n] = rows[n - 1];
	rows[n].name = "  same, no FEC lookahead";
	rows[n++].no_lookahead = true;
	rows[n] = (struct row){ "drift +0.5% +5ms", base, false };
	rows[n].p.jitter = TRACE_JIT_GAUSS;
	rows[n].p.jitter_ms = 5;
	rows[n++].p.drift_ppm = 5000;
	rows[n] = (struct row){ "drift -0.5% +5ms", base, false };
	rows[n].p.jitter = TRACE_JIT_GAUSS;
	rows[n].p.jitter_ms = 5;
	rows[n++].p.drift_ppm = -5000;
	rows[n] = (struct row){ "spike 60ms 2s, calm", base, false };
	rows[n].p.jitter = TRACE_JIT_GAUSS;
	rows[n].p.jitter_ms = 3;
	rows[n].p.spike_from = 1000;
	rows[n].p.spike_to = 1100;
	rows[n++].p.spike_ms = 60;

	const int seeds = 3;
	printf("%d traces x %d seeds of %u packets (20 ms Opus frames, 47 ms "
	       "base delay), audio device period %d ms\n", n, seeds,
	       base.n_packets, PERIOD_MS);
	printf("wait: arrival to playout (ms); late: arrived, not played (%%); "
	       "conc: played as PLC/insertion (%%, loss included)\n\n");
	printf("%-24s %5s | %7s %6s %6s | %7s %6s %6s\n", "trace", "loss%",
	       "ours ms", "late%", "conc%", "speex", "late%", "conc%");
	for (int i = 0; i < n; i++) {
		struct figures a = { 0 }, b = { 0 };
		double loss = 0;
		for (int sd = 0; sd < seeds; sd++) {
			struct trace t;
			struct trace_params p = rows[i].p;
			p.seed = base.seed + (uint64_t)sd;
			if (trace_make(&t, &p)) {
				fprintf(stderr, "bench_jbuf: out of memory\n");
				return 1;
			}
			struct figures x, y;
			run_ours(&t, rows[i].no_lookahead, &x);
			run_speex(&t, &y);
			a.wait_ms += x.wait_ms / seeds;
			a.late += x.late / seeds;
			a.conc += x.conc / seeds;
			b.wait_ms += y.wait_ms / seeds;
			b.late += y.late / seeds;
			b.conc += y.conc / seeds;
			loss += (double)t.lost / (double)t.sent / seeds;
			trace_free(&t);
		}
		printf("%-24s %5.2f | %7.1f %6.2f %6.2f | %7.1f %6.2f %6.2f\n",
		       rows[i].name, 100 * loss, a.wait_ms, 100 * a.late,
		       100 * a.conc, b.wait_ms, 100 * b.late, 100 * b.conc);
	}
	return 0;
}
