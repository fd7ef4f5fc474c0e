/* String hash map; see strmap.h. */
#include "p2pcall/strmap.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct slot {
	const char *key; /* NULL: empty */
	void *val;
	uint32_t hash;
};

struct strmap {
	struct slot *slots;
	size_t cap; /* power of two */
	size_t count;
};

static uint32_t fnv1a(const char *s)
{
	uint32_t h = 2166136261u;
	while (*s)
		h = (h ^ (uint8_t)*s++) * 16777619u;
	return h;
}

int strmap_new(struct strmap **out)
{
	struct strmap *m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->cap = 16;
	m->slots = calloc(m->cap, sizeof(*m->slots));
	if (!m->slots) {
		free(m);
		return -ENOMEM;
	}
	*out = m;
	return 0;
}

void strmap_free(struct strmap *m)
{
	if (!m)
		return;
	free(m->slots);
	free(m);
}

static size_t find(const struct strmap *m, const char *key, uint32_t h)
{
	size_t mask = m->cap - 1;
	for (size_t i = h & mask;; i = (i + 1) & mask) {
		const struct slot *s = &m->slots[i];
		if (!s->key || (s->hash == h && strcmp(s->key, key) == 0))
			return i;
	}
}

void *strmap_get(const struct strmap *m, const char *key)
{
	return m->slots[find(m, key, fnv1a(key))].val;
}

static int grow(struct strmap *m)
{
	struct strmap bigger = { .cap = m->cap * 2, .count = m->count };
	bigger.slots = calloc(bigger.cap, sizeof(*bigger.slots));
	if (!bigger.slots)
		return -ENOMEM;
	for (size_t i = 0; i < m->cap; i++)
		if (m->slots[i].key)
			bigger.slots[find(&bigger, m->slots[i].key, m->slots[i].hash)] = m->slots[i];
	free(m->slots);
	*m = bigger;
	return 0;
}

int strmap_put(struct strmap *m, const char *key, void *val)
{
	/* Keep the load at most 3/4 so probes stay short. */
	if ((m->count + 1) * 4 > m->cap * 3 && grow(m) < 0)
		return -ENOMEM;
	uint32_t h = fnv1a(key);
	struct slot *s = &m->slots[find(m, key, h)];
	if (!s->key)
		m->count++;
	*s = (struct slot){ key, val, h };
	return 0;
}

void *strmap_del(struct strmap *m, const char *key)
{
	size_t mask = m->cap - 1, i = find(m, key, fnv1a(key));
	if (!m->slots[i].key)
		return NULL;
	void *val = m->slots[i].val;
	/* Backward shift: pull later entries of the probe run into the hole
	 * when their home slot lies at or before it. */
	for (size_t j = (i + 1) & mask; m->slots[j].key; j = (j + 1) & mask) {
		size_t home = m->slots[j].hash & mask;
		if (((j - home) & mask) >= ((j - i) & mask)) {
			m->slots[i] = m->slots[j];
			i = j;
		}
	}
	m->slots[i] = (struct slot){ 0 };
	m->count--;
	return val;
}

size_t strmap_count(const struct strmap *m) { return m->count; }

void strmap_each(const struct strmap *m, void (*fn)(void *ctx, const char *key, void *val), void *ctx)
{
	for (size_t i = 0; i < m->cap; i++)
		if (m->slots[i].key)
			fn(ctx, m->slots[i].key, m->slots[i].val);
}
