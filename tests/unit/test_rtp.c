/* RTP codec: byte vectors commented field by field, truncation at every
 * length, padding and extension edge cases, Opus TOC durations. */
#include <check.h>
#include <errno.h>
#include <string.h>

#include "p2pcall/rtp.h"

/* Minimal Opus packet: V=2, no P/X/CC, M=1, PT=111, seq 0x1234,
 * ts 0xdeadbeef, SSRC 0x01020304, payload = TOC 0xf8 (CELT FB 20 ms,
 * code 0) + 2 bytes. */
static const uint8_t pkt_basic[] = {
	0x80,                   /* V=2 P=0 X=0 CC=0 */
	0xef,                   /* M=1 PT=111 */
	0x12, 0x34,             /* seq */
	0xde, 0xad, 0xbe, 0xef, /* timestamp */
	0x01, 0x02, 0x03, 0x04, /* SSRC */
	0xf8, 0xaa, 0xbb,       /* payload */
};

/* Everything at once: P=1 X=1 CC=2, one-word extension, 3 payload bytes,
 * 4 bytes of padding (count 4 in the last byte). */
static const uint8_t pkt_full[] = {
	0xb2,                   /* V=2 P=1 X=1 CC=2 */
	0x6f,                   /* M=0 PT=111 */
	0xff, 0xff,             /* seq 65535 */
	0x00, 0x00, 0x03, 0xc0, /* timestamp 960 */
	0xca, 0xfe, 0xba, 0xbe, /* SSRC */
	0x11, 0x11, 0x11, 0x11, /* CSRC 1 */
	0x22, 0x22, 0x22, 0x22, /* CSRC 2 */
	0xbe, 0xde, 0x00, 0x01, /* ext profile 0xbede, length 1 word */
	0x10, 0x55, 0x00, 0x00, /* ext body */
	0x48, 0x01, 0x02,       /* payload: TOC 0x48 SILK WB 20 ms */
	0x00, 0x00, 0x00, 0x04, /* padding, count 4 */
};

START_TEST(parse_basic)
{
	struct rtp_pkt p;
	ck_assert_int_eq(rtp_parse(pkt_basic, sizeof(pkt_basic), &p), 0);
	ck_assert(p.hdr.marker);
	ck_assert_uint_eq(p.hdr.pt, RTP_PT_OPUS);
	ck_assert_uint_eq(p.hdr.seq, 0x1234);
	ck_assert_uint_eq(p.hdr.ts, 0xdeadbeef);
	ck_assert_uint_eq(p.hdr.ssrc, 0x01020304);
	ck_assert_uint_eq(p.hdr.cc, 0);
	ck_assert(!p.padding && !p.ext);
	ck_assert_ptr_eq(p.payload, pkt_basic + 12);
	ck_assert_uint_eq(p.payload_len, 3);
	ck_assert_int_eq(rtp_opus_samples(p.payload, p.payload_len), 960);
}
END_TEST

START_TEST(parse_full)
{
	struct rtp_pkt p;
	ck_assert_int_eq(rtp_parse(pkt_full, sizeof(pkt_full), &p), 0);
	ck_assert(!p.hdr.marker);
	ck_assert_uint_eq(p.hdr.seq, 65535);
	ck_assert_uint_eq(p.hdr.ts, 960);
	ck_assert_uint_eq(p.hdr.ssrc, 0xcafebabe);
	ck_assert_uint_eq(p.hdr.cc, 2);
	ck_assert_uint_eq(p.hdr.csrc[0], 0x11111111);
	ck_assert_uint_eq(p.hdr.csrc[1], 0x22222222);
	ck_assert(p.ext);
	ck_assert_uint_eq(p.ext_profile, 0xbede);
	ck_assert_uint_eq(p.ext_len, 4);
	ck_assert_ptr_eq(p.ext_data, pkt_full + 24);
	ck_assert(p.padding);
	ck_assert_uint_eq(p.pad_len, 4);
	ck_assert_ptr_eq(p.payload, pkt_full + 28);
	ck_assert_uint_eq(p.payload_len, 3);
	ck_assert_int_eq(p.payload[0], 0x48);
}
END_TEST

/* Every proper prefix of a valid packet must fail cleanly (or, for the
 * unpadded one, parse with a shorter payload once the header is whole). */
START_TEST(truncation_every_length)
{
	struct rtp_pkt p;
	for (size_t n = 0; n < sizeof(pkt_basic); n++) {
		int rc = rtp_parse(pkt_basic, n, &p);
		if (n < 12)
			ck_assert_int_eq(rc, -EBADMSG);
		else {
			ck_assert_int_eq(rc, 0);
			ck_assert_uint_eq(p.payload_len, n - 12);
		}
	}
	/* pkt_full: below 28 bytes the CSRCs or extension are cut. From 28
	 * on the last byte is read as the pad count: 28 leaves no room for
	 * it, 29 ends in 0x48 (too large), 30 and 31 end in 0x01 and 0x02
	 * (valid: 1 payload byte left), 32..34 end in 0 (invalid). */
	for (size_t n = 0; n < sizeof(pkt_full); n++) {
		int rc = rtp_parse(pkt_full, n, &p);
		if (n == 30 || n == 31) {
			ck_assert_int_eq(rc, 0);
			ck_assert_uint_eq(p.payload_len, 1);
			ck_assert_uint_eq(p.pad_len, n - 29);
		} else {
			ck_assert_msg(rc == -EBADMSG, "prefix %zu: %d", n, rc);
		}
	}
}
END_TEST

START_TEST(bad_version_and_padding)
{
	struct rtp_pkt p;
	uint8_t b[sizeof(pkt_basic)];

	memcpy(b, pkt_basic, sizeof(b));
	b[0] = 0x40; /* V=1 */
	ck_assert_int_eq(rtp_parse(b, sizeof(b), &p), -EBADMSG);
	b[0] = 0xc0; /* V=3 */
	ck_assert_int_eq(rtp_parse(b, sizeof(b), &p), -EBADMSG);

	/* P=1 with count 0: impossible (the count counts itself). */
	memcpy(b, pkt_basic, sizeof(b));
	b[0] |= 0x20;
	b[sizeof(b) - 1] = 0;
	ck_assert_int_eq(rtp_parse(b, sizeof(b), &p), -EBADMSG);
	/* count 3 = the whole payload: valid, empty payload. */
	b[sizeof(b) - 1] = 3;
	ck_assert_int_eq(rtp_parse(b, sizeof(b), &p), 0);
	ck_assert_uint_eq(p.payload_len, 0);
	/* count 4 would eat into the header. */
	b[sizeof(b) - 1] = 4;
	ck_assert_int_eq(rtp_parse(b, sizeof(b), &p), -EBADMSG);

	/* P=1 on a bare header: no room for the count byte. */
	memcpy(b, pkt_basic, 12);
	b[0] |= 0x20;
	ck_assert_int_eq(rtp_parse(b, 12, &p), -EBADMSG);

	/* CC=15 needs 60 more bytes. */
	memcpy(b, pkt_basic, sizeof(b));
	b[0] = 0x8f;
	ck_assert_int_eq(rtp_parse(b, sizeof(b), &p), -EBADMSG);

	ck_assert_int_eq(rtp_parse(NULL, 12, &p), -EINVAL);
	ck_assert_int_eq(rtp_parse(pkt_basic, 12, NULL), -EINVAL);
}
END_TEST

/* Extension length that overflows what is left, by one word. */
START_TEST(extension_too_long)
{
	uint8_t b[] = {
		0x90, 0x6f, 0x00, 0x01, /* V=2 X=1, PT 111, seq 1 */
		0x00, 0x00, 0x00, 0x00, /* ts */
		0x00, 0x00, 0x00, 0x01, /* SSRC */
		0x00, 0x00, 0x00, 0x02, /* ext: 2 words follow ... */
		0x00, 0x00, 0x00, 0x00, /* ... but only one is there */
	};
	struct rtp_pkt p;
	ck_assert_int_eq(rtp_parse(b, sizeof(b), &p), -EBADMSG);
	b[15] = 1; /* now exactly one word: valid, empty payload */
	ck_assert_int_eq(rtp_parse(b, sizeof(b), &p), 0);
	ck_assert_uint_eq(p.payload_len, 0);
	ck_assert_uint_eq(p.ext_len, 4);
	b[15] = 0xff; b[14] = 0xff; /* 65535 words */
	ck_assert_int_eq(rtp_parse(b, sizeof(b), &p), -EBADMSG);
}
END_TEST

START_TEST(write_roundtrip)
{
	struct rtp_hdr h = {
		.marker = true, .pt = RTP_PT_OPUS, .seq = 0x1234,
		.ts = 0xdeadbeef, .ssrc = 0x01020304,
	};
	const uint8_t pl[] = { 0xf8, 0xaa, 0xbb };
	uint8_t buf[64];
	ck_assert_int_eq(rtp_write(buf, sizeof(buf), &h, pl, 3), 15);
	ck_assert_mem_eq(buf, pkt_basic, sizeof(pkt_basic));

	/* With CSRCs, then parse back. */
	h.cc = 2;
	h.csrc[0] = 7;
	h.csrc[1] = 9;
	int n = rtp_write(buf, sizeof(buf), &h, pl, 3);
	ck_assert_int_eq(n, 23);
	struct rtp_pkt p;
	ck_assert_int_eq(rtp_parse(buf, (size_t)n, &p), 0);
	ck_assert_uint_eq(p.hdr.cc, 2);
	ck_assert_uint_eq(p.hdr.csrc[1], 9);
	ck_assert_uint_eq(p.payload_len, 3);

	/* Every buffer size below the need is refused. */
	for (size_t s = 0; s < 23; s++)
		ck_assert_int_eq(rtp_write(buf, s, &h, pl, 3), -ENOSPC);
	h.pt = 128;
	ck_assert_int_eq(rtp_write(buf, sizeof(buf), &h, pl, 3), -EINVAL);
	h.pt = 0;
	h.cc = 16;
	ck_assert_int_eq(rtp_write(buf, sizeof(buf), &h, pl, 3), -EINVAL);
	h.cc = 0;
	ck_assert_int_eq(rtp_write(buf, sizeof(buf), &h, NULL, 3), -EINVAL);
	ck_assert_int_eq(rtp_write(buf, sizeof(buf), &h, NULL, 0), 12);
}
END_TEST

START_TEST(demux_rfc7983)
{
	uint8_t b = 0;
	for (unsigned v = 0; v < 256; v++) {
		b = (uint8_t)v;
		ck_assert(rtp_demux_is_rtp(&b, 1) == (v >= 128 && v <= 191));
	}
	ck_assert(!rtp_demux_is_rtp(&b, 0));
	ck_assert(!rtp_demux_is_rtp(NULL, 1));
}
END_TEST

START_TEST(seq_ts_wrap)
{
	ck_assert_int_eq(rtp_seq_diff(65535, 0), 1);
	ck_assert_int_eq(rtp_seq_diff(0, 65535), -1);
	ck_assert_int_eq(rtp_seq_diff(65000, 100), 636);
	ck_assert_int_eq(rtp_ts_diff(0xffffff00u, 0x100u), 512);
	ck_assert_int_eq(rtp_ts_diff(0x100u, 0xffffff00u), -512);
}
END_TEST

START_TEST(opus_toc)
{
	/* TOC = config << 3 | s << 2 | code */
	const struct { uint8_t b[2]; size_t len; int want; } v[] = {
		{ { 0 << 3 | 0, 0 }, 1, 480 },    /* SILK NB 10 ms */
		{ { 1 << 3 | 0, 0 }, 1, 960 },    /* SILK NB 20 ms */
		{ { 2 << 3 | 0, 0 }, 1, 1920 },   /* SILK NB 40 ms */
		{ { 3 << 3 | 0, 0 }, 1, 2880 },   /* SILK NB 60 ms */
		{ { 11 << 3 | 1, 0 }, 1, 5760 },  /* SILK WB 60 ms, 2 frames */
		{ { 12 << 3 | 0, 0 }, 1, 480 },   /* hybrid SWB 10 ms */
		{ { 15 << 3 | 2, 0 }, 3, 1920 },  /* hybrid FB 20 ms x2 */
		{ { 16 << 3 | 0, 0 }, 1, 120 },   /* CELT NB 2.5 ms */
		{ { 31 << 3 | 0, 0 }, 1, 960 },   /* CELT FB 20 ms */
		{ { 31 << 3 | 3, 3 }, 2, 2880 },  /* code 3, 3 frames of 20 */
		{ { 31 << 3 | 3, 6 }, 2, 5760 },  /* 6 x 20 ms = 120 ms */
		{ { 31 << 3 | 3, 7 }, 2, -EBADMSG }, /* 140 ms: too long */
		{ { 31 << 3 | 3, 0 }, 2, -EBADMSG }, /* zero frames */
		{ { 31 << 3 | 3, 0 }, 1, -EBADMSG }, /* count byte missing */
		{ { 3 << 3 | 3, 3 }, 2, -EBADMSG },  /* 3 x 60 ms */
	};
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		ck_assert_msg(rtp_opus_samples(v[i].b, v[i].len) == v[i].want,
			      "vector %zu: %d", i,
			      rtp_opus_samples(v[i].b, v[i].len));
	ck_assert_int_eq(rtp_opus_samples(v[0].b, 0), -EBADMSG);
}
END_TEST

Suite *rtp_suite(void)
{
	Suite *s = suite_create("rtp");
	TCase *tc = tcase_create("codec");
	tcase_add_test(tc, parse_basic);
	tcase_add_test(tc, parse_full);
	tcase_add_test(tc, truncation_every_length);
	tcase_add_test(tc, bad_version_and_padding);
	tcase_add_test(tc, extension_too_long);
	tcase_add_test(tc, write_roundtrip);
	tcase_add_test(tc, demux_rfc7983);
	tcase_add_test(tc, seq_ts_wrap);
	tcase_add_test(tc, opus_toc);
	suite_add_tcase(s, tc);
	return s;
}
