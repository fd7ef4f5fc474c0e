/* Anti-replay window over 64-bit packet indices (RFC 3711 §3.3.2, RFC 4303
 * §3.4.3): the highest index accepted so far and a 128-bit bitmap of which
 * of the 128 indices ending at it were seen. Pure value type, no
 * allocation, so it can live inside whatever tracks one stream.
 *
 * The caller checks first, authenticates the packet, and only then
 * accepts it: a forged packet must not move the window (else one forgery
 * with a huge index would make every genuine packet look too old).
 *
 *    index:   top-127 ...               top-1  top
 *    bit:       127   ...                 1     0     (1 = seen)
 */
#ifndef P2PCALL_REPLAY_H
#define P2PCALL_REPLAY_H

#include <stdbool.h>
#include <stdint.h>

#define REPLAY_WINDOW 128

struct replay_window {
	uint64_t top;     /* highest accepted index; meaningless while !any */
	uint64_t bits[2]; /* bits[0] bit i = top - i, bits[1] bit i = top - 64 - i */
	bool     any;     /* false until the first accept */
};

/* Empties the window: the next index of any value is new. */
void replay_init(struct replay_window *w);

/* Returns 0 if idx was not seen and is inside or ahead of the window,
 * -EALREADY if it was accepted before or is so old (top - idx >= 128)
 * that the window cannot tell. Does not change the window. */
int replay_check(const struct replay_window *w, uint64_t idx);

/* Marks idx as seen, sliding the window forward if idx is above top.
 * Call only for an index replay_check allowed and whose packet was
 * authenticated; an index older than the window is ignored. */
void replay_accept(struct replay_window *w, uint64_t idx);

#endif
