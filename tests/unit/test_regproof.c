/* Registration proofs: signatures over (challenge, name) that verify only
 * for that key, that challenge and that name; and the exact base64url
 * text form of keys, signatures and challenges. */
#include <check.h>
#include <errno.h>
#include <sodium.h>
#include <string.h>

#include "p2pcall/regproof.h"

static uint8_t pk[32], sk[64], pk2[32], sk2[64], chal[32];

static void setup(void)
{
	ck_assert_int_ge(sodium_init(), 0);
	/* Fixed seeds: the tests are reproducible. */
	uint8_t seed[32];
	memset(seed, 7, sizeof(seed));
	crypto_sign_seed_keypair(pk, sk, seed);
	memset(seed, 8, sizeof(seed));
	crypto_sign_seed_keypair(pk2, sk2, seed);
	for (int i = 0; i < 32; i++)
		chal[i] = (uint8_t)(i * 37 + 1);
}

START_TEST(sign_then_verify)
{
	uint8_t sig[64];
	ck_assert_int_eq(regproof_sign(sk, chal, "alice", sig), 0);
	ck_assert_int_eq(regproof_verify(pk, chal, "alice", sig), 0);
	/* Another key, name or challenge, or a flipped bit: refused. */
	ck_assert_int_eq(regproof_verify(pk2, chal, "alice", sig), -EPERM);
	ck_assert_int_eq(regproof_verify(pk, chal, "alicf", sig), -EPERM);
	ck_assert_int_eq(regproof_verify(pk, chal, "alic", sig), -EPERM);
	uint8_t c2[32];
	memcpy(c2, chal, 32);
	c2[31] ^= 1;
	ck_assert_int_eq(regproof_verify(pk, c2, "alice", sig), -EPERM);
	for (int bit = 0; bit < 512; bit += 37) {
		uint8_t bad[64];
		memcpy(bad, sig, 64);
		bad[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		ck_assert_int_eq(regproof_verify(pk, chal, "alice", bad), -EPERM);
	}
}
END_TEST

START_TEST(message_layout)
{
	/* The signed message is exactly the documented bytes: a detached
	 * signature over them, made without regproof, verifies. */
	uint8_t msg[20 + 32 + 3], sig[64];
	memcpy(msg, "p2pcall-register-v1", 20); /* with its NUL */
	memcpy(msg + 20, chal, 32);
	memcpy(msg + 52, "bob", 3);
	crypto_sign_detached(sig, NULL, msg, sizeof(msg), sk);
	ck_assert_int_eq(regproof_verify(pk, chal, "bob", sig), 0);
	uint8_t mine[64];
	ck_assert_int_eq(regproof_sign(sk, chal, "bob", mine), 0);
	ck_assert_mem_eq(mine, sig, 64); /* Ed25519 is deterministic */
}
END_TEST

START_TEST(bad_arguments)
{
	uint8_t sig[64] = { 0 };
	char longname[40];
	memset(longname, 'a', 33);
	longname[33] = '\0';
	ck_assert_int_eq(regproof_sign(sk, chal, "", sig), -EINVAL);
	ck_assert_int_eq(regproof_sign(sk, chal, longname, sig), -EINVAL);
	ck_assert_int_eq(regproof_sign(NULL, chal, "a", sig), -EINVAL);
	ck_assert_int_eq(regproof_verify(pk, chal, longname, sig), -EINVAL);
	ck_assert_int_eq(regproof_verify(pk, NULL, "a", sig), -EINVAL);
	longname[32] = '\0'; /* 32 bytes is allowed */
	ck_assert_int_eq(regproof_sign(sk, chal, longname, sig), 0);
	ck_assert_int_eq(regproof_verify(pk, chal, longname, sig), 0);
	/* A key that is not a curve point verifies nothing. */
	uint8_t junk[32];
	memset(junk, 0xff, sizeof(junk));
	ck_assert_int_eq(regproof_verify(junk, chal, longname, sig), -EPERM);
}
END_TEST

START_TEST(base64url_exact)
{
	char t32[44], t64[87];
	uint8_t back[64];
	ck_assert_int_eq(b64url_encode(t32, sizeof(t32), pk, 32), REGPROOF_B64_32);
	ck_assert_int_eq(b64url_encode(t64, sizeof(t64), sk, 64), REGPROOF_B64_64);
	ck_assert_int_eq(b64url_encode(t32, 43, pk, 32), -ENOSPC);
	ck_assert_ptr_null(strpbrk(t32, "+/="));
	ck_assert_int_eq(b64url_decode(back, 32, t32), 0);
	ck_assert_mem_eq(back, pk, 32);
	ck_assert_int_eq(b64url_decode(back, 64, t64), 0);
	ck_assert_mem_eq(back, sk, 64);
	/* Known vector: 32 bytes 0xfb..., the url-safe alphabet's '-' and '_'. */
	uint8_t fb[32];
	memset(fb, 0xfb, sizeof(fb));
	ck_assert_int_eq(b64url_encode(t32, sizeof(t32), fb, 32), 43);
	ck_assert_str_eq(t32, "-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_s");

	/* Only the exact form of exactly that many bytes. */
	ck_assert_int_eq(b64url_decode(back, 31, t32), -EBADMSG);
	ck_assert_int_eq(b64url_decode(back, 32, t64), -EBADMSG);
	ck_assert_int_eq(b64url_decode(back, 32, "-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_s="), -EBADMSG);
	ck_assert_int_eq(b64url_decode(back, 32, "+/v7-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_s"), -EBADMSG);
	ck_assert_int_eq(b64url_decode(back, 32, "-_v7-_v7-_v7-_v7-_v7-_v7-_v7 _v7-_v7-_v7-_s"), -EBADMSG);
	ck_assert_int_eq(b64url_decode(back, 32, "-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_"), -EBADMSG);
	ck_assert_int_eq(b64url_decode(back, 32, ""), -EBADMSG);
	/* The last character carries 2 bits of data: another with the same
	 * top bits but non-zero spare bits is not the canonical form. */
	ck_assert_int_eq(b64url_decode(back, 32, "-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_t"), -EBADMSG);
}
END_TEST

Suite *regproof_suite(void)
{
	Suite *s = suite_create("regproof");
	TCase *c = tcase_create("regproof");
	tcase_add_checked_fixture(c, setup, NULL);
	tcase_add_test(c, sign_then_verify);
	tcase_add_test(c, message_layout);
	tcase_add_test(c, bad_arguments);
	tcase_add_test(c, base64url_exact);
	suite_add_tcase(s, c);
	return s;
}
