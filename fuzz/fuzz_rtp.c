/* libFuzzer target: the RTP parser. Whatever it accepts must describe a
 * payload inside the input and survive a write/parse round trip. */
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "p2pcall/rtp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rtp_pkt p;
	if (rtp_parse(data, size, &p) == 0) {
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
	return 0;
}
