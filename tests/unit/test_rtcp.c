/* RTCP: compound packets as commented byte arrays, truncation at every
 * length, write/parse round trips, the RFC 3550 §6.4.1 RTT example. */
#include <check.h>
#include <errno.h>
#include <string.h>

#include "p2pcall/rtcp.h"

/* SR with one report block, then SDES with CNAME "ab", then BYE. */
static const uint8_t compound[] = {
	/* SR */
	0x81, 0xc8, 0x00, 0x0c, /* V=2 P=0 RC=1, PT=200, length 12 (52 B) */
	0x11, 0x22, 0x33, 0x44, /* sender SSRC */
	0xb7, 0x05, 0x20, 0x30, /* NTP seconds */
	0x12, 0x34, 0x00, 0x00, /* NTP fraction */
	0x00, 0x01, 0x00, 0x00, /* RTP timestamp 65536 */
	0x00, 0x00, 0x00, 0x64, /* packet count 100 */
	0x00, 0x00, 0x27, 0x10, /* octet count 10000 */
	0x55, 0x66, 0x77, 0x88, /* block: SSRC reported on */
	0x40,                   /* fraction lost 64/256 = 25% */
	0xff, 0xff, 0xfe,       /* cumulative lost -2 (duplicates) */
	0x00, 0x01, 0x00, 0x05, /* ext highest seq: 1 cycle, seq 5 */
	0x00, 0x00, 0x01, 0xe0, /* jitter 480 (10 ms at 48 kHz) */
	0xb7, 0x05, 0x20, 0x30, /* LSR */
	0x00, 0x05, 0x40, 0x00, /* DLSR 5.25 s */
	/* SDES */
	0x81, 0xca, 0x00, 0x02, /* V=2 SC=1, PT=202, length 2 (12 B) */
	0x11, 0x22, 0x33, 0x44, /* SSRC */
	0x01, 0x02, 'a', 'b',   /* CNAME, 2 bytes */
	/* (the end item and padding would need another word:) */
};

/* Same as above with SDES fixed: its end item needs its own word. */
static const uint8_t compound2[] = {
	0x81, 0xc9, 0x00, 0x07, /* RR, RC=1, length 7 (32 B) */
	0x11, 0x22, 0x33, 0x44, /* sender SSRC */
	0x55, 0x66, 0x77, 0x88, /* block SSRC */
	0x00, 0x00, 0x00, 0x07, /* fraction 0, cumulative lost 7 */
	0x00, 0x00, 0xff, 0xff, /* ext highest seq 65535 */
	0x00, 0x00, 0x00, 0x00, /* jitter */
	0x00, 0x00, 0x00, 0x00, /* LSR: no SR yet */
	0x00, 0x00, 0x00, 0x00, /* DLSR */
	0x81, 0xca, 0x00, 0x03, /* SDES SC=1, length 3 (16 B) */
	0x11, 0x22, 0x33, 0x44, /* SSRC */
	0x01, 0x02, 'a', 'b',   /* CNAME "ab" */
	0x00, 0x00, 0x00, 0x00, /* end item + padding */
	0x81, 0xcb, 0x00, 0x01, /* BYE SC=1, length 1 */
	0x11, 0x22, 0x33, 0x44, /* SSRC leaving */
};

START_TEST(parse_sr_and_bad_sdes)
{
	struct rtcp_info in;
	/* SDES chunk without its end item runs off the packet. */
	ck_assert_int_eq(rtcp_parse(compound, sizeof(compound), &in), -EBADMSG);
	/* The SR alone is a valid compound. */
	ck_assert_int_eq(rtcp_parse(compound, 52, &in), 0);
	ck_assert_uint_eq(in.n_packets, 1);
	const struct rtcp_report *r = &in.report;
	ck_assert(r->sr);
	ck_assert_uint_eq(r->ssrc, 0x11223344);
	ck_assert_uint_eq(r->ntp, 0xb705203012340000ull);
	ck_assert_uint_eq(r->rtp_ts, 65536);
	ck_assert_uint_eq(r->pkt_count, 100);
	ck_assert_uint_eq(r->octet_count, 10000);
	ck_assert_uint_eq(r->rb_count, 1);
	ck_assert_uint_eq(r->rb[0].ssrc, 0x55667788);
	ck_assert_uint_eq(r->rb[0].fraction_lost, 64);
	ck_assert_int_eq(r->rb[0].cum_lost, -2);
	ck_assert_uint_eq(r->rb[0].ext_high_seq, 0x10005);
	ck_assert_uint_eq(r->rb[0].jitter, 480);
	ck_assert_uint_eq(r->rb[0].lsr, 0xb7052030);
	ck_assert_uint_eq(r->rb[0].dlsr, 0x00054000);
}
END_TEST

START_TEST(parse_compound)
{
	struct rtcp_info in;
	ck_assert_int_eq(rtcp_parse(compound2, sizeof(compound2), &in), 0);
	ck_assert_uint_eq(in.n_packets, 3);
	ck_assert(!in.report.sr);
	ck_assert_uint_eq(in.report.rb_count, 1);
	ck_assert_int_eq(in.report.rb[0].cum_lost, 7);
	ck_assert_uint_eq(in.report.rb[0].ext_high_seq, 65535);
	ck_assert(in.has_cname);
	ck_assert_str_eq(in.cname, "ab");
	ck_assert(in.has_bye);
	ck_assert_uint_eq(in.bye_ssrc, 0x11223344);
}
END_TEST

/* Prefixes ending on a packet boundary are valid compounds; every other
 * prefix is refused. */
START_TEST(truncation_every_length)
{
	struct rtcp_info in;
	for (size_t n = 0; n <= sizeof(compound2); n++) {
		int rc = rtcp_parse(compound2, n, &in);
		if (n == 32 || n == 48 || n == 56)
			ck_assert_msg(rc == 0, "prefix %zu: %d", n, rc);
		else
			ck_assert_msg(rc == -EBADMSG, "prefix %zu: %d", n, rc);
	}
}
END_TEST

START_TEST(compound_rules)
{
	uint8_t b[sizeof(compound2)];
	struct rtcp_info in;

	/* First packet must be SR/RR: start at the SDES. */
	ck_assert_int_eq(rtcp_parse(compound2 + 32, 24, &in), -EBADMSG);
	/* Padding bit on a packet that is not the last. */
	memcpy(b, compound2, sizeof(b));
	b[0] |= 0x20;
	ck_assert_int_eq(rtcp_parse(b, sizeof(b), &in), -EBADMSG);
	/* Padding on the last (BYE): count 4 eats the SSRC, still valid
	 * (SC=1 then needs 4 bytes: now missing). */
	memcpy(b, compound2, sizeof(b));
	b[48] |= 0x20;
	b[55] = 4;
	ck_assert_int_eq(rtcp_parse(b, sizeof(b), &in), -EBADMSG);
	b[48] &= 0x1f | 0x80 | 0x20; /* SC=0 */
	b[48] = 0xa0;                /* V=2 P=1 SC=0 */
	ck_assert_int_eq(rtcp_parse(b, sizeof(b), &in), 0);
	ck_assert(!in.has_bye);
	b[55] = 0; /* pad count 0 is impossible */
	ck_assert_int_eq(rtcp_parse(b, sizeof(b), &in), -EBADMSG);
	/* Version 1 in the middle. */
	memcpy(b, compound2, sizeof(b));
	b[32] = 0x41;
	ck_assert_int_eq(rtcp_parse(b, sizeof(b), &in), -EBADMSG);
	/* RC=2 but room for one block. */
	memcpy(b, compound2, sizeof(b));
	b[0] = 0x82;
	ck_assert_int_eq(rtcp_parse(b, sizeof(b), &in), -EBADMSG);
	/* An APP packet is skipped by length. */
	uint8_t app[32 + 12];
	memcpy(app, compound2, 32);
	const uint8_t tail[12] = { 0x80, 0xcc, 0x00, 0x02, 1, 2, 3, 4,
				   'n', 'a', 'm', 'e' };
	memcpy(app + 32, tail, 12);
	ck_assert_int_eq(rtcp_parse(app, sizeof(app), &in), 0);
	ck_assert_uint_eq(in.n_packets, 2);
	ck_assert_int_eq(rtcp_parse(NULL, 4, &in), -EINVAL);
	ck_assert_int_eq(rtcp_parse(compound2, 0, &in), -EBADMSG);
}
END_TEST

START_TEST(write_roundtrip)
{
	struct rtcp_report r = {
		.sr = true, .ssrc = 0x11223344, .ntp = 0xb705203012340000ull,
		.rtp_ts = 65536, .pkt_count = 100, .octet_count = 10000,
		.rb_count = 1,
		.rb = { { .ssrc = 0x55667788, .fraction_lost = 64,
			  .cum_lost = -2, .ext_high_seq = 0x10005,
			  .jitter = 480, .lsr = 0xb7052030,
			  .dlsr = 0x00054000 } },
	};
	uint8_t buf[1500];
	int n = rtcp_write_report(buf, sizeof(buf), &r);
	ck_assert_int_eq(n, 52);
	ck_assert_mem_eq(buf, compound, 52);
	int m = rtcp_write_sdes(buf + n, sizeof(buf) - (size_t)n, 0x11223344, "ab");
	ck_assert_int_eq(m, 16);
	int k = rtcp_write_bye(buf + n + m, sizeof(buf) - (size_t)(n + m), 0x11223344);
	ck_assert_int_eq(k, 8);
	ck_assert_mem_eq(buf + n, compound2 + 32, 24);

	struct rtcp_info in;
	ck_assert_int_eq(rtcp_parse(buf, (size_t)(n + m + k), &in), 0);
	ck_assert_uint_eq(in.n_packets, 3);
	ck_assert_str_eq(in.cname, "ab");

	/* Full RR with 31 blocks; cum_lost clamps to 24 bits. */
	memset(&r, 0, sizeof(r));
	r.rb_count = 31;
	r.rb[30].cum_lost = 10000000;
	r.rb[29].cum_lost = -10000000;
	n = rtcp_write_report(buf, sizeof(buf), &r);
	ck_assert_int_eq(n, 8 + 31 * 24);
	ck_assert_int_eq(rtcp_parse(buf, (size_t)n, &in), 0);
	ck_assert_int_eq(in.report.rb[30].cum_lost, 0x7fffff);
	ck_assert_int_eq(in.report.rb[29].cum_lost, -0x800000);
	for (size_t s = 0; s < (size_t)n; s++)
		ck_assert_int_eq(rtcp_write_report(buf, s, &r), -ENOSPC);
	r.rb_count = 32;
	ck_assert_int_eq(rtcp_write_report(buf, sizeof(buf), &r), -EINVAL);

	/* SDES sizes: 3-byte cname fits with the end item in one word. */
	ck_assert_int_eq(rtcp_write_sdes(buf, sizeof(buf), 1, "abc"), 16);
	ck_assert_int_eq(rtcp_write_sdes(buf, sizeof(buf), 1, "abcde"), 16);
	ck_assert_int_eq(rtcp_write_sdes(buf, sizeof(buf), 1, "abcdef"), 20);
	ck_assert_int_eq(rtcp_write_sdes(buf, 15, 1, "abc"), -ENOSPC);
	ck_assert_int_eq(rtcp_write_sdes(buf, sizeof(buf), 1, ""), -EINVAL);
	char big[300];
	memset(big, 'x', sizeof(big) - 1);
	big[299] = 0;
	ck_assert_int_eq(rtcp_write_sdes(buf, sizeof(buf), 1, big), -EINVAL);
	big[255] = 0;
	n = rtcp_write_sdes(buf + 8, sizeof(buf) - 8, 1, big);
	ck_assert_int_eq(n, 268);
	/* prepend an empty RR so it is a valid compound */
	memset(&r, 0, sizeof(r));
	ck_assert_int_eq(rtcp_write_report(buf, 8, &r), 8);
	ck_assert_int_eq(rtcp_parse(buf, 8 + (size_t)n, &in), 0);
	ck_assert_uint_eq(strlen(in.cname), 255);
	ck_assert_int_eq(rtcp_write_bye(buf, 7, 1), -ENOSPC);
}
END_TEST

START_TEST(demux_rfc5761)
{
	uint8_t b[2] = { 0x80, 0 };
	for (unsigned v = 0; v < 256; v++) {
		b[1] = (uint8_t)v;
		ck_assert(rtcp_is_rtcp(b, 2) == (v >= 192 && v <= 223));
	}
	b[1] = 200;
	ck_assert(!rtcp_is_rtcp(b, 1));
	b[0] = 0x00; /* STUN */
	ck_assert(!rtcp_is_rtcp(b, 2));
	/* RTP with Opus PT 111 and the marker set: 0xef, not RTCP. */
	b[0] = 0x80;
	b[1] = 0xef;
	ck_assert(!rtcp_is_rtcp(b, 2));
}
END_TEST

START_TEST(rtt_rfc3550_example)
{
	/* RFC 3550 §6.4.1 figure: A = 0xb710:8000 (46864.500 s), LSR =
	 * 46853.125 s, DLSR = 0x0005:4000 (5.250 s): RTT = 0x0006:2000 =
	 * 6.125 s. The figure prints LSR as 0xb705:2030, which is 46853.1257
	 * s and does not give its own result; 46853.125 s is 0xb705:2000. */
	uint64_t rtt = 0;
	ck_assert_int_eq(rtcp_rtt_us(0xb7108000, 0xb7052000, 0x00054000, &rtt), 0);
	ck_assert_uint_eq(rtt, 6125000);
	ck_assert_int_eq(rtcp_rtt_us(0xb7108000, 0xb7052030, 0x00054000, &rtt), 0);
	ck_assert_uint_eq(rtt, (0x61fd0ull * 1000000 + 32768) >> 16);
	ck_assert_int_eq(rtcp_rtt_us(0xb7108000, 0, 0, &rtt), -ENOENT);
	/* slightly negative (rounding) gives 0, clearly negative is bogus */
	ck_assert_int_eq(rtcp_rtt_us(1000, 990, 20, &rtt), 0);
	ck_assert_uint_eq(rtt, 0);
	ck_assert_int_eq(rtcp_rtt_us(1000, 900, 65536, &rtt), -ERANGE);
	/* wrap of the 32-bit middle timestamp */
	ck_assert_int_eq(rtcp_rtt_us(0x00001000, 0xfffff000, 0x1000, &rtt), 0);
	ck_assert_uint_eq(rtt, (0x1000ull * 1000000 + 32768) >> 16);
}
END_TEST

/* The whole loop with our own helpers: we send an SR at t0, the peer
 * holds it 250 ms, the network takes 40 ms each way. */
START_TEST(rtt_end_to_end)
{
	uint64_t t0 = 1234567890123ull; /* us, any clock */
	uint32_t lsr = rtcp_ntp_mid(rtcp_ntp_from_us(t0));
	uint64_t peer_rx = 99000000, peer_tx = peer_rx + 250000;
	uint32_t dlsr = rtcp_dlsr(peer_tx, peer_rx);
	ck_assert_uint_eq(dlsr, 16384); /* 0.25 s */
	uint64_t back = t0 + 40000 + 250000 + 40000;
	uint64_t rtt = 0;
	ck_assert_int_eq(rtcp_rtt_us(rtcp_ntp_mid(rtcp_ntp_from_us(back)),
				     lsr, dlsr, &rtt), 0);
	/* 16.16 fixed point: resolution 15.3 us */
	ck_assert_msg(rtt >= 80000 - 31 && rtt <= 80000 + 31, "rtt %llu",
		      (unsigned long long)rtt);
	ck_assert_uint_eq(rtcp_dlsr(5, 10), 0);
	ck_assert_uint_eq(rtcp_dlsr(UINT64_MAX, 0), 0xffffffff);
	ck_assert_uint_eq(rtcp_ntp_from_us(1500000), (1ull << 32) | (1ull << 31));
}
END_TEST

Suite *rtcp_suite(void)
{
	Suite *s = suite_create("rtcp");
	TCase *tc = tcase_create("codec");
	tcase_add_test(tc, parse_sr_and_bad_sdes);
	tcase_add_test(tc, parse_compound);
	tcase_add_test(tc, truncation_every_length);
	tcase_add_test(tc, compound_rules);
	tcase_add_test(tc, write_roundtrip);
	tcase_add_test(tc, demux_rfc5761);
	tcase_add_test(tc, rtt_rfc3550_example);
	tcase_add_test(tc, rtt_end_to_end);
	suite_add_tcase(s, tc);
	return s;
}
