/* String hash map, checked against a plain array model. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>

#include "p2pcall/strmap.h"

#define N 5000

START_TEST(model_check)
{
	struct strmap *m;
	ck_assert_int_eq(strmap_new(&m), 0);
	static char keys[N][16];
	static int present[N];
	for (int i = 0; i < N; i++)
		snprintf(keys[i], sizeof(keys[i]), "user%d", i);

	/* Deterministic mix of puts and deletes, verifying all keys each round. */
	unsigned seed = 1;
	for (int round = 0; round < 20; round++) {
		for (int k = 0; k < N / 2; k++) {
			seed = seed * 1103515245u + 12345u;
			int i = (int)((seed >> 8) % N);
			if (present[i]) {
				ck_assert_ptr_eq(strmap_del(m, keys[i]), &present[i]);
				present[i] = 0;
			} else {
				ck_assert_int_eq(strmap_put(m, keys[i], &present[i]), 0);
				present[i] = 1;
			}
		}
		size_t count = 0;
		for (int i = 0; i < N; i++) {
			void *v = strmap_get(m, keys[i]);
			ck_assert_ptr_eq(v, present[i] ? &present[i] : NULL);
			count += present[i];
		}
		ck_assert_uint_eq(strmap_count(m), count);
	}
	strmap_free(m);
}
END_TEST

static void count_cb(void *ctx, const char *key, void *val) { (*(int *)ctx)++; }

START_TEST(replace_and_each)
{
	struct strmap *m;
	int a, b;
	ck_assert_int_eq(strmap_new(&m), 0);
	ck_assert_ptr_null(strmap_del(m, "x"));
	strmap_put(m, "x", &a);
	strmap_put(m, "x", &b);
	strmap_put(m, "y", &a);
	ck_assert_uint_eq(strmap_count(m), 2);
	ck_assert_ptr_eq(strmap_get(m, "x"), &b);
	int n = 0;
	strmap_each(m, count_cb, &n);
	ck_assert_int_eq(n, 2);
	strmap_free(m);
	strmap_free(NULL);
}
END_TEST

Suite *strmap_suite(void)
{
	Suite *s = suite_create("strmap");
	TCase *c = tcase_create("map");
	tcase_add_test(c, model_check);
	tcase_add_test(c, replace_and_each);
	suite_add_tcase(s, c);
	return s;
}
