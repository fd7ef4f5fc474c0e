/* Jitter buffer benchmark: the same arrival traces through our jbuf and
 * through speexdsp's jitter buffer, side by side. Prints, per trace, the
 * average time a played packet waited in the buffer (ms, arrival to
 * playout) and the fraction of sent frames not played from their own
 * packet (network loss + late + overflow; network loss is listed apart,
 * it is the same for both). Ours also recovers some frames with Opus FEC:
 * they count as not played here, and are listed.
 *
 * The bench is linked only with the core and io libraries, so it takes
 * the trace generator from the test support code directly. */
#include <speex/speex_jitter.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../tests/support/traces.c"

struct row {
	const char *name;
	struct trace_params p;
};

struct figures {
	double wait_ms;    /* mean arrival -> playout of played packets */
	double p95_ms;     /* not computed for speex: see below */
	double unplayed;   /* (sent - played) / sent */
	double fec;        /* FEC-recovered / sent (ours only) */
};

static void run_ours(const struct trace *t, struct figures *f)
{
	struct jbuf *jb = NULL;
	struct sim_result r;
	struct sim_config c = {
		.start_us = 1000000, .tick_ms = 20, .quiet_every = 5,
		.apply_adjust = true,
		.end_us = t->pkts[t->n - 1].arrival_us + 200000,
	};
	if (jbuf_new(&jb, NULL) || sim_run(t, jb, &c, &r)) {
		fprintf(stderr, "bench_jbuf: out of memory\n");
		exit(1);
	}
	f->wait_ms = r.mean_wait_ms;
	f->unplayed = 1.0 - (double)r.frames / (double)t->sent;
	f->fec = (double)r.fec / (double)t->sent;
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
	for (uint64_t now = 1000000; now < end; now += 20000) {
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
		JitterBufferPacket o = { .data = out, .len = sizeof(out) };
		spx_int32_t off = 0;
		int rc = jitter_buffer_get(jb, &o, (spx_int32_t)step, &off);
		if (rc == JITTER_BUFFER_OK && o.user_data < t->sent &&
		    !played[o.user_data]) {
			played[o.user_data] = 1;
			nplayed++;
			wait += (double)(now - arr[o.user_data]) / 1000.0;
		}
		jitter_buffer_tick(jb);
	}
	f->wait_ms = nplayed ? wait / (double)nplayed : 0;
	f->unplayed = 1.0 - (double)nplayed / (double)t->sent;
	f->fec = 0;
	jitter_buffer_destroy(jb);
	free(arr);
	free(played);
}

int main(void)
{
	const struct trace_params base = {
		.seed = 42, .n_packets = 6000, .frame_ms = 20, .seq0 = 1000,
		.ts0 = 12345, .base_delay_ms = 40,
	};
	struct row rows[8];
	int n = 0;
	rows[n] = (struct row){ "clean (1 ms jitter)", base };
	rows[n].p.jitter = TRACE_JIT_GAUSS;
	rows[n++].p.jitter_ms = 1;
	rows[n] = (struct row){ "gaussian 10 ms", base };
	rows[n].p.jitter = TRACE_JIT_GAUSS;
	rows[n++].p.jitter_ms = 10;
	rows[n] = (struct row){ "gaussian 30 ms", base };
	rows[n].p.jitter = TRACE_JIT_GAUSS;
	rows[n++].p.jitter_ms = 30;
	rows[n] = (struct row){ "pareto 10 ms", base };
	rows[n].p.jitter = TRACE_JIT_PARETO;
	rows[n++].p.jitter_ms = 10;
	rows[n] = (struct row){ "bursty loss 5x5 +10ms", base };
	rows[n].p.jitter = TRACE_JIT_GAUSS;
	rows[n].p.jitter_ms = 10;
	rows[n].p.burst_every = 100;
	rows[n++].p.burst_len = 5;
	rows[n] = (struct row){ "drift +0.5% +5ms", base };
	rows[n].p.jitter = TRACE_JIT_GAUSS;
	rows[n].p.jitter_ms = 5;
	rows[n++].p.drift_ppm = 5000;
	rows[n] = (struct row){ "drift -0.5% +5ms", base };
	rows[n].p.jitter = TRACE_JIT_GAUSS;
	rows[n].p.jitter_ms = 5;
	rows[n++].p.drift_ppm = -5000;
	rows[n] = (struct row){ "spike 60ms 2s, calm", base };
	rows[n].p.jitter = TRACE_JIT_GAUSS;
	rows[n].p.jitter_ms = 3;
	rows[n].p.spike_from = 1000;
	rows[n].p.spike_to = 1100;
	rows[n++].p.spike_ms = 60;

	printf("%d traces of %u packets (20 ms Opus frames, 40 ms base delay)\n",
	       n, base.n_packets);
	printf("wait = mean arrival->playout of played packets; unplayed = "
	       "frames not played from their own packet / sent\n\n");
	printf("%-24s %6s | %9s %9s %7s | %9s %9s\n", "trace", "loss%",
	       "ours ms", "unplayed%", "fec%", "speex ms", "unplayed%");
	for (int i = 0; i < n; i++) {
		struct trace t;
		if (trace_make(&t, &rows[i].p)) {
			fprintf(stderr, "bench_jbuf: out of memory\n");
			return 1;
		}
		struct figures a, b;
		run_ours(&t, &a);
		run_speex(&t, &b);
		printf("%-24s %6.2f | %9.1f %9.2f %7.2f | %9.1f %9.2f\n",
		       rows[i].name, 100.0 * (double)t.lost / (double)t.sent,
		       a.wait_ms, 100 * a.unplayed, 100 * a.fec,
		       b.wait_ms, 100 * b.unplayed);
		trace_free(&t);
	}
	return 0;
}
