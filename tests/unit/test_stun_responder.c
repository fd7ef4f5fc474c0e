/* STUN Binding responder tests. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include "p2pcall/stun.h"
#include "p2pcall/stun_responder.h"

static const uint8_t txid[12] = { 9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 0xaa, 0x55 };

static struct sockaddr_in from4(void)
{
	struct sockaddr_in sin;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(54321);
	inet_pton(AF_INET, "203.0.113.9", &sin.sin_addr);
	return sin;
}

static struct sockaddr_in6 from6(void)
{
	struct sockaddr_in6 sin6;

	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	sin6.sin6_port = htons(1234);
	inet_pton(AF_INET6, "2001:db8:feed::42", &sin6.sin6_addr);
	return sin6;
}

static ssize_t handle4(const uint8_t *in, size_t n, uint8_t *out, size_t cap,
		       const char *sw)
{
	struct sockaddr_in f = from4();
	return stun_responder_handle(in, n, (struct sockaddr *)&f, sizeof(f),
				     out, cap, sw);
}

START_TEST(test_binding_v4)
{
	uint8_t req[64], out[256];
	struct stun_msg m;
	struct sockaddr_storage mapped;
	struct sockaddr_in f = from4();

	ssize_t n = stun_build_binding_request(req, sizeof(req), txid, NULL);
	ck_assert_int_eq(n, 28);
	/* 28-byte request: 56 allowed. 40 bytes without SOFTWARE; "p2p"
	 * adds 8 -> 48. */
	ssize_t r = handle4(req, (size_t)n, out, sizeof(out), "p2p");
	ck_assert_int_eq(r, 48);
	ck_assert_int_eq(stun_parse(out, (size_t)r, &m), 0);
	ck_assert_int_eq(m.cls, STUN_CLASS_SUCCESS);
	ck_assert_uint_eq(m.method, STUN_METHOD_BINDING);
	ck_assert_mem_eq(m.txid, txid, 12);
	ck_assert(m.has_xor_mapped);
	ck_assert(m.has_fingerprint);
	ck_assert_uint_eq(m.software_len, 3);
	ck_assert_mem_eq(m.software, "p2p", 3);
	ck_assert_int_eq(stun_parse_binding_response(out, (size_t)r, txid, &mapped, NULL), 0);
	const struct sockaddr_in *got = (const struct sockaddr_in *)&mapped;
	ck_assert_int_eq(got->sin_family, AF_INET);
	ck_assert_uint_eq(got->sin_port, f.sin_port);
	ck_assert_uint_eq(got->sin_addr.s_addr, f.sin_addr.s_addr);
}
END_TEST

START_TEST(test_binding_v6)
{
	uint8_t req[64], out[256];
	struct sockaddr_storage mapped;
	struct sockaddr_in6 f = from6();
	struct stun_binding_opts o = { .software = "client" };

	/* 20 + 12 (SOFTWARE "client") + 8 = 40 -> 80 allowed; answer is
	 * 20 + 24 + 8 = 52 without SOFTWARE, 52 + 12 = 64 with "server". */
	ssize_t n = stun_build_binding_request(req, sizeof(req), txid, &o);
	ck_assert_int_eq(n, 40);
	ssize_t r = stun_responder_handle(req, (size_t)n, (struct sockaddr *)&f,
					  sizeof(f), out, sizeof(out), "server");
	ck_assert_int_eq(r, 64);
	ck_assert_int_eq(stun_parse_binding_response(out, (size_t)r, txid, &mapped, NULL), 0);
	const struct sockaddr_in6 *got = (const struct sockaddr_in6 *)&mapped;
	ck_assert_int_eq(got->sin6_family, AF_INET6);
	ck_assert_uint_eq(got->sin6_port, f.sin6_port);
	ck_assert_mem_eq(&got->sin6_addr, &f.sin6_addr, 16);
}
END_TEST

/* The answer never exceeds twice the request, or the 44-byte bare answer
 * (an IPv6 address needs it): SOFTWARE is dropped first, then FINGERPRINT
 * when the request carried none. */
START_TEST(test_amplification_bound)
{
	uint8_t req[64], out[256];
	struct stun_msg m;
	struct sockaddr_in6 f6 = from6();
	static const char *long_sw = "a-rather-long-software-name/1.2.3";

	/* A bare 20-byte request over IPv4: 40 allowed, the bare answer is
	 * exactly 40; the long SOFTWARE is left out. */
	struct stun_binding_opts bare = { .no_fingerprint = true };
	ssize_t n = stun_build_binding_request(req, sizeof(req), txid, &bare);
	ck_assert_int_eq(n, 20);
	ssize_t r = handle4(req, 20, out, sizeof(out), long_sw);
	ck_assert_int_eq(r, 40);
	ck_assert_int_eq(stun_parse(out, (size_t)r, &m), 0);
	ck_assert_ptr_null(m.software);
	ck_assert(m.has_xor_mapped);

	/* Same over IPv6: the answer with FINGERPRINT is 52 > 40; the request
	 * had none, so the bare 44-byte answer goes out, still decodable. */
	r = stun_responder_handle(req, 20, (struct sockaddr *)&f6, sizeof(f6),
				  out, sizeof(out), long_sw);
	ck_assert_int_eq(r, 44);
	ck_assert_int_eq(stun_parse(out, (size_t)r, &m), 0);
	ck_assert(!m.has_fingerprint);
	ck_assert(m.has_xor_mapped);
	struct sockaddr_storage mapped6;
	ck_assert_int_eq(stun_parse_binding_response(out, (size_t)r, txid, &mapped6, NULL), 0);
	ck_assert_mem_eq(&((struct sockaddr_in6 *)&mapped6)->sin6_addr, &f6.sin6_addr, 16);

	/* A 28-byte request with FINGERPRINT over IPv6 is answered with
	 * FINGERPRINT (52 <= 56). */
	n = stun_build_binding_request(req, sizeof(req), txid, NULL);
	ck_assert_int_eq(n, 28);
	r = stun_responder_handle(req, (size_t)n, (struct sockaddr *)&f6, sizeof(f6),
				  out, sizeof(out), long_sw);
	ck_assert_int_eq(r, 52);
	ck_assert_int_eq(stun_parse(out, (size_t)r, &m), 0);
	ck_assert(m.has_fingerprint);

	/* 28-byte request over IPv4 with the long SOFTWARE: 40 + 36 > 56,
	 * so SOFTWARE goes and 40 remains. */
	n = stun_build_binding_request(req, sizeof(req), txid, NULL);
	r = handle4(req, (size_t)n, out, sizeof(out), long_sw);
	ck_assert_int_eq(r, 40);

	/* Sweep: whatever the request, answer <= 2 x request. */
	for (size_t swlen = 0; swlen < 40; swlen++) {
		char sw[64];
		memset(sw, 's', swlen);
		sw[swlen] = 0;
		for (int fp = 0; fp < 2; fp++) {
			struct stun_binding_opts o = { .no_fingerprint = !fp };
			n = stun_build_binding_request(req, sizeof(req), txid, &o);
			r = handle4(req, (size_t)n, out, sizeof(out), sw);
			ck_assert_int_gt(r, 0);
			ck_assert_int_le(r, 2 * n); /* IPv4: never an exception */
			r = stun_responder_handle(req, (size_t)n, (struct sockaddr *)&f6,
						  sizeof(f6), out, sizeof(out), sw);
			ck_assert_int_gt(r, 0);
			ck_assert_int_le(r, 2 * n > 44 ? 2 * n : 44);
		}
	}
}
END_TEST

START_TEST(test_unknown_attribute_420)
{
	uint8_t req[128], out[256];
	struct stun_writer w;
	struct stun_msg m;

	stun_writer_init(&w, req, sizeof(req), STUN_METHOD_BINDING,
			 STUN_CLASS_REQUEST, txid);
	stun_put_u32(&w, 0x7abc, 1);
	stun_put_u32(&w, 0x8abc, 2); /* optional: not reported */
	stun_put_u32(&w, 0x0033, 3);
	ssize_t n = stun_writer_finish(&w, true);
	ck_assert_int_eq(n, 52);
	ssize_t r = handle4(req, (size_t)n, out, sizeof(out), NULL);
	ck_assert_int_gt(r, 0);
	ck_assert_int_le(r, 2 * n);
	ck_assert_int_eq(stun_parse(out, (size_t)r, &m), 0);
	ck_assert_int_eq(m.cls, STUN_CLASS_ERROR);
	ck_assert_mem_eq(m.txid, txid, 12);
	ck_assert(m.has_error);
	ck_assert_uint_eq(m.error_code, 420);
	ck_assert_uint_eq(m.n_unknown_listed, 2);
	ck_assert_uint_eq(m.unknown_listed[0], 0x7abc);
	ck_assert_uint_eq(m.unknown_listed[1], 0x0033);
	ck_assert(!m.has_xor_mapped);
	ck_assert(m.has_fingerprint);
	uint16_t code = 0;
	ck_assert_int_eq(stun_parse_binding_response(out, (size_t)r, txid, NULL, &code), -EPROTO);
	ck_assert_uint_eq(code, 420);

	/* A tiny request with an unknown attribute whose 420 would be too big
	 * (reason phrase + list): 24-byte request, 48 allowed, the 420 needs
	 * 20 + 4 + 20 + 8 + 8 = 60: dropped. */
	stun_writer_init(&w, req, sizeof(req), STUN_METHOD_BINDING,
			 STUN_CLASS_REQUEST, txid);
	stun_put_flag(&w, 0x7abc);
	n = stun_writer_finish(&w, false);
	ck_assert_int_eq(n, 24);
	ck_assert_int_eq(handle4(req, (size_t)n, out, sizeof(out), NULL), 0);
}
END_TEST

START_TEST(test_drops)
{
	uint8_t req[128], out[256];
	struct stun_writer w;
	struct sockaddr_storage un = { .ss_family = AF_UNIX };
	ssize_t n;

	/* indication */
	n = stun_build_binding(req, sizeof(req), STUN_CLASS_INDICATION, txid, NULL);
	ck_assert_int_eq(handle4(req, (size_t)n, out, sizeof(out), NULL), 0);
	/* responses */
	for (int c = STUN_CLASS_SUCCESS; c <= STUN_CLASS_ERROR; c++) {
		stun_writer_init(&w, req, sizeof(req), STUN_METHOD_BINDING,
				 (enum stun_class)c, txid);
		n = stun_writer_finish(&w, true);
		ck_assert_int_eq(handle4(req, (size_t)n, out, sizeof(out), NULL), 0);
	}
	/* another method (Allocate) */
	stun_writer_init(&w, req, sizeof(req), STUN_METHOD_ALLOCATE,
			 STUN_CLASS_REQUEST, txid);
	n = stun_writer_finish(&w, true);
	ck_assert_int_eq(handle4(req, (size_t)n, out, sizeof(out), NULL), 0);
	/* bad fingerprint */
	n = stun_build_binding_request(req, sizeof(req), txid, NULL);
	req[n - 1] ^= 1;
	ck_assert_int_eq(handle4(req, (size_t)n, out, sizeof(out), NULL), 0);
	/* garbage and truncations */
	n = stun_build_binding_request(req, sizeof(req), txid, NULL);
	for (ssize_t k = 0; k < n; k++)
		ck_assert_int_eq(handle4(req, (size_t)k, out, sizeof(out), "x"), 0);
	memset(req, 0x80, 64);
	ck_assert_int_eq(handle4(req, 64, out, sizeof(out), "x"), 0);
	/* unsupported source family, short fromlen */
	n = stun_build_binding_request(req, sizeof(req), txid, NULL);
	ck_assert_int_eq(stun_responder_handle(req, (size_t)n, (struct sockaddr *)&un,
					       sizeof(un), out, sizeof(out), NULL), 0);
	struct sockaddr_in f = from4();
	ck_assert_int_eq(stun_responder_handle(req, (size_t)n, (struct sockaddr *)&f,
					       4, out, sizeof(out), NULL), 0);
	/* bad arguments, small output */
	ck_assert_int_eq(stun_responder_handle(NULL, 0, (struct sockaddr *)&f, sizeof(f),
					       out, sizeof(out), NULL), -EINVAL);
	ck_assert_int_eq(handle4(req, (size_t)n, out, 30, NULL), -ENOSPC);
}
END_TEST

Suite *stun_responder_suite(void);
Suite *stun_responder_suite(void)
{
	Suite *s = suite_create("stun_responder");
	TCase *tc = tcase_create("responder");

	tcase_add_test(tc, test_binding_v4);
	tcase_add_test(tc, test_binding_v6);
	tcase_add_test(tc, test_amplification_bound);
	tcase_add_test(tc, test_unknown_attribute_420);
	tcase_add_test(tc, test_drops);
	suite_add_tcase(s, tc);
	return s;
}
