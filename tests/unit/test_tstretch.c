/* Time-stretching: lengths, preserved ends, no discontinuity, refusals. */
#include <check.h>
#include <math.h>
#include <stdlib.h>

#include "p2pcall/tstretch.h"

#define N 960

static void sine(int16_t *p, size_t n, double f, double amp, double ph)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (int16_t)lrint(amp * sin(ph + 2 * M_PI * f * (double)i / 48000));
}

static int max_jump(const int16_t *p, size_t n)
{
	int j = 0;
	for (size_t i = 1; i < n; i++)
		if (abs(p[i] - p[i - 1]) > j)
			j = abs(p[i] - p[i - 1]);
	return j;
}

START_TEST(shorten_and_lengthen_a_tone)
{
	int16_t in[N], out[N + TSTRETCH_MAX_LAG];
	const double f = 220, amp = 10000;
	sine(in, N, f, amp, 0.3);
	int clean = max_jump(in, N);
	double corr;
	for (long want = -480; want <= 480; want += 120) {
		long d = tstretch(in, N, want, 0.9, out, &corr);
		if (labs(want) < 218) {
			/* no whole period fits in what is asked: refused */
			ck_assert_int_eq(d, 0);
			continue;
		}
		/* a whole number of 218.18-sample periods, within the range */
		ck_assert_msg(d != 0, "want %ld: corr %.3f", want, corr);
		ck_assert(corr > 0.99);
		long mag = labs(d), per = lrint(mag / (48000.0 / f));
		ck_assert_int_ge(per, 1);
		ck_assert_msg(fabs(mag - per * 48000.0 / f) <= 1.0, "lag %ld", mag);
		ck_assert_int_le(mag, N / 2);
		ck_assert_int_eq(d < 0, want < 0);
		size_t n = (size_t)(N + d);
		ck_assert_int_eq(out[0], in[0]);
		ck_assert_int_eq(out[n - 1], in[N - 1]);
		ck_assert_int_le(max_jump(out, n), clean + 2);
	}
}
END_TEST

START_TEST(noise_is_refused_unless_forced)
{
	int16_t in[N], out[N + TSTRETCH_MAX_LAG];
	srand(7);
	for (size_t i = 0; i < N; i++)
		in[i] = (int16_t)(rand() % 20001 - 10000);
	double corr;
	ck_assert_int_eq(tstretch(in, N, -480, 0.7, out, &corr), 0);
	ck_assert(corr < 0.7);
	long d = tstretch(in, N, -240, -1.0, out, &corr);
	ck_assert_int_lt(d, 0);
	ck_assert_int_ge(d, -240);
	ck_assert_int_le(d, -TSTRETCH_MIN_LAG);
	/* silence always resembles itself */
	int16_t z[N] = { 0 };
	ck_assert_int_gt(tstretch(z, N, 240, 0.9, out, NULL), 0);
}
END_TEST

START_TEST(short_frames_and_bad_args)
{
	int16_t in[N] = { 0 }, out[N + TSTRETCH_MAX_LAG];
	ck_assert_int_eq(tstretch(in, TSTRETCH_MIN_FRAME - 1, -240, -1, out, NULL), 0);
	ck_assert_int_eq(tstretch(NULL, N, -240, -1, out, NULL), 0);
	ck_assert_int_eq(tstretch(in, N, -240, -1, NULL, NULL), 0);
	/* 10 ms frames: half of 480 at most */
	int16_t s[480];
	sine(s, 480, 400, 8000, 0);
	long d = tstretch(s, 480, -480, -1, out, NULL);
	ck_assert_int_lt(d, 0);
	ck_assert_int_ge(d, -240);
}
END_TEST

Suite *tstretch_suite(void)
{
	Suite *s = suite_create("tstretch");
	TCase *c = tcase_create("core");
	tcase_add_test(c, shorten_and_lengthen_a_tone);
	tcase_add_test(c, noise_is_refused_unless_forced);
	tcase_add_test(c, short_frames_and_bad_args);
	suite_add_tcase(s, c);
	return s;
}
