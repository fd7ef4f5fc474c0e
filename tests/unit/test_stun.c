/* STUN codec tests: RFC 5769 vectors, writer round trips, hostile input. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "p2pcall/crc32.h"
#include "p2pcall/stun.h"

/* ---- RFC 5769 test vectors, field by field ---- */

static const char rfc_pwd[] = "VOkJxbRl1RmTxUk/WvJxBt";
static const uint8_t rfc_txid[12] = {
	0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae,
};

/* 2.1 Sample Request */
static const uint8_t rfc_req[] = {
	0x00, 0x01, 0x00, 0x58, /* Request type and message length */
	0x21, 0x12, 0xa4, 0x42, /* Magic cookie */
	0xb7, 0xe7, 0xa7, 0x01, /* } */
	0xbc, 0x34, 0xd6, 0x86, /* }  Transaction ID */
	0xfa, 0x87, 0xdf, 0xae, /* } */
	0x80, 0x22, 0x00, 0x10, /* SOFTWARE attribute header */
	0x53, 0x54, 0x55, 0x4e, /* } */
	0x20, 0x74, 0x65, 0x73, /* }  User-agent... */
	0x74, 0x20, 0x63, 0x6c, /* }  ...name */
	0x69, 0x65, 0x6e, 0x74, /* } */
	0x00, 0x24, 0x00, 0x04, /* PRIORITY attribute header */
	0x6e, 0x00, 0x01, 0xff, /* ICE priority value */
	0x80, 0x29, 0x00, 0x08, /* ICE-CONTROLLED attribute header */
	0x93, 0x2f, 0xf9, 0xb1, /* }  Pseudo-random tie breaker... */
	0x51, 0x26, 0x3b, 0x36, /* }   ...for ICE control */
	0x00, 0x06, 0x00, 0x09, /* USERNAME attribute header */
	0x65, 0x76, 0x74, 0x6a, /* } */
	0x3a, 0x68, 0x36, 0x76, /* }  Username (9 bytes) and padding (3 bytes) */
	0x59, 0x20, 0x20, 0x20, /* } */
	0x00, 0x08, 0x00, 0x14, /* MESSAGE-INTEGRITY attribute header */
	0x9a, 0xea, 0xa7, 0x0c, /* } */
	0xbf, 0xd8, 0xcb, 0x56, /* } */
	0x78, 0x1e, 0xf2, 0xb5, /* }  HMAC-SHA1 fingerprint */
	0xb2, 0xd3, 0xf2, 0x49, /* } */
	0xc1, 0xb5, 0x71, 0xa2, /* } */
	0x80, 0x28, 0x00, 0x04, /* FINGERPRINT attribute header */
	0xe5, 0x7a, 0x3b, 0xcf, /* CRC32 fingerprint */
};

/* 2.2 Sample IPv4 Response: 192.0.2.1 port 32853 */
static const uint8_t rfc_resp4[] = {
	0x01, 0x01, 0x00, 0x3c, /* Response type and message length */
	0x21, 0x12, 0xa4, 0x42, /* Magic cookie */
	0xb7, 0xe7, 0xa7, 0x01, /* } */
	0xbc, 0x34, 0xd6, 0x86, /* }  Transaction ID */
	0xfa, 0x87, 0xdf, 0xae, /* } */
	0x80, 0x22, 0x00, 0x0b, /* SOFTWARE attribute header */
	0x74, 0x65, 0x73, 0x74, /* } */
	0x20, 0x76, 0x65, 0x63, /* }  UTF-8 server name */
	0x74, 0x6f, 0x72, 0x20, /* }  ("test vector" + one 0x20 pad byte) */
	0x00, 0x20, 0x00, 0x08, /* XOR-MAPPED-ADDRESS attribute header */
	0x00, 0x01, 0xa1, 0x47, /* Address family (IPv4) and xor'd port */
	0xe1, 0x12, 0xa6, 0x43, /* Xor'd mapped IPv4 address */
	0x00, 0x08, 0x00, 0x14, /* MESSAGE-INTEGRITY attribute header */
	0x2b, 0x91, 0xf5, 0x99, /* } */
	0xfd, 0x9e, 0x90, 0xc3, /* } */
	0x8c, 0x74, 0x89, 0xf9, /* }  HMAC-SHA1 fingerprint */
	0x2a, 0xf9, 0xba, 0x53, /* } */
	0xf0, 0x6b, 0xe7, 0xd7, /* } */
	0x80, 0x28, 0x00, 0x04, /* FINGERPRINT attribute header */
	0xc0, 0x7d, 0x4c, 0x96, /* CRC32 fingerprint */
};

/* 2.3 Sample IPv6 Response: 2001:db8:1234:5678:11:2233:4455:6677 port 32853 */
static const uint8_t rfc_resp6[] = {
	0x01, 0x01, 0x00, 0x48, /* Response type and message length */
	0x21, 0x12, 0xa4, 0x42, /* Magic cookie */
	0xb7, 0xe7, 0xa7, 0x01, /* } */
	0xbc, 0x34, 0xd6, 0x86, /* }  Transaction ID */
	0xfa, 0x87, 0xdf, 0xae, /* } */
	0x80, 0x22, 0x00, 0x0b, /* SOFTWARE attribute header */
	0x74, 0x65, 0x73, 0x74, /* } */
	0x20, 0x76, 0x65, 0x63, /* }  UTF-8 server name */
	0x74, 0x6f, 0x72, 0x20, /* } */
	0x00, 0x20, 0x00, 0x14, /* XOR-MAPPED-ADDRESS attribute header */
	0x00, 0x02, 0xa1, 0x47, /* Address family (IPv6) and xor'd port */
	0x01, 0x13, 0xa9, 0xfa, /* } */
	0xa5, 0xd3, 0xf1, 0x79, /* }  Xor'd mapped IPv6 address */
	0xbc, 0x25, 0xf4, 0xb5, /* } */
	0xbe, 0xd2, 0xb9, 0xd9, /* } */
	0x00, 0x08, 0x00, 0x14, /* MESSAGE-INTEGRITY attribute header */
	0xa3, 0x82, 0x95, 0x4e, /* } */
	0x4b, 0xe6, 0x7b, 0xf1, /* } */
	0x17, 0x84, 0xc9, 0x7c, /* }  HMAC-SHA1 fingerprint */
	0x82, 0x92, 0xc2, 0x75, /* } */
	0xbf, 0xe3, 0xed, 0x41, /* } */
	0x80, 0x28, 0x00, 0x04, /* FINGERPRINT attribute header */
	0xc8, 0xfb, 0x0b, 0x4c, /* CRC32 fingerprint */
};

/* 2.4 Sample Request with Long-Term Authentication. Username U+30DE U+30C8
 * U+30EA U+30C3 U+30AF U+30B9, password "The<U+00AD>M<U+00AA>tr<U+2168>",
 * which SASLprep turns into "TheMatrIX"; realm "example.org". */
static const uint8_t rfc_req_lt[] = {
	0x00, 0x01, 0x00, 0x60, /* Request type and message length */
	0x21, 0x12, 0xa4, 0x42, /* Magic cookie */
	0x78, 0xad, 0x34, 0x33, /* } */
	0xc6, 0xad, 0x72, 0xc0, /* }  Transaction ID */
	0x29, 0xda, 0x41, 0x2e, /* } */
	0x00, 0x06, 0x00, 0x12, /* USERNAME attribute header */
	0xe3, 0x83, 0x9e, 0xe3, /* } */
	0x83, 0x88, 0xe3, 0x83, /* } */
	0xaa, 0xe3, 0x83, 0x83, /* }  Username value (18 bytes) and padding */
	0xe3, 0x82, 0xaf, 0xe3, /* } */
	0x82, 0xb9, 0x00, 0x00, /* } */
	0x00, 0x15, 0x00, 0x1c, /* NONCE attribute header */
	0x66, 0x2f, 0x2f, 0x34, /* } */
	0x39, 0x39, 0x6b, 0x39, /* } */
	0x35, 0x34, 0x64, 0x36, /* } */
	0x4f, 0x4c, 0x33, 0x34, /* }  Nonce value */
	0x6f, 0x4c, 0x39, 0x46, /* } */
	0x53, 0x54, 0x76, 0x79, /* } */
	0x36, 0x34, 0x73, 0x41, /* } */
	0x00, 0x14, 0x00, 0x0b, /* REALM attribute header */
	0x65, 0x78, 0x61, 0x6d, /* } */
	0x70, 0x6c, 0x65, 0x2e, /* }  Realm value (11 bytes) and padding (1) */
	0x6f, 0x72, 0x67, 0x00, /* } */
	0x00, 0x08, 0x00, 0x14, /* MESSAGE-INTEGRITY attribute header */
	0xf6, 0x70, 0x24, 0x65, /* } */
	0x6d, 0xd6, 0x4a, 0x3e, /* } */
	0x02, 0xb8, 0xe0, 0x71, /* }  HMAC-SHA1 fingerprint */
	0x2e, 0x85, 0xc9, 0xa2, /* } */
	0x8c, 0xa8, 0x96, 0x66, /* } */
};

static const uint8_t *key_rfc(void)
{
	return (const uint8_t *)rfc_pwd;
}

static void check_v4(const struct sockaddr_storage *ss, const char *ip,
		     uint16_t port)
{
	const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;
	char buf[INET_ADDRSTRLEN];

	ck_assert_int_eq(ss->ss_family, AF_INET);
	ck_assert_ptr_nonnull(inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof(buf)));
	ck_assert_str_eq(buf, ip);
	ck_assert_uint_eq(ntohs(sin->sin_port), port);
}

static void check_v6(const struct sockaddr_storage *ss, const char *ip,
		     uint16_t port)
{
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;
	char buf[INET6_ADDRSTRLEN];

	ck_assert_int_eq(ss->ss_family, AF_INET6);
	ck_assert_ptr_nonnull(inet_ntop(AF_INET6, &sin6->sin6_addr, buf, sizeof(buf)));
	ck_assert_str_eq(buf, ip);
	ck_assert_uint_eq(ntohs(sin6->sin6_port), port);
}

static void sa4(struct sockaddr_storage *ss, const char *ip, uint16_t port)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;

	memset(ss, 0, sizeof(*ss));
	sin->sin_family = AF_INET;
	sin->sin_port = htons(port);
	ck_assert_int_eq(inet_pton(AF_INET, ip, &sin->sin_addr), 1);
}

static void sa6(struct sockaddr_storage *ss, const char *ip, uint16_t port)
{
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	sin6->sin6_family = AF_INET6;
	sin6->sin6_port = htons(port);
	ck_assert_int_eq(inet_pton(AF_INET6, ip, &sin6->sin6_addr), 1);
}

START_TEST(test_crc32_known)
{
	/* The standard check value of CRC-32. */
	ck_assert_uint_eq(crc32_compute((const uint8_t *)"123456789", 9),
			  0xcbf43926u);
	ck_assert_uint_eq(crc32_compute(NULL, 0), 0);
	/* Table against the bit-at-a-time definition, over all byte values. */
	uint8_t b[256];
	for (int i = 0; i < 256; i++)
		b[i] = (uint8_t)(i * 7 + 3);
	uint32_t c = 0xffffffffu;
	for (int i = 0; i < 256; i++) {
		c ^= b[i];
		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ 0xedb88320u : c >> 1;
	}
	ck_assert_uint_eq(crc32_compute(b, 256), ~c);
	ck_assert_uint_eq(crc32_update(crc32_compute(b, 100), b + 100, 156), ~c);
}
END_TEST

START_TEST(test_rfc_request)
{
	struct stun_msg m;

	ck_assert(stun_is_message(rfc_req, sizeof(rfc_req)));
	ck_assert_int_eq(stun_parse(rfc_req, sizeof(rfc_req), &m), 0);
	ck_assert_uint_eq(m.method, STUN_METHOD_BINDING);
	ck_assert_int_eq(m.cls, STUN_CLASS_REQUEST);
	ck_assert_mem_eq(m.txid, rfc_txid, 12);
	ck_assert_uint_eq(m.length, 108);
	ck_assert_uint_eq(m.software_len, 16);
	ck_assert_mem_eq(m.software, "STUN test client", 16);
	ck_assert(m.has_priority);
	ck_assert_uint_eq(m.priority, 0x6e0001ffu);
	ck_assert(m.has_ice_controlled);
	ck_assert(!m.has_ice_controlling);
	ck_assert(m.ice_controlled == 0x932ff9b151263b36ull);
	ck_assert_uint_eq(m.username_len, 9);
	ck_assert_mem_eq(m.username, "evtj:h6vY", 9);
	ck_assert(!m.use_candidate);
	ck_assert(m.has_integrity);
	ck_assert_uint_eq(m.integrity_offset, 76);
	ck_assert(m.has_fingerprint);
	ck_assert_uint_eq(m.n_unknown, 0);
	ck_assert_uint_eq(m.n_attrs, 6);
	ck_assert_ptr_eq(stun_msg_find(&m, STUN_ATTR_USERNAME)->value, rfc_req + 64);
	ck_assert_ptr_null(stun_msg_find(&m, STUN_ATTR_REALM));

	ck_assert_int_eq(stun_verify_integrity(&m, rfc_req, key_rfc(), strlen(rfc_pwd)), 0);
	ck_assert_int_eq(stun_verify_integrity(&m, rfc_req, (const uint8_t *)"wrong", 5), -EACCES);
	ck_assert_int_eq(stun_verify_integrity_sha256(&m, rfc_req, key_rfc(), strlen(rfc_pwd)),
			 -ENOENT);
}
END_TEST

START_TEST(test_rfc_response_v4)
{
	struct stun_msg m;
	struct sockaddr_storage ss;

	ck_assert_int_eq(stun_parse(rfc_resp4, sizeof(rfc_resp4), &m), 0);
	ck_assert_uint_eq(m.method, STUN_METHOD_BINDING);
	ck_assert_int_eq(m.cls, STUN_CLASS_SUCCESS);
	ck_assert_mem_eq(m.txid, rfc_txid, 12);
	ck_assert_uint_eq(m.software_len, 11);
	ck_assert_mem_eq(m.software, "test vector", 11);
	ck_assert(m.has_xor_mapped);
	ck_assert(!m.has_mapped);
	check_v4(&m.xor_mapped, "192.0.2.1", 32853);
	ck_assert(m.has_fingerprint);
	ck_assert_int_eq(stun_verify_integrity(&m, rfc_resp4, key_rfc(), strlen(rfc_pwd)), 0);

	ck_assert_int_eq(stun_parse_binding_response(rfc_resp4, sizeof(rfc_resp4),
						     rfc_txid, &ss, NULL), 0);
	check_v4(&ss, "192.0.2.1", 32853);
	uint8_t other[12];
	memcpy(other, rfc_txid, 12);
	other[11] ^= 1;
	ck_assert_int_eq(stun_parse_binding_response(rfc_resp4, sizeof(rfc_resp4),
						     other, &ss, NULL), -EBADMSG);
	/* A request is not a response. */
	ck_assert_int_eq(stun_parse_binding_response(rfc_req, sizeof(rfc_req),
						     NULL, &ss, NULL), -EBADMSG);
}
END_TEST

START_TEST(test_rfc_response_v6)
{
	struct stun_msg m;
	struct sockaddr_storage ss;

	ck_assert_int_eq(stun_parse(rfc_resp6, sizeof(rfc_resp6), &m), 0);
	ck_assert_int_eq(m.cls, STUN_CLASS_SUCCESS);
	ck_assert(m.has_xor_mapped);
	check_v6(&m.xor_mapped, "2001:db8:1234:5678:11:2233:4455:6677", 32853);
	ck_assert(m.has_fingerprint);
	ck_assert_int_eq(stun_verify_integrity(&m, rfc_resp6, key_rfc(), strlen(rfc_pwd)), 0);
	ck_assert_int_eq(stun_parse_binding_response(rfc_resp6, sizeof(rfc_resp6),
						     rfc_txid, &ss, NULL), 0);
	check_v6(&ss, "2001:db8:1234:5678:11:2233:4455:6677", 32853);
}
END_TEST

START_TEST(test_rfc_long_term)
{
	struct stun_msg m;
	uint8_t key[16];
	/* "マトリックス" in UTF-8, as bytes to keep the source ASCII. */
	static const char user[] = "\xe3\x83\x9e\xe3\x83\x88\xe3\x83\xaa"
				   "\xe3\x83\x83\xe3\x82\xaf\xe3\x82\xb9";
	static const uint8_t txid[12] = { 0x78, 0xad, 0x34, 0x33, 0xc6, 0xad,
					  0x72, 0xc0, 0x29, 0xda, 0x41, 0x2e };

	ck_assert_int_eq(stun_parse(rfc_req_lt, sizeof(rfc_req_lt), &m), 0);
	ck_assert_int_eq(m.cls, STUN_CLASS_REQUEST);
	ck_assert_uint_eq(m.method, STUN_METHOD_BINDING);
	ck_assert_mem_eq(m.txid, txid, 12);
	ck_assert_uint_eq(m.username_len, 18);
	ck_assert_mem_eq(m.username, user, 18);
	ck_assert_uint_eq(m.nonce_len, 28);
	ck_assert_mem_eq(m.nonce, "f//499k954d6OL34oL9FSTvy64sA", 28);
	ck_assert_uint_eq(m.realm_len, 11);
	ck_assert_mem_eq(m.realm, "example.org", 11);
	ck_assert(m.has_integrity);
	ck_assert(!m.has_fingerprint);

	stun_long_term_key(user, "example.org", "TheMatrIX", key);
	ck_assert_int_eq(stun_verify_integrity(&m, rfc_req_lt, key, 16), 0);
	/* The short-term interpretation of the password does not match. */
	ck_assert_int_eq(stun_verify_integrity(&m, rfc_req_lt,
					       (const uint8_t *)"TheMatrIX", 9), -EACCES);
}
END_TEST

/* Our writer reproduces the RFC vectors byte for byte, given the same
 * inputs. The only liberty is the pad byte: RFC 5769 pads with 0x20 where
 * RFC 8489 suggests zeros, so the test sets w.pad = 0x20. */
START_TEST(test_writer_reproduces_rfc)
{
	uint8_t buf[256];
	struct stun_writer w;
	struct sockaddr_storage ss;
	ssize_t n;

	/* 2.2 */
	ck_assert_int_eq(stun_writer_init(&w, buf, sizeof(buf), STUN_METHOD_BINDING,
					  STUN_CLASS_SUCCESS, rfc_txid), 0);
	w.pad = 0x20;
	sa4(&ss, "192.0.2.1", 32853);
	ck_assert_int_eq(stun_put_software(&w, "test vector"), 0);
	ck_assert_int_eq(stun_put_xor_address(&w, STUN_ATTR_XOR_MAPPED_ADDRESS,
					      (struct sockaddr *)&ss), 0);
	ck_assert_int_eq(stun_put_integrity(&w, key_rfc(), strlen(rfc_pwd)), 0);
	n = stun_writer_finish(&w, true);
	ck_assert_int_eq(n, sizeof(rfc_resp4));
	ck_assert_mem_eq(buf, rfc_resp4, sizeof(rfc_resp4));

	/* 2.3 */
	stun_writer_init(&w, buf, sizeof(buf), STUN_METHOD_BINDING,
			 STUN_CLASS_SUCCESS, rfc_txid);
	w.pad = 0x20;
	sa6(&ss, "2001:db8:1234:5678:11:2233:4455:6677", 32853);
	stun_put_software(&w, "test vector");
	stun_put_xor_address(&w, STUN_ATTR_XOR_MAPPED_ADDRESS, (struct sockaddr *)&ss);
	stun_put_integrity(&w, key_rfc(), strlen(rfc_pwd));
	n = stun_writer_finish(&w, true);
	ck_assert_int_eq(n, sizeof(rfc_resp6));
	ck_assert_mem_eq(buf, rfc_resp6, sizeof(rfc_resp6));

	/* 2.1 as well */
	stun_writer_init(&w, buf, sizeof(buf), STUN_METHOD_BINDING,
			 STUN_CLASS_REQUEST, rfc_txid);
	w.pad = 0x20;
	stun_put_software(&w, "STUN test client");
	stun_put_u32(&w, STUN_ATTR_PRIORITY, 0x6e0001ffu);
	stun_put_u64(&w, STUN_ATTR_ICE_CONTROLLED, 0x932ff9b151263b36ull);
	stun_put_bytes(&w, STUN_ATTR_USERNAME, "evtj:h6vY", 9);
	stun_put_integrity(&w, key_rfc(), strlen(rfc_pwd));
	n = stun_writer_finish(&w, true);
	ck_assert_int_eq(n, sizeof(rfc_req));
	ck_assert_mem_eq(buf, rfc_req, sizeof(rfc_req));

	/* With the default zero padding the bytes differ only in the pad
	 * byte, and integrity (which covers it) still verifies. */
	struct stun_msg m;
	stun_writer_init(&w, buf, sizeof(buf), STUN_METHOD_BINDING,
			 STUN_CLASS_SUCCESS, rfc_txid);
	sa4(&ss, "192.0.2.1", 32853);
	stun_put_software(&w, "test vector");
	stun_put_xor_address(&w, STUN_ATTR_XOR_MAPPED_ADDRESS, (struct sockaddr *)&ss);
	stun_put_integrity(&w, key_rfc(), strlen(rfc_pwd));
	n = stun_writer_finish(&w, true);
	ck_assert_int_eq(n, sizeof(rfc_resp4));
	ck_assert_uint_eq(buf[35], 0);
	ck_assert_mem_eq(buf, rfc_resp4, 35);
	ck_assert_int_eq(stun_parse(buf, (size_t)n, &m), 0);
	ck_assert_int_eq(stun_verify_integrity(&m, buf, key_rfc(), strlen(rfc_pwd)), 0);
}
END_TEST

/* Every prefix of every vector is refused, and so is each vector with one
 * extra byte. Never a crash (the sanitizer build checks the reads). */
START_TEST(test_truncations)
{
	const uint8_t *v[] = { rfc_req, rfc_resp4, rfc_resp6, rfc_req_lt };
	size_t len[] = { sizeof(rfc_req), sizeof(rfc_resp4), sizeof(rfc_resp6),
			 sizeof(rfc_req_lt) };
	struct stun_msg m;

	for (size_t k = 0; k < 4; k++) {
		for (size_t n = 0; n < len[k]; n++) {
			uint8_t *copy = malloc(n ? n : 1);
			memcpy(copy, v[k], n);
			ck_assert(!stun_is_message(copy, n));
			ck_assert_int_eq(stun_parse(copy, n, &m), -EBADMSG);
			free(copy);
		}
		uint8_t big[200];
		memcpy(big, v[k], len[k]);
		big[len[k]] = 0;
		ck_assert_int_eq(stun_parse(big, len[k] + 1, &m), -EBADMSG);
	}
}
END_TEST

/* A truncated message whose header length is fixed up to match must still
 * be refused (attribute lengths then overrun the message). */
START_TEST(test_truncations_fixed_length)
{
	struct stun_msg m;
	uint8_t b[sizeof(rfc_req)];

	for (size_t n = STUN_HEADER_LEN; n < sizeof(rfc_req); n += 4) {
		memcpy(b, rfc_req, n);
		b[2] = (uint8_t)((n - 20) >> 8);
		b[3] = (uint8_t)(n - 20);
		int r = stun_parse(b, n, &m);
		/* Cutting right after a whole attribute is a valid (shorter)
		 * message; anything else must be refused. 20, 40, 48, 60 and 76
		 * are attribute boundaries before MESSAGE-INTEGRITY. 100 ends at
		 * MESSAGE-INTEGRITY. */
		if (n == 20 || n == 40 || n == 48 || n == 60 || n == 76 || n == 100) {
			ck_assert_int_eq(r, 0);
			if (n == 100) {
				/* MESSAGE-INTEGRITY is computed with the length
				 * ending at itself, so dropping FINGERPRINT
				 * keeps it valid. */
				ck_assert(m.has_integrity);
				ck_assert(!m.has_fingerprint);
				ck_assert_int_eq(stun_verify_integrity(&m, b, key_rfc(),
								       strlen(rfc_pwd)), 0);
			}
		} else {
			ck_assert_int_eq(r, -EBADMSG);
		}
	}
}
END_TEST

START_TEST(test_bad_headers)
{
	struct stun_msg m;
	uint8_t b[sizeof(rfc_resp4)];

	/* wrong cookie */
	memcpy(b, rfc_resp4, sizeof(b));
	b[5] ^= 0x01;
	ck_assert(!stun_is_message(b, sizeof(b)));
	ck_assert_int_eq(stun_parse(b, sizeof(b), &m), -EBADMSG);
	/* first two bits set (RTP looks like this) */
	memcpy(b, rfc_resp4, sizeof(b));
	b[0] |= 0x80;
	ck_assert(!stun_is_message(b, sizeof(b)));
	ck_assert_int_eq(stun_parse(b, sizeof(b), &m), -EBADMSG);
	b[0] = 0x41;
	ck_assert_int_eq(stun_parse(b, sizeof(b), &m), -EBADMSG);
	/* length not a multiple of 4 */
	memcpy(b, rfc_resp4, sizeof(b));
	b[3] = 0x3d;
	ck_assert_int_eq(stun_parse(b, sizeof(b), &m), -EBADMSG);
	/* length not matching the buffer */
	b[3] = 0x38;
	ck_assert_int_eq(stun_parse(b, sizeof(b), &m), -EBADMSG);
	b[3] = 0x40;
	ck_assert_int_eq(stun_parse(b, sizeof(b), &m), -EBADMSG);
	/* NULLs */
	ck_assert(!stun_is_message(NULL, 20));
	ck_assert_int_eq(stun_parse(NULL, 20, &m), -EINVAL);
	ck_assert_int_eq(stun_parse(rfc_resp4, sizeof(rfc_resp4), NULL), -EINVAL);
}
END_TEST

/* Builds a message with a single attribute (raw bytes) and a fingerprint
 * off, to poke the attribute parser. */
static size_t one_attr(uint8_t *buf, uint16_t type, const uint8_t *v,
		       uint16_t declared_len, size_t real_len)
{
	memset(buf, 0, 20);
	buf[0] = 0x00;
	buf[1] = 0x01;
	buf[4] = 0x21; buf[5] = 0x12; buf[6] = 0xa4; buf[7] = 0x42;
	memcpy(buf + 8, rfc_txid, 12);
	buf[20] = (uint8_t)(type >> 8);
	buf[21] = (uint8_t)type;
	buf[22] = (uint8_t)(declared_len >> 8);
	buf[23] = (uint8_t)declared_len;
	memcpy(buf + 24, v, real_len);
	size_t padded = (real_len + 3) & ~(size_t)3;
	memset(buf + 24 + real_len, 0, padded - real_len);
	size_t body = 4 + padded;
	buf[2] = (uint8_t)(body >> 8);
	buf[3] = (uint8_t)body;
	return 20 + body;
}

START_TEST(test_bad_attributes)
{
	uint8_t buf[128];
	uint8_t v[64] = { 0 };
	struct stun_msg m;
	size_t n;

	/* attribute length beyond the message */
	n = one_attr(buf, STUN_ATTR_SOFTWARE, v, 12, 8);
	ck_assert_int_eq(stun_parse(buf, n, &m), -EBADMSG);
	/* XOR-MAPPED-ADDRESS: bad family, bad lengths */
	v[1] = 3;
	n = one_attr(buf, STUN_ATTR_XOR_MAPPED_ADDRESS, v, 8, 8);
	ck_assert_int_eq(stun_parse(buf, n, &m), -EBADMSG);
	v[1] = 1;
	n = one_attr(buf, STUN_ATTR_XOR_MAPPED_ADDRESS, v, 20, 20);
	ck_assert_int_eq(stun_parse(buf, n, &m), -EBADMSG);
	v[1] = 2;
	n = one_attr(buf, STUN_ATTR_XOR_MAPPED_ADDRESS, v, 8, 8);
	ck_assert_int_eq(stun_parse(buf, n, &m), -EBADMSG);
	n = one_attr(buf, STUN_ATTR_MAPPED_ADDRESS, v, 3, 3);
	ck_assert_int_eq(stun_parse(buf, n, &m), -EBADMSG);
	/* PRIORITY, ICE-CONTROLLING, USE-CANDIDATE with wrong sizes */
	n = one_attr(buf, STUN_ATTR_PRIORITY, v, 3, 3);
	ck_assert_int_eq(stun_parse(buf, n, &m), -EBADMSG);
	n = one_attr(buf, STUN_ATTR_ICE_CONTROLLING, v, 4, 4);
	ck_assert_int_eq(stun_parse(buf, n, &m), -EBADMSG);
	n = one_attr(buf, STUN_ATTR_USE_CANDIDATE, v, 4, 4);
	ck_assert_int_eq(stun_parse(buf, n, &m), -EBADMSG);
	n = one_attr(buf, STUN_ATTR_USE_CANDIDATE, v, 0, 0);
	ck_assert_int_eq(stun_parse(buf, n, &m), 0);
	ck_assert(m.use_candidate);
	/* MESSAGE-INTEGRITY of the wrong size */
	n = one_attr(buf, STUN_ATTR_MESSAGE_INTEGRITY, v, 16, 16);
	ck_assert_int_eq(stun_parse(buf, n, &m), -EBADMSG);
	/* ERROR-CODE: class out of range, number out of range, too short */
	v[2] = 7; v[3] = 0;
	n = one_attr(buf, STUN_ATTR_ERROR_CODE, v, 4, 4);
	ck_assert_int_eq(stun_parse(buf, n, &m), -EBADMSG);
	v[2] = 4; v[3] = 100;
	n = one_attr(buf, STUN_ATTR_ERROR_CODE, v, 4, 4);
	ck_assert_int_eq(stun_parse(buf, n, &m), -EBADMSG);
	n = one_attr(buf, STUN_ATTR_ERROR_CODE, v, 3, 3);
	ck_assert_int_eq(stun_parse(buf, n, &m), -EBADMSG);
	v[3] = 20;
	n = one_attr(buf, STUN_ATTR_ERROR_CODE, v, 4, 4);
	ck_assert_int_eq(stun_parse(buf, n, &m), 0);
	ck_assert_uint_eq(m.error_code, 420);
	/* UNKNOWN-ATTRIBUTES of odd length */
	n = one_attr(buf, STUN_ATTR_UNKNOWN_ATTRIBUTES, v, 3, 3);
	ck_assert_int_eq(stun_parse(buf, n, &m), -EBADMSG);
	/* FINGERPRINT of the wrong size, and a wrong value */
	n = one_attr(buf, STUN_ATTR_FINGERPRINT, v, 8, 8);
	ck_assert_int_eq(stun_parse(buf, n, &m), -EBADMSG);
	n = one_attr(buf, STUN_ATTR_FINGERPRINT, v, 4, 4);
	ck_assert_int_eq(stun_parse(buf, n, &m), -EBADMSG);
	/* A trailing partial attribute header */
	n = one_attr(buf, STUN_ATTR_USE_CANDIDATE, v, 0, 0);
	memcpy(buf + n, "\x00\x25\x00\x00", 4);
	buf[3] = (uint8_t)(buf[3] + 2); /* length now not a multiple of 4 */
	ck_assert_int_eq(stun_parse(buf, n + 2, &m), -EBADMSG);
}
END_TEST

START_TEST(test_unknown_attributes)
{
	uint8_t buf[128];
	uint8_t v[8] = { 1, 2, 3, 4 };
	struct stun_msg m;
	size_t n;

	/* comprehension-required unknown: listed */
	n = one_attr(buf, 0x7777, v, 4, 4);
	ck_assert_int_eq(stun_parse(buf, n, &m), 0);
	ck_assert_uint_eq(m.n_unknown, 1);
	ck_assert_uint_eq(m.unknown[0], 0x7777);
	ck_assert_ptr_nonnull(stun_msg_find(&m, 0x7777));
	/* comprehension-optional unknown: not listed */
	n = one_attr(buf, 0x8777, v, 4, 4);
	ck_assert_int_eq(stun_parse(buf, n, &m), 0);
	ck_assert_uint_eq(m.n_unknown, 0);
	/* our own private ranges: not unknown, reachable via find */
	n = one_attr(buf, 0x4001, v, 4, 4);
	ck_assert_int_eq(stun_parse(buf, n, &m), 0);
	ck_assert_uint_eq(m.n_unknown, 0);
	ck_assert_uint_eq(stun_msg_find(&m, 0x4001)->len, 4);
	ck_assert_mem_eq(stun_msg_find(&m, 0x4001)->value, v, 4);
	n = one_attr(buf, STUN_ATTR_P2PCALL_CALL_ID, v, 4, 4);
	ck_assert_int_eq(stun_parse(buf, n, &m), 0);
	ck_assert_uint_eq(m.n_unknown, 0);
}
END_TEST

/* RFC 8489 14.5: attributes after MESSAGE-INTEGRITY other than FINGERPRINT
 * are ignored; an unknown one there must not trigger a 420. */
START_TEST(test_after_integrity_ignored)
{
	uint8_t buf[256];
	struct stun_writer w;
	struct stun_msg m;

	stun_writer_init(&w, buf, sizeof(buf), STUN_METHOD_BINDING,
			 STUN_CLASS_REQUEST, rfc_txid);
	stun_put_bytes(&w, STUN_ATTR_USERNAME, "a:b", 3);
	stun_put_integrity(&w, (const uint8_t *)"pw", 2);
	stun_put_u32(&w, 0x7777, 5);         /* unknown, required: ignored */
	stun_put_u32(&w, STUN_ATTR_PRIORITY, 9); /* ignored too */
	stun_put_bytes(&w, STUN_ATTR_USERNAME, "x:y", 3);
	ssize_t n = stun_writer_finish(&w, true);
	ck_assert_int_gt(n, 0);
	ck_assert_int_eq(stun_parse(buf, (size_t)n, &m), 0);
	ck_assert_uint_eq(m.n_unknown, 0);
	ck_assert(!m.has_priority);
	ck_assert_mem_eq(m.username, "a:b", 3);
	ck_assert(m.has_fingerprint);
	ck_assert_ptr_null(stun_msg_find(&m, 0x7777));
	/* Integrity does not cover the ignored tail, and still verifies. */
	ck_assert_int_eq(stun_verify_integrity(&m, buf, (const uint8_t *)"pw", 2), 0);

	/* Nothing may follow FINGERPRINT. */
	stun_writer_init(&w, buf, sizeof(buf), STUN_METHOD_BINDING,
			 STUN_CLASS_REQUEST, rfc_txid);
	n = stun_writer_finish(&w, true);
	ck_assert_int_eq(n, 28);
	stun_writer_init(&w, buf, sizeof(buf), STUN_METHOD_BINDING,
			 STUN_CLASS_REQUEST, rfc_txid);
	w.len = 28; /* continue after the fingerprint */
	stun_put_flag(&w, STUN_ATTR_USE_CANDIDATE);
	n = stun_writer_finish(&w, false);
	ck_assert_int_eq(n, 32);
	ck_assert_int_eq(stun_parse(buf, 32, &m), -EBADMSG);
}
END_TEST

/* Flipping any single bit of a vector: either the parse fails or the
 * integrity check fails. The one exception is the FINGERPRINT attribute's
 * type field: flipped, it becomes some other attribute after
 * MESSAGE-INTEGRITY, which RFC 8489 says to ignore; the authenticated part
 * is then untouched, so accepting it is right. */
START_TEST(test_bit_flips)
{
	const uint8_t *v[] = { rfc_req, rfc_resp4, rfc_resp6 };
	size_t len[] = { sizeof(rfc_req), sizeof(rfc_resp4), sizeof(rfc_resp6) };
	struct stun_msg m;
	uint8_t b[128];
	size_t accepted = 0;

	for (size_t k = 0; k < 3; k++) {
		for (size_t bit = 0; bit < len[k] * 8; bit++) {
			memcpy(b, v[k], len[k]);
			b[bit / 8] ^= (uint8_t)(1u << (bit % 8));
			if (stun_parse(b, len[k], &m) != 0)
				continue;
			if (stun_verify_integrity(&m, b, key_rfc(), strlen(rfc_pwd)) != 0)
				continue;
			ck_assert_uint_ge(bit / 8, len[k] - 8);
			ck_assert_uint_lt(bit / 8, len[k] - 6);
			ck_assert(!m.has_fingerprint);
			accepted++;
		}
	}
	/* only some of the 16 type bits give a parseable message (most
	 * flips land on 0x8028's neighbours, all optional and ignored) */
	ck_assert_uint_le(accepted, 3 * 16);
}
END_TEST

START_TEST(test_type_encoding)
{
	uint8_t buf[64];
	struct stun_writer w;
	struct stun_msg m;
	static const struct { uint16_t method; enum stun_class cls; uint16_t wire; } t[] = {
		{ 0x001, STUN_CLASS_REQUEST, 0x0001 },
		{ 0x001, STUN_CLASS_INDICATION, 0x0011 },
		{ 0x001, STUN_CLASS_SUCCESS, 0x0101 },
		{ 0x001, STUN_CLASS_ERROR, 0x0111 },
		{ 0x003, STUN_CLASS_REQUEST, 0x0003 },
		{ 0x009, STUN_CLASS_ERROR, 0x0119 },
		{ 0xFFF, STUN_CLASS_ERROR, 0x3FFF },
		{ 0x080, STUN_CLASS_REQUEST, 0x0200 },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		ck_assert_int_eq(stun_writer_init(&w, buf, sizeof(buf), t[i].method,
						  t[i].cls, rfc_txid), 0);
		ck_assert_int_eq(stun_writer_finish(&w, false), 20);
		ck_assert_uint_eq((buf[0] << 8) | buf[1], t[i].wire);
		ck_assert_int_eq(stun_parse(buf, 20, &m), 0);
		/* RFC 7983 demultiplexing only knows first bytes 0..3, i.e.
		 * methods below 0x100 or so; the parser takes any. */
		ck_assert(stun_is_message(buf, 20) == (buf[0] <= 3));
		ck_assert_uint_eq(m.method, t[i].method);
		ck_assert_int_eq(m.cls, t[i].cls);
	}
	ck_assert_int_eq(stun_writer_init(&w, buf, sizeof(buf), 0x1000,
					  STUN_CLASS_REQUEST, rfc_txid), -EINVAL);
	ck_assert_int_eq(stun_writer_init(&w, buf, 19, 1, STUN_CLASS_REQUEST,
					  rfc_txid), -ENOSPC);
}
END_TEST

START_TEST(test_writer_round_trip)
{
	uint8_t buf[512];
	struct stun_writer w;
	struct stun_msg m;
	struct sockaddr_storage a4, a6, out;
	static const uint16_t unk[] = { 0x7001, 0x7002, 0x7003 };

	sa4(&a4, "203.0.113.7", 4242);
	sa6(&a6, "2001:db8::1", 65535);
	stun_writer_init(&w, buf, sizeof(buf), STUN_METHOD_BINDING,
			 STUN_CLASS_ERROR, rfc_txid);
	stun_put_error(&w, 420, "Unknown Attribute");
	stun_put_unknown_attributes(&w, unk, 3);
	stun_put_address(&w, STUN_ATTR_MAPPED_ADDRESS, (struct sockaddr *)&a4, false);
	stun_put_xor_address(&w, STUN_ATTR_XOR_PEER_ADDRESS, (struct sockaddr *)&a6);
	stun_put_u64(&w, STUN_ATTR_ICE_CONTROLLING, 0x0102030405060708ull);
	stun_put_flag(&w, STUN_ATTR_USE_CANDIDATE);
	stun_put_integrity(&w, (const uint8_t *)"k", 1);
	stun_put_integrity_sha256(&w, (const uint8_t *)"k", 1);
	ssize_t n = stun_writer_finish(&w, true);
	ck_assert_int_gt(n, 0);
	ck_assert_int_eq(n % 4, 0);

	ck_assert_int_eq(stun_parse(buf, (size_t)n, &m), 0);
	ck_assert_int_eq(m.cls, STUN_CLASS_ERROR);
	ck_assert(m.has_error);
	ck_assert_uint_eq(m.error_code, 420);
	ck_assert_uint_eq(m.error_reason_len, 17);
	ck_assert_mem_eq(m.error_reason, "Unknown Attribute", 17);
	ck_assert_uint_eq(m.n_unknown_listed, 3);
	ck_assert_uint_eq(m.unknown_listed[2], 0x7003);
	ck_assert(m.has_mapped);
	check_v4(&m.mapped, "203.0.113.7", 4242);
	ck_assert_int_eq(stun_attr_address(&m, stun_msg_find(&m, STUN_ATTR_XOR_PEER_ADDRESS),
					   true, &out), 0);
	check_v6(&out, "2001:db8::1", 65535);
	ck_assert(m.has_ice_controlling);
	ck_assert(m.ice_controlling == 0x0102030405060708ull);
	ck_assert(m.use_candidate);
	ck_assert(m.has_integrity_sha256);
	ck_assert_uint_eq(m.integrity_sha256_len, 32);
	ck_assert_int_eq(stun_verify_integrity(&m, buf, (const uint8_t *)"k", 1), 0);
	ck_assert_int_eq(stun_verify_integrity_sha256(&m, buf, (const uint8_t *)"k", 1), 0);
	ck_assert_int_eq(stun_verify_integrity_sha256(&m, buf, (const uint8_t *)"j", 1), -EACCES);
	ck_assert(m.has_fingerprint);

	/* The error response is reported as such by the Binding helper. */
	uint16_t code = 0;
	ck_assert_int_eq(stun_parse_binding_response(buf, (size_t)n, rfc_txid, &out, &code),
			 -EPROTO);
	ck_assert_uint_eq(code, 420);
}
END_TEST

START_TEST(test_writer_nospace)
{
	uint8_t buf[256];
	struct stun_writer w;
	struct sockaddr_storage a;

	sa6(&a, "2001:db8::2", 1);
	/* Every capacity below the needed size fails cleanly; the buffer is
	 * never written beyond cap (checked with a canary). */
	for (size_t cap = 0; cap < 100; cap++) {
		memset(buf, 0xAA, sizeof(buf));
		int r = stun_writer_init(&w, buf, cap, STUN_METHOD_BINDING,
					 STUN_CLASS_SUCCESS, rfc_txid);
		stun_put_xor_address(&w, STUN_ATTR_XOR_MAPPED_ADDRESS, (struct sockaddr *)&a);
		stun_put_software(&w, "abcde");
		stun_put_integrity(&w, (const uint8_t *)"x", 1);
		ssize_t n = stun_writer_finish(&w, true);
		/* 20 + 24 + 12 + 24 + 8 = 88 */
		if (cap < 20)
			ck_assert_int_eq(r, -ENOSPC);
		if (cap < 88) {
			ck_assert_int_eq(n, -ENOSPC);
		} else {
			ck_assert_int_eq(n, 88);
		}
		for (size_t i = cap; i < sizeof(buf); i++)
			ck_assert_uint_eq(buf[i], 0xAA);
	}
	/* A bad family is -EINVAL. */
	struct sockaddr_storage bad = { .ss_family = AF_UNIX };
	stun_writer_init(&w, buf, sizeof(buf), 1, STUN_CLASS_SUCCESS, rfc_txid);
	ck_assert_int_eq(stun_put_xor_address(&w, STUN_ATTR_XOR_MAPPED_ADDRESS,
					      (struct sockaddr *)&bad), -EINVAL);
	ck_assert_int_eq(stun_writer_finish(&w, true), -EINVAL);
	stun_writer_init(&w, buf, sizeof(buf), 1, STUN_CLASS_ERROR, rfc_txid);
	ck_assert_int_eq(stun_put_error(&w, 200, "no"), -EINVAL);
}
END_TEST

START_TEST(test_binding_request_helpers)
{
	uint8_t buf[256];
	struct stun_msg m;
	static const uint8_t txid[12] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 };

	/* plain: header + FINGERPRINT */
	ssize_t n = stun_build_binding_request(buf, sizeof(buf), txid, NULL);
	ck_assert_int_eq(n, 28);
	ck_assert(stun_is_message(buf, 28));
	ck_assert_int_eq(stun_parse(buf, 28, &m), 0);
	ck_assert_int_eq(m.cls, STUN_CLASS_REQUEST);
	ck_assert(m.has_fingerprint);
	ck_assert_mem_eq(m.txid, txid, 12);

	struct stun_binding_opts o = {
		.username = "RUF:LUF",
		.key = (const uint8_t *)"remote-password",
		.keylen = 15,
		.priority = 0x6e7f1eff,
		.use_candidate = true,
		.ice_controlling = true,
		.tiebreaker = 0xfeedfacecafebeefull,
		.software = "p2pcall",
	};
	n = stun_build_binding_request(buf, sizeof(buf), txid, &o);
	ck_assert_int_gt(n, 0);
	ck_assert_int_eq(stun_parse(buf, (size_t)n, &m), 0);
	ck_assert_mem_eq(m.username, "RUF:LUF", 7);
	ck_assert_uint_eq(m.priority, 0x6e7f1eff);
	ck_assert(m.use_candidate);
	ck_assert(m.has_ice_controlling && !m.has_ice_controlled);
	ck_assert(m.ice_controlling == 0xfeedfacecafebeefull);
	ck_assert_int_eq(stun_verify_integrity(&m, buf, o.key, o.keylen), 0);
	ck_assert(m.has_fingerprint);

	/* an indication, no fingerprint */
	o = (struct stun_binding_opts){ .no_fingerprint = true };
	n = stun_build_binding(buf, sizeof(buf), STUN_CLASS_INDICATION, txid, &o);
	ck_assert_int_eq(n, 20);
	ck_assert_int_eq(stun_parse(buf, 20, &m), 0);
	ck_assert_int_eq(m.cls, STUN_CLASS_INDICATION);
	ck_assert_int_eq(stun_build_binding(buf, sizeof(buf), STUN_CLASS_SUCCESS, txid, NULL),
			 -EINVAL);
	o = (struct stun_binding_opts){ .ice_controlled = true, .ice_controlling = true };
	ck_assert_int_eq(stun_build_binding_request(buf, sizeof(buf), txid, &o), -EINVAL);
	ck_assert_int_eq(stun_build_binding_request(buf, 27, txid, NULL), -ENOSPC);
}
END_TEST

START_TEST(test_binding_response_fallback)
{
	uint8_t buf[128];
	struct stun_writer w;
	struct sockaddr_storage a, b, out;

	sa4(&a, "198.51.100.7", 40000);
	sa4(&b, "198.51.100.8", 40001);
	/* MAPPED-ADDRESS only */
	stun_writer_init(&w, buf, sizeof(buf), 1, STUN_CLASS_SUCCESS, rfc_txid);
	stun_put_address(&w, STUN_ATTR_MAPPED_ADDRESS, (struct sockaddr *)&a, false);
	ssize_t n = stun_writer_finish(&w, false);
	ck_assert_int_eq(stun_parse_binding_response(buf, (size_t)n, rfc_txid, &out, NULL), 0);
	check_v4(&out, "198.51.100.7", 40000);
	/* both: XOR wins, whatever the order */
	stun_writer_init(&w, buf, sizeof(buf), 1, STUN_CLASS_SUCCESS, rfc_txid);
	stun_put_address(&w, STUN_ATTR_MAPPED_ADDRESS, (struct sockaddr *)&a, false);
	stun_put_xor_address(&w, STUN_ATTR_XOR_MAPPED_ADDRESS, (struct sockaddr *)&b);
	n = stun_writer_finish(&w, true);
	ck_assert_int_eq(stun_parse_binding_response(buf, (size_t)n, rfc_txid, &out, NULL), 0);
	check_v4(&out, "198.51.100.8", 40001);
	/* none */
	stun_writer_init(&w, buf, sizeof(buf), 1, STUN_CLASS_SUCCESS, rfc_txid);
	n = stun_writer_finish(&w, true);
	ck_assert_int_eq(stun_parse_binding_response(buf, (size_t)n, rfc_txid, &out, NULL),
			 -ENOENT);
	/* another method */
	stun_writer_init(&w, buf, sizeof(buf), STUN_METHOD_ALLOCATE, STUN_CLASS_SUCCESS,
			 rfc_txid);
	stun_put_xor_address(&w, STUN_ATTR_XOR_MAPPED_ADDRESS, (struct sockaddr *)&b);
	n = stun_writer_finish(&w, true);
	ck_assert_int_eq(stun_parse_binding_response(buf, (size_t)n, rfc_txid, &out, NULL),
			 -EBADMSG);
}
END_TEST

START_TEST(test_too_many_attributes)
{
	uint8_t buf[1024];
	struct stun_writer w;
	struct stun_msg m;

	stun_writer_init(&w, buf, sizeof(buf), 1, STUN_CLASS_REQUEST, rfc_txid);
	for (int i = 0; i < STUN_MAX_ATTRS; i++)
		stun_put_flag(&w, 0x8fff);
	ssize_t n = stun_writer_finish(&w, false);
	ck_assert_int_eq(stun_parse(buf, (size_t)n, &m), 0);
	ck_assert_uint_eq(m.n_attrs, STUN_MAX_ATTRS);
	stun_put_flag(&w, 0x8fff);
	n = stun_writer_finish(&w, false);
	ck_assert_int_eq(stun_parse(buf, (size_t)n, &m), -EBADMSG);

	/* many unknown required: counted, first STUN_MAX_UNKNOWN kept */
	stun_writer_init(&w, buf, sizeof(buf), 1, STUN_CLASS_REQUEST, rfc_txid);
	for (int i = 0; i < 20; i++)
		stun_put_flag(&w, (uint16_t)(0x7000 + i));
	n = stun_writer_finish(&w, false);
	ck_assert_int_eq(stun_parse(buf, (size_t)n, &m), 0);
	ck_assert_uint_eq(m.n_unknown, 20);
	ck_assert_uint_eq(m.unknown[STUN_MAX_UNKNOWN - 1], 0x7000 + STUN_MAX_UNKNOWN - 1);
}
END_TEST

Suite *stun_suite(void);
Suite *stun_suite(void)
{
	Suite *s = suite_create("stun");
	TCase *tc = tcase_create("codec");

	tcase_add_test(tc, test_crc32_known);
	tcase_add_test(tc, test_rfc_request);
	tcase_add_test(tc, test_rfc_response_v4);
	tcase_add_test(tc, test_rfc_response_v6);
	tcase_add_test(tc, test_rfc_long_term);
	tcase_add_test(tc, test_writer_reproduces_rfc);
	tcase_add_test(tc, test_truncations);
	tcase_add_test(tc, test_truncations_fixed_length);
	tcase_add_test(tc, test_bad_headers);
	tcase_add_test(tc, test_bad_attributes);
	tcase_add_test(tc, test_unknown_attributes);
	tcase_add_test(tc, test_after_integrity_ignored);
	tcase_add_test(tc, test_bit_flips);
	tcase_add_test(tc, test_type_encoding);
	tcase_add_test(tc, test_writer_round_trip);
	tcase_add_test(tc, test_writer_nospace);
	tcase_add_test(tc, test_binding_request_helpers);
	tcase_add_test(tc, test_binding_response_fallback);
	tcase_add_test(tc, test_too_many_attributes);
	suite_add_tcase(s, tc);
	return s;
}
