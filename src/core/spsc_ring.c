/* Lock-free SPSC ring, see include/p2pcall/spsc_ring.h.
 *
 * Memory ordering: each side owns one counter and only reads the other's.
 * The producer copies samples, then publishes `head` with a release store;
 * the consumer loads `head` with acquire, so the samples it then copies are
 * the ones written. Symmetrically the consumer publishes `tail` with release
 * after copying out, and the producer's acquire load of `tail` guarantees it
 * never overwrites a slot that is still being read. A side reads its own
 * counter relaxed: only it ever writes that counter. */
#include "p2pcall/spsc_ring.h"

#include <errno.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* Keeps head and tail on separate cache lines so the two threads do not
 * bounce one line between cores on every update. */
#define RING_CACHE_LINE 64

struct spsc_ring {
	alignas(RING_CACHE_LINE) atomic_size_t head; /* written by producer */
	alignas(RING_CACHE_LINE) atomic_size_t tail; /* written by consumer */
	alignas(RING_CACHE_LINE) size_t mask;
	int16_t *buf;
};

int spsc_ring_new(struct spsc_ring **out, size_t min_samples)
{
	struct spsc_ring *r = NULL;
	size_t cap = 1;
	int err = 0;

	if (!out || min_samples == 0 || min_samples > SPSC_RING_MAX_CAPACITY)
		return -EINVAL;
	while (cap < min_samples)
		cap <<= 1;

	r = aligned_alloc(RING_CACHE_LINE, sizeof(*r));
	if (!r) {
		err = -ENOMEM;
		goto out;
	}
	memset(r, 0, sizeof(*r));
	atomic_init(&r->head, 0);
	atomic_init(&r->tail, 0);
	r->mask = cap - 1;
	/* calloc so that a reader racing a bug never sees uninitialised data,
	 * and so the pages are touched now rather than in the audio callback. */
	r->buf = calloc(cap, sizeof(*r->buf));
	if (!r->buf) {
		err = -ENOMEM;
		goto out;
	}
	*out = r;
	r = NULL;
out:
	spsc_ring_free(r);
	return err;
}

void spsc_ring_free(struct spsc_ring *r)
{
	if (!r)
		return;
	free(r->buf);
	free(r);
}

size_t spsc_ring_capacity(const struct spsc_ring *r)
{
	return r->mask + 1;
}

size_t spsc_ring_write_avail(const struct spsc_ring *r)
{
	size_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
	size_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);

	return r->mask + 1 - (head - tail);
}

size_t spsc_ring_read_avail(const struct spsc_ring *r)
{
	size_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
	size_t head = atomic_load_explicit(&r->head, memory_order_acquire);

	return head - tail;
}

/* Copies n samples into the ring at position pos, in at most two pieces. */
static void ring_copy_in(struct spsc_ring *r, size_t pos, const int16_t *src, size_t n)
{
	size_t off = pos & r->mask;
	size_t first = r->mask + 1 - off;

	if (first > n)
		first = n;
	memcpy(r->buf + off, src, first * sizeof(*src));
	memcpy(r->buf, src + first, (n - first) * sizeof(*src));
}

static void ring_copy_out(const struct spsc_ring *r, size_t pos, int16_t *dst, size_t n)
{
	size_t off = pos & r->mask;
	size_t first = r->mask + 1 - off;

	if (!dst)
		return;
	if (first > n)
		first = n;
	memcpy(dst, r->buf + off, first * sizeof(*dst));
	memcpy(dst + first, r->buf, (n - first) * sizeof(*dst));
}

static size_t ring_write(struct spsc_ring *r, const int16_t *src, size_t n, bool all)
{
	size_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
	size_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);
	size_t space = r->mask + 1 - (head - tail);

	if (n > space) {
		if (all)
			return 0;
		n = space;
	}
	if (n == 0 || !src)
		return 0;
	ring_copy_in(r, head, src, n);
	atomic_store_explicit(&r->head, head + n, memory_order_release);
	return n;
}

static size_t ring_read(struct spsc_ring *r, int16_t *dst, size_t n, bool all)
{
	size_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
	size_t head = atomic_load_explicit(&r->head, memory_order_acquire);
	size_t avail = head - tail;

	if (n > avail) {
		if (all)
			return 0;
		n = avail;
	}
	if (n == 0)
		return 0;
	ring_copy_out(r, tail, dst, n);
	atomic_store_explicit(&r->tail, tail + n, memory_order_release);
	return n;
}

size_t spsc_ring_write(struct spsc_ring *r, const int16_t *src, size_t n)
{
	return ring_write(r, src, n, false);
}

bool spsc_ring_write_all(struct spsc_ring *r, const int16_t *src, size_t n)
{
	return n == 0 || ring_write(r, src, n, true) == n;
}

size_t spsc_ring_read(struct spsc_ring *r, int16_t *dst, size_t n)
{
	return ring_read(r, dst, n, false);
}

bool spsc_ring_read_all(struct spsc_ring *r, int16_t *dst, size_t n)
{
	return n == 0 || ring_read(r, dst, n, true) == n;
}
