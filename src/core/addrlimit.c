/* Per-address rate limit in a fixed table; see addrlimit.h. */
#include "p2pcall/addrlimit.h"

#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

struct slot {
	uint8_t addr[ADDRLIMIT_ADDR_MAX];
	uint8_t len;       /* 0: never used */
	float tokens;
	uint64_t at;       /* when tokens was last brought up to date */
};

struct addrlimit {
	size_t mask;
	unsigned per_s, burst;
	uint8_t key[crypto_shorthash_KEYBYTES];
	struct slot *slots;
};

int addrlimit_new(struct addrlimit **out, size_t slots, unsigned per_s, unsigned burst,
		  const uint8_t key[ADDRLIMIT_KEY_LEN])
{
	if (!out || !key || slots > ((size_t)1 << 24) || sodium_init() < 0)
		return -EINVAL;
	size_t n = 2;
	while (n < (slots ? slots : 4096))
		n <<= 1;
	struct addrlimit *l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->slots = calloc(n, sizeof(*l->slots));
	if (!l->slots) {
		free(l);
		return -ENOMEM;
	}
	l->mask = n - 1;
	l->per_s = per_s ? per_s : 100;
	l->burst = burst ? burst : 2 * l->per_s;
	memcpy(l->key, key, sizeof(l->key));
	*out = l;
	return 0;
}

void addrlimit_free(struct addrlimit *l)
{
	if (!l)
		return;
	free(l->slots);
	free(l);
}

size_t addrlimit_footprint(const struct addrlimit *l)
{
	return sizeof(*l) + (l->mask + 1) * sizeof(struct slot);
}

/* Brings S's tokens up to NOW. A never-used slot starts full. */
static float refill(const struct addrlimit *l, struct slot *s, uint64_t now)
{
	if (s->len == 0) {
		s->tokens = (float)l->burst;
		s->at = now;
	} else if (now > s->at) {
		double t = s->tokens + (double)(now - s->at) * l->per_s / 1e6;
		s->tokens = t > l->burst ? (float)l->burst : (float)t;
		s->at = now;
	}
	return s->tokens;
}

bool addrlimit_allow(struct addrlimit *l, const uint8_t *addr, size_t len, uint64_t now_us)
{
	if (!l || !addr || len == 0 || len > ADDRLIMIT_ADDR_MAX)
		return false;
	uint8_t h[crypto_shorthash_BYTES];
	crypto_shorthash(h, addr, len, l->key);
	uint64_t v;
	memcpy(&v, h, sizeof(v));
	/* Two candidate slots, neighbours: an even index and the next. */
	struct slot *a = &l->slots[(size_t)v & l->mask & ~(size_t)1], *b = a + 1, *s;
	if (a->len == len && memcmp(a->addr, addr, len) == 0)
		s = a;
	else if (b->len == len && memcmp(b->addr, addr, len) == 0)
		s = b;
	else {
		/* Take over the slot with more tokens (the idler one); its
		 * budget comes along. */
		s = refill(l, a, now_us) >= refill(l, b, now_us) ? a : b;
		memcpy(s->addr, addr, len);
		s->len = (uint8_t)len;
	}
	if (refill(l, s, now_us) < 1)
		return false;
	s->tokens -= 1;
	return true;
}
