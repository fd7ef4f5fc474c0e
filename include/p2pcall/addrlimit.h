/* A rate limit per source address in bounded memory, for answers the
 * server gives to anyone (STUN Binding on the UDP port). A spoofed-source
 * flood names a new address in every packet: a table that grew with
 * them would be the attack. So the table has a fixed number of slots,
 * chosen by a keyed hash (SipHash, secret key: senders cannot aim at one
 * slot); an address that finds its two candidate slots held by others
 * takes the idler one *with its current budget*. Eviction never creates
 * tokens, so the answers to all senders together stay within
 * slots x burst at once and slots x per_s per second after that, and an
 * address that keeps its slot gets per_s (burst at once).
 *
 * Pure: the caller passes addresses as bytes and the time. */
#ifndef P2PCALL_ADDRLIMIT_H
#define P2PCALL_ADDRLIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ADDRLIMIT_KEY_LEN  16
#define ADDRLIMIT_ADDR_MAX 16 /* an IPv6 address */

struct addrlimit;

/* SLOTS (rounded up to a power of two, at least 2; 0: 4096) entries of
 * about 40 bytes; PER_S answers per second and BURST at once per address
 * (0: 100 and 2 x PER_S). KEY: random bytes for the hash.
 * Returns 0, -EINVAL or -ENOMEM. */
int addrlimit_new(struct addrlimit **out, size_t slots, unsigned per_s, unsigned burst,
		  const uint8_t key[ADDRLIMIT_KEY_LEN]);
void addrlimit_free(struct addrlimit *l);

/* True if a packet from ADDR (LEN bytes, at most ADDRLIMIT_ADDR_MAX; the
 * IP address, not the port) may be answered at NOW; takes one token. */
bool addrlimit_allow(struct addrlimit *l, const uint8_t *addr, size_t len, uint64_t now_us);

/* Memory held, in bytes (for the tests' bound). */
size_t addrlimit_footprint(const struct addrlimit *l);

#endif
