/* RFC 3550 A.1 (sequence validation), A.3 (loss), A.8 (jitter). */
#include "p2pcall/rxstats.h"

#include <string.h>

#define SEQ_MOD (1u << 16)

void rxstats_init(struct rxstats *s, uint32_t clock_rate)
{
	memset(s, 0, sizeof(*s));
	s->clock_rate = clock_rate ? clock_rate : 48000;
}

static void init_seq(struct rxstats *s, uint16_t seq)
{
	s->base_seq = seq;
	s->max_seq = seq;
	s->bad_seq = SEQ_MOD + 1; /* so seq == bad_seq is false */
	s->cycles = 0;
	s->received = 0;
	s->rtcp_mark.expected = 0;
	s->rtcp_mark.received = 0;
	s->have_transit = false;
	s->jitter_q4 = 0;
}

static void new_source(struct rxstats *s, uint32_t ssrc, uint16_t seq)
{
	init_seq(s, seq);
	s->have_source = true;
	s->ssrc = ssrc;
	s->max_seq = (uint16_t)(seq - 1);
	s->probation = RXSTATS_MIN_SEQUENTIAL;
	s->lsr = 0;
}

/* A.8: J += (|D| - J) / 16, kept scaled by 16 as in the RFC's code. The
 * arrival time is converted to timestamp units; both wrap mod 2^32. */
static void update_jitter(struct rxstats *s, uint32_t rtp_ts, uint64_t arrival_us)
{
	uint32_t arrival = (uint32_t)(arrival_us * s->clock_rate / 1000000);
	uint32_t transit = arrival - rtp_ts;
	if (s->have_transit) {
		int32_t d = (int32_t)(transit - s->transit);
		uint32_t ad = d < 0 ? (uint32_t)-(int64_t)d : (uint32_t)d;
		s->jitter_q4 += ad - ((s->jitter_q4 + 8) >> 4);
	}
	s->transit = transit;
	s->have_transit = true;
}

enum rxstats_verdict rxstats_update(struct rxstats *s, uint32_t ssrc,
				    uint16_t seq, uint32_t rtp_ts,
				    uint64_t arrival_us)
{
	if (!s->have_source || ssrc != s->ssrc) {
		if (s->have_source)
			s->restarts++;
		new_source(s, ssrc, seq);
	}

	uint16_t udelta = (uint16_t)(seq - s->max_seq);
	if (s->probation) {
		if (seq == (uint16_t)(s->max_seq + 1)) {
			s->probation--;
			s->max_seq = seq;
			if (s->probation == 0) {
				init_seq(s, seq);
				s->received++;
				update_jitter(s, rtp_ts, arrival_us);
				return s->restarts ? RXSTATS_RESTART : RXSTATS_OK;
			}
		} else {
			s->probation = RXSTATS_MIN_SEQUENTIAL - 1;
			s->max_seq = seq;
		}
		s->bad++;
		return RXSTATS_PROBATION;
	}
	if (udelta < RXSTATS_MAX_DROPOUT) {
		/* in order, with a permissible gap */
		if (seq < s->max_seq)
			s->cycles += SEQ_MOD;
		s->max_seq = seq;
	} else if (udelta <= SEQ_MOD - RXSTATS_MAX_MISORDER) {
		/* a wild jump: believe it only if the next packet follows */
		if (seq == s->bad_seq) {
			init_seq(s, seq);
			s->restarts++;
			s->received++;
			update_jitter(s, rtp_ts, arrival_us);
			return RXSTATS_RESTART;
		}
		s->bad_seq = (seq + 1) & (SEQ_MOD - 1);
		s->bad++;
		return RXSTATS_BAD;
	}
	/* else: duplicate or reordered within MAX_MISORDER, counted */
	s->received++;
	update_jitter(s, rtp_ts, arrival_us);
	return RXSTATS_OK;
}

uint32_t rxstats_ext_max_seq(const struct rxstats *s)
{
	return s->cycles + s->max_seq;
}

uint64_t rxstats_expected(const struct rxstats *s)
{
	if (!s->have_source || s->probation)
		return 0;
	return (uint64_t)s->cycles + s->max_seq - s->base_seq + 1;
}

uint64_t rxstats_received(const struct rxstats *s)
{
	return s->received;
}

int64_t rxstats_lost(const struct rxstats *s)
{
	return (int64_t)rxstats_expected(s) - (int64_t)s->received;
}

uint8_t rxstats_fraction_lost(const struct rxstats *s, struct rxstats_mark *mark)
{
	uint64_t expected = rxstats_expected(s);
	/* A restart moves the counters back: start the interval afresh. */
	if (expected < mark->expected || s->received < mark->received) {
		mark->expected = 0;
		mark->received = 0;
	}
	int64_t exp_int = (int64_t)(expected - mark->expected);
	int64_t rcv_int = (int64_t)(s->received - mark->received);
	int64_t lost_int = exp_int - rcv_int;
	mark->expected = expected;
	mark->received = s->received;
	if (exp_int <= 0 || lost_int <= 0)
		return 0;
	int64_t f = (lost_int << 8) / exp_int;
	return (uint8_t)(f > 255 ? 255 : f);
}

uint32_t rxstats_jitter(const struct rxstats *s)
{
	return s->jitter_q4 >> 4;
}

double rxstats_jitter_ms(const struct rxstats *s)
{
	return (double)s->jitter_q4 / 16.0 * 1000.0 / s->clock_rate;
}

void rxstats_on_sr(struct rxstats *s, uint64_t ntp, uint64_t now_us)
{
	s->lsr = rtcp_ntp_mid(ntp);
	s->sr_rx_us = now_us;
}

void rxstats_fill_rb(struct rxstats *s, uint64_t now_us, struct rtcp_rb *rb)
{
	memset(rb, 0, sizeof(*rb));
	rb->ssrc = s->ssrc;
	rb->fraction_lost = rxstats_fraction_lost(s, &s->rtcp_mark);
	int64_t lost = rxstats_lost(s);
	if (lost > 0x7fffff)
		lost = 0x7fffff;
	if (lost < -0x800000)
		lost = -0x800000;
	rb->cum_lost = (int32_t)lost;
	rb->ext_high_seq = rxstats_ext_max_seq(s);
	rb->jitter = rxstats_jitter(s);
	rb->lsr = s->lsr;
	rb->dlsr = s->lsr ? rtcp_dlsr(now_us, s->sr_rx_us) : 0;
}
