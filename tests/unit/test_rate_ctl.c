/* Rate control driven by report traces: one receiver report per second,
 * as RTCP gives them. Loss steps, RTT rises, CBR's coarse held levels,
 * and a bottleneck model in which adapting avoids the loss a fixed
 * bitrate suffers. */
#include <check.h>
#include <errno.h>
#include <math.h>

#include "p2pcall/rate_ctl.h"

#define S 1000000ull

static struct rate_ctl mk(int min, int max, bool cbr)
{
	struct rate_ctl rc;
	struct rate_ctl_cfg c = { .min_bps = min, .max_bps = max, .cbr = cbr };
	ck_assert_int_eq(rate_ctl_init(&rc, &c, 0, 0), 0);
	return rc;
}

static struct rate_ctl_out at(const struct rate_ctl *rc)
{
	struct rate_ctl_out o;
	rate_ctl_target(rc, &o);
	return o;
}

START_TEST(init_checks)
{
	struct rate_ctl rc;
	struct rate_ctl_cfg c = { .min_bps = 12000, .max_bps = 8000 };
	ck_assert_int_eq(rate_ctl_init(&rc, &c, 0, 0), -EINVAL);
	c = (struct rate_ctl_cfg){ .min_bps = 5000, .max_bps = 8000 };
	ck_assert_int_eq(rate_ctl_init(&rc, &c, 0, 0), -EINVAL);
	c = (struct rate_ctl_cfg){ .min_bps = 12000, .max_bps = 32000 };
	ck_assert_int_eq(rate_ctl_init(&rc, &c, 101, 0), -EINVAL);
	ck_assert_int_eq(rate_ctl_init(&rc, &c, 10, 0), 0);
	ck_assert_int_eq(at(&rc).bitrate, 32000);
	ck_assert_int_eq(at(&rc).fec_loss_pct, 10);
}
END_TEST

START_TEST(clean_path_stays_at_the_ceiling)
{
	struct rate_ctl rc = mk(12000, 32000, false);
	for (int t = 1; t <= 60; t++) {
		rate_ctl_report(&rc, t * S, 0.0, 40.0);
		ck_assert_int_eq(at(&rc).bitrate, 32000);
		ck_assert_int_eq(at(&rc).fec_loss_pct, 0);
	}
}
END_TEST

/* 0 % for 10 s, 10 % for 10 s, 0 % for 40 s. */
START_TEST(loss_step_down_and_back_up)
{
	struct rate_ctl rc = mk(12000, 32000, false);
	int prev = 32000, lowest = 32000;
	for (int t = 1; t <= 60; t++) {
		double loss = t > 10 && t <= 20 ? 0.10 : 0.0;
		rate_ctl_report(&rc, t * S, loss, 40.0);
		struct rate_ctl_out o = at(&rc);
		ck_assert_int_ge(o.bitrate, 12000);
		ck_assert_int_le(o.bitrate, 32000);
		if (t <= 10)
			ck_assert_int_eq(o.bitrate, 32000);
		if (t > 10 && t <= 20) {
			/* FEC follows the loss at once; the rate only goes down */
			ck_assert_int_eq(o.fec_loss_pct, 10);
			ck_assert_int_le(o.bitrate, prev);
		}
		if (t == 11)
			ck_assert_int_lt(o.bitrate, 32000); /* first step at once */
		if (t == 20)
			ck_assert_int_eq(o.bitrate, RATE_CTL_FEC_FLOOR); /* loss alone: FEC's floor */
		if (t == 27)
			ck_assert_int_eq(o.fec_loss_pct, 0); /* decayed */
		if (t > 20 && t < 24)
			ck_assert_int_eq(o.bitrate, RATE_CTL_FEC_FLOOR); /* no creeping up yet */
		if (t > 20)
			ck_assert_int_ge(o.bitrate, prev); /* only creeps up */
		if (o.bitrate < lowest)
			lowest = o.bitrate;
		prev = o.bitrate;
	}
	ck_assert_int_eq(lowest, RATE_CTL_FEC_FLOOR);
	ck_assert_int_eq(at(&rc).bitrate, 32000); /* back within 40 s */
	/* steps of at most a quarter down, a tenth up */
	ck_assert_uint_ge(rc.downs, 2);
	ck_assert_uint_ge(rc.ups, 5);
}
END_TEST

START_TEST(little_loss_holds)
{
	struct rate_ctl rc = mk(12000, 32000, false);
	rate_ctl_report(&rc, 1 * S, 0.10, 40.0);
	int r = at(&rc).bitrate;
	ck_assert_int_lt(r, 32000);
	for (int t = 2; t <= 30; t++) {
		rate_ctl_report(&rc, t * S, 0.03, 40.0);
		ck_assert_int_eq(at(&rc).bitrate, r);
		ck_assert_int_eq(at(&rc).fec_loss_pct, t == 2 ? 7 : at(&rc).fec_loss_pct);
		ck_assert_int_ge(at(&rc).fec_loss_pct, 3);
	}
}
END_TEST

START_TEST(rtt_rise_steps_down)
{
	struct rate_ctl rc = mk(12000, 40000, false);
	for (int t = 1; t <= 5; t++)
		rate_ctl_report(&rc, t * S, 0.0, 50.0);
	ck_assert_int_eq(at(&rc).bitrate, 40000);
	rate_ctl_report(&rc, 6 * S, 0.0, 300.0); /* a queue: 250 ms above the base */
	ck_assert_int_eq(at(&rc).bitrate, 30000);
	rate_ctl_report(&rc, 7 * S, 0.0, 300.0); /* held for 2 s */
	ck_assert_int_eq(at(&rc).bitrate, 30000);
	rate_ctl_report(&rc, 8 * S, 0.0, 310.0);
	ck_assert_int_eq(at(&rc).bitrate, 22500);
	/* an RTT that is just long (a far peer) is high above 400 ms only */
	struct rate_ctl far = mk(12000, 40000, false);
	for (int t = 1; t <= 10; t++)
		rate_ctl_report(&far, t * S, 0.0, 350.0);
	ck_assert_int_eq(at(&far).bitrate, 40000);
	rate_ctl_report(&far, 11 * S, 0.0, NAN); /* unknown: ignored */
	ck_assert_int_eq(at(&far).bitrate, 40000);
}
END_TEST

START_TEST(cbr_coarse_levels_held)
{
	struct rate_ctl rc = mk(12000, 32000, true);
	int prev = 32000;
	uint64_t last_change = 0;
	unsigned changes = 0;
	for (int t = 1; t <= 90; t++) {
		double loss = t > 10 && t <= 40 ? 0.10 : 0.0;
		rate_ctl_report(&rc, t * S, loss, 40.0);
		int r = at(&rc).bitrate;
		if (r != prev) {
			changes++;
			/* levels: 32000 * 0.7^k rounded, or the floor (loss
			 * alone: FEC's) */
			ck_assert(r == 32000 || r == 22000 || r == RATE_CTL_FEC_FLOOR);
			if (last_change)
				ck_assert_uint_ge(t * S - last_change, RATE_CTL_CBR_HOLD_US);
			last_change = t * S;
		}
		prev = r;
	}
	ck_assert_uint_ge(changes, 4);   /* went down and came back */
	ck_assert_uint_le(changes, 8);
	ck_assert_int_eq(at(&rc).bitrate, 32000);
}
END_TEST

/* A bottleneck: a link that carries cap bit/s drops what exceeds it. For
 * 20 s the capacity falls to 32 kbit/s. A fixed 32 kbit/s stream (48 on
 * the wire) loses a third of its packets all along; the adaptive one loses them only until it
 * has stepped below the capacity. Loss is reported a second late. */
static double bottleneck_loss(bool adaptive)
{
	struct rate_ctl rc = mk(12000, 32000, false);
	double lost = 0, sent = 0, report = 0, rtt = 40.0;
	for (int t = 1; t <= 60; t++) {
		double cap = t > 10 && t <= 30 ? 32000 : 64000;
		double rate = adaptive ? at(&rc).bitrate : 32000;
		/* RTP/UDP overhead: 50 packets of 40 bytes a second */
		double wire = rate + 16000;
		double loss = wire > cap ? 1.0 - cap / wire : 0.0;
		lost += loss * 50;
		sent += 50;
		if (adaptive)
			rate_ctl_report(&rc, t * S, report, rtt);
		report = loss;
		/* The bottleneck's queue is full while it drops. */
		rtt = loss > 0 ? 40.0 + 300.0 : 40.0;
	}
	return 100.0 * lost / sent;
}

START_TEST(adapting_beats_a_fixed_rate_on_a_bottleneck)
{
	double fixed = bottleneck_loss(false), adaptive = bottleneck_loss(true);
	ck_assert_msg(fixed > 8.0, "fixed lost %.1f %%", fixed);
	ck_assert_msg(adaptive < fixed / 2, "adaptive lost %.1f %%, fixed %.1f %%", adaptive, fixed);
}
END_TEST

/* --fec-loss: the FEC stays where it was pinned through a loss step (0
 * included: no FEC at all), while the bitrate still adapts. */
/* Random loss (the RTT does not grow): the rate stops at FEC's floor;
 * loss with a growing queue (a bottleneck) goes down to min_bps. */
START_TEST(random_loss_keeps_fec_bits)
{
	for (int cbr = 0; cbr <= 1; cbr++) {
		struct rate_ctl rnd = mk(12000, 32000, cbr), queue = mk(12000, 32000, cbr);
		for (int t = 1; t <= 60; t++) {
			rate_ctl_report(&rnd, t * S, 0.10, 40.0);
			rate_ctl_report(&queue, t * S, 0.10, 40.0 + 10.0 * t);
			ck_assert_int_ge(at(&rnd).bitrate, RATE_CTL_FEC_FLOOR);
		}
		ck_assert_int_eq(at(&rnd).bitrate, RATE_CTL_FEC_FLOOR);
		ck_assert_int_eq(at(&queue).bitrate, 12000);
		ck_assert_int_eq(at(&rnd).fec_loss_pct, 10);
	}
}
END_TEST

START_TEST(pinned_fec_does_not_follow)
{
	for (int pin = 0; pin <= 20; pin += 20) {
		struct rate_ctl rc;
		struct rate_ctl_cfg c = { .min_bps = 12000, .max_bps = 32000, .fec_pinned = true };
		ck_assert_int_eq(rate_ctl_init(&rc, &c, pin, 0), 0);
		for (int t = 1; t <= 30; t++) {
			rate_ctl_report(&rc, t * S, t > 10 && t <= 20 ? 0.10 : 0.0, 40.0);
			ck_assert_int_eq(at(&rc).fec_loss_pct, pin);
			if (t == 20)
				ck_assert_int_eq(at(&rc).bitrate, RATE_CTL_FEC_FLOOR);
		}
	}
}
END_TEST

Suite *rate_ctl_suite(void)
{
	Suite *s = suite_create("rate_ctl");
	TCase *c = tcase_create("core");
	tcase_add_test(c, init_checks);
	tcase_add_test(c, clean_path_stays_at_the_ceiling);
	tcase_add_test(c, loss_step_down_and_back_up);
	tcase_add_test(c, little_loss_holds);
	tcase_add_test(c, random_loss_keeps_fec_bits);
	tcase_add_test(c, rtt_rise_steps_down);
	tcase_add_test(c, cbr_coarse_levels_held);
	tcase_add_test(c, adapting_beats_a_fixed_rate_on_a_bottleneck);
	tcase_add_test(c, pinned_fec_does_not_follow);
	suite_add_tcase(s, c);
	return s;
}
