/* spsc_ring: capacity rounding, partial/all-or-nothing transfers,
 * wrap-around, and a two-thread stress test checking that a sequence
 * pattern arrives complete and in order. */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "p2pcall/spsc_ring.h"

START_TEST(test_new_rounds_to_power_of_two)
{
	struct spsc_ring *r = NULL;

	ck_assert_int_eq(spsc_ring_new(&r, 0), -EINVAL);
	ck_assert_int_eq(spsc_ring_new(&r, SPSC_RING_MAX_CAPACITY + 1), -EINVAL);
	ck_assert_int_eq(spsc_ring_new(NULL, 8), -EINVAL);
	ck_assert_int_eq(spsc_ring_new(&r, 1), 0);
	ck_assert_uint_eq(spsc_ring_capacity(r), 1);
	spsc_ring_free(r);
	ck_assert_int_eq(spsc_ring_new(&r, 960), 0);
	ck_assert_uint_eq(spsc_ring_capacity(r), 1024);
	ck_assert_uint_eq(spsc_ring_read_avail(r), 0);
	ck_assert_uint_eq(spsc_ring_write_avail(r), 1024);
	spsc_ring_free(r);
	ck_assert_int_eq(spsc_ring_new(&r, 1024), 0);
	ck_assert_uint_eq(spsc_ring_capacity(r), 1024);
	spsc_ring_free(r);
	spsc_ring_free(NULL);
}
END_TEST

START_TEST(test_partial_and_all_or_nothing)
{
	struct spsc_ring *r = NULL;
	int16_t in[16], out[16];

	for (int i = 0; i < 16; i++)
		in[i] = (int16_t)(1000 + i);
	ck_assert_int_eq(spsc_ring_new(&r, 8), 0);

	/* Partial write: only 8 fit. */
	ck_assert_uint_eq(spsc_ring_write(r, in, 12), 8);
	ck_assert_uint_eq(spsc_ring_write_avail(r), 0);
	ck_assert_uint_eq(spsc_ring_write(r, in, 1), 0);
	ck_assert(!spsc_ring_write_all(r, in, 1));

	/* All-or-nothing read of more than available reads nothing. */
	ck_assert(!spsc_ring_read_all(r, out, 9));
	ck_assert_uint_eq(spsc_ring_read_avail(r), 8);
	ck_assert(spsc_ring_read_all(r, out, 3));
	ck_assert_int_eq(out[0], 1000);
	ck_assert_int_eq(out[2], 1002);

	/* Frame of 4 does not fit in 3 free slots: nothing written. */
	ck_assert(!spsc_ring_write_all(r, in + 8, 4));
	ck_assert_uint_eq(spsc_ring_read_avail(r), 5);
	ck_assert(spsc_ring_write_all(r, in + 8, 3));

	/* Partial read returns what is there, in order, across the wrap. */
	memset(out, 0, sizeof(out));
	ck_assert_uint_eq(spsc_ring_read(r, out, 16), 8);
	for (int i = 0; i < 8; i++)
		ck_assert_int_eq(out[i], 1003 + i);
	ck_assert_uint_eq(spsc_ring_read(r, out, 16), 0);

	/* NULL destination discards. */
	ck_assert_uint_eq(spsc_ring_write(r, in, 5), 5);
	ck_assert_uint_eq(spsc_ring_read(r, NULL, 2), 2);
	ck_assert(spsc_ring_read_all(r, NULL, 1));
	ck_assert_uint_eq(spsc_ring_read(r, out, 16), 2);
	ck_assert_int_eq(out[0], 1003);
	ck_assert_int_eq(out[1], 1004);

	/* Zero-length transfers are no-ops that succeed. */
	ck_assert(spsc_ring_write_all(r, in, 0));
	ck_assert(spsc_ring_read_all(r, out, 0));
	spsc_ring_free(r);
}
END_TEST

/* Many rounds with a chunk size coprime to the capacity, so every offset
 * of the buffer is the start of a wrapping copy at some point. */
START_TEST(test_wrap_around)
{
	struct spsc_ring *r = NULL;
	int16_t in[7], out[7];
	uint16_t next_in = 0, next_out = 0;

	ck_assert_int_eq(spsc_ring_new(&r, 16), 0);
	/* Keep the ring partly full so reads and writes wrap at different
	 * offsets. */
	for (int i = 0; i < 5; i++)
		in[i] = (int16_t)next_in++;
	ck_assert_uint_eq(spsc_ring_write(r, in, 5), 5);
	for (int round = 0; round < 1000; round++) {
		for (int i = 0; i < 7; i++)
			in[i] = (int16_t)next_in++;
		ck_assert(spsc_ring_write_all(r, in, 7));
		ck_assert(spsc_ring_read_all(r, out, 7));
		for (int i = 0; i < 7; i++)
			ck_assert_int_eq((uint16_t)out[i], next_out++);
	}
	ck_assert_uint_eq(spsc_ring_read_avail(r), 5);
	spsc_ring_free(r);
}
END_TEST

#define STRESS_SAMPLES (4u << 20)

struct stress {
	struct spsc_ring *ring;
	unsigned seed;
	size_t failures; /* consumer: samples out of sequence */
	size_t first_bad;
};

static unsigned xorshift(unsigned *s)
{
	unsigned x = *s;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return *s = x;
}

static void *stress_producer(void *arg)
{
	struct stress *st = arg;
	int16_t chunk[97];
	uint32_t seq = 0;

	while (seq < STRESS_SAMPLES) {
		size_t n = 1 + xorshift(&st->seed) % 97;
		bool all = xorshift(&st->seed) & 1;

		if (n > STRESS_SAMPLES - seq)
			n = STRESS_SAMPLES - seq;
		for (size_t i = 0; i < n; i++)
			chunk[i] = (int16_t)(uint16_t)(seq + i);
		if (all) {
			if (spsc_ring_write_all(st->ring, chunk, n))
				seq += (uint32_t)n;
			else
				sched_yield();
		} else {
			seq += (uint32_t)spsc_ring_write(st->ring, chunk, n);
		}
	}
	return NULL;
}

static void *stress_consumer(void *arg)
{
	struct stress *st = arg;
	int16_t chunk[89];
	uint32_t seq = 0;

	while (seq < STRESS_SAMPLES) {
		size_t n = 1 + xorshift(&st->seed) % 89;
		size_t got;

		if (xorshift(&st->seed) & 1)
			got = spsc_ring_read_all(st->ring, chunk, n) ? n : 0;
		else
			got = spsc_ring_read(st->ring, chunk, n);
		if (got == 0)
			sched_yield();
		for (size_t i = 0; i < got; i++, seq++) {
			if ((uint16_t)chunk[i] != (uint16_t)seq) {
				if (st->failures++ == 0)
					st->first_bad = seq;
			}
		}
	}
	return NULL;
}

/* The consumer checks each sample against the running sequence number: a
 * lost, duplicated, reordered or torn sample (a memory-ordering bug) shows up
 * as a mismatch. A small ring makes the threads meet the full/empty edges
 * constantly. */
START_TEST(test_two_thread_stress)
{
	struct stress prod = { .seed = 0x12345678u }, cons = { .seed = 0x9abcdef1u };
	pthread_t tp, tc;

	ck_assert_int_eq(spsc_ring_new(&prod.ring, 128), 0);
	cons.ring = prod.ring;
	ck_assert_int_eq(pthread_create(&tc, NULL, stress_consumer, &cons), 0);
	ck_assert_int_eq(pthread_create(&tp, NULL, stress_producer, &prod), 0);
	pthread_join(tp, NULL);
	pthread_join(tc, NULL);
	ck_assert_msg(cons.failures == 0, "%zu samples out of sequence, first at %zu",
		      cons.failures, cons.first_bad);
	ck_assert_uint_eq(spsc_ring_read_avail(prod.ring), 0);
	spsc_ring_free(prod.ring);
}
END_TEST

Suite *spsc_ring_suite(void);
Suite *spsc_ring_suite(void)
{
	Suite *s = suite_create("spsc_ring");
	TCase *tc = tcase_create("ring");

	tcase_add_test(tc, test_new_rounds_to_power_of_two);
	tcase_add_test(tc, test_partial_and_all_or_nothing);
	tcase_add_test(tc, test_wrap_around);
	tcase_add_test(tc, test_two_thread_stress);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	return s;
}
