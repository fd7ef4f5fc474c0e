/* Encoder rate control from the peer's RTCP receiver reports, a pure
 * module: reports in (loss fraction, round-trip time, the time they came),
 * a target out (bitrate, the packet loss Opus in-band FEC is tuned for).
 *
 * Policy. Loss or a long round trip means the path is congested or
 * lossy; fewer bits help the first, and the FEC tuning helps the second:
 *   - congested (loss >= RATE_CTL_LOSS_HIGH_PCT, or the RTT above
 *     RATE_CTL_RTT_HIGH_MS, or RATE_CTL_RTT_RISE_MS above the smallest RTT
 *     seen, i.e. a queue is building): the bitrate steps down by a quarter,
 *     at most once per RATE_CTL_DOWN_HOLD_US, never below min_bps; and
 *     on loss alone (the RTT not high) never below RATE_CTL_FEC_FLOOR: loss
 *     without a growing queue may well be random (radio, a bad link),
 *     fewer bits would not make it less, and below that rate libopus (1.3)
 *     drops its in-band FEC at 10 % loss (CBR; 18 kbit/s VBR), which is
 *     what repairs random loss;
 *   - clean (loss < RATE_CTL_LOSS_LOW_PCT and the RTT not high) for
 *     RATE_CTL_UP_AFTER_US since the last congested report, and
 *     RATE_CTL_DOWN_HOLD_US since the last change: it creeps up by a
 *     tenth, up to max_bps;
 *   - in between (a little loss): it holds.
 * The FEC loss follows the reported loss at once when it rises (rounded up,
 * so a little loss buys some protection) and decays slowly (half per
 * report) when it falls: isolated clean reports in a lossy stretch should
 * not strip the protection. Pinned (fec_pinned: the user knows the path,
 * or wants a comparison), it stays where rate_ctl_init put it.
 *
 * CBR (encrypted calls, RFC 6562: VBR packet sizes leak what is said).
 * The rate moves only between coarse levels (max_bps * 0.7^k, the last
 * one min_bps) and holds each for RATE_CTL_CBR_HOLD_US at least, so that
 * the packet sizes say nothing about the speech.
 *
 * A plain value type: no allocation, no clock; now_us is any monotonic
 * microsecond clock. */
#ifndef P2PCALL_RATE_CTL_H
#define P2PCALL_RATE_CTL_H

#include <stdbool.h>
#include <stdint.h>

#define RATE_CTL_LOSS_HIGH_PCT 5.0
#define RATE_CTL_LOSS_LOW_PCT  2.0
#define RATE_CTL_RTT_HIGH_MS   400.0
#define RATE_CTL_RTT_RISE_MS   200.0
#define RATE_CTL_DOWN_HOLD_US  2000000ull
#define RATE_CTL_UP_AFTER_US   4000000ull
#define RATE_CTL_CBR_HOLD_US   8000000ull
#define RATE_CTL_DEFAULT_MIN   12000
#define RATE_CTL_FEC_FLOOR     20000

struct rate_ctl_cfg {
	int min_bps, max_bps;   /* 6000 <= min <= max */
	bool cbr;
	bool fec_pinned;        /* the FEC loss stays at rate_ctl_init's loss_pct */
};

struct rate_ctl {
	struct rate_ctl_cfg cfg;
	int bitrate;            /* current target, bits/s */
	double fec_loss;        /* percent, before rounding */
	double min_rtt_ms;      /* NAN until known */
	uint64_t last_change_us;
	uint64_t last_down_us;
	uint64_t last_bad_us;   /* the last congested report */
	bool changed_once;
	unsigned downs, ups;    /* steps taken, for statistics */
};

struct rate_ctl_out {
	int bitrate;            /* bits/s for the encoder */
	int fec_loss_pct;       /* 0..100 for OPUS_SET_PACKET_LOSS_PERC */
};

/* Starts at max_bps (the best the user allows) with FEC tuned for
 * loss_pct. -EINVAL (state untouched) when min/max are out of order or
 * below 6000. */
int rate_ctl_init(struct rate_ctl *rc, const struct rate_ctl_cfg *cfg, int loss_pct,
		  uint64_t now_us);

/* One receiver report about our stream: loss_frac 0..1 (the RR's fraction
 * lost / 256), rtt_ms (NAN when not known). Updates the target. */
void rate_ctl_report(struct rate_ctl *rc, uint64_t now_us, double loss_frac, double rtt_ms);

/* The current target. */
void rate_ctl_target(const struct rate_ctl *rc, struct rate_ctl_out *out);

#endif
