/* SRTP-like protection of RTP/RTCP on ChaCha20-Poly1305; see mediacrypt.h
 * for the packet layouts and why they are so. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "p2pcall/bytes.h"
#include "p2pcall/mediacrypt.h"
#include "p2pcall/replay.h"
#include "p2pcall/rtcp.h"

#define KDF_CTX        "p2pmedia"
#define KDF_ID_RTP     1
#define KDF_ID_RTCP    2
#define RTP_MIN        12
#define RTCP_CLEAR     8               /* header + sender SSRC */
#define RTCP_TRAILER   4               /* E flag + 31-bit index */
#define RTCP_E_FLAG    0x80000000u
#define RTCP_IDX_MAX   0x7fffffffu
#define INDEX_MAX      ((UINT64_C(1) << 48) - 1)

/* One RTP stream (SSRC) of one direction. The sender uses `top` as the
 * highest index it protected; the receiver uses win.top. */
struct stream {
	bool     used;
	uint32_t ssrc;
	uint64_t top;       /* sender: highest index sent */
	uint64_t last_use;  /* for replacing the least recently used */
	struct replay_window win;
};

struct direction {
	uint8_t rtp_key[crypto_aead_chacha20poly1305_ietf_KEYBYTES];
	uint8_t rtcp_key[crypto_aead_chacha20poly1305_ietf_KEYBYTES];
	struct stream streams[MEDIACRYPT_MAX_SSRC];
};

struct mediacrypt {
	struct direction tx, rx;
	uint32_t tx_rtcp_next;          /* next SRTCP index to send */
	bool     tx_rtcp_exhausted;
	struct replay_window rx_rtcp;   /* one index space per direction */
	uint64_t tick;
	struct mediacrypt_counts counts;
};

static int split_key(struct direction *d, const uint8_t key[MEDIACRYPT_KEY_LEN])
{
	if (crypto_kdf_derive_from_key(d->rtp_key, sizeof(d->rtp_key), KDF_ID_RTP,
				       KDF_CTX, key) != 0 ||
	    crypto_kdf_derive_from_key(d->rtcp_key, sizeof(d->rtcp_key), KDF_ID_RTCP,
				       KDF_CTX, key) != 0)
		return -EIO;
	return 0;
}

int mediacrypt_new(struct mediacrypt **out, const struct mediacrypt_keys *k)
{
	if (!out || !k)
		return -EINVAL;
	*out = NULL;
	if (sodium_init() < 0)
		return -EIO;
	struct mediacrypt *mc = calloc(1, sizeof(*mc));
	if (!mc)
		return -ENOMEM;
	int rc = split_key(&mc->tx, k->tx);
	if (rc == 0)
		rc = split_key(&mc->rx, k->rx);
	if (rc != 0) {
		mediacrypt_free(mc);
		return rc;
	}
	replay_init(&mc->rx_rtcp);
	*out = mc;
	return 0;
}

void mediacrypt_free(struct mediacrypt *mc)
{
	if (!mc)
		return;
	sodium_memzero(mc, sizeof(*mc));
	free(mc);
}

void mediacrypt_counts(const struct mediacrypt *mc, struct mediacrypt_counts *c)
{
	if (mc && c)
		*c = mc->counts;
}

/* Length of the clear RTP header (fixed part, CSRCs, extension), or 0 if
 * it is not a version-2 packet or does not fit in len. */
static size_t rtp_header_len(const uint8_t *p, size_t len)
{
	if (len < RTP_MIN || p[0] >> 6 != 2)
		return 0;
	size_t h = RTP_MIN + 4u * (p[0] & 0x0f);
	if (p[0] & 0x10) {
		if (h + 4 > len)
			return 0;
		h += 4 + 4u * rd16(p + h + 2);
	}
	return h <= len ? h : 0;
}

/* RFC 3711 §3.3.1: the index of seq closest to the highest one known. */
static bool estimate_index(uint64_t top, uint16_t seq, uint64_t *idx)
{
	uint64_t roc = top >> 16;
	uint16_t s_l = (uint16_t)top;
	if (s_l < 32768) {
		if (seq > s_l && seq - s_l > 32768) {
			if (roc == 0)
				return false;   /* before the stream began */
			roc--;
		}
	} else if (seq < s_l - 32768) {
		roc++;
	}
	*idx = roc << 16 | seq;
	return *idx <= INDEX_MAX;
}

static struct stream *find_stream(struct direction *d, uint32_t ssrc)
{
	for (size_t i = 0; i < MEDIACRYPT_MAX_SSRC; i++)
		if (d->streams[i].used && d->streams[i].ssrc == ssrc)
			return &d->streams[i];
	return NULL;
}

/* A free slot, else the least recently used one. */
static struct stream *new_stream(struct direction *d, uint32_t ssrc)
{
	struct stream *s = &d->streams[0];
	for (size_t i = 0; i < MEDIACRYPT_MAX_SSRC; i++) {
		struct stream *c = &d->streams[i];
		if (!c->used) {
			s = c;
			break;
		}
		if (c->last_use < s->last_use)
			s = c;
	}
	memset(s, 0, sizeof(*s));
	s->used = true;
	s->ssrc = ssrc;
	replay_init(&s->win);
	return s;
}

static void rtp_nonce(uint8_t n[12], uint32_t ssrc, uint64_t idx)
{
	wr32(n, ssrc);
	n[4] = n[5] = 0;
	wr16(n + 6, (uint16_t)(idx >> 32));
	wr32(n + 8, (uint32_t)idx);
}

static void rtcp_nonce(uint8_t n[12], uint32_t ssrc, uint32_t idx)
{
	wr32(n, ssrc);
	wr32(n + 4, 0);
	wr32(n + 8, idx);
}

static int protect_rtp(struct mediacrypt *mc, uint8_t *pkt, size_t len, size_t cap)
{
	size_t h = rtp_header_len(pkt, len);
	if (h == 0)
		return -EINVAL;
	if (cap < len + MEDIACRYPT_TAG_LEN || len + MEDIACRYPT_TAG_LEN > INT32_MAX)
		return -ENOSPC;
	uint32_t ssrc = rd32(pkt + 8);
	uint16_t seq = rd16(pkt + 2);
	struct stream *s = find_stream(&mc->tx, ssrc);
	uint64_t idx = seq;
	if (s) {
		if (!estimate_index(s->top, seq, &idx))
			return idx > INDEX_MAX ? -EOVERFLOW : -EALREADY;
		if (idx <= s->top)
			return -EALREADY;
	}
	uint8_t nonce[12];
	rtp_nonce(nonce, ssrc, idx);
	crypto_aead_chacha20poly1305_ietf_encrypt_detached(
		pkt + h, pkt + len, NULL, pkt + h, len - h, pkt, h, NULL, nonce,
		mc->tx.rtp_key);
	if (!s)
		s = new_stream(&mc->tx, ssrc);
	s->top = idx;
	s->last_use = ++mc->tick;
	return (int)(len + MEDIACRYPT_TAG_LEN);
}

static int protect_rtcp(struct mediacrypt *mc, uint8_t *pkt, size_t len, size_t cap)
{
	size_t add = RTCP_TRAILER + MEDIACRYPT_TAG_LEN;
	if (len < RTCP_CLEAR)
		return -EINVAL;
	if (cap < len + add || len + add > INT32_MAX)
		return -ENOSPC;
	if (mc->tx_rtcp_exhausted)
		return -EOVERFLOW;
	uint32_t idx = mc->tx_rtcp_next;
	uint8_t ad[RTCP_CLEAR + RTCP_TRAILER];
	memcpy(ad, pkt, RTCP_CLEAR);
	wr32(ad + RTCP_CLEAR, RTCP_E_FLAG | idx);
	uint8_t nonce[12];
	rtcp_nonce(nonce, rd32(pkt + 4), idx);
	crypto_aead_chacha20poly1305_ietf_encrypt_detached(
		pkt + RTCP_CLEAR, pkt + len + RTCP_TRAILER, NULL, pkt + RTCP_CLEAR,
		len - RTCP_CLEAR, ad, sizeof(ad), NULL, nonce, mc->tx.rtcp_key);
	memcpy(pkt + len, ad + RTCP_CLEAR, RTCP_TRAILER);
	if (idx == RTCP_IDX_MAX)
		mc->tx_rtcp_exhausted = true;
	else
		mc->tx_rtcp_next = idx + 1;
	return (int)(len + add);
}

int mediacrypt_protect(struct mediacrypt *mc, uint8_t *pkt, size_t len, size_t cap)
{
	if (!mc || !pkt || len < 2 || pkt[0] >> 6 != 2)
		return -EINVAL;
	if (rtcp_is_rtcp(pkt, len))
		return protect_rtcp(mc, pkt, len, cap);
	return protect_rtp(mc, pkt, len, cap);
}

static int malformed(struct mediacrypt *mc)
{
	mc->counts.malformed++;
	return -EPROTO;
}

static int unprotect_rtp(struct mediacrypt *mc, uint8_t *pkt, size_t len)
{
	size_t h = rtp_header_len(pkt, len);
	if (h == 0 || len - h < MEDIACRYPT_TAG_LEN)
		return malformed(mc);
	size_t clen = len - h - MEDIACRYPT_TAG_LEN;
	uint32_t ssrc = rd32(pkt + 8);
	uint16_t seq = rd16(pkt + 2);
	struct stream *s = find_stream(&mc->rx, ssrc);
	uint64_t idx = seq;         /* a new stream starts with ROC 0 */
	if (s && (!estimate_index(s->win.top, seq, &idx) ||
		  replay_check(&s->win, idx) != 0)) {
		mc->counts.replayed++;
		return -EALREADY;
	}
	uint8_t nonce[12];
	rtp_nonce(nonce, ssrc, idx);
	if (crypto_aead_chacha20poly1305_ietf_decrypt_detached(
		    pkt + h, NULL, pkt + h, clen, pkt + h + clen, pkt, h, nonce,
		    mc->rx.rtp_key) != 0) {
		mc->counts.tampered++;
		return -EBADMSG;
	}
	if (!s)
		s = new_stream(&mc->rx, ssrc);
	replay_accept(&s->win, idx);
	s->last_use = ++mc->tick;
	mc->counts.ok++;
	return (int)(h + clen);
}

static int unprotect_rtcp(struct mediacrypt *mc, uint8_t *pkt, size_t len)
{
	if (len < RTCP_CLEAR + RTCP_TRAILER + MEDIACRYPT_TAG_LEN)
		return malformed(mc);
	size_t clen = len - RTCP_CLEAR - RTCP_TRAILER - MEDIACRYPT_TAG_LEN;
	const uint8_t *trailer = pkt + RTCP_CLEAR + clen;
	uint32_t e_idx = rd32(trailer);
	if (!(e_idx & RTCP_E_FLAG))
		return malformed(mc);
	uint32_t idx = e_idx & RTCP_IDX_MAX;
	if (replay_check(&mc->rx_rtcp, idx) != 0) {
		mc->counts.replayed++;
		return -EALREADY;
	}
	uint8_t ad[RTCP_CLEAR + RTCP_TRAILER];
	memcpy(ad, pkt, RTCP_CLEAR);
	memcpy(ad + RTCP_CLEAR, trailer, RTCP_TRAILER);
	uint8_t nonce[12];
	rtcp_nonce(nonce, rd32(pkt + 4), idx);
	if (crypto_aead_chacha20poly1305_ietf_decrypt_detached(
		    pkt + RTCP_CLEAR, NULL, pkt + RTCP_CLEAR, clen,
		    trailer + RTCP_TRAILER, ad, sizeof(ad), nonce,
		    mc->rx.rtcp_key) != 0) {
		mc->counts.tampered++;
		return -EBADMSG;
	}
	replay_accept(&mc->rx_rtcp, idx);
	mc->counts.ok++;
	return (int)(RTCP_CLEAR + clen);
}

int mediacrypt_unprotect(struct mediacrypt *mc, uint8_t *pkt, size_t len)
{
	if (!mc || !pkt)
		return -EINVAL;
	if (len < 2 || pkt[0] >> 6 != 2 || len > INT32_MAX)
		return malformed(mc);
	if (rtcp_is_rtcp(pkt, len))
		return unprotect_rtcp(mc, pkt, len);
	return unprotect_rtp(mc, pkt, len);
}
