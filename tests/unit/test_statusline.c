/* The terminal status line: durations, meters, and fitting a width. */
#include <check.h>
#include <errno.h>
#include <math.h>
#include <string.h>

#include "p2pcall/statusline.h"

static const struct statusline_info FULL = {
	.call_s = 75.4, .path = "direct", .rtt_ms = 23.6, .loss_pct = 1.25, .jb_ms = 60,
	.kbps_out = 31.4, .kbps_in = 30.6, .mic_level = 1.0, .peer_level = 0.001, .muted = false,
};

START_TEST(durations)
{
	char b[32];
	statusline_duration(b, sizeof(b), 0);
	ck_assert_str_eq(b, "0:00");
	statusline_duration(b, sizeof(b), 59.99);
	ck_assert_str_eq(b, "0:59");
	statusline_duration(b, sizeof(b), 75.4);
	ck_assert_str_eq(b, "1:15");
	statusline_duration(b, sizeof(b), 3600 + 62);
	ck_assert_str_eq(b, "1:01:02");
	statusline_duration(b, sizeof(b), -3);
	ck_assert_str_eq(b, "0:00");
	statusline_duration(b, sizeof(b), NAN);
	ck_assert_str_eq(b, "0:00");
	statusline_duration(b, sizeof(b), 1e12);
	ck_assert_str_eq(b, "99:59:59");
}
END_TEST

START_TEST(meters)
{
	char b[16];
	ck_assert_int_eq(statusline_meter(b, sizeof(b), 1.0, 8), 8);
	ck_assert_str_eq(b, "########");
	ck_assert_int_eq(statusline_meter(b, sizeof(b), 0.0, 8), 0);
	ck_assert_str_eq(b, "--------");
	ck_assert_int_eq(statusline_meter(b, sizeof(b), NAN, 8), 0);
	ck_assert_str_eq(b, "--------");
	/* -60 dBFS is the floor: nothing lit. -30 dBFS: half. */
	ck_assert_int_eq(statusline_meter(b, sizeof(b), 0.001, 8), 0);
	ck_assert_int_eq(statusline_meter(b, sizeof(b), pow(10, -30.0 / 20), 8), 4);
	ck_assert_str_eq(b, "####----");
	/* Just above the floor lights one cell. */
	ck_assert_int_eq(statusline_meter(b, sizeof(b), 0.0012, 8), 1);
	/* Over full scale is clamped. */
	ck_assert_int_eq(statusline_meter(b, sizeof(b), 3.0, 8), 8);
	ck_assert_int_eq(statusline_meter(b, 8, 1.0, 8), -ENOSPC);
	ck_assert_int_eq(statusline_meter(NULL, 8, 1.0, 4), -ENOSPC);
}
END_TEST

START_TEST(full_width)
{
	char b[256];
	int n = statusline_format(b, sizeof(b), &FULL, 200);
	ck_assert_int_eq(n, (int)strlen(b));
	ck_assert_str_eq(b, "1:15  direct  rtt 24 ms  loss 1.2%  buf 60 ms  31/31 kbit/s  "
			    "mic [########]  peer [--------]");
}
END_TEST

/* An encrypted call's code stays on the line as long as the path does. */
START_TEST(code_of_an_encrypted_call)
{
	char b[256];
	struct statusline_info in = FULL;
	in.sas = "k7qx";
	statusline_format(b, sizeof(b), &in, 200);
	ck_assert_str_eq(b, "1:15  direct  code k7qx  rtt 24 ms  loss 1.2%  buf 60 ms  31/31 kbit/s  "
			    "mic [########]  peer [--------]");
	statusline_format(b, sizeof(b), &in, 24);
	ck_assert_str_eq(b, "1:15  direct  code k7qx");
	statusline_format(b, sizeof(b), &in, 12);
	ck_assert_str_eq(b, "1:15");
}
END_TEST

START_TEST(unknown_figures_and_muted)
{
	struct statusline_info in = { .call_s = 3, .path = "relay", .rtt_ms = NAN, .loss_pct = NAN,
				      .jb_ms = NAN, .kbps_out = NAN, .kbps_in = NAN,
				      .mic_level = 1.0, .peer_level = NAN, .muted = true };
	char b[256];
	statusline_format(b, sizeof(b), &in, 200);
	/* A muted microphone shows an empty meter. */
	ck_assert_str_eq(b, "0:03  MUTED  relay  rtt ? ms  loss ?%  buf ? ms  ?/? kbit/s  "
			    "mic [--------]  peer [--------]");
	in.path = NULL;
	statusline_format(b, sizeof(b), &in, 200);
	ck_assert_ptr_nonnull(strstr(b, "no media"));
	in.path = "direct";
	in.muted = false;
	in.no_audio = true;
	statusline_format(b, sizeof(b), &in, 200);
	ck_assert_str_eq(b, "0:03  direct  no audio");
}
END_TEST

START_TEST(narrow_drops_least_important_first)
{
	char b[256];
	/* Every width from 0 to the full length: never over, printable. */
	for (unsigned w = 0; w < 120; w++) {
		int n = statusline_format(b, sizeof(b), &FULL, w);
		ck_assert_int_le(n, (int)w);
		ck_assert_int_eq(n, (int)strlen(b));
		for (int i = 0; i < n; i++)
			ck_assert(b[i] >= 0x20 && b[i] < 0x7f);
	}
	statusline_format(b, sizeof(b), &FULL, 80);
	/* bitrate goes first, then the buffer. */
	ck_assert_ptr_null(strstr(b, "kbit/s"));
	ck_assert_str_eq(b, "1:15  direct  rtt 24 ms  loss 1.2%  buf 60 ms  mic [########]  peer [--------]");
	statusline_format(b, sizeof(b), &FULL, 40);
	ck_assert_str_eq(b, "1:15  direct  rtt 24 ms  peer [--------]");
	statusline_format(b, sizeof(b), &FULL, 12);
	ck_assert_str_eq(b, "1:15  direct");
	struct statusline_info m = FULL;
	m.muted = true;
	statusline_format(b, sizeof(b), &m, 12);
	/* MUTED outlives the path; only the time and MUTED are left. */
	ck_assert_str_eq(b, "1:15  MUTED");
	statusline_format(b, sizeof(b), &m, 7);
	ck_assert_str_eq(b, "1:15  M");
}
END_TEST

START_TEST(small_buffer_and_bad_args)
{
	char b[10];
	int n = statusline_format(b, sizeof(b), &FULL, 200);
	ck_assert_int_le(n, 9);
	ck_assert_int_eq(n, (int)strlen(b));
	ck_assert_int_eq(statusline_format(b, 0, &FULL, 10), -EINVAL);
	ck_assert_int_eq(statusline_format(NULL, 10, &FULL, 10), -EINVAL);
	ck_assert_int_eq(statusline_format(b, sizeof(b), NULL, 10), -EINVAL);
}
END_TEST

Suite *statusline_suite(void)
{
	Suite *s = suite_create("statusline");
	TCase *c = tcase_create("format");
	tcase_add_test(c, durations);
	tcase_add_test(c, meters);
	tcase_add_test(c, full_width);
	tcase_add_test(c, code_of_an_encrypted_call);
	tcase_add_test(c, unknown_figures_and_muted);
	tcase_add_test(c, narrow_drops_least_important_first);
	tcase_add_test(c, small_buffer_and_bad_args);
	suite_add_tcase(s, c);
	return s;
}
