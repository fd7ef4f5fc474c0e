/* Arrival trace generator and playout simulator (see traces.h). */
#include "traces.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

void trace_rng_seed(struct trace_rng *r, uint64_t seed)
{
	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

uint64_t trace_rng_next(struct trace_rng *r)
{
	uint64_t *s = r->s;
	uint64_t res = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return res;
}

double trace_rng_uniform(struct trace_rng *r)
{
	return (double)(trace_rng_next(r) >> 11) * 0x1.0p-53;
}

double trace_rng_gauss(struct trace_rng *r)
{
	/* Box-Muller; u1 in (0, 1] so the log is finite */
	double u1 = 1.0 - trace_rng_uniform(r);
	double u2 = trace_rng_uniform(r);
	return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

static uint8_t toc_for(uint32_t frame_ms)
{
	switch (frame_ms) {
	case 10: return 30 << 3;  /* CELT FB 10 ms */
	case 40: return 10 << 3;  /* SILK WB 40 ms */
	case 60: return 11 << 3;  /* SILK WB 60 ms */
	default: return 31 << 3;  /* CELT FB 20 ms */
	}
}

size_t trace_payload(uint8_t *buf, size_t size, uint32_t frame_ms, uint32_t index)
{
	if (size < 5)
		return 0;
	buf[0] = toc_for(frame_ms);
	buf[1] = (uint8_t)(index >> 24);
	buf[2] = (uint8_t)(index >> 16);
	buf[3] = (uint8_t)(index >> 8);
	buf[4] = (uint8_t)index;
	size_t n = size < 40 ? size : 40;
	for (size_t i = 5; i < n; i++)
		buf[i] = (uint8_t)(index * 31 + i);
	return n;
}

int64_t trace_payload_index(const uint8_t *buf, size_t len)
{
	if (!buf || len < 5)
		return -1;
	return (int64_t)((uint32_t)buf[1] << 24 | (uint32_t)buf[2] << 16 |
			 (uint32_t)buf[3] << 8 | buf[4]);
}

static int cmp_arrival(const void *a, const void *b)
{
	const struct trace_pkt *x = a, *y = b;
	if (x->arrival_us != y->arrival_us)
		return x->arrival_us < y->arrival_us ? -1 : 1;
	return (x->index > y->index) - (x->index < y->index);
}

int trace_make(struct trace *t, const struct trace_params *p)
{
	memset(t, 0, sizeof(*t));
	if (!p->n_packets)
		return -EINVAL;
	uint32_t fms = p->frame_ms ? p->frame_ms : 20;
	uint32_t samples = fms * 48;
	double alpha = p->pareto_alpha > 0 ? p->pareto_alpha : 2.5;
	struct trace_rng rng;
	trace_rng_seed(&rng, p->seed);

	/* at most two copies of each */
	t->pkts = calloc((size_t)p->n_packets * 2, sizeof(*t->pkts));
	if (!t->pkts)
		return -ENOMEM;
	/* The sender's frame period on our clock: a sender clock that runs
	 * fast (drift > 0) sends its 20 ms frames a little more often. */
	double period_us = fms * 1000.0 / (1.0 + p->drift_ppm * 1e-6);
	uint32_t burst_left = 0;

	for (uint32_t i = 0; i < p->n_packets; i++) {
		struct trace_pkt k = { 0 };
		k.index = i;
		k.samples = samples;
		k.send_us = 1000000 + (uint64_t)llround(i * period_us);
		uint16_t seq = (uint16_t)(p->seq0 + i);
		uint32_t ts = p->ts0 + i * samples;
		if (p->restart_at && i >= p->restart_at) {
			seq = (uint16_t)(seq + 20000);
			ts += 0x80000000u;
		}
		k.seq = seq;
		k.ts = ts;
		t->sent++;

		/* every draw is made whether used or not, so that traces
		 * differing in one feature keep the others identical */
		double u_loss = trace_rng_uniform(&rng);
		double u_reo = trace_rng_uniform(&rng);
		double u_dup = trace_rng_uniform(&rng);
		double u_jit = trace_rng_uniform(&rng);
		double g_jit = trace_rng_gauss(&rng);
		double g_spk = trace_rng_gauss(&rng);
		double u_dd = trace_rng_uniform(&rng);

		if (p->burst_every && p->burst_len && i > 0 && i % p->burst_every == 0)
			burst_left = p->burst_len;
		if (burst_left) {
			burst_left--;
			t->lost++;
			continue;
		}
		if (u_loss * 100.0 < p->loss_pct) {
			t->lost++;
			continue;
		}

		double delay = p->base_delay_ms;
		if (p->jitter == TRACE_JIT_GAUSS)
			delay += fabs(g_jit) * p->jitter_ms;
		else if (p->jitter == TRACE_JIT_PARETO)
			delay += p->jitter_ms * (pow(1.0 - u_jit, -1.0 / alpha) - 1.0);
		if (i >= p->spike_from && i < p->spike_to)
			delay += fabs(g_spk) * p->spike_ms;
		if (p->late_every && i > 0 && i % p->late_every == 0)
			delay += p->late_ms;
		if (u_reo * 100.0 < p->reorder_pct)
			delay += 1.5 * fms; /* overtaken by the next packet */
		k.arrival_us = k.send_us + (uint64_t)llround(delay * 1000.0);
		t->pkts[t->n++] = k;
		if (u_dup * 100.0 < p->dup_pct) {
			k.arrival_us += 1000 + (uint64_t)(u_dd * 9000.0);
			t->pkts[t->n++] = k;
		}
	}
	qsort(t->pkts, t->n, sizeof(*t->pkts), cmp_arrival);
	return 0;
}

void trace_free(struct trace *t)
{
	free(t->pkts);
	memset(t, 0, sizeof(*t));
}

int sim_run(const struct trace *t, struct jbuf *jb, const struct sim_config *c,
	    struct sim_result *r)
{
	memset(r, 0, sizeof(*r));
	r->first_play_index = -1;
	r->last_play_index = -1;
	uint32_t tick_ms = c->tick_ms ? c->tick_ms : 20;
	uint64_t tick_us = tick_ms * 1000ull;
	int64_t tick_samples = tick_ms * 48;
	uint64_t end = c->end_us;
	if (!end)
		end = (t->n ? t->pkts[t->n - 1].arrival_us : 0) + 1000000;

	/* first arrival of each index, for the waiting time */
	size_t nidx = t->sent;
	uint64_t *arr = calloc(nidx ? nidx : 1, sizeof(*arr));
	r->played_seen = calloc(nidx / 64 + 1, sizeof(uint64_t));
	size_t maxpts = c->sample_every ? (end - c->start_us) / tick_us / c->sample_every + 2 : 0;
	r->pts = maxpts ? calloc(maxpts, sizeof(*r->pts)) : NULL;
	if (!arr || !r->played_seen || (maxpts && !r->pts)) {
		free(arr);
		sim_free(r);
		return -ENOMEM;
	}
	for (size_t i = 0; i < t->n; i++)
		if (!arr[t->pkts[i].index])
			arr[t->pkts[i].index] = t->pkts[i].arrival_us;

	size_t k = 0;
	int64_t queued = 0;
	double wait_sum = 0;
	uint8_t pl[64];
	for (uint64_t now = c->start_us; now < end; now += tick_us) {
		for (; k < t->n && t->pkts[k].arrival_us <= now; k++) {
			const struct trace_pkt *p = &t->pkts[k];
			size_t n = trace_payload(pl, sizeof(pl), p->samples / 48, p->index);
			jbuf_put(jb, p->arrival_us, p->seq, p->ts, pl, n);
		}
		r->ticks++;
		int adjusts = 0;
		while (queued < tick_samples) {
			struct jbuf_out o;
			if (jbuf_get(jb, now, &o) || o.samples == 0)
				break;
			int64_t idx = -1;
			switch (o.kind) {
			case JBUF_FRAME:
				r->frames++;
				idx = trace_payload_index(o.data, o.len);
				if (idx >= 0 && (size_t)idx < nidx) {
					double w = (double)(now + (uint64_t)queued * 1000 / 48 -
							    arr[idx]) / 1000.0;
					wait_sum += w;
					if (w > r->max_wait_ms)
						r->max_wait_ms = w;
					r->played_seen[idx / 64] |= 1ull << (idx % 64);
					if (r->last_play_index >= idx)
						r->order_errors++;
					if (r->first_play_index < 0)
						r->first_play_index = idx;
					r->last_play_index = idx;
				}
				r->fec_mid = r->fec;
				r->conceal_mid = r->conceal;
				break;
			case JBUF_FEC:
				r->fec++;
				idx = trace_payload_index(o.data, o.len) - 1;
				break;
			case JBUF_CONCEAL:
				r->conceal++;
				break;
			case JBUF_DTX:
				r->dtx++;
				break;
			case JBUF_SILENCE:
				r->silence++;
				break;
			}
			bool quiet = o.kind == JBUF_CONCEAL || o.kind == JBUF_DTX ||
				(c->quiet_every && idx >= 0 && idx % c->quiet_every == 0);
			bool apply = c->apply_adjust && o.kind != JBUF_SILENCE &&
				o.adjust != 0 && (quiet || o.urgent) && adjusts == 0;
			/* A device with a period of P can only move its requests by
			 * whole periods: round the wish to that. */
			int32_t amount = 0;
			if (apply && o.adjust < 0)
				amount = -(-o.adjust / (int32_t)tick_samples *
					   (int32_t)tick_samples);
			else if (apply)
				amount = (o.adjust + (int32_t)tick_samples - 1) /
					 (int32_t)tick_samples * (int32_t)tick_samples;
			if (amount < 0) {
				/* drop the start of this quiet frame */
				int32_t drop = -amount < (int32_t)o.samples ?
					-amount : (int32_t)o.samples;
				jbuf_adjusted(jb, -drop);
				queued += o.samples - drop;
				r->dropped++;
				r->dropped_ms += drop / 48.0;
				adjusts++;
				continue;
			}
			queued += o.samples;
			if (amount > 0) {
				/* stretch: insert PLC/silence after it */
				queued += amount;
				jbuf_adjusted(jb, amount);
				r->inserted++;
				r->inserted_ms += amount / 48.0;
				adjusts++;
			}
		}
		queued -= tick_samples;
		if (c->sample_every && r->ticks % c->sample_every == 0 &&
		    r->npts < maxpts) {
			struct jbuf_stats st;
			jbuf_get_stats(jb, &st);
			r->pts[r->npts++] = (struct sim_point){ now, st.delay_ms,
								st.target_ms };
		}
	}
	r->mean_wait_ms = r->frames ? wait_sum / (double)r->frames : 0;
	free(arr);
	return 0;
}

void sim_free(struct sim_result *r)
{
	free(r->pts);
	free(r->played_seen);
	r->pts = NULL;
	r->played_seen = NULL;
}
