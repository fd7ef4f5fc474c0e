/* RTP fixed header codec (RFC 3550 §5.1) and the Opus payload format
 * (RFC 7587). Pure: touches only the buffers it is given.
 *
 *     0                   1                   2                   3
 *     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |V=2|P|X|  CC   |M|     PT      |       sequence number         |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |                           timestamp                           |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |           synchronization source (SSRC) identifier            |
 *    +=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+
 *    |            contributing source (CSRC) identifiers             |
 *    |                             ....                              |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |   profile-defined (X=1)       |   length (32-bit words)       |
 *    |                  header extension (length words)              |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |   payload ...                 |  padding (P=1) ... | pad count|
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 */
#ifndef P2PCALL_RTP_H
#define P2PCALL_RTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RTP_VERSION     2
#define RTP_HDR_LEN     12   /* fixed header, without CSRCs */
#define RTP_MAX_CSRC    15
#define RTP_PT_OPUS     111  /* our dynamic payload type for Opus */
#define RTP_OPUS_CLOCK  48000 /* RFC 7587 §4.1: always 48 kHz */

struct rtp_hdr {
	bool     marker;
	uint8_t  pt;            /* 0..127 */
	uint16_t seq;
	uint32_t ts;
	uint32_t ssrc;
	uint8_t  cc;            /* number of CSRCs, 0..15 */
	uint32_t csrc[RTP_MAX_CSRC];
};

/* A parsed packet. Pointers point into the buffer given to rtp_parse. */
struct rtp_pkt {
	struct rtp_hdr hdr;
	bool           padding;     /* P bit was set */
	size_t         pad_len;     /* padding bytes, including the count byte */
	bool           ext;         /* X bit was set */
	uint16_t       ext_profile; /* first 16 bits of the extension */
	const uint8_t *ext_data;    /* extension body (after its 4-byte head) */
	size_t         ext_len;     /* in bytes */
	const uint8_t *payload;
	size_t         payload_len; /* may be 0 */
};

/* RFC 7983 demultiplexing: true if the first byte is 128..191, i.e. the
 * packet is RTP or RTCP (not STUN, DTLS, TURN channel data). */
bool rtp_demux_is_rtp(const uint8_t *buf, size_t len);

/* Parses an RTP packet. Returns 0 and fills *out, -EINVAL if buf or out is
 * NULL, -EBADMSG if the version is not 2, the packet is shorter than its
 * header, CSRC list or extension say, or the padding count is 0 or larger
 * than what follows the header. out->payload points into buf. */
int rtp_parse(const uint8_t *buf, size_t len, struct rtp_pkt *out);

/* Writes the header h (with its CSRCs, no extension, no padding) then
 * payload into buf. Returns the number of bytes written, -EINVAL on bad
 * arguments (pt > 127, cc > 15, payload NULL with plen > 0), -ENOSPC if
 * size is too small. */
int rtp_write(uint8_t *buf, size_t size, const struct rtp_hdr *h,
	      const uint8_t *payload, size_t plen);

/* Signed distance b - a between two 16-bit sequence numbers, wrap-safe. */
static inline int16_t rtp_seq_diff(uint16_t a, uint16_t b)
{
	return (int16_t)(uint16_t)(b - a);
}

/* Signed distance b - a between two 32-bit RTP timestamps, wrap-safe. */
static inline int32_t rtp_ts_diff(uint32_t a, uint32_t b)
{
	return (int32_t)(b - a);
}

/* Number of 48 kHz samples in an Opus packet, read from its TOC byte
 * (RFC 6716 §3.1): frame size times frame count. Returns the count
 * (120..5760), or -EBADMSG if the packet is empty, a code 3 packet lacks
 * its count byte, or the total exceeds 120 ms. */
int rtp_opus_samples(const uint8_t *payload, size_t len);

#endif
