/* RTP fixed header codec (RFC 3550 §5.1), Opus TOC duration (RFC 6716). */
#include "p2pcall/rtp.h"
#include "p2pcall/bytes.h"

#include <errno.h>
#include <string.h>

bool rtp_demux_is_rtp(const uint8_t *buf, size_t len)
{
	return buf && len > 0 && buf[0] >= 128 && buf[0] <= 191;
}

int rtp_parse(const uint8_t *buf, size_t len, struct rtp_pkt *out)
{
	if (!buf || !out)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	if (len < RTP_HDR_LEN || buf[0] >> 6 != RTP_VERSION)
		return -EBADMSG;

	out->padding = buf[0] & 0x20;
	out->ext = buf[0] & 0x10;
	out->hdr.cc = buf[0] & 0x0f;
	out->hdr.marker = buf[1] & 0x80;
	out->hdr.pt = buf[1] & 0x7f;
	out->hdr.seq = rd16(buf + 2);
	out->hdr.ts = rd32(buf + 4);
	out->hdr.ssrc = rd32(buf + 8);

	size_t off = RTP_HDR_LEN;
	if (len - off < 4u * out->hdr.cc)
		return -EBADMSG;
	for (unsigned i = 0; i < out->hdr.cc; i++, off += 4)
		out->hdr.csrc[i] = rd32(buf + off);

	if (out->ext) {
		if (len - off < 4)
			return -EBADMSG;
		out->ext_profile = rd16(buf + off);
		size_t words = rd16(buf + off + 2);
		off += 4;
		if ((len - off) / 4 < words)
			return -EBADMSG;
		out->ext_data = buf + off;
		out->ext_len = words * 4;
		off += out->ext_len;
	}

	size_t end = len;
	if (out->padding) {
		/* The count includes itself, so 0 is impossible, and padding
		 * may not eat into the header (RFC 3550 §5.1, A.1). */
		if (len == off)
			return -EBADMSG;
		size_t pad = buf[len - 1];
		if (pad == 0 || pad > len - off)
			return -EBADMSG;
		out->pad_len = pad;
		end = len - pad;
	}
	out->payload = buf + off;
	out->payload_len = end - off;
	return 0;
}

int rtp_write(uint8_t *buf, size_t size, const struct rtp_hdr *h,
	      const uint8_t *payload, size_t plen)
{
	if (!buf || !h || h->pt > 127 || h->cc > RTP_MAX_CSRC ||
	    (!payload && plen > 0))
		return -EINVAL;
	size_t hlen = RTP_HDR_LEN + 4u * h->cc;
	if (size < hlen || size - hlen < plen || hlen + plen > INT32_MAX)
		return -ENOSPC;

	buf[0] = (uint8_t)(RTP_VERSION << 6 | h->cc);
	buf[1] = (uint8_t)((h->marker ? 0x80 : 0) | h->pt);
	wr16(buf + 2, h->seq);
	wr32(buf + 4, h->ts);
	wr32(buf + 8, h->ssrc);
	for (unsigned i = 0; i < h->cc; i++)
		wr32(buf + RTP_HDR_LEN + 4 * i, h->csrc[i]);
	if (plen)
		memcpy(buf + hlen, payload, plen);
	return (int)(hlen + plen);
}

int rtp_opus_samples(const uint8_t *payload, size_t len)
{
	static const uint16_t silk[4] = { 480, 960, 1920, 2880 };
	static const uint16_t celt[4] = { 120, 240, 480, 960 };

	if (!payload || len == 0)
		return -EBADMSG;
	unsigned config = payload[0] >> 3;
	unsigned frame;
	if (config < 12)
		frame = silk[config & 3];
	else if (config < 16)
		frame = (config & 1) ? 960 : 480;
	else
		frame = celt[config & 3];

	unsigned count;
	switch (payload[0] & 3) {
	case 0:
		count = 1;
		break;
	case 1:
	case 2:
		count = 2;
		break;
	default:
		if (len < 2)
			return -EBADMSG;
		count = payload[1] & 0x3f;
		break;
	}
	/* RFC 6716 §3.2.5: at least one frame, at most 120 ms in total. */
	if (count == 0 || count * frame > 5760)
		return -EBADMSG;
	return (int)(count * frame);
}
