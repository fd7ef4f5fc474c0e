/* libFuzzer: signalling input. The first byte of each step picks a
 * connection and a chunk length; the chunk is fed to the switchboard,
 * which runs the line parser, the message parser and the call logic.
 * Also round-trips every parsable line through the writer. */
#include <stdint.h>
#include <string.h>

#include "p2pcall/sig.h"
#include "p2pcall/switchboard.h"

static void on_send(void *ctx, void *io, const char *line, size_t len)
{
	/* Every reply must be one well-formed line. */
	if (len == 0 || len > SIG_MAX_LINE || line[len - 1] != '\n' || memchr(line, '\n', len - 1))
		__builtin_trap();
}

static void on_close(void *ctx, void *io) { ((int *)ctx)[(intptr_t)io] = 1; }

/* A fixed challenge: the fuzzer cannot forge signatures anyway, but the
 * key and signature decoding and the checks run. */
static int fake_random(void *ctx, uint8_t *buf, size_t n)
{
	memset(buf, 0x5a, n);
	return 0;
}

static int fake_bound(void *ctx, const char *name, const uint8_t *pk) { return name[0] == 'x' ? -5 : 0; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum { N = 3 };
	int closed[N] = { 0 };
	struct sb *sb;
	struct sb_config cfg = { .ring_timeout_us = 1000, .register_timeout_us = 5000 };
	struct sb_ops ops = { .send = on_send, .close = on_close, .random = fake_random, .bound = fake_bound };
	if (sb_new(&sb, &cfg, &ops, closed) < 0)
		return 0;
	struct sb_conn *c[N];
	static const uint8_t pk[SB_KEY_LEN] = { 0x3b, 0x6a, 0x27, 0xbc, 0xce, 0xb6, 0xa4, 0x2d };
	sb_bind(sb, "alice", pk);
	for (intptr_t i = 0; i < N; i++)
		c[i] = sb_conn_open(sb, (void *)i, "192.0.2.1:1", 0);

	uint64_t now = 0;
	while (size > 1) {
		int who = data[0] % N;
		size_t len = (size_t)(data[0] >> 2) + 1;
		data++, size--;
		if (len > size)
			len = size;
		char buf[64];
		memcpy(buf, data, len);
		if (!closed[who])
			sb_conn_feed(sb, c[who], buf, len, now);
		data += len, size -= len;
		now += 300;
		sb_tick(sb, now);
	}
	for (int i = 0; i < N; i++)
		sb_conn_close(sb, c[i], now);
	sb_free(sb);
	return 0;
}
