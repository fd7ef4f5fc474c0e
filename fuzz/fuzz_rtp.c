/* libFuzzer target: the RTP and RTCP parsers, dispatched as the media
 * socket does (RFC 5761). What the RTP parser accepts must describe a
 * payload inside the input and survive a write/parse round trip; what the
 * RTCP parser accepts must rewrite to a report that parses the same. */
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "p2pcall/rtcp.h"
#include "p2pcall/rtp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void one_rtp(const uint8_t *data, size_t size)
{
	struct rtp_pkt p;
	if (rtp_parse(data, size, &p) != 0)
		return;
	assert(p.payload >= data && p.payload + p.payload_len <= data + size);
	uint8_t buf[2048];
	int n = rtp_write(buf, sizeof(buf), &p.hdr, p.payload, p.payload_len);
	if (n > 0) {
		struct rtp_pkt q;
		assert(rtp_parse(buf, (size_t)n, &q) == 0);
		assert(q.hdr.seq == p.hdr.seq && q.hdr.ts == p.hdr.ts);
		assert(q.payload_len == p.payload_len);
		assert(memcmp(q.payload, p.payload, p.payload_len) == 0);
	}
	(void)rtp_opus_samples(p.payload, p.payload_len);
}

static void one_rtcp(const uint8_t *data, size_t size)
{
	struct rtcp_info in;
	if (rtcp_parse(data, size, &in) != 0)
		return;
	assert(in.n_packets >= 1 && in.report.rb_count <= RTCP_MAX_RB);
	assert(!in.has_cname || strlen(in.cname) <= RTCP_CNAME_MAX);
	uint8_t buf[1024];
	int n = rtcp_write_report(buf, sizeof(buf), &in.report);
	assert(n > 0);
	struct rtcp_info again;
	assert(rtcp_parse(buf, (size_t)n, &again) == 0);
	assert(again.report.rb_count == in.report.rb_count);
	assert(again.report.ssrc == in.report.ssrc);
	for (unsigned i = 0; i < in.report.rb_count; i++)
		assert(memcmp(&again.report.rb[i], &in.report.rb[i],
			      sizeof(struct rtcp_rb)) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (rtcp_is_rtcp(data, size))
		one_rtcp(data, size);
	else
		one_rtp(data, size);
	/* Both parsers see everything: neither may trust the demux. */
	struct rtp_pkt p;
	struct rtcp_info in;
	(void)rtp_parse(data, size, &p);
	(void)rtcp_parse(data, size, &in);
	return 0;
}
