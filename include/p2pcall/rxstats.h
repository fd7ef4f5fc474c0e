/* Receiver statistics for one RTP source, per RFC 3550 appendix A:
 * sequence validation with probation, wrap and restart (A.1), expected
 * vs received and fraction lost per interval (A.3), interarrival jitter
 * (A.8). Pure: arrival times are passed in.
 *
 * struct rxstats is a plain value so that it can live inside a session
 * object; read it through the functions, not the fields. */
#ifndef P2PCALL_RXSTATS_H
#define P2PCALL_RXSTATS_H

#include <stdbool.h>
#include <stdint.h>

#include "p2pcall/rtcp.h"

#define RXSTATS_MAX_DROPOUT   3000 /* A.1: forward jump still in sequence */
#define RXSTATS_MAX_MISORDER  100  /* A.1: backward jump still in sequence */
#define RXSTATS_MIN_SEQUENTIAL 2   /* A.1: packets in a row to accept */

/* Snapshot for per-interval loss: keep one per consumer (RTCP, UI). */
struct rxstats_mark {
	uint64_t expected;
	uint64_t received;
};

struct rxstats {
	uint32_t clock_rate;
	bool     have_source;
	uint32_t ssrc;
	uint16_t max_seq;
	uint32_t cycles;     /* count of seq wraps, shifted by 16 */
	uint32_t base_seq;
	uint32_t bad_seq;
	uint32_t probation;
	uint64_t received;
	bool     have_transit;
	uint32_t transit;
	uint32_t jitter_q4;  /* A.8 estimator, scaled by 16 */
	struct rxstats_mark rtcp_mark;
	uint32_t lsr;        /* middle 32 bits of the last SR's NTP time */
	uint64_t sr_rx_us;
	uint32_t restarts;
	uint64_t bad;        /* packets refused (wild jumps, probation) */
};

enum rxstats_verdict {
	RXSTATS_OK = 0,      /* in sequence (or reordered/duplicate), counted */
	RXSTATS_RESTART,     /* counted, and the source restarted: new SSRC or
			        two sequential packets after a wild jump. Reset
			        whatever depends on the old sequence. */
	RXSTATS_PROBATION,   /* new source, not yet MIN_SEQUENTIAL in a row */
	RXSTATS_BAD,         /* wild jump, dropped until confirmed */
};

/* Starts empty. clock_rate is the RTP clock (48000 for Opus). */
void rxstats_init(struct rxstats *s, uint32_t clock_rate);

/* Accounts one received packet. arrival_us is the local receive time (any
 * monotonic microsecond clock). Returns an enum rxstats_verdict. */
enum rxstats_verdict rxstats_update(struct rxstats *s, uint32_t ssrc,
				    uint16_t seq, uint32_t rtp_ts,
				    uint64_t arrival_us);

/* Extended highest sequence number received (cycles << 16 | max). */
uint32_t rxstats_ext_max_seq(const struct rxstats *s);

/* Packets expected (A.3) and received (including duplicates) since the
 * source was accepted. */
uint64_t rxstats_expected(const struct rxstats *s);
uint64_t rxstats_received(const struct rxstats *s);

/* Cumulative loss, expected - received; negative with duplicates. */
int64_t rxstats_lost(const struct rxstats *s);

/* Fraction lost since *mark as RTCP's 8-bit fixed point (lost * 256 /
 * expected, 0 if nothing was expected or duplicates outnumber losses),
 * then moves *mark to now. */
uint8_t rxstats_fraction_lost(const struct rxstats *s, struct rxstats_mark *mark);

/* Interarrival jitter (A.8) in timestamp units and in milliseconds. */
uint32_t rxstats_jitter(const struct rxstats *s);
double rxstats_jitter_ms(const struct rxstats *s);

/* Remembers an SR from this source (its NTP time), received at now_us,
 * for LSR/DLSR in our next report block. */
void rxstats_on_sr(struct rxstats *s, uint64_t ntp, uint64_t now_us);

/* Fills a report block about this source for an RR/SR sent at now_us and
 * starts a new RTCP interval. */
void rxstats_fill_rb(struct rxstats *s, uint64_t now_us, struct rtcp_rb *rb);

#endif
