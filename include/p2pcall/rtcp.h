/* RTCP sender/receiver reports (RFC 3550 §6.4), SDES CNAME and BYE, in
 * compound packets, multiplexed with RTP on one port (RFC 5761). Pure.
 *
 * Common header (every packet of a compound):
 *     0                   1                   2                   3
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |V=2|P|    RC   |   PT          |  length (32-bit words - 1)    |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * SR (PT 200): SSRC, NTP timestamp (64), RTP timestamp, packet count,
 *              octet count, then RC report blocks.
 * RR (PT 201): SSRC, then RC report blocks.
 * Report block (24 bytes):
 *    | SSRC of the source reported on                                |
 *    | fraction lost (8) | cumulative lost (24, signed)              |
 *    | extended highest sequence number received                     |
 *    | interarrival jitter (RTP timestamp units)                     |
 *    | LSR: middle 32 bits of the NTP time of the last SR received   |
 *    | DLSR: delay since that SR, in 1/65536 s                       |
 *
 * RTT (§6.4.1): the side that sent the SR computes, on receiving a block
 * about itself, RTT = now - LSR - DLSR, all in 1/65536 s. LSR echoes our
 * own clock, so any clock works as long as one side uses it consistently
 * (a monotonic clock is fine: it never leaves this host).
 */
#ifndef P2PCALL_RTCP_H
#define P2PCALL_RTCP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RTCP_PT_SR    200
#define RTCP_PT_RR    201
#define RTCP_PT_SDES  202
#define RTCP_PT_BYE   203
#define RTCP_PT_APP   204
#define RTCP_MAX_RB   31
#define RTCP_CNAME_MAX 255

struct rtcp_rb {
	uint32_t ssrc;
	uint8_t  fraction_lost;  /* fixed point, lost/expected * 256 */
	int32_t  cum_lost;       /* 24-bit signed on the wire; clamped */
	uint32_t ext_high_seq;
	uint32_t jitter;         /* RTP timestamp units */
	uint32_t lsr;            /* 0 if no SR received yet */
	uint32_t dlsr;           /* 1/65536 s */
};

struct rtcp_report {
	bool     sr;             /* sender report (else receiver report) */
	uint32_t ssrc;           /* of the packet's sender */
	uint64_t ntp;            /* SR only: 32.32 fixed point seconds */
	uint32_t rtp_ts;         /* SR only */
	uint32_t pkt_count;      /* SR only */
	uint32_t octet_count;    /* SR only */
	uint8_t  rb_count;       /* 0..31 */
	struct rtcp_rb rb[RTCP_MAX_RB];
};

/* What a compound packet told us. */
struct rtcp_info {
	unsigned n_packets;          /* packets in the compound */
	struct rtcp_report report;   /* the first SR/RR (always present) */
	bool     has_cname;
	char     cname[RTCP_CNAME_MAX + 1]; /* first SDES CNAME, NUL-ended */
	bool     has_bye;
	uint32_t bye_ssrc;           /* first SSRC of the BYE, if any */
};

/* RFC 5761 §4: on a port shared with RTP, a packet is RTCP if it looks
 * like RTP/RTCP (first byte 128..191, RFC 7983) and its second byte is
 * 192..223, i.e. the RTP "M+PT" byte would be 64..95 with M set. SR..APP
 * (200..204) are in that range; our RTP payload types never are. */
bool rtcp_is_rtcp(const uint8_t *buf, size_t len);

/* Parses and validates a compound RTCP packet (RFC 3550 A.2): every
 * packet version 2, lengths adding up exactly to len, padding only on the
 * last one, the first one an SR or RR. SR/RR, SDES and BYE bodies are
 * checked; other packet types (APP, feedback, XR) are skipped by length.
 * Returns 0 and fills *out, -EINVAL on NULL arguments, -EBADMSG on any
 * inconsistency. */
int rtcp_parse(const uint8_t *buf, size_t len, struct rtcp_info *out);

/* Writes an SR (r->sr) or an RR with r->rb_count blocks. cum_lost is
 * clamped to 24 bits signed. Returns the length written, -EINVAL if
 * rb_count > 31, -ENOSPC if size is too small. */
int rtcp_write_report(uint8_t *buf, size_t size, const struct rtcp_report *r);

/* Writes an SDES packet with one chunk: ssrc, a CNAME item (1..255
 * bytes), the end item and padding to a word boundary. Returns the length
 * written, -EINVAL on a bad cname, -ENOSPC if size is too small. */
int rtcp_write_sdes(uint8_t *buf, size_t size, uint32_t ssrc, const char *cname);

/* Writes a BYE for one SSRC, no reason. Returns 8, or -ENOSPC. */
int rtcp_write_bye(uint8_t *buf, size_t size, uint32_t ssrc);

/* NTP 32.32 fixed point from microseconds (of any consistent clock). */
uint64_t rtcp_ntp_from_us(uint64_t us);

/* The middle 32 bits of an NTP timestamp (LSR format, 16.16 seconds). */
static inline uint32_t rtcp_ntp_mid(uint64_t ntp)
{
	return (uint32_t)(ntp >> 16);
}

/* DLSR field: the time between receiving an SR (at sr_rx_us) and now, in
 * 1/65536 s, saturated at 0xffffffff; 0 if now is before sr_rx_us. */
uint32_t rtcp_dlsr(uint64_t now_us, uint64_t sr_rx_us);

/* Round-trip time from a report block about our stream, received at the
 * time whose NTP middle 32 bits are now_mid. Returns 0 and sets *rtt_us,
 * -ENOENT if lsr is 0 (the peer has not had an SR from us yet), -ERANGE if
 * now - LSR - DLSR is negative by more than 1 ms (bogus block); a smaller
 * negative value, from rounding, gives 0. */
int rtcp_rtt_us(uint32_t now_mid, uint32_t lsr, uint32_t dlsr, uint64_t *rtt_us);

#endif
