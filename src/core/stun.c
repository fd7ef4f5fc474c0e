/* STUN message codec (RFC 8489). See include/p2pcall/stun.h. */
#include "p2pcall/stun.h"
#include "p2pcall/bytes.h"

#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include <nettle/hmac.h>
#include <nettle/md5.h>
#include <nettle/memops.h>

#include "p2pcall/crc32.h"

static size_t pad4(size_t n)
{
	return (n + 3) & ~(size_t)3;
}

const char *stun_class_name(enum stun_class cls)
{
	switch (cls) {
	case STUN_CLASS_REQUEST: return "request";
	case STUN_CLASS_INDICATION: return "indication";
	case STUN_CLASS_SUCCESS: return "success";
	case STUN_CLASS_ERROR: return "error";
	}
	return "?";
}

/* Header checks shared by the demux predicate and the parser. */
static bool header_ok(const uint8_t *p, size_t n)
{
	if (!p || n < STUN_HEADER_LEN || (p[0] & 0xC0))
		return false;
	size_t len = rd16(p + 2);
	return (len & 3) == 0 && len + STUN_HEADER_LEN == n &&
	       rd32(p + 4) == STUN_MAGIC_COOKIE;
}

bool stun_is_message(const uint8_t *p, size_t n)
{
	/* RFC 7983 reserves first bytes 0..3 for STUN on a shared port; the
	 * methods we use (Binding, TURN) all fit. */
	return header_ok(p, n) && p[0] <= 3;
}

/* Message type: M11..M7 C1 M6..M4 C0 M3..M0 (RFC 8489 figure 3). */
static uint16_t type_encode(uint16_t method, enum stun_class cls)
{
	unsigned c = (unsigned)cls;
	return (uint16_t)(((method & 0xF80u) << 2) | ((method & 0x070u) << 1) |
			  (method & 0x00Fu) | ((c & 2u) << 7) | ((c & 1u) << 4));
}

static void type_decode(uint16_t t, uint16_t *method, enum stun_class *cls)
{
	*method = (uint16_t)(((t & 0x3E00u) >> 2) | ((t & 0x00E0u) >> 1) |
			     (t & 0x000Fu));
	*cls = (enum stun_class)(((t & 0x0100u) >> 7) | ((t & 0x0010u) >> 4));
}

/* Address attribute value (RFC 8489 14.1/14.2):
 *   0x00 | family (1 = IPv4, 2 = IPv6) | port (16) | address (32 or 128)
 * XOR form: port ^ top 16 bits of the cookie, address ^ cookie || txid. */
static int decode_address(const uint8_t *v, size_t len, bool xor,
			  const uint8_t txid[STUN_TXID_LEN],
			  struct sockaddr_storage *out)
{
	uint8_t mask[16];

	wr32(mask, STUN_MAGIC_COOKIE);
	memcpy(mask + 4, txid, STUN_TXID_LEN);
	if (len < 4)
		return -EBADMSG;
	uint16_t port = rd16(v + 2);
	if (xor)
		port ^= (uint16_t)(STUN_MAGIC_COOKIE >> 16);
	memset(out, 0, sizeof(*out));
	if (v[1] == 0x01 && len == 8) {
		struct sockaddr_in *sin = (struct sockaddr_in *)out;
		uint8_t a[4];
		for (int i = 0; i < 4; i++)
			a[i] = (uint8_t)(v[4 + i] ^ (xor ? mask[i] : 0));
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		memcpy(&sin->sin_addr, a, 4);
		return 0;
	}
	if (v[1] == 0x02 && len == 20) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)out;
		uint8_t a[16];
		for (int i = 0; i < 16; i++)
			a[i] = (uint8_t)(v[4 + i] ^ (xor ? mask[i] : 0));
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		memcpy(&sin6->sin6_addr, a, 16);
		return 0;
	}
	return -EBADMSG;
}

int stun_attr_address(const struct stun_msg *m, const struct stun_attr *a,
		      bool xor, struct sockaddr_storage *out)
{
	if (!m || !a || !out)
		return -EINVAL;
	return decode_address(a->value, a->len, xor, m->txid, out);
}

static bool is_ours(uint16_t t)
{
	return (t >= STUN_ATTR_P2PCALL_FIRST_REQ &&
		t <= STUN_ATTR_P2PCALL_LAST_REQ) ||
	       (t >= STUN_ATTR_P2PCALL_FIRST_OPT &&
		t <= STUN_ATTR_P2PCALL_LAST_OPT);
}

/* Interprets one attribute we understand. Unknown comprehension-required
 * types are collected; everything else passes. */
static int parse_attr(struct stun_msg *m, uint16_t type, const uint8_t *v,
		      uint16_t len)
{
	switch (type) {
	case STUN_ATTR_MAPPED_ADDRESS:
		if (m->has_mapped)
			return 0; /* only the first one counts */
		if (decode_address(v, len, false, m->txid, &m->mapped) < 0)
			return -EBADMSG;
		m->has_mapped = true;
		return 0;
	case STUN_ATTR_XOR_MAPPED_ADDRESS:
		if (m->has_xor_mapped)
			return 0;
		if (decode_address(v, len, true, m->txid, &m->xor_mapped) < 0)
			return -EBADMSG;
		m->has_xor_mapped = true;
		return 0;
	case STUN_ATTR_USERNAME:
		if (len > 513) /* RFC 8489 14.3 */
			return -EBADMSG;
		if (!m->username) {
			m->username = v;
			m->username_len = len;
		}
		return 0;
	case STUN_ATTR_SOFTWARE:
		if (len > 763) /* 128 characters of up to 6 bytes... roughly */
			return -EBADMSG;
		if (!m->software) {
			m->software = v;
			m->software_len = len;
		}
		return 0;
	case STUN_ATTR_REALM:
		if (len > 763)
			return -EBADMSG;
		if (!m->realm) {
			m->realm = v;
			m->realm_len = len;
		}
		return 0;
	case STUN_ATTR_NONCE:
		if (len > 763)
			return -EBADMSG;
		if (!m->nonce) {
			m->nonce = v;
			m->nonce_len = len;
		}
		return 0;
	case STUN_ATTR_ERROR_CODE: {
		/* 0 (21 bits) | class (3 bits) | number (8 bits) | reason */
		if (len < 4 || len > 4 + 763)
			return -EBADMSG;
		unsigned cls = v[2] & 7u, num = v[3];
		if (cls < 3 || cls > 6 || num > 99)
			return -EBADMSG;
		if (!m->has_error) {
			m->has_error = true;
			m->error_code = (uint16_t)(cls * 100 + num);
			m->error_reason = v + 4;
			m->error_reason_len = len - 4u;
		}
		return 0;
	}
	case STUN_ATTR_UNKNOWN_ATTRIBUTES:
		if (len & 1)
			return -EBADMSG;
		for (size_t i = 0; i + 1 < len; i += 2)
			if (m->n_unknown_listed < STUN_MAX_UNKNOWN)
				m->unknown_listed[m->n_unknown_listed++] = rd16(v + i);
		return 0;
	case STUN_ATTR_PRIORITY:
		if (len != 4)
			return -EBADMSG;
		if (!m->has_priority) {
			m->has_priority = true;
			m->priority = rd32(v);
		}
		return 0;
	case STUN_ATTR_USE_CANDIDATE:
		if (len != 0)
			return -EBADMSG;
		m->use_candidate = true;
		return 0;
	case STUN_ATTR_ICE_CONTROLLED:
		if (len != 8)
			return -EBADMSG;
		if (!m->has_ice_controlled) {
			m->has_ice_controlled = true;
			m->ice_controlled = rd64(v);
		}
		return 0;
	case STUN_ATTR_ICE_CONTROLLING:
		if (len != 8)
			return -EBADMSG;
		if (!m->has_ice_controlling) {
			m->has_ice_controlling = true;
			m->ice_controlling = rd64(v);
		}
		return 0;
	/* Known, value checked by whoever uses them (TURN, long-term auth). */
	case STUN_ATTR_CHANNEL_NUMBER:
	case STUN_ATTR_LIFETIME:
	case STUN_ATTR_XOR_PEER_ADDRESS:
	case STUN_ATTR_DATA:
	case STUN_ATTR_XOR_RELAYED_ADDRESS:
	case STUN_ATTR_REQUESTED_TRANSPORT:
	case STUN_ATTR_PASSWORD_ALGORITHM:
	case STUN_ATTR_USERHASH:
		return 0;
	default:
		if (type < 0x8000 && !is_ours(type)) {
			if (m->n_unknown < STUN_MAX_UNKNOWN)
				m->unknown[m->n_unknown] = type;
			m->n_unknown++;
		}
		return 0;
	}
}

int stun_parse(const uint8_t *p, size_t n, struct stun_msg *m)
{
	if (!p || !m)
		return -EINVAL;
	memset(m, 0, sizeof(*m));
	if (!header_ok(p, n))
		return -EBADMSG;
	m->type = rd16(p);
	type_decode(m->type, &m->method, &m->cls);
	memcpy(m->txid, p + 8, STUN_TXID_LEN);
	m->length = n;

	/* After MESSAGE-INTEGRITY only MESSAGE-INTEGRITY-SHA256 and
	 * FINGERPRINT count; after MESSAGE-INTEGRITY-SHA256 only FINGERPRINT;
	 * nothing may follow FINGERPRINT. */
	enum { OPEN, AFTER_MI, AFTER_MI256 } state = OPEN;
	size_t off = STUN_HEADER_LEN;
	while (off < n) {
		if (m->has_fingerprint)
			return -EBADMSG;
		if (n - off < 4)
			return -EBADMSG;
		uint16_t type = rd16(p + off);
		uint16_t len = rd16(p + off + 2);
		size_t vo = off + 4;
		if (pad4(len) > n - vo)
			return -EBADMSG;
		const uint8_t *v = p + vo;
		bool process = true;

		if (type == STUN_ATTR_FINGERPRINT) {
			if (len != 4 || vo + 4 != n)
				return -EBADMSG;
			uint32_t want = crc32_compute(p, off) ^ STUN_FINGERPRINT_XOR;
			if (rd32(v) != want)
				return -EBADMSG;
			m->has_fingerprint = true;
		} else if (type == STUN_ATTR_MESSAGE_INTEGRITY) {
			if (state != OPEN) {
				process = false;
			} else {
				if (len != STUN_INTEGRITY_LEN)
					return -EBADMSG;
				m->has_integrity = true;
				m->integrity_offset = off;
				state = AFTER_MI;
			}
		} else if (type == STUN_ATTR_MESSAGE_INTEGRITY_SHA256) {
			if (state == AFTER_MI256) {
				process = false;
			} else {
				if (len < 16 || len > 32 || (len & 3))
					return -EBADMSG;
				m->has_integrity_sha256 = true;
				m->integrity_sha256_offset = off;
				m->integrity_sha256_len = len;
				state = AFTER_MI256;
			}
		} else if (state != OPEN) {
			process = false; /* RFC 8489 14.5: ignored */
		} else {
			int r = parse_attr(m, type, v, len);
			if (r < 0)
				return r;
		}
		if (process) {
			if (m->n_attrs >= STUN_MAX_ATTRS)
				return -EBADMSG;
			m->attrs[m->n_attrs++] = (struct stun_attr){
				.type = type, .len = len, .value = v, .offset = off };
		}
		off = vo + pad4(len);
	}
	return 0;
}

const struct stun_attr *stun_msg_find(const struct stun_msg *m, uint16_t type)
{
	if (!m)
		return NULL;
	for (size_t i = 0; i < m->n_attrs; i++)
		if (m->attrs[i].type == type)
			return &m->attrs[i];
	return NULL;
}

/* HMAC input (RFC 8489 14.5): the message up to the integrity attribute,
 * with the header's length field set as if the message ended right after
 * that attribute. */
static void hmac_sha1_over(const uint8_t *p, size_t upto, size_t attr_len,
			   const uint8_t *key, size_t keylen,
			   uint8_t out[SHA1_DIGEST_SIZE])
{
	struct hmac_sha1_ctx ctx;
	uint8_t hdr[STUN_HEADER_LEN];

	memcpy(hdr, p, STUN_HEADER_LEN);
	wr16(hdr + 2, (uint16_t)(upto + 4 + attr_len - STUN_HEADER_LEN));
	hmac_sha1_set_key(&ctx, keylen, key);
	hmac_sha1_update(&ctx, STUN_HEADER_LEN, hdr);
	hmac_sha1_update(&ctx, upto - STUN_HEADER_LEN, p + STUN_HEADER_LEN);
	hmac_sha1_digest(&ctx, SHA1_DIGEST_SIZE, out);
}

static void hmac_sha256_over(const uint8_t *p, size_t upto, size_t attr_len,
			     const uint8_t *key, size_t keylen,
			     uint8_t out[SHA256_DIGEST_SIZE])
{
	struct hmac_sha256_ctx ctx;
	uint8_t hdr[STUN_HEADER_LEN];

	memcpy(hdr, p, STUN_HEADER_LEN);
	wr16(hdr + 2, (uint16_t)(upto + 4 + attr_len - STUN_HEADER_LEN));
	hmac_sha256_set_key(&ctx, keylen, key);
	hmac_sha256_update(&ctx, STUN_HEADER_LEN, hdr);
	hmac_sha256_update(&ctx, upto - STUN_HEADER_LEN, p + STUN_HEADER_LEN);
	hmac_sha256_digest(&ctx, SHA256_DIGEST_SIZE, out);
}

int stun_verify_integrity(const struct stun_msg *m, const uint8_t *p,
			  const uint8_t *key, size_t keylen)
{
	uint8_t mac[SHA1_DIGEST_SIZE];

	if (!m || !p || (!key && keylen))
		return -EINVAL;
	if (!m->has_integrity)
		return -ENOENT;
	size_t off = m->integrity_offset;
	hmac_sha1_over(p, off, STUN_INTEGRITY_LEN, key, keylen, mac);
	return memeql_sec(mac, p + off + 4, STUN_INTEGRITY_LEN) ? 0 : -EACCES;
}

int stun_verify_integrity_sha256(const struct stun_msg *m, const uint8_t *p,
				 const uint8_t *key, size_t keylen)
{
	uint8_t mac[SHA256_DIGEST_SIZE];

	if (!m || !p || (!key && keylen))
		return -EINVAL;
	if (!m->has_integrity_sha256)
		return -ENOENT;
	size_t off = m->integrity_sha256_offset;
	size_t len = m->integrity_sha256_len;
	hmac_sha256_over(p, off, len, key, keylen, mac);
	return memeql_sec(mac, p + off + 4, len) ? 0 : -EACCES;
}

void stun_long_term_key(const char *username, const char *realm,
			const char *password, uint8_t key[16])
{
	struct md5_ctx ctx;

	md5_init(&ctx);
	md5_update(&ctx, strlen(username), (const uint8_t *)username);
	md5_update(&ctx, 1, (const uint8_t *)":");
	md5_update(&ctx, strlen(realm), (const uint8_t *)realm);
	md5_update(&ctx, 1, (const uint8_t *)":");
	md5_update(&ctx, strlen(password), (const uint8_t *)password);
	md5_digest(&ctx, MD5_DIGEST_SIZE, key);
}

/* --- writer --- */

int stun_writer_init(struct stun_writer *w, uint8_t *buf, size_t cap,
		     uint16_t method, enum stun_class cls,
		     const uint8_t txid[STUN_TXID_LEN])
{
	if (!w)
		return -EINVAL;
	memset(w, 0, sizeof(*w));
	w->buf = buf;
	w->cap = cap;
	if (!buf || !txid || method > 0xFFF || (unsigned)cls > 3)
		return w->err = -EINVAL;
	if (cap < STUN_HEADER_LEN)
		return w->err = -ENOSPC;
	wr16(buf, type_encode(method, cls));
	wr16(buf + 2, 0);
	wr32(buf + 4, STUN_MAGIC_COOKIE);
	memcpy(buf + 8, txid, STUN_TXID_LEN);
	w->len = STUN_HEADER_LEN;
	return 0;
}

/* Reserves an attribute of len value bytes, writes its header and padding,
 * updates the message length, and returns where the value goes (NULL on
 * error). */
static uint8_t *reserve(struct stun_writer *w, uint16_t type, size_t len)
{
	if (w->err)
		return NULL;
	if (len > 0xFFFF || pad4(len) + 4 > w->cap - w->len ||
	    w->len + 4 + pad4(len) - STUN_HEADER_LEN > 0xFFFF) {
		w->err = -ENOSPC;
		return NULL;
	}
	uint8_t *a = w->buf + w->len;
	wr16(a, type);
	wr16(a + 2, (uint16_t)len);
	memset(a + 4 + len, w->pad, pad4(len) - len);
	w->len += 4 + pad4(len);
	wr16(w->buf + 2, (uint16_t)(w->len - STUN_HEADER_LEN));
	return a + 4;
}

int stun_put_bytes(struct stun_writer *w, uint16_t type, const void *v,
		   size_t len)
{
	if (!w || (!v && len))
		return -EINVAL;
	uint8_t *d = reserve(w, type, len);
	if (!d)
		return w->err;
	if (len)
		memcpy(d, v, len);
	return 0;
}

int stun_put_u32(struct stun_writer *w, uint16_t type, uint32_t v)
{
	uint8_t b[4];

	wr32(b, v);
	return stun_put_bytes(w, type, b, 4);
}

int stun_put_u64(struct stun_writer *w, uint16_t type, uint64_t v)
{
	uint8_t b[8];

	wr32(b, (uint32_t)(v >> 32));
	wr32(b + 4, (uint32_t)v);
	return stun_put_bytes(w, type, b, 8);
}

int stun_put_flag(struct stun_writer *w, uint16_t type)
{
	return stun_put_bytes(w, type, NULL, 0);
}

int stun_put_address(struct stun_writer *w, uint16_t type,
		     const struct sockaddr *sa, bool xor)
{
	uint8_t v[20], mask[16];
	size_t alen;
	uint16_t port;
	const uint8_t *addr;

	if (!w || !sa)
		return -EINVAL;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
		v[1] = 0x01;
		alen = 4;
		port = ntohs(sin->sin_port);
		addr = (const uint8_t *)&sin->sin_addr;
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
		v[1] = 0x02;
		alen = 16;
		port = ntohs(sin6->sin6_port);
		addr = (const uint8_t *)&sin6->sin6_addr;
	} else {
		if (!w->err)
			w->err = -EINVAL;
		return -EINVAL;
	}
	if (w->err)
		return w->err;
	wr32(mask, STUN_MAGIC_COOKIE);
	memcpy(mask + 4, w->buf + 8, STUN_TXID_LEN);
	v[0] = 0;
	wr16(v + 2, xor ? (uint16_t)(port ^ (STUN_MAGIC_COOKIE >> 16)) : port);
	for (size_t i = 0; i < alen; i++)
		v[4 + i] = (uint8_t)(addr[i] ^ (xor ? mask[i] : 0));
	return stun_put_bytes(w, type, v, 4 + alen);
}

int stun_put_xor_address(struct stun_writer *w, uint16_t type,
			 const struct sockaddr *sa)
{
	return stun_put_address(w, type, sa, true);
}

int stun_put_error(struct stun_writer *w, uint16_t code, const char *reason)
{
	if (!w)
		return -EINVAL;
	if (code < 300 || code > 699) {
		if (!w->err)
			w->err = -EINVAL;
		return -EINVAL;
	}
	size_t rlen = reason ? strlen(reason) : 0;
	if (rlen > 763)
		rlen = 763;
	uint8_t *d = reserve(w, STUN_ATTR_ERROR_CODE, 4 + rlen);
	if (!d)
		return w->err;
	d[0] = d[1] = 0;
	d[2] = (uint8_t)(code / 100);
	d[3] = (uint8_t)(code % 100);
	if (rlen)
		memcpy(d + 4, reason, rlen);
	return 0;
}

int stun_put_software(struct stun_writer *w, const char *software)
{
	if (!software)
		return -EINVAL;
	size_t n = strlen(software);
	return stun_put_bytes(w, STUN_ATTR_SOFTWARE, software, n > 763 ? 763 : n);
}

int stun_put_unknown_attributes(struct stun_writer *w, const uint16_t *types,
				size_t n)
{
	if (!w || (!types && n) || n > 0x7FFF)
		return -EINVAL;
	uint8_t *d = reserve(w, STUN_ATTR_UNKNOWN_ATTRIBUTES, n * 2);
	if (!d)
		return w->err;
	for (size_t i = 0; i < n; i++)
		wr16(d + 2 * i, types[i]);
	return 0;
}

int stun_put_integrity(struct stun_writer *w, const uint8_t *key,
		       size_t keylen)
{
	if (!w || (!key && keylen))
		return -EINVAL;
	size_t off = w->len;
	uint8_t *d = reserve(w, STUN_ATTR_MESSAGE_INTEGRITY, STUN_INTEGRITY_LEN);
	if (!d)
		return w->err;
	hmac_sha1_over(w->buf, off, STUN_INTEGRITY_LEN, key, keylen, d);
	return 0;
}

int stun_put_integrity_sha256(struct stun_writer *w, const uint8_t *key,
			      size_t keylen)
{
	if (!w || (!key && keylen))
		return -EINVAL;
	size_t off = w->len;
	uint8_t *d = reserve(w, STUN_ATTR_MESSAGE_INTEGRITY_SHA256,
			     STUN_INTEGRITY_SHA256_LEN);
	if (!d)
		return w->err;
	hmac_sha256_over(w->buf, off, STUN_INTEGRITY_SHA256_LEN, key, keylen, d);
	return 0;
}

ssize_t stun_writer_finish(struct stun_writer *w, bool fingerprint)
{
	if (!w)
		return -EINVAL;
	if (fingerprint && !w->err) {
		size_t off = w->len;
		uint8_t *d = reserve(w, STUN_ATTR_FINGERPRINT, 4);
		if (d)
			wr32(d, crc32_compute(w->buf, off) ^ STUN_FINGERPRINT_XOR);
	}
	if (w->err)
		return w->err;
	return (ssize_t)w->len;
}

/* --- Binding helpers --- */

ssize_t stun_build_binding(uint8_t *buf, size_t cap, enum stun_class cls,
			   const uint8_t txid[STUN_TXID_LEN],
			   const struct stun_binding_opts *o)
{
	struct stun_writer w;

	if (cls != STUN_CLASS_REQUEST && cls != STUN_CLASS_INDICATION)
		return -EINVAL;
	int r = stun_writer_init(&w, buf, cap, STUN_METHOD_BINDING, cls, txid);
	if (r < 0)
		return r;
	if (o) {
		if (o->ice_controlling && o->ice_controlled)
			return -EINVAL;
		if (o->username)
			stun_put_bytes(&w, STUN_ATTR_USERNAME, o->username,
				       strlen(o->username));
		if (o->priority)
			stun_put_u32(&w, STUN_ATTR_PRIORITY, o->priority);
		if (o->use_candidate)
			stun_put_flag(&w, STUN_ATTR_USE_CANDIDATE);
		if (o->ice_controlling)
			stun_put_u64(&w, STUN_ATTR_ICE_CONTROLLING, o->tiebreaker);
		if (o->ice_controlled)
			stun_put_u64(&w, STUN_ATTR_ICE_CONTROLLED, o->tiebreaker);
		if (o->software)
			stun_put_software(&w, o->software);
		if (o->key)
			stun_put_integrity(&w, o->key, o->keylen);
	}
	return stun_writer_finish(&w, !(o && o->no_fingerprint));
}

ssize_t stun_build_binding_request(uint8_t *buf, size_t cap,
				   const uint8_t txid[STUN_TXID_LEN],
				   const struct stun_binding_opts *opts)
{
	return stun_build_binding(buf, cap, STUN_CLASS_REQUEST, txid, opts);
}

int stun_parse_binding_response(const uint8_t *p, size_t n,
				const uint8_t txid[STUN_TXID_LEN],
				struct sockaddr_storage *mapped,
				uint16_t *err_code)
{
	struct stun_msg m;

	if (stun_parse(p, n, &m) < 0)
		return -EBADMSG;
	if (m.method != STUN_METHOD_BINDING)
		return -EBADMSG;
	if (txid && memcmp(txid, m.txid, STUN_TXID_LEN) != 0)
		return -EBADMSG;
	if (m.cls == STUN_CLASS_ERROR) {
		if (err_code)
			*err_code = m.has_error ? m.error_code : 0;
		return -EPROTO;
	}
	if (m.cls != STUN_CLASS_SUCCESS)
		return -EBADMSG;
	if (m.has_xor_mapped) {
		if (mapped)
			*mapped = m.xor_mapped;
		return 0;
	}
	if (m.has_mapped) {
		if (mapped)
			*mapped = m.mapped;
		return 0;
	}
	return -ENOENT;
}
