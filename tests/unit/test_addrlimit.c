/* The per-address limiter: each address is held to its rate, and a flood
 * from ever new (spoofed) addresses neither grows memory nor gets more
 * than the table's total budget. */
#include <check.h>
#include <errno.h>
#include <string.h>

#include "p2pcall/addrlimit.h"

static const uint8_t key[ADDRLIMIT_KEY_LEN] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };

static void ip4(uint8_t a[4], uint32_t v)
{
	a[0] = (uint8_t)(v >> 24), a[1] = (uint8_t)(v >> 16), a[2] = (uint8_t)(v >> 8), a[3] = (uint8_t)v;
}

START_TEST(one_address_is_held_to_its_rate)
{
	struct addrlimit *l;
	ck_assert_int_eq(addrlimit_new(&l, 64, 10, 20, key), 0);
	uint8_t a[4], b[4];
	ip4(a, 0xc0000201);
	ip4(b, 0xc0000202);
	uint64_t t = 1000;
	int n = 0;
	for (int i = 0; i < 100; i++)
		n += addrlimit_allow(l, a, 4, t);
	ck_assert_int_eq(n, 20); /* the burst */
	/* Another address has its own budget. */
	ck_assert(addrlimit_allow(l, b, 4, t));
	/* 10 a second later on. */
	t += 1000000;
	n = 0;
	for (int i = 0; i < 100; i++)
		n += addrlimit_allow(l, a, 4, t);
	ck_assert_int_eq(n, 10);
	addrlimit_free(l);
}
END_TEST

START_TEST(spoofed_flood_is_bounded)
{
	struct addrlimit *l;
	ck_assert_int_eq(addrlimit_new(&l, 256, 10, 20, key), 0);
	size_t mem = addrlimit_footprint(l);
	ck_assert_uint_lt(mem, 256 * 48 + 256);
	/* One second of 1,000,000 packets, each from a new address. */
	uint64_t t = 5000000;
	long answered = 0;
	for (uint32_t i = 0; i < 1000000; i++) {
		uint8_t a[4];
		ip4(a, 0x0a000000 + i);
		answered += addrlimit_allow(l, a, 4, t + i); /* 1 us apart */
	}
	/* At most every slot's burst plus one second of refill. */
	ck_assert_int_le(answered, 256 * 20 + 256 * 10);
	ck_assert_int_gt(answered, 0);
	ck_assert_uint_eq(addrlimit_footprint(l), mem);
	/* The flood over, a real client is answered again soon. */
	uint8_t me[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };
	t += 1000000 + 2000000;
	ck_assert(addrlimit_allow(l, me, 16, t));
	addrlimit_free(l);
}
END_TEST

START_TEST(address_bytes_not_confused)
{
	struct addrlimit *l;
	ck_assert_int_eq(addrlimit_new(&l, 0, 1, 1, key), 0);
	uint8_t v4[4] = { 10, 0, 0, 1 }, v6[16] = { 10, 0, 0, 1 };
	ck_assert(addrlimit_allow(l, v4, 4, 1));
	ck_assert(!addrlimit_allow(l, v4, 4, 1));
	ck_assert(addrlimit_allow(l, v6, 16, 1)); /* not the same address */
	ck_assert(!addrlimit_allow(l, v6, 17, 1));
	ck_assert(!addrlimit_allow(l, v6, 0, 1));
	addrlimit_free(l);
	ck_assert_int_eq(addrlimit_new(&l, (size_t)1 << 30, 1, 1, key), -EINVAL);
	addrlimit_free(NULL);
}
END_TEST

Suite *addrlimit_suite(void)
{
	Suite *s = suite_create("addrlimit");
	TCase *c = tcase_create("addrlimit");
	tcase_add_test(c, one_address_is_held_to_its_rate);
	tcase_add_test(c, spoofed_flood_is_bounded);
	tcase_add_test(c, address_bytes_not_confused);
	suite_add_tcase(s, c);
	return s;
}
