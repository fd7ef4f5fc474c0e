/* libFuzzer target: the jitter buffer's input. The bytes are a script of
 * put/get/adjust/reset operations with arbitrary sequence numbers,
 * timestamps, payloads and clock steps; the buffer must never crash,
 * leak, hand out data beyond its limits or lose count of its results. */
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "p2pcall/jbuf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct rd {
	const uint8_t *p;
	size_t n;
};

static unsigned take(struct rd *r, unsigned bytes)
{
	unsigned v = 0;
	for (unsigned i = 0; i < bytes; i++) {
		v <<= 8;
		if (r->n) {
			v |= *r->p++;
			r->n--;
		}
	}
	return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rd r = { data, size };
	struct jbuf_config cfg;
	jbuf_config_default(&cfg);
	unsigned shape = take(&r, 1);
	cfg.capacity = 4 + (shape & 15);
	cfg.max_payload = 64;
	cfg.frame_ms = (const uint32_t[]){ 10, 20, 40, 60 }[shape >> 4 & 3];
	cfg.init_ms = (shape >> 6) * 30;
	struct jbuf *jb = NULL;
	if (jbuf_new(&jb, &cfg))
		return 0;

	uint64_t now = 1000000;
	uint16_t seq = (uint16_t)take(&r, 2);
	uint32_t ts = (uint32_t)take(&r, 4);
	uint64_t gets = 0;
	uint8_t pl[80];
	while (r.n) {
		unsigned op = take(&r, 1);
		now += (op >> 3) * 1000; /* 0..31 ms */
		switch (op & 7) {
		case 0: case 1: case 2: {
			/* next packet, or a jump: seq/ts deltas from the input */
			int dseq = (op & 7) == 0 ? 1 : (int8_t)take(&r, 1);
			int32_t dts = (op & 7) == 0 ? 960 :
				(int32_t)(int16_t)take(&r, 2) * 48;
			if ((op & 7) == 2)
				dts = (int32_t)take(&r, 4);
			seq = (uint16_t)(seq + dseq);
			ts += (uint32_t)dts;
			size_t len = take(&r, 1) % sizeof(pl);
			for (size_t i = 0; i < len; i++)
				pl[i] = (uint8_t)take(&r, 1);
			int rc = jbuf_put(jb, now, seq, ts, pl, len);
			assert(rc == -EMSGSIZE ? len > cfg.max_payload :
			       rc >= JBUF_PUT_OK && rc <= JBUF_PUT_OVERFLOW);
			break;
		}
		case 3: case 4: case 5: {
			struct jbuf_out o;
			assert(jbuf_get(jb, now, &o) == 0);
			gets++;
			assert(o.samples > 0 && o.samples <= 5760);
			if (o.kind == JBUF_FRAME || o.kind == JBUF_FEC) {
				assert(o.data && o.len <= cfg.max_payload);
				if (o.len)
					(void)o.data[o.len - 1];
			} else {
				assert(!o.data && o.len == 0);
			}
			assert(o.adjust >= -5760 && o.adjust <= 5760);
			assert(o.adjust % 120 == 0);
			break;
		}
		case 6:
			jbuf_adjusted(jb, (int32_t)(int8_t)take(&r, 1) * 120);
			break;
		default:
			if ((op >> 3) == 31)
				jbuf_reset(jb);
			else if ((op >> 3) == 30 && now > 50000)
				now -= 50000; /* a clock that steps back */
			break;
		}
	}
	struct jbuf_stats st;
	jbuf_get_stats(jb, &st);
	assert(st.played + st.fec + st.concealed + st.dtx + st.silence == gets);
	assert(st.buffered <= cfg.capacity);
	assert(st.concealed_frac >= 0.0 && st.concealed_frac <= 1.0);
	jbuf_free(jb);
	return 0;
}
