/* Receiver statistics: RFC 3550 A.1 sequence validation, A.3 loss, A.8
 * jitter, RR block filling. */
#include <check.h>
#include <math.h>
#include <stdlib.h>

#include "p2pcall/rxstats.h"

#define SSRC 0x1234u
#define FRAME_US 20000u
#define FRAME_TS 960u

/* Feeds packet i of a regular 20 ms stream starting at seq0/ts0. */
static enum rxstats_verdict feed(struct rxstats *s, uint16_t seq0, uint32_t ts0,
				 uint32_t i, uint64_t extra_delay_us)
{
	return rxstats_update(s, SSRC, (uint16_t)(seq0 + i),
			      ts0 + i * FRAME_TS,
			      1000000 + (uint64_t)i * FRAME_US + extra_delay_us);
}

START_TEST(probation_and_wrap)
{
	struct rxstats s;
	rxstats_init(&s, 48000);
	ck_assert_int_eq(feed(&s, 65500, 0, 0, 0), RXSTATS_PROBATION);
	ck_assert_uint_eq(rxstats_expected(&s), 0);
	ck_assert_int_eq(feed(&s, 65500, 0, 1, 0), RXSTATS_OK);
	for (uint32_t i = 2; i < 200; i++)
		ck_assert_int_eq(feed(&s, 65500, 0, i, 0), RXSTATS_OK);
	/* base is the second packet (65501); last is 65500+199 = 163 after
	 * one wrap. */
	ck_assert_uint_eq(rxstats_ext_max_seq(&s), 65536 + 163);
	ck_assert_uint_eq(rxstats_expected(&s), 199);
	ck_assert_uint_eq(rxstats_received(&s), 199);
	ck_assert_int_eq(rxstats_lost(&s), 0);
	ck_assert_uint_eq(rxstats_jitter(&s), 0);

	/* Probation restarts on a gap. */
	rxstats_init(&s, 48000);
	ck_assert_int_eq(feed(&s, 10, 0, 0, 0), RXSTATS_PROBATION);
	ck_assert_int_eq(feed(&s, 10, 0, 2, 0), RXSTATS_PROBATION);
	ck_assert_int_eq(feed(&s, 10, 0, 3, 0), RXSTATS_OK);
	ck_assert_uint_eq(rxstats_expected(&s), 1);
}
END_TEST

START_TEST(loss_fraction_and_duplicates)
{
	struct rxstats s;
	struct rxstats_mark ui = { 0, 0 };
	rxstats_init(&s, 48000);
	/* 1000 packets, every 20th lost (5%), from index 2 on */
	for (uint32_t i = 0; i < 1000; i++)
		if (i < 2 || i % 20 != 0)
			feed(&s, 1, 0, i, 0);
	/* expected counts from index 1: 999; lost: i = 20..980 step 20 */
	ck_assert_uint_eq(rxstats_expected(&s), 999);
	ck_assert_int_eq(rxstats_lost(&s), 49);
	uint8_t f = rxstats_fraction_lost(&s, &ui);
	ck_assert_uint_eq(f, (49 * 256) / 999); /* 12 = 4.7% */
	/* nothing new: interval fraction 0 */
	ck_assert_uint_eq(rxstats_fraction_lost(&s, &ui), 0);

	/* 100 more with 50 duplicated and 10 lost: net negative interval */
	for (uint32_t i = 1000; i < 1100; i++) {
		if (i % 10 == 0)
			continue;
		feed(&s, 1, 0, i, 0);
		if (i % 2)
			ck_assert_int_eq(feed(&s, 1, 0, i, 0), RXSTATS_OK);
	}
	ck_assert_int_eq(rxstats_lost(&s), 49 + 10 - 50);
	ck_assert_uint_eq(rxstats_fraction_lost(&s, &ui), 0);

	/* 100 more, half lost: 50% = 128/256 */
	for (uint32_t i = 1100; i < 1200; i++)
		if (i % 2)
			feed(&s, 1, 0, i, 0);
	/* last one received is 1199: expected 100 in the interval */
	ck_assert_uint_eq(rxstats_fraction_lost(&s, &ui), 128);
}
END_TEST

START_TEST(reorder_and_jumps)
{
	struct rxstats s;
	rxstats_init(&s, 48000);
	for (uint32_t i = 0; i < 10; i++)
		feed(&s, 100, 0, i, 0);
	/* late packet from 50 back is still counted as reordered */
	ck_assert_int_eq(rxstats_update(&s, SSRC, 59, 0, 0), RXSTATS_OK);
	ck_assert_uint_eq(rxstats_ext_max_seq(&s), 109);
	/* gap of 2000 forward: a permissible dropout */
	ck_assert_int_eq(rxstats_update(&s, SSRC, 2109, 0, 0), RXSTATS_OK);
	ck_assert_uint_eq(rxstats_ext_max_seq(&s), 2109);
	/* wild jump: refused until the next one follows it */
	ck_assert_int_eq(rxstats_update(&s, SSRC, 40000, 0, 0), RXSTATS_BAD);
	ck_assert_uint_eq(rxstats_ext_max_seq(&s), 2109);
	ck_assert_int_eq(rxstats_update(&s, SSRC, 2110, 0, 0), RXSTATS_OK);
	ck_assert_int_eq(rxstats_update(&s, SSRC, 50000, 0, 0), RXSTATS_BAD);
	ck_assert_int_eq(rxstats_update(&s, SSRC, 50001, 0, 0), RXSTATS_RESTART);
	ck_assert_uint_eq(rxstats_ext_max_seq(&s), 50001);
	ck_assert_uint_eq(rxstats_expected(&s), 1);
	ck_assert_uint_eq(rxstats_received(&s), 1);
	/* far behind (more than MAX_MISORDER) is a wild jump too */
	ck_assert_int_eq(rxstats_update(&s, SSRC, 49800, 0, 0), RXSTATS_BAD);

	/* A new SSRC: probation, then RESTART. */
	ck_assert_int_eq(rxstats_update(&s, 77, 5, 0, 0), RXSTATS_PROBATION);
	ck_assert_int_eq(rxstats_update(&s, 77, 6, 0, 0), RXSTATS_RESTART);
	ck_assert_int_eq(rxstats_update(&s, 77, 7, 0, 0), RXSTATS_OK);
	ck_assert_uint_eq(rxstats_expected(&s), 2);
}
END_TEST

START_TEST(jitter_a8)
{
	struct rxstats s;
	rxstats_init(&s, 48000);
	/* Constant 50 ms transit: jitter 0. */
	for (uint32_t i = 0; i < 100; i++)
		feed(&s, 1, 0xfffff000u, i, 50000);
	ck_assert_uint_eq(rxstats_jitter(&s), 0);
	/* Alternating 0 / 10 ms extra delay: |D| = 480 each packet, so J
	 * converges to 480 (10 ms). */
	for (uint32_t i = 100; i < 400; i++)
		feed(&s, 1, 0xfffff000u, i, 50000 + (i % 2) * 10000);
	ck_assert_msg(abs((int)rxstats_jitter(&s) - 480) <= 2, "jitter %u",
		      rxstats_jitter(&s));
	ck_assert(fabs(rxstats_jitter_ms(&s) - 10.0) < 0.1);
	/* Back to constant: decays by 15/16 per packet. */
	for (uint32_t i = 400; i < 480; i++)
		feed(&s, 1, 0xfffff000u, i, 50000);
	ck_assert_msg(rxstats_jitter(&s) < 3, "jitter %u", rxstats_jitter(&s));
}
END_TEST

START_TEST(fill_rb)
{
	struct rxstats s;
	struct rtcp_rb rb;
	rxstats_init(&s, 48000);
	for (uint32_t i = 0; i < 101; i++)
		if (i % 4 != 3)
			feed(&s, 0, 0, i, 0);
	rxstats_fill_rb(&s, 5000000, &rb);
	ck_assert_uint_eq(rb.ssrc, SSRC);
	ck_assert_uint_eq(rb.ext_high_seq, 100);
	ck_assert_int_eq(rb.cum_lost, 25);   /* 3, 7, ..., 99 */
	ck_assert_uint_eq(rb.fraction_lost, 25 * 256 / 100);
	ck_assert_uint_eq(rb.lsr, 0);
	ck_assert_uint_eq(rb.dlsr, 0);
	rxstats_on_sr(&s, 0xb705203012340000ull, 6000000);
	rxstats_fill_rb(&s, 6500000, &rb);
	ck_assert_uint_eq(rb.fraction_lost, 0); /* new interval, no loss */
	ck_assert_uint_eq(rb.lsr, 0x20301234);
	ck_assert_uint_eq(rb.dlsr, 32768);   /* 0.5 s */
}
END_TEST

Suite *rxstats_suite(void)
{
	Suite *s = suite_create("rxstats");
	TCase *tc = tcase_create("rfc3550");
	tcase_add_test(tc, probation_and_wrap);
	tcase_add_test(tc, loss_fraction_and_duplicates);
	tcase_add_test(tc, reorder_and_jumps);
	tcase_add_test(tc, jitter_a8);
	tcase_add_test(tc, fill_rb);
	suite_add_tcase(s, tc);
	return s;
}
