/* RTCP reports, SDES CNAME and BYE; compound validation (RFC 3550 A.2). */
#include "p2pcall/rtcp.h"
#include "p2pcall/bytes.h"

#include <errno.h>
#include <string.h>

#define RB_LEN 24

bool rtcp_is_rtcp(const uint8_t *buf, size_t len)
{
	return buf && len >= 2 && buf[0] >= 128 && buf[0] <= 191 &&
	       buf[1] >= 192 && buf[1] <= 223;
}

static void parse_rb(const uint8_t *p, struct rtcp_rb *rb)
{
	rb->ssrc = rd32(p);
	rb->fraction_lost = p[4];
	uint32_t cl = (uint32_t)p[5] << 16 | (uint32_t)p[6] << 8 | p[7];
	/* sign-extend the 24-bit field */
	rb->cum_lost = (cl & 0x800000) ? (int32_t)cl - 0x1000000 : (int32_t)cl;
	rb->ext_high_seq = rd32(p + 8);
	rb->jitter = rd32(p + 12);
	rb->lsr = rd32(p + 16);
	rb->dlsr = rd32(p + 20);
}

/* body/blen: the packet after its 4-byte common header, padding removed */
static int parse_report(bool sr, unsigned rc, const uint8_t *body,
			size_t blen, struct rtcp_report *r)
{
	size_t fixed = sr ? 24 : 4;
	/* RFC 3550 allows profile extensions after the blocks. */
	if (blen < fixed || (blen - fixed) / RB_LEN < rc)
		return -EBADMSG;
	r->sr = sr;
	r->ssrc = rd32(body);
	if (sr) {
		r->ntp = (uint64_t)rd32(body + 4) << 32 | rd32(body + 8);
		r->rtp_ts = rd32(body + 12);
		r->pkt_count = rd32(body + 16);
		r->octet_count = rd32(body + 20);
	}
	r->rb_count = (uint8_t)rc;
	for (unsigned i = 0; i < rc; i++)
		parse_rb(body + fixed + RB_LEN * i, &r->rb[i]);
	return 0;
}

static int parse_sdes(unsigned sc, const uint8_t *body, size_t blen,
		      struct rtcp_info *out)
{
	size_t off = 0;
	for (unsigned c = 0; c < sc; c++) {
		if (blen - off < 4)
			return -EBADMSG;
		off += 4; /* SSRC/CSRC */
		for (;;) {
			if (off >= blen)
				return -EBADMSG;
			uint8_t type = body[off];
			if (type == 0) {
				/* end item, then pad the chunk to a word */
				off = (off + 4) & ~(size_t)3;
				if (off > blen)
					return -EBADMSG;
				break;
			}
			if (blen - off < 2 || blen - off - 2 < body[off + 1])
				return -EBADMSG;
			uint8_t ilen = body[off + 1];
			if (type == 1 && !out->has_cname && ilen > 0) {
				memcpy(out->cname, body + off + 2, ilen);
				out->cname[ilen] = '\0';
				out->has_cname = true;
			}
			off += 2u + ilen;
		}
	}
	return 0;
}

static int parse_bye(unsigned sc, const uint8_t *body, size_t blen,
		     struct rtcp_info *out)
{
	if (blen / 4 < sc)
		return -EBADMSG;
	size_t off = 4u * sc;
	if (off < blen && blen - off - 1 < body[off])
		return -EBADMSG; /* reason longer than the packet */
	if (sc > 0 && !out->has_bye) {
		out->has_bye = true;
		out->bye_ssrc = rd32(body);
	}
	return 0;
}

int rtcp_parse(const uint8_t *buf, size_t len, struct rtcp_info *out)
{
	if (!buf || !out)
		return -EINVAL;
	memset(out, 0, sizeof(*out));

	size_t off = 0;
	while (off < len) {
		const uint8_t *p = buf + off;
		size_t left = len - off;
		if (left < 4 || p[0] >> 6 != 2)
			return -EBADMSG;
		bool pad = p[0] & 0x20;
		unsigned count = p[0] & 0x1f;
		uint8_t pt = p[1];
		size_t plen = 4 * ((size_t)rd16(p + 2) + 1);
		if (plen > left)
			return -EBADMSG;
		bool last = plen == left;
		/* Padding is only allowed on the last packet (A.2). */
		if (pad && !last)
			return -EBADMSG;
		size_t blen = plen - 4;
		if (pad) {
			uint8_t n = p[plen - 1];
			if (n == 0 || n > blen)
				return -EBADMSG;
			blen -= n;
		}
		if (out->n_packets == 0 && pt != RTCP_PT_SR && pt != RTCP_PT_RR)
			return -EBADMSG;

		int rc = 0;
		switch (pt) {
		case RTCP_PT_SR:
		case RTCP_PT_RR:
			if (out->n_packets == 0)
				rc = parse_report(pt == RTCP_PT_SR, count, p + 4,
						  blen, &out->report);
			else {
				struct rtcp_report tmp;
				rc = parse_report(pt == RTCP_PT_SR, count, p + 4,
						  blen, &tmp);
			}
			break;
		case RTCP_PT_SDES:
			rc = parse_sdes(count, p + 4, blen, out);
			break;
		case RTCP_PT_BYE:
			rc = parse_bye(count, p + 4, blen, out);
			break;
		default:
			break; /* APP, RTPFB, PSFB, XR...: skipped by length */
		}
		if (rc)
			return rc;
		out->n_packets++;
		off += plen;
	}
	return out->n_packets ? 0 : -EBADMSG;
}

int rtcp_write_report(uint8_t *buf, size_t size, const struct rtcp_report *r)
{
	if (!buf || !r || r->rb_count > RTCP_MAX_RB)
		return -EINVAL;
	size_t fixed = r->sr ? 28 : 8;
	size_t len = fixed + (size_t)RB_LEN * r->rb_count;
	if (size < len)
		return -ENOSPC;

	buf[0] = (uint8_t)(0x80 | r->rb_count);
	buf[1] = r->sr ? RTCP_PT_SR : RTCP_PT_RR;
	wr16(buf + 2, (uint16_t)(len / 4 - 1));
	wr32(buf + 4, r->ssrc);
	if (r->sr) {
		wr32(buf + 8, (uint32_t)(r->ntp >> 32));
		wr32(buf + 12, (uint32_t)r->ntp);
		wr32(buf + 16, r->rtp_ts);
		wr32(buf + 20, r->pkt_count);
		wr32(buf + 24, r->octet_count);
	}
	for (unsigned i = 0; i < r->rb_count; i++) {
		const struct rtcp_rb *rb = &r->rb[i];
		uint8_t *q = buf + fixed + RB_LEN * i;
		int32_t cl = rb->cum_lost;
		if (cl > 0x7fffff)
			cl = 0x7fffff;
		if (cl < -0x800000)
			cl = -0x800000;
		uint32_t ucl = (uint32_t)cl & 0xffffff;
		wr32(q, rb->ssrc);
		q[4] = rb->fraction_lost;
		q[5] = (uint8_t)(ucl >> 16);
		q[6] = (uint8_t)(ucl >> 8);
		q[7] = (uint8_t)ucl;
		wr32(q + 8, rb->ext_high_seq);
		wr32(q + 12, rb->jitter);
		wr32(q + 16, rb->lsr);
		wr32(q + 20, rb->dlsr);
	}
	return (int)len;
}

int rtcp_write_sdes(uint8_t *buf, size_t size, uint32_t ssrc, const char *cname)
{
	if (!buf || !cname)
		return -EINVAL;
	size_t n = strlen(cname);
	if (n == 0 || n > RTCP_CNAME_MAX)
		return -EINVAL;
	/* header 4 + SSRC 4 + item 2+n + end 1, rounded up to a word */
	size_t len = (4 + 4 + 2 + n + 1 + 3) & ~(size_t)3;
	if (size < len)
		return -ENOSPC;
	memset(buf, 0, len);
	buf[0] = 0x81; /* V=2, one chunk */
	buf[1] = RTCP_PT_SDES;
	wr16(buf + 2, (uint16_t)(len / 4 - 1));
	wr32(buf + 4, ssrc);
	buf[8] = 1; /* CNAME */
	buf[9] = (uint8_t)n;
	memcpy(buf + 10, cname, n);
	return (int)len;
}

int rtcp_write_bye(uint8_t *buf, size_t size, uint32_t ssrc)
{
	if (!buf)
		return -EINVAL;
	if (size < 8)
		return -ENOSPC;
	buf[0] = 0x81;
	buf[1] = RTCP_PT_BYE;
	wr16(buf + 2, 1);
	wr32(buf + 4, ssrc);
	return 8;
}

uint64_t rtcp_ntp_from_us(uint64_t us)
{
	uint64_t sec = us / 1000000;
	uint64_t frac = ((us % 1000000) << 32) / 1000000;
	return sec << 32 | frac;
}

uint32_t rtcp_dlsr(uint64_t now_us, uint64_t sr_rx_us)
{
	if (now_us <= sr_rx_us)
		return 0;
	uint64_t d = now_us - sr_rx_us;
	/* 0xffffffff / 65536 s is about 18 hours */
	if (d >= (uint64_t)0xffffffff * 1000000 / 65536)
		return 0xffffffff;
	return (uint32_t)((d << 16) / 1000000);
}

int rtcp_rtt_us(uint32_t now_mid, uint32_t lsr, uint32_t dlsr, uint64_t *rtt_us)
{
	if (!rtt_us)
		return -EINVAL;
	if (lsr == 0)
		return -ENOENT;
	int32_t rtt = (int32_t)(now_mid - lsr - dlsr);
	if (rtt < 0) {
		if (rtt < -66) /* 66/65536 s ~ 1 ms */
			return -ERANGE;
		rtt = 0;
	}
	*rtt_us = ((uint64_t)rtt * 1000000 + 32768) >> 16;
	return 0;
}
