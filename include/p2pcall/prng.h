/* The reproducible fallback PRNG of the pure protocol agents (ICE, TURN)
 * when no random callback is configured: tests seed it and get the same
 * run every time. xorshift64*: not for production secrets. */
#ifndef P2PCALL_PRNG_H
#define P2PCALL_PRNG_H

#include <stddef.h>
#include <stdint.h>

static inline void prng_fill(uint64_t *state, void *buf, size_t len)
{
	uint8_t *p = buf;
	for (size_t i = 0; i < len; i++) {
		*state ^= *state >> 12;
		*state ^= *state << 25;
		*state ^= *state >> 27;
		p[i] = (uint8_t)((*state * 0x2545F4914F6CDD1Dull) >> 56);
	}
}

#endif
