/* Lock-free single-producer / single-consumer ring of int16 PCM samples.
 *
 * The bridge between PortAudio's real-time callback thread and the event
 * loop: exactly one thread writes and exactly one thread reads. Neither side
 * blocks, locks or allocates after spsc_ring_new(), so the audio callback
 * can use it. Capacity is a power of two so positions wrap with a mask;
 * positions are free-running size_t counters, so "full" and "empty" need no
 * spare slot.
 *
 * Which side may call what:
 *   producer: spsc_ring_write, spsc_ring_write_all, spsc_ring_write_avail
 *   consumer: spsc_ring_read, spsc_ring_read_all, spsc_ring_read_avail
 *   either:   spsc_ring_capacity
 */
#ifndef P2PCALL_SPSC_RING_H
#define P2PCALL_SPSC_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct spsc_ring;

/* Largest capacity spsc_ring_new accepts (samples): 2^28, 5.6 h at 48 kHz. */
#define SPSC_RING_MAX_CAPACITY ((size_t)1 << 28)

/* Creates a ring holding at least min_samples samples (rounded up to a power
 * of two). Returns 0 and sets *out, -EINVAL if min_samples is 0 or above
 * SPSC_RING_MAX_CAPACITY, -ENOMEM. The caller owns *out (spsc_ring_free). */
int spsc_ring_new(struct spsc_ring **out, size_t min_samples);

/* Frees the ring; NULL is fine. Neither side may be using it any more. */
void spsc_ring_free(struct spsc_ring *r);

/* Number of samples the ring can hold (a power of two). */
size_t spsc_ring_capacity(const struct spsc_ring *r);

/* Producer: number of samples that can be written now (a lower bound: the
 * consumer may free more meanwhile). */
size_t spsc_ring_write_avail(const struct spsc_ring *r);

/* Consumer: number of samples that can be read now (a lower bound). */
size_t spsc_ring_read_avail(const struct spsc_ring *r);

/* Producer: copies up to n samples from src; returns how many were written
 * (less than n when the ring is full). Never blocks. */
size_t spsc_ring_write(struct spsc_ring *r, const int16_t *src, size_t n);

/* Producer: writes all n samples, or nothing if they do not fit (so a frame
 * is never split). Returns true if written. */
bool spsc_ring_write_all(struct spsc_ring *r, const int16_t *src, size_t n);

/* Consumer: copies up to n samples into dst (or discards them when dst is
 * NULL); returns how many were read. Never blocks. */
size_t spsc_ring_read(struct spsc_ring *r, int16_t *dst, size_t n);

/* Consumer: reads exactly n samples, or nothing if fewer are available.
 * dst may be NULL to discard. Returns true if read. */
bool spsc_ring_read_all(struct spsc_ring *r, int16_t *dst, size_t n);

#endif
