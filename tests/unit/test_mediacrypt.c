/* Media protection: round trips of RTP (with CSRCs and an extension) and
 * RTCP, the documented wire format rebuilt here from libsodium calls,
 * every single-bit flip rejected, replays, reordering, the sequence
 * number wrapping over 70,000 packets, wrong keys, truncation. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "p2pcall/mediacrypt.h"
#include "p2pcall/rtcp.h"
#include "p2pcall/rtp.h"

/* The two ends of a call: a's tx is b's rx. */
struct pair {
	struct mediacrypt *a, *b;
	struct mediacrypt_keys ka, kb;
};

static void pair_init(struct pair *p, uint8_t seed)
{
	for (int i = 0; i < 32; i++) {
		p->ka.tx[i] = (uint8_t)(seed + i);
		p->ka.rx[i] = (uint8_t)(seed + 100 + i);
	}
	memcpy(p->kb.tx, p->ka.rx, 32);
	memcpy(p->kb.rx, p->ka.tx, 32);
	ck_assert_int_eq(mediacrypt_new(&p->a, &p->ka), 0);
	ck_assert_int_eq(mediacrypt_new(&p->b, &p->kb), 0);
}

static void pair_free(struct pair *p)
{
	mediacrypt_free(p->a);
	mediacrypt_free(p->b);
}

/* V=2 X=1 CC=2, PT 111, two CSRCs, a one-word extension, then plen
 * payload bytes. Returns the length. */
static size_t make_rtp(uint8_t *buf, uint16_t seq, uint32_t ssrc, size_t plen)
{
	static const uint8_t head[] = {
		0x92,                   /* V=2 P=0 X=1 CC=2 */
		0x6f,                   /* M=0 PT=111 */
		0x00, 0x00,             /* seq (below) */
		0x00, 0x00, 0x03, 0xc0, /* timestamp 960 */
		0x00, 0x00, 0x00, 0x00, /* SSRC (below) */
		0x11, 0x11, 0x11, 0x11, /* CSRC 1 */
		0x22, 0x22, 0x22, 0x22, /* CSRC 2 */
		0xbe, 0xde, 0x00, 0x01, /* ext profile 0xbede, 1 word */
		0x10, 0x55, 0x00, 0x00, /* ext body */
	};
	memcpy(buf, head, sizeof(head));
	buf[2] = (uint8_t)(seq >> 8);
	buf[3] = (uint8_t)seq;
	buf[8] = (uint8_t)(ssrc >> 24);
	buf[9] = (uint8_t)(ssrc >> 16);
	buf[10] = (uint8_t)(ssrc >> 8);
	buf[11] = (uint8_t)ssrc;
	for (size_t i = 0; i < plen; i++)
		buf[sizeof(head) + i] = (uint8_t)(0xf8 + i * 7);
	return sizeof(head) + plen;
}
#define RTP_HEAD 28

/* A plain fixed-header RTP packet as media.c sends it. */
static size_t make_rtp_plain(uint8_t *buf, uint16_t seq, uint32_t ssrc, size_t plen)
{
	struct rtp_hdr h = { .pt = RTP_PT_OPUS, .seq = seq, .ts = seq * 960u, .ssrc = ssrc };
	uint8_t pl[256];
	for (size_t i = 0; i < plen; i++)
		pl[i] = (uint8_t)(seq + i);
	int n = rtp_write(buf, 2048, &h, pl, plen);
	ck_assert_int_gt(n, 0);
	return (size_t)n;
}

/* A compound SR + SDES, as media.c sends it. */
static size_t make_rtcp(uint8_t *buf)
{
	struct rtcp_report r = { .sr = true, .ssrc = 0xcafebabe, .rb_count = 1 };
	r.ntp = 0x0123456789abcdefULL;
	r.rtp_ts = 48000;
	r.pkt_count = 50;
	r.octet_count = 4000;
	r.rb[0].ssrc = 0x01020304;
	r.rb[0].fraction_lost = 3;
	r.rb[0].cum_lost = 7;
	r.rb[0].ext_high_seq = 70000;
	r.rb[0].jitter = 12;
	int n = rtcp_write_report(buf, 256, &r);
	ck_assert_int_gt(n, 8);
	int k = rtcp_write_sdes(buf + n, 256 - (size_t)n, 0xcafebabe, "alice@example");
	ck_assert_int_gt(k, 0);
	return (size_t)(n + k);
}

START_TEST(rtp_roundtrip_csrc_ext)
{
	struct pair p;
	pair_init(&p, 1);
	uint8_t plain[256], pkt[256];
	size_t n = make_rtp(plain, 4242, 0xcafebabe, 60);
	memcpy(pkt, plain, n);
	int m = mediacrypt_protect(p.a, pkt, n, sizeof(pkt));
	ck_assert_int_eq(m, (int)n + 16);
	/* header untouched: an analyser still reads seq, ts, SSRC, CSRCs */
	ck_assert_mem_eq(pkt, plain, RTP_HEAD);
	ck_assert(memcmp(pkt + RTP_HEAD, plain + RTP_HEAD, n - RTP_HEAD) != 0);
	struct rtp_pkt rp;
	ck_assert_int_eq(rtp_parse(pkt, (size_t)m, &rp), 0);
	ck_assert_uint_eq(rp.hdr.seq, 4242);
	ck_assert_uint_eq(rp.hdr.ts, 960);
	ck_assert_uint_eq(rp.hdr.ssrc, 0xcafebabe);
	ck_assert_uint_eq(rp.hdr.cc, 2);
	ck_assert(rp.ext);

	ck_assert_int_eq(mediacrypt_unprotect(p.b, pkt, (size_t)m), (int)n);
	ck_assert_mem_eq(pkt, plain, n);
	struct mediacrypt_counts c;
	mediacrypt_counts(p.b, &c);
	ck_assert_uint_eq(c.ok, 1);
	ck_assert_uint_eq(c.tampered + c.replayed + c.malformed, 0);
	pair_free(&p);
}
END_TEST

START_TEST(rtp_empty_payload)
{
	struct pair p;
	pair_init(&p, 2);
	uint8_t plain[64], pkt[64];
	size_t n = make_rtp_plain(plain, 1, 7, 0);
	memcpy(pkt, plain, n);
	ck_assert_int_eq(mediacrypt_protect(p.a, pkt, n, sizeof(pkt)), (int)n + 16);
	ck_assert_int_eq(mediacrypt_unprotect(p.b, pkt, n + 16), (int)n);
	ck_assert_mem_eq(pkt, plain, n);
	pair_free(&p);
}
END_TEST

START_TEST(rtcp_roundtrip)
{
	struct pair p;
	pair_init(&p, 3);
	uint8_t plain[256], pkt[256];
	size_t n = make_rtcp(plain);
	memcpy(pkt, plain, n);
	int m = mediacrypt_protect(p.a, pkt, n, sizeof(pkt));
	ck_assert_int_eq(m, (int)n + 20);
	ck_assert_mem_eq(pkt, plain, 8);
	ck_assert(rtcp_is_rtcp(pkt, (size_t)m));
	ck_assert(memcmp(pkt + 8, plain + 8, n - 8) != 0);
	ck_assert_uint_eq(pkt[n] & 0x80, 0x80); /* E flag */
	ck_assert_int_eq(mediacrypt_unprotect(p.b, pkt, (size_t)m), (int)n);
	ck_assert_mem_eq(pkt, plain, n);
	struct rtcp_info in;
	ck_assert_int_eq(rtcp_parse(pkt, n, &in), 0);
	ck_assert_uint_eq(in.report.ssrc, 0xcafebabe);

	/* the index moves on: the next one differs even for equal input */
	uint8_t again[256];
	memcpy(again, plain, n);
	ck_assert_int_eq(mediacrypt_protect(p.a, again, n, sizeof(again)), m);
	memcpy(pkt, plain, n);
	ck_assert(memcmp(again + 8, pkt + 8, n - 8) != 0);
	pair_free(&p);
}
END_TEST

/* The format in mediacrypt.h, rebuilt from libsodium: per-kind subkey,
 * nonce SSRC || 0 || index, header (RTP) or clear part + trailer (RTCP)
 * as associated data. */
START_TEST(wire_format_as_documented)
{
	struct pair p;
	pair_init(&p, 4);
	uint8_t sub[32], nonce[12] = { 0 }, want[256], pkt[256], plain[256];
	unsigned long long clen;

	size_t n = make_rtp_plain(plain, 0xfffe, 0x0a0b0c0d, 40);
	memcpy(pkt, plain, n);
	ck_assert_int_eq(mediacrypt_protect(p.a, pkt, n, sizeof(pkt)), (int)n + 16);
	crypto_kdf_derive_from_key(sub, 32, 1, "p2pmedia", p.ka.tx);
	memcpy(nonce, "\x0a\x0b\x0c\x0d\0\0\0\0\0\0\xff\xfe", 12);
	memcpy(want, plain, 12);
	crypto_aead_chacha20poly1305_ietf_encrypt(want + 12, &clen, plain + 12, n - 12,
						  plain, 12, NULL, nonce, sub);
	ck_assert_uint_eq(clen, n - 12 + 16);
	ck_assert_mem_eq(pkt, want, n + 16);

	/* after the wrap the index is 1 << 16 | 3 */
	n = make_rtp_plain(plain, 3, 0x0a0b0c0d, 40);
	memcpy(pkt, plain, n);
	ck_assert_int_eq(mediacrypt_protect(p.a, pkt, n, sizeof(pkt)), (int)n + 16);
	memcpy(nonce, "\x0a\x0b\x0c\x0d\0\0\0\0\0\x01\x00\x03", 12);
	crypto_aead_chacha20poly1305_ietf_encrypt(want + 12, &clen, plain + 12, n - 12,
						  plain, 12, NULL, nonce, sub);
	ck_assert_mem_eq(pkt + 12, want + 12, n + 4);

	/* RTCP, index 0 */
	n = make_rtcp(plain);
	memcpy(pkt, plain, n);
	ck_assert_int_eq(mediacrypt_protect(p.a, pkt, n, sizeof(pkt)), (int)n + 20);
	crypto_kdf_derive_from_key(sub, 32, 2, "p2pmedia", p.ka.tx);
	memcpy(nonce, "\xca\xfe\xba\xbe\0\0\0\0\0\0\0\0", 12);
	uint8_t ad[12];
	memcpy(ad, plain, 8);
	memcpy(ad + 8, "\x80\0\0\0", 4);
	unsigned char tag[16];
	memcpy(want, plain, n);
	crypto_aead_chacha20poly1305_ietf_encrypt_detached(want + 8, tag, NULL, plain + 8,
							   n - 8, ad, 12, NULL, nonce, sub);
	memcpy(want + n, ad + 8, 4);
	memcpy(want + n + 4, tag, 16);
	ck_assert_mem_eq(pkt, want, n + 20);
	pair_free(&p);
}
END_TEST

static void flip_every_bit(const uint8_t *plain, size_t n, uint8_t seed)
{
	struct pair p;
	pair_init(&p, seed);
	uint8_t prot[256], pkt[256];
	memcpy(prot, plain, n);
	int m = mediacrypt_protect(p.a, prot, n, sizeof(prot));
	ck_assert_int_gt(m, (int)n);
	for (int bit = 0; bit < m * 8; bit++) {
		memcpy(pkt, prot, (size_t)m);
		pkt[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		int rc = mediacrypt_unprotect(p.b, pkt, (size_t)m);
		ck_assert_msg(rc < 0, "flip of bit %d accepted (%d)", bit, rc);
	}
	struct mediacrypt_counts c;
	mediacrypt_counts(p.b, &c);
	ck_assert_uint_eq(c.ok, 0);
	ck_assert_uint_eq(c.tampered + c.malformed + c.replayed, (uint64_t)m * 8);
	ck_assert_uint_gt(c.tampered, (uint64_t)m * 4);
	/* nothing of that moved the replay state: the genuine one passes */
	memcpy(pkt, prot, (size_t)m);
	ck_assert_int_eq(mediacrypt_unprotect(p.b, pkt, (size_t)m), (int)n);
	ck_assert_mem_eq(pkt, plain, n);
	pair_free(&p);
}

START_TEST(rtp_every_bit_flip_rejected)
{
	uint8_t plain[256];
	size_t n = make_rtp(plain, 777, 0x55667788, 30);
	flip_every_bit(plain, n, 5);
}
END_TEST

START_TEST(rtcp_every_bit_flip_rejected)
{
	uint8_t plain[256];
	size_t n = make_rtcp(plain);
	flip_every_bit(plain, n, 6);
}
END_TEST

START_TEST(replay_rejected)
{
	struct pair p;
	pair_init(&p, 7);
	uint8_t pkt[256], copy[256];
	size_t n = make_rtp_plain(pkt, 100, 1, 20);
	int m = mediacrypt_protect(p.a, pkt, n, sizeof(pkt));
	memcpy(copy, pkt, (size_t)m);
	ck_assert_int_eq(mediacrypt_unprotect(p.b, pkt, (size_t)m), (int)n);
	ck_assert_int_eq(mediacrypt_unprotect(p.b, copy, (size_t)m), -EALREADY);

	n = make_rtcp(pkt);
	m = mediacrypt_protect(p.a, pkt, n, sizeof(pkt));
	memcpy(copy, pkt, (size_t)m);
	ck_assert_int_eq(mediacrypt_unprotect(p.b, pkt, (size_t)m), (int)n);
	ck_assert_int_eq(mediacrypt_unprotect(p.b, copy, (size_t)m), -EALREADY);
	struct mediacrypt_counts c;
	mediacrypt_counts(p.b, &c);
	ck_assert_uint_eq(c.ok, 2);
	ck_assert_uint_eq(c.replayed, 2);
	pair_free(&p);
}
END_TEST

/* 300 packets protected in order, delivered in reversed blocks of 100
 * (each within the window), then one far older than the window. */
START_TEST(reorder_within_window)
{
	struct pair p;
	pair_init(&p, 8);
	enum { N = 300 };
	static uint8_t pkts[N][128];
	int lens[N];
	for (int i = 0; i < N; i++) {
		size_t n = make_rtp_plain(pkts[i], (uint16_t)(65400 + i), 9, 20);
		lens[i] = mediacrypt_protect(p.a, pkts[i], n, sizeof(pkts[i]));
		ck_assert_int_gt(lens[i], 0);
	}
	uint8_t keep[128];
	memcpy(keep, pkts[10], sizeof(keep));
	for (int blk = 0; blk < N; blk += 100)
		for (int i = blk + 99; i >= blk; i--)
			ck_assert_msg(mediacrypt_unprotect(p.b, pkts[i], (size_t)lens[i]) > 0,
				      "packet %d", i);
	/* 289 behind the top: outside the window though never delivered twice
	 * here -- the receiver cannot tell, so it refuses */
	ck_assert_int_eq(mediacrypt_unprotect(p.b, keep, (size_t)lens[10]), -EALREADY);
	struct mediacrypt_counts c;
	mediacrypt_counts(p.b, &c);
	ck_assert_uint_eq(c.ok, N);
	ck_assert_uint_eq(c.replayed, 1);
	pair_free(&p);
}
END_TEST

/* 70,000 packets from seq 65000: the sequence number wraps twice... once
 * at 65536 and the ROC must follow on both sides; a pair swapped across
 * the wrap must still pass. */
START_TEST(seq_wraparound_70000)
{
	struct pair p;
	pair_init(&p, 9);
	uint8_t a[128], b[128], first[128];
	size_t first_len = 0;
	for (uint32_t i = 0; i < 70000; i++) {
		uint16_t seq = (uint16_t)(65000 + i);
		size_t n = make_rtp_plain(a, seq, 0x1234, 16);
		int m = mediacrypt_protect(p.a, a, n, sizeof(a));
		ck_assert_int_eq(m, (int)n + 16);
		if (i == 0) {
			memcpy(first, a, (size_t)m);
			first_len = (size_t)m;
		}
		if (seq == 65535) {     /* hold it back, deliver after seq 0 */
			memcpy(b, a, (size_t)m);
			continue;
		}
		ck_assert_msg(mediacrypt_unprotect(p.b, a, (size_t)m) == (int)n, "i=%u", i);
		if (seq == 0)
			ck_assert_int_eq(mediacrypt_unprotect(p.b, b, (size_t)m), (int)n);
	}
	/* the same seq with a new ROC is a new nonce: seq 65000 of ROC 1
	 * (i = 65536) was accepted above, and the first packet (ROC 0) is
	 * now far too old */
	ck_assert_int_eq(mediacrypt_unprotect(p.b, first, first_len), -EALREADY);
	struct mediacrypt_counts c;
	mediacrypt_counts(p.b, &c);
	ck_assert_uint_eq(c.ok, 70000);
	ck_assert_uint_eq(c.tampered, 0);
	pair_free(&p);
}
END_TEST

START_TEST(same_seq_new_roc_new_ciphertext)
{
	struct pair p;
	pair_init(&p, 10);
	uint8_t x[128], y[128], tmp[128];
	size_t n = make_rtp_plain(x, 5, 1, 32);
	ck_assert_int_gt(mediacrypt_protect(p.a, x, n, sizeof(x)), 0);
	for (uint32_t s = 6; s < 65536 + 5; s++) {
		size_t k = make_rtp_plain(tmp, (uint16_t)s, 1, 1);
		ck_assert_int_gt(mediacrypt_protect(p.a, tmp, k, sizeof(tmp)), 0);
	}
	make_rtp_plain(y, 5, 1, 32);
	ck_assert_int_gt(mediacrypt_protect(p.a, y, n, sizeof(y)), 0);
	ck_assert(memcmp(x + 12, y + 12, n - 12 + 16) != 0);
	pair_free(&p);
}
END_TEST

START_TEST(wrong_key_and_reflection_rejected)
{
	struct pair p, q;
	pair_init(&p, 11);
	pair_init(&q, 12);
	uint8_t pkt[128], copy[128];
	size_t n = make_rtp_plain(pkt, 1, 1, 20);
	int m = mediacrypt_protect(p.a, pkt, n, sizeof(pkt));
	memcpy(copy, pkt, (size_t)m);
	ck_assert_int_eq(mediacrypt_unprotect(q.b, pkt, (size_t)m), -EBADMSG);
	/* our own packet sent back to us: other direction, other key */
	memcpy(pkt, copy, (size_t)m);
	ck_assert_int_eq(mediacrypt_unprotect(p.a, pkt, (size_t)m), -EBADMSG);
	memcpy(pkt, copy, (size_t)m);
	ck_assert_int_eq(mediacrypt_unprotect(p.b, pkt, (size_t)m), (int)n);

	n = make_rtcp(pkt);
	m = mediacrypt_protect(p.a, pkt, n, sizeof(pkt));
	ck_assert_int_eq(mediacrypt_unprotect(p.a, pkt, (size_t)m), -EBADMSG);
	struct mediacrypt_counts c;
	mediacrypt_counts(p.a, &c);
	ck_assert_uint_eq(c.tampered, 2);
	pair_free(&p);
	pair_free(&q);
}
END_TEST

/* Every prefix of a protected packet, each in a buffer of exactly that
 * size so the sanitizers see any read past it. */
START_TEST(truncated_rejected)
{
	struct pair p;
	pair_init(&p, 13);
	uint8_t rtp[256], rtcp[256];
	size_t n = make_rtp(rtp, 9, 9, 20);
	int mr = mediacrypt_protect(p.a, rtp, n, sizeof(rtp));
	n = make_rtcp(rtcp);
	int mc = mediacrypt_protect(p.a, rtcp, n, sizeof(rtcp));
	for (int which = 0; which < 2; which++) {
		const uint8_t *src = which ? rtcp : rtp;
		int m = which ? mc : mr;
		for (int len = 0; len < m; len++) {
			uint8_t *b = malloc(len ? (size_t)len : 1);
			memcpy(b, src, (size_t)len);
			int rc = mediacrypt_unprotect(p.b, b, (size_t)len);
			ck_assert_msg(rc == -EPROTO || rc == -EBADMSG, "len %d: %d", len, rc);
			free(b);
		}
	}
	struct mediacrypt_counts c;
	mediacrypt_counts(p.b, &c);
	ck_assert_uint_eq(c.ok, 0);
	ck_assert_uint_eq(c.malformed + c.tampered, (uint64_t)(mr + mc));
	ck_assert_uint_gt(c.malformed, 0);
	/* the untruncated ones still pass */
	ck_assert_int_gt(mediacrypt_unprotect(p.b, rtp, (size_t)mr), 0);
	ck_assert_int_gt(mediacrypt_unprotect(p.b, rtcp, (size_t)mc), 0);
	pair_free(&p);
}
END_TEST

START_TEST(garbage_is_malformed)
{
	struct pair p;
	pair_init(&p, 14);
	uint8_t stun[40] = { 0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42 };
	ck_assert_int_eq(mediacrypt_unprotect(p.b, stun, sizeof(stun)), -EPROTO);
	/* RTCP whose trailer lacks the E flag: never accepted in the clear */
	uint8_t pkt[256];
	size_t n = make_rtcp(pkt);
	int m = mediacrypt_protect(p.a, pkt, n, sizeof(pkt));
	pkt[n] &= 0x7f;
	ck_assert_int_eq(mediacrypt_unprotect(p.b, pkt, (size_t)m), -EPROTO);
	/* RTP whose extension claims more than the packet holds */
	n = make_rtp(pkt, 1, 1, 4);
	m = mediacrypt_protect(p.a, pkt, n, sizeof(pkt));
	pkt[22] = 0xff;
	ck_assert_int_eq(mediacrypt_unprotect(p.b, pkt, (size_t)m), -EPROTO);
	struct mediacrypt_counts c;
	mediacrypt_counts(p.b, &c);
	ck_assert_uint_eq(c.malformed, 3);
	ck_assert_int_eq(mediacrypt_unprotect(NULL, pkt, 10), -EINVAL);
	ck_assert_int_eq(mediacrypt_unprotect(p.b, NULL, 10), -EINVAL);
	pair_free(&p);
}
END_TEST

START_TEST(protect_errors)
{
	struct pair p;
	pair_init(&p, 15);
	uint8_t pkt[128], orig[128];
	size_t n = make_rtp_plain(pkt, 50, 1, 20);
	memcpy(orig, pkt, n);
	ck_assert_int_eq(mediacrypt_protect(p.a, pkt, n, n + 15), -ENOSPC);
	ck_assert_mem_eq(pkt, orig, n);
	ck_assert_int_eq(mediacrypt_protect(p.a, pkt, 11, sizeof(pkt)), -EINVAL);
	pkt[0] = 0x40; /* version 1 */
	ck_assert_int_eq(mediacrypt_protect(p.a, pkt, n, sizeof(pkt)), -EINVAL);
	pkt[0] = 0x8f; /* CC=15: header longer than the packet */
	ck_assert_int_eq(mediacrypt_protect(p.a, pkt, n, sizeof(pkt)), -EINVAL);
	memcpy(pkt, orig, n);
	ck_assert_int_eq(mediacrypt_protect(p.a, pkt, n, n + 16), (int)n + 16);
	/* the same sequence number again, or an older one, would reuse a nonce */
	memcpy(pkt, orig, n);
	ck_assert_int_eq(mediacrypt_protect(p.a, pkt, n, sizeof(pkt)), -EALREADY);
	ck_assert_mem_eq(pkt, orig, n);
	n = make_rtp_plain(pkt, 49, 1, 20);
	ck_assert_int_eq(mediacrypt_protect(p.a, pkt, n, sizeof(pkt)), -EALREADY);
	n = make_rtp_plain(pkt, 51, 1, 20);
	ck_assert_int_eq(mediacrypt_protect(p.a, pkt, n, sizeof(pkt)), (int)n + 16);
	/* RTCP needs its 8 clear bytes, and room for 20 more */
	n = make_rtcp(pkt);
	ck_assert_int_eq(mediacrypt_protect(p.a, pkt, 7, sizeof(pkt)), -EINVAL);
	ck_assert_int_eq(mediacrypt_protect(p.a, pkt, n, n + 19), -ENOSPC);
	ck_assert_int_eq(mediacrypt_protect(p.a, pkt, n, n + MEDIACRYPT_OVERHEAD), (int)n + 20);
	ck_assert_int_eq(mediacrypt_protect(NULL, pkt, n, sizeof(pkt)), -EINVAL);
	ck_assert_int_eq(mediacrypt_new(NULL, &p.ka), -EINVAL);
	struct mediacrypt *mc = (struct mediacrypt *)1;
	ck_assert_int_eq(mediacrypt_new(&mc, NULL), -EINVAL);
	mediacrypt_free(NULL);
	pair_free(&p);
}
END_TEST

/* Two SSRCs interleaved, each with its own window and ROC. */
START_TEST(two_streams)
{
	struct pair p;
	pair_init(&p, 16);
	uint8_t pkt[128];
	for (int i = 0; i < 1000; i++) {
		uint32_t ssrc = (i & 1) ? 0x1111 : 0x2222;
		uint16_t seq = (uint16_t)((i & 1) ? 65500 + i / 2 : 100 + i / 2);
		size_t n = make_rtp_plain(pkt, seq, ssrc, 10);
		int m = mediacrypt_protect(p.a, pkt, n, sizeof(pkt));
		ck_assert_int_eq(mediacrypt_unprotect(p.b, pkt, (size_t)m), (int)n);
	}
	struct mediacrypt_counts c;
	mediacrypt_counts(p.b, &c);
	ck_assert_uint_eq(c.ok, 1000);
	pair_free(&p);
}
END_TEST


/* Classic pcap, Ethernet, IPv4/UDP 10.0.0.1:port -> 10.0.0.2:port. */
static void pcap_header(FILE *f)
{
	const uint32_t h[] = { 0xa1b2c3d4, 0x00040002, 0, 0, 65535, 1 };
	ck_assert_uint_eq(fwrite(h, sizeof(h), 1, f), 1);
}

static void pcap_udp(FILE *f, uint32_t sec, uint16_t port, const uint8_t *d, size_t n)
{
	uint8_t fr[14 + 20 + 8 + 512] = { 0 };
	size_t ip_len = 20 + 8 + n, len = 14 + ip_len;
	ck_assert_uint_le(len, sizeof(fr));
	fr[12] = 0x08;                          /* ethertype IPv4 */
	uint8_t *ip = fr + 14;
	ip[0] = 0x45;
	ip[2] = (uint8_t)(ip_len >> 8);
	ip[3] = (uint8_t)ip_len;
	ip[8] = 64;
	ip[9] = 17;
	memcpy(ip + 12, "\x0a\0\0\x01\x0a\0\0\x02", 8);
	uint32_t sum = 0;
	for (int i = 0; i < 20; i += 2)
		sum += (uint32_t)ip[i] << 8 | ip[i + 1];
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	ip[10] = (uint8_t)(~sum >> 8);
	ip[11] = (uint8_t)~sum;
	uint8_t *udp = ip + 20;
	udp[0] = udp[2] = (uint8_t)(port >> 8);
	udp[1] = udp[3] = (uint8_t)port;
	udp[4] = (uint8_t)((8 + n) >> 8);
	udp[5] = (uint8_t)(8 + n);             /* checksum 0: none (IPv4) */
	memcpy(udp + 8, d, n);
	const uint32_t rec[] = { sec, 0, (uint32_t)len, (uint32_t)len };
	ck_assert_uint_eq(fwrite(rec, sizeof(rec), 1, f), 1);
	ck_assert_uint_eq(fwrite(fr, len, 1, f), 1);
}

/* What an analyser makes of protected packets: tshark decodes the RTP
 * headers (seq, timestamp, SSRC, PT) and the RTCP sender report header
 * exactly as in the clear. */
START_TEST(tshark_reads_protected_headers)
{
	char dir[] = "/tmp/p2pcall-mediacrypt-XXXXXX";
	ck_assert_ptr_nonnull(mkdtemp(dir));
	char path[128], cmd[512];
	snprintf(path, sizeof(path), "%s/cap.pcap", dir);
	FILE *f = fopen(path, "wb");
	ck_assert_ptr_nonnull(f);
	pcap_header(f);
	struct pair p;
	pair_init(&p, 17);
	uint8_t pkt[256];
	for (uint32_t i = 0; i < 5; i++) {
		size_t n = make_rtp_plain(pkt, (uint16_t)(65534 + i), 0xdecafbad, 60);
		int m = mediacrypt_protect(p.a, pkt, n, sizeof(pkt));
		ck_assert_int_gt(m, 0);
		pcap_udp(f, 1 + i, 5004, pkt, (size_t)m);
	}
	size_t n = make_rtcp(pkt);
	int m = mediacrypt_protect(p.a, pkt, n, sizeof(pkt));
	pcap_udp(f, 10, 5005, pkt, (size_t)m);
	ck_assert_int_eq(fclose(f), 0);

	snprintf(cmd, sizeof(cmd),
		 "tshark -r '%s' -d udp.port==5004,rtp -d udp.port==5005,rtcp -T fields "
		 "-e rtp.seq -e rtp.timestamp -e rtp.ssrc -e rtp.p_type -e rtcp.pt "
		 "-e rtcp.senderssrc 2>/dev/null",
		 path);
	FILE *t = popen(cmd, "r");
	ck_assert_ptr_nonnull(t);
	char line[256];
	int rows = 0;
	while (fgets(line, sizeof(line), t)) {
		char want[256];
		if (rows < 5) {
			uint16_t seq = (uint16_t)(65534 + rows);
			snprintf(want, sizeof(want), "%u\t%u\t0xdecafbad\t111\t\t\n", seq,
				 (uint32_t)seq * 960u);
		} else {
			snprintf(want, sizeof(want), "\t\t\t\t200\t0xcafebabe\n");
		}
		ck_assert_msg(strncmp(line, want, strlen(want) - 1) == 0,
			      "row %d: got '%s' want '%s'", rows, line, want);
		rows++;
	}
	ck_assert_msg(pclose(t) == 0, "tshark failed (installed? contrib/install-deps.sh --test)");
	ck_assert_int_eq(rows, 6);
	unlink(path);
	rmdir(dir);
	pair_free(&p);
}
END_TEST

Suite *mediacrypt_suite(void)
{
	Suite *s = suite_create("mediacrypt");
	TCase *tc = tcase_create("packets");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, rtp_roundtrip_csrc_ext);
	tcase_add_test(tc, rtp_empty_payload);
	tcase_add_test(tc, rtcp_roundtrip);
	tcase_add_test(tc, wire_format_as_documented);
	tcase_add_test(tc, rtp_every_bit_flip_rejected);
	tcase_add_test(tc, rtcp_every_bit_flip_rejected);
	tcase_add_test(tc, replay_rejected);
	tcase_add_test(tc, reorder_within_window);
	tcase_add_test(tc, seq_wraparound_70000);
	tcase_add_test(tc, same_seq_new_roc_new_ciphertext);
	tcase_add_test(tc, wrong_key_and_reflection_rejected);
	tcase_add_test(tc, truncated_rejected);
	tcase_add_test(tc, garbage_is_malformed);
	tcase_add_test(tc, protect_errors);
	tcase_add_test(tc, two_streams);
	tcase_add_test(tc, tshark_reads_protected_headers);
	suite_add_tcase(s, tc);
	return s;
}
