/* Replay window: edges of the 128-index window, slides by every distance
 * around the word size, and a long random trace against a plain model
 * (a set of seen indices and the highest one). */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "p2pcall/replay.h"

START_TEST(fresh_accepts_anything)
{
	struct replay_window w;
	replay_init(&w);
	ck_assert_int_eq(replay_check(&w, 0), 0);
	ck_assert_int_eq(replay_check(&w, UINT64_MAX), 0);
	replay_accept(&w, 1000);
	ck_assert_int_eq(replay_check(&w, 1000), -EALREADY);
	ck_assert_int_eq(replay_check(&w, 999), 0);
	ck_assert_int_eq(replay_check(&w, 1001), 0);
	/* checking alone never marks */
	ck_assert_int_eq(replay_check(&w, 999), 0);
}
END_TEST

START_TEST(window_edges)
{
	struct replay_window w;
	replay_init(&w);
	replay_accept(&w, 200);
	ck_assert_int_eq(replay_check(&w, 200 - 127), 0);        /* last slot */
	ck_assert_int_eq(replay_check(&w, 200 - 128), -EALREADY); /* just out */
	ck_assert_int_eq(replay_check(&w, 0), -EALREADY);
	replay_accept(&w, 73);
	ck_assert_int_eq(replay_check(&w, 73), -EALREADY);
	/* an index older than the window is ignored, not stored anywhere */
	replay_accept(&w, 10);
	ck_assert_int_eq(w.top, 200);
	ck_assert_int_eq(replay_check(&w, 74), 0);
}
END_TEST

/* Accept t, then t + d: t must still be known as seen while d < 128 and
 * the indices between must still be new. */
START_TEST(slide_every_distance)
{
	for (uint64_t d = 1; d <= 200; d++) {
		struct replay_window w;
		replay_init(&w);
		uint64_t t = 5000;
		replay_accept(&w, t);
		replay_accept(&w, t - 3);
		replay_accept(&w, t + d);
		ck_assert_int_eq(replay_check(&w, t + d), -EALREADY);
		ck_assert_int_eq(replay_check(&w, t), -EALREADY);
		ck_assert_int_eq(replay_check(&w, t - 3), -EALREADY);
		for (uint64_t i = t + 1; i < t + d; i++)
			ck_assert_msg(replay_check(&w, i) == (d - (i - t) < 128 ? 0 : -EALREADY),
				      "d=%llu i=%llu", (unsigned long long)d,
				      (unsigned long long)(i - t));
		/* t - 2, never accepted: new exactly while inside the window */
		int want = d + 2 < 128 ? 0 : -EALREADY;
		ck_assert_int_eq(replay_check(&w, t - 2), want);
	}
}
END_TEST

START_TEST(near_uint64_max)
{
	struct replay_window w;
	replay_init(&w);
	replay_accept(&w, UINT64_MAX - 1);
	ck_assert_int_eq(replay_check(&w, UINT64_MAX), 0);
	replay_accept(&w, UINT64_MAX);
	ck_assert_int_eq(replay_check(&w, UINT64_MAX), -EALREADY);
	ck_assert_int_eq(replay_check(&w, UINT64_MAX - 1), -EALREADY);
	ck_assert_int_eq(replay_check(&w, UINT64_MAX - 2), 0);
	ck_assert_int_eq(replay_check(&w, 0), -EALREADY);
}
END_TEST

/* 200,000 indices drawn near a drifting top, against the model. */
START_TEST(random_trace_vs_model)
{
	enum { SPAN = 1 << 16 };
	static bool seen[SPAN];
	memset(seen, 0, sizeof(seen));
	struct replay_window w;
	replay_init(&w);
	uint64_t top = 0;
	bool any = false;
	unsigned state = 12345;
	uint64_t base = 300;
	int accepted = 0, rejected = 0;
	for (int i = 0; i < 200000; i++) {
		state = state * 1103515245u + 12345u;
		unsigned r = (state >> 8) & 0xffff;
		/* mostly near the front, sometimes 130 behind, sometimes ahead */
		uint64_t idx = base + (r % 300) - 150;
		if ((r & 7) == 0 && base < SPAN - 400)
			base++;
		if (idx >= SPAN)
			continue;
		int want = any && (seen[idx] || (idx <= top && top - idx >= 128)) ? -EALREADY : 0;
		int got = replay_check(&w, idx);
		ck_assert_msg(got == want, "step %d idx %llu top %llu: got %d want %d", i,
			      (unsigned long long)idx, (unsigned long long)top, got, want);
		if (got == 0) {
			replay_accept(&w, idx);
			seen[idx] = true;
			if (!any || idx > top)
				top = idx;
			any = true;
			accepted++;
		} else {
			rejected++;
		}
	}
	ck_assert_int_gt(accepted, 1000);
	ck_assert_int_gt(rejected, 1000);
}
END_TEST

Suite *replay_suite(void)
{
	Suite *s = suite_create("replay");
	TCase *tc = tcase_create("window");
	tcase_add_test(tc, fresh_accepts_anything);
	tcase_add_test(tc, window_edges);
	tcase_add_test(tc, slide_every_distance);
	tcase_add_test(tc, near_uint64_max);
	tcase_add_test(tc, random_trace_vs_model);
	suite_add_tcase(s, tc);
	return s;
}
