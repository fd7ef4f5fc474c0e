/* The call handshake: an honest run agrees on everything; the protocol as
 * documented in e2e.h, rebuilt here from libsodium calls, gives the same
 * SAS, keys and ICE passwords; a man in the middle ends with two different
 * SAS; tampering, malformed text and wrong order are refused. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "p2pcall/e2e.h"
#include "p2pcall/mediacrypt.h"

/* Regression pins for the seeds of deterministic_vectors (computed once;
 * matches_the_documented_protocol checks the construction independently). */
#define PINNED_COMMIT     "kAAeAul3MKUrpsJQc2MYU7XYTLgBFiXkzdBzS253F2w"
#define PINNED_SAS        "uhe5"
#define PINNED_PWD_CALLER "23b91eb6adf421c22ea263d8ac2b9798"

static void seed_of(uint8_t seed[32], uint8_t tag)
{
	for (int i = 0; i < 32; i++)
		seed[i] = (uint8_t)(tag * 31 + i);
}

static void ident(struct e2e_identity *id, uint8_t tag)
{
	uint8_t seed[32];
	seed_of(seed, tag);
	ck_assert_int_eq(e2e_identity_from_seed(id, seed), 0);
}

/* Everything one handshake puts on the wire. */
struct wire {
	char commit[E2E_KEY_B64];
	char idkey_a[E2E_KEY_B64], idkey_b[E2E_KEY_B64];
	char eph_b[E2E_KEY_B64], sig_b[E2E_SIG_B64];
	char eph_a[E2E_KEY_B64], sig_a[E2E_SIG_B64];
};

struct hs {
	struct e2e_identity ida, idb;
	struct e2e_call *a, *b;
	struct wire w;
};

/* Caller "alice" (identity 1, eph seed ea) calls "bob" (identity 2, eph
 * seed eb), up to the step before the callee's finish. */
static void hs_start(struct hs *h, uint8_t ea, uint8_t eb)
{
	uint8_t s[32];
	ident(&h->ida, 1);
	ident(&h->idb, 2);
	b64url_encode(h->w.idkey_a, E2E_KEY_B64, h->ida.pk, 32);
	b64url_encode(h->w.idkey_b, E2E_KEY_B64, h->idb.pk, 32);
	seed_of(s, ea);
	ck_assert_int_eq(e2e_call_new(&h->a, E2E_CALLER, &h->ida, "alice", "bob", s), 0);
	seed_of(s, eb);
	ck_assert_int_eq(e2e_call_new(&h->b, E2E_CALLEE, &h->idb, "alice", "bob", s), 0);
	ck_assert_int_eq(e2e_commit(h->a, h->w.commit), 0);
	ck_assert_int_eq(e2e_answer(h->b, h->w.idkey_a, h->w.commit, h->w.eph_b, h->w.sig_b), 0);
}

static void hs_run(struct hs *h, uint8_t ea, uint8_t eb)
{
	hs_start(h, ea, eb);
	ck_assert_int_eq(e2e_confirm(h->a, h->w.idkey_b, h->w.eph_b, h->w.sig_b,
				     h->w.eph_a, h->w.sig_a), 0);
	ck_assert_int_eq(e2e_finish(h->b, h->w.eph_a, h->w.sig_a), 0);
}

static void hs_free(struct hs *h)
{
	e2e_call_free(h->a);
	e2e_call_free(h->b);
}

/* Flips one bit of the decoded value behind text and re-encodes it. */
static void flip_b64(char *text, size_t n, unsigned bit)
{
	uint8_t raw[64];
	ck_assert_int_eq(b64url_decode(raw, n, text), 0);
	raw[bit / 8 % n] ^= (uint8_t)(1u << (bit % 8));
	ck_assert_int_gt(b64url_encode(text, n == 32 ? E2E_KEY_B64 : E2E_SIG_B64, raw, n), 0);
}

/* RFC 8032 §7.1 test 1: the secret key seed and the public key. */
START_TEST(identity_rfc8032)
{
	static const uint8_t seed[32] = {
		0x9d, 0x61, 0xb1, 0x9d, 0xef, 0xfd, 0x5a, 0x60, 0xba, 0x84, 0x4a, 0xf4,
		0x92, 0xec, 0x2c, 0xc4, 0x44, 0x49, 0xc5, 0x69, 0x7b, 0x32, 0x69, 0x19,
		0x70, 0x3b, 0xac, 0x03, 0x1c, 0xae, 0x7f, 0x60,
	};
	static const uint8_t pk[32] = {
		0xd7, 0x5a, 0x98, 0x01, 0x82, 0xb1, 0x0a, 0xb7, 0xd5, 0x4b, 0xfe, 0xd3,
		0xc9, 0x64, 0x07, 0x3a, 0x0e, 0xe1, 0x72, 0xf3, 0xda, 0xa6, 0x23, 0x25,
		0xaf, 0x02, 0x1a, 0x68, 0xf7, 0x07, 0x51, 0x1a,
	};
	struct e2e_identity id;
	ck_assert_int_eq(e2e_identity_from_seed(&id, seed), 0);
	ck_assert_mem_eq(id.pk, pk, 32);
	ck_assert_mem_eq(id.sk, seed, 32);
	ck_assert_mem_eq(id.sk + 32, pk, 32);
	ck_assert_int_eq(e2e_identity_from_seed(NULL, seed), -EINVAL);
	ck_assert_int_eq(e2e_identity_from_seed(&id, NULL), -EINVAL);
}
END_TEST

START_TEST(b64_exact_and_canonical)
{
	uint8_t raw[64], back[64];
	for (int i = 0; i < 64; i++)
		raw[i] = (uint8_t)(i * 37 + 250);
	char k[E2E_KEY_B64], s[E2E_SIG_B64];
	ck_assert_int_eq(b64url_encode(k, sizeof(k), raw, 32), 43);
	ck_assert_int_eq(b64url_encode(s, sizeof(s), raw, 64), 86);
	ck_assert_uint_eq(strlen(k), 43);
	ck_assert_uint_eq(strspn(k, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
				 "0123456789-_"), 43);
	ck_assert_int_eq(b64url_decode(back, 32, k), 0);
	ck_assert_mem_eq(back, raw, 32);
	ck_assert_int_eq(b64url_decode(back, 64, s), 0);
	ck_assert_mem_eq(back, raw, 64);
	ck_assert_int_eq(b64url_encode(k, 43, raw, 32), -ENOSPC);
	ck_assert_int_eq(b64url_encode(NULL, 44, raw, 32), -EINVAL);

	/* a known value: 32 bytes of 0xff */
	memset(raw, 0xff, 32);
	b64url_encode(k, sizeof(k), raw, 32);
	ck_assert_str_eq(k, "__________________________________________8");

	char t[128];
	const char *bad[] = {
		"",
		"__________________________________________",      /* 42 chars */
		"__________________________________________8=",    /* padding */
		"__________________________________________8A",    /* 44 chars */
		"__________________________________________9",     /* low bits set */
		"__________________________________________/",     /* wrong alphabet */
		"+_________________________________________8",
		"_________________ ________________________8",     /* space */
		"__________________________________________\n",
		/* libsodium alone takes this byte for '_' */
		"__________________________________________\x85",
		"\x85_________________________________________8",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(b64url_decode(back, 32, bad[i]) == -EBADMSG, "bad[%zu]", i);
	/* a signature where a key is expected, and the reverse */
	ck_assert_int_eq(b64url_decode(back, 32, s), -EBADMSG);
	snprintf(t, sizeof(t), "%s", k);
	ck_assert_int_eq(b64url_decode(back, 64, t), -EBADMSG);
	ck_assert_int_eq(b64url_decode(back, 32, NULL), -EINVAL);
}
END_TEST

START_TEST(honest_handshake_agrees)
{
	struct hs h;
	hs_run(&h, 10, 20);
	ck_assert(e2e_ready(h.a) && e2e_ready(h.b));

	char sa[E2E_SAS_LEN], sb[E2E_SAS_LEN];
	e2e_sas(h.a, sa);
	e2e_sas(h.b, sb);
	ck_assert_str_eq(sa, sb);
	ck_assert_uint_eq(strlen(sa), 4);
	ck_assert_uint_eq(strspn(sa, "ybndrfg8ejkmcpqxot1uwisza345h769"), 4);

	struct mediacrypt_keys ka, kb;
	e2e_media_keys(h.a, &ka);
	e2e_media_keys(h.b, &kb);
	ck_assert_mem_eq(ka.tx, kb.rx, 32);
	ck_assert_mem_eq(ka.rx, kb.tx, 32);
	ck_assert(memcmp(ka.tx, ka.rx, 32) != 0);

	char pa_l[E2E_ICE_PWD_LEN], pa_r[E2E_ICE_PWD_LEN];
	char pb_l[E2E_ICE_PWD_LEN], pb_r[E2E_ICE_PWD_LEN];
	e2e_ice_pwd(h.a, true, pa_l);
	e2e_ice_pwd(h.a, false, pa_r);
	e2e_ice_pwd(h.b, true, pb_l);
	e2e_ice_pwd(h.b, false, pb_r);
	ck_assert_str_eq(pa_l, pb_r);
	ck_assert_str_eq(pa_r, pb_l);
	ck_assert_str_ne(pa_l, pa_r);
	ck_assert_uint_eq(strlen(pa_l), 32);
	ck_assert_uint_eq(strspn(pa_l, "0123456789abcdef"), 32);

	ck_assert_mem_eq(e2e_peer_idkey(h.a), h.idb.pk, 32);
	ck_assert_mem_eq(e2e_peer_idkey(h.b), h.ida.pk, 32);

	/* and the keys work: the caller's packet opens at the callee */
	struct mediacrypt *ma, *mb;
	ck_assert_int_eq(mediacrypt_new(&ma, &ka), 0);
	ck_assert_int_eq(mediacrypt_new(&mb, &kb), 0);
	uint8_t pkt[64] = { 0x80, 0x6f, 0, 1, 0, 0, 0, 0, 0, 0, 0, 9, 'h', 'i' };
	int m = mediacrypt_protect(ma, pkt, 14, sizeof(pkt));
	ck_assert_int_eq(m, 30);
	ck_assert_int_eq(mediacrypt_unprotect(mb, pkt, (size_t)m), 14);
	ck_assert_int_eq(pkt[12], 'h');
	mediacrypt_free(ma);
	mediacrypt_free(mb);
	hs_free(&h);
}
END_TEST

static void hash2(uint8_t *out, size_t outlen, const uint8_t *key, const char *label,
		  const uint8_t *msg, size_t n)
{
	crypto_generichash_state st;
	crypto_generichash_init(&st, key, key ? 32 : 0, outlen);
	crypto_generichash_update(&st, (const uint8_t *)label, strlen(label));
	crypto_generichash_update(&st, msg, n);
	crypto_generichash_final(&st, out, outlen);
}

/* The protocol of e2e.h computed from scratch: commitment, both
 * signatures, transcript hash, SAS, media keys, ICE passwords. */
START_TEST(matches_the_documented_protocol)
{
	struct hs h;
	hs_run(&h, 30, 40);
	uint8_t sa[32], sb[32], xa_pk[32], xa_sk[32], xb_pk[32], xb_sk[32];
	seed_of(sa, 30);
	seed_of(sb, 40);
	crypto_kx_seed_keypair(xa_pk, xa_sk, sa);
	crypto_kx_seed_keypair(xb_pk, xb_sk, sb);

	uint8_t commit[32], got[64];
	hash2(commit, 32, NULL, "p2pcall-commit-v1", xa_pk, 32);
	ck_assert_int_eq(b64url_decode(got, 32, h.w.commit), 0);
	ck_assert_mem_eq(got, commit, 32);
	ck_assert_int_eq(b64url_decode(got, 32, h.w.eph_a), 0);
	ck_assert_mem_eq(got, xa_pk, 32);
	ck_assert_int_eq(b64url_decode(got, 32, h.w.eph_b), 0);
	ck_assert_mem_eq(got, xb_pk, 32);

	/* F = len16 "alice" len16 "bob" ID_a ID_b C X_b */
	uint8_t f[256];
	size_t n = 0;
	memcpy(f + n, "\0\005alice\0\003bob", 12);
	n += 12;
	memcpy(f + n, h.ida.pk, 32);
	n += 32;
	memcpy(f + n, h.idb.pk, 32);
	n += 32;
	memcpy(f + n, commit, 32);
	n += 32;
	memcpy(f + n, xb_pk, 32);
	n += 32;
	uint8_t msg[300];
	memcpy(msg, "p2pcall-accept-v1", 17);
	memcpy(msg + 17, f, n);
	ck_assert_int_eq(b64url_decode(got, 64, h.w.sig_b), 0);
	ck_assert_int_eq(crypto_sign_verify_detached(got, msg, 17 + n, h.idb.pk), 0);
	memcpy(f + n, xa_pk, 32);   /* F || X_a from here on */
	n += 32;
	memcpy(msg, "p2pcall-reveal-v1", 17);
	memcpy(msg + 17, f, n);
	ck_assert_int_eq(b64url_decode(got, 64, h.w.sig_a), 0);
	ck_assert_int_eq(crypto_sign_verify_detached(got, msg, 17 + n, h.ida.pk), 0);
	/* Ed25519 is deterministic: the same signature as a fresh one */
	uint8_t again[64];
	crypto_sign_detached(again, NULL, msg, 17 + n, h.ida.sk);
	ck_assert_mem_eq(got, again, 64);

	uint8_t th[32], sas[32];
	hash2(th, 32, NULL, "p2pcall-transcript-v1", f, n);
	hash2(sas, 32, NULL, "p2pcall-sas-v1", th, 32);
	const char *z = "ybndrfg8ejkmcpqxot1uwisza345h769";
	char want_sas[5] = { z[sas[0] >> 3], z[(sas[0] & 7) << 2 | sas[1] >> 6],
			     z[(sas[1] >> 1) & 31], z[(sas[1] & 1) << 4 | sas[2] >> 4], 0 };
	char sas_a[E2E_SAS_LEN];
	e2e_sas(h.a, sas_a);
	ck_assert_str_eq(sas_a, want_sas);

	uint8_t k_ba[32], k_ab[32];   /* client rx, tx */
	ck_assert_int_eq(crypto_kx_client_session_keys(k_ba, k_ab, xa_pk, xa_sk, xb_pk), 0);
	uint8_t m_ab[32], m_ba[32], ice[16];
	hash2(m_ab, 32, k_ab, "p2pcall-media-v1", th, 32);
	hash2(m_ba, 32, k_ba, "p2pcall-media-v1", th, 32);
	struct mediacrypt_keys ka;
	e2e_media_keys(h.a, &ka);
	ck_assert_mem_eq(ka.tx, m_ab, 32);
	ck_assert_mem_eq(ka.rx, m_ba, 32);
	char hex[33], pwd[E2E_ICE_PWD_LEN];
	hash2(ice, 16, k_ab, "p2pcall-ice-v1", th, 32);
	sodium_bin2hex(hex, sizeof(hex), ice, 16);
	e2e_ice_pwd(h.a, true, pwd);
	ck_assert_str_eq(pwd, hex);
	hash2(ice, 16, k_ba, "p2pcall-ice-v1", th, 32);
	sodium_bin2hex(hex, sizeof(hex), ice, 16);
	e2e_ice_pwd(h.b, true, pwd);
	ck_assert_str_eq(pwd, hex);
	hs_free(&h);
}
END_TEST

/* Same seeds, same everything; pinned so that a change of the protocol
 * (which breaks calls between versions) cannot go unnoticed. */
START_TEST(deterministic_vectors)
{
	struct hs h1, h2;
	hs_run(&h1, 50, 60);
	hs_run(&h2, 50, 60);
	ck_assert_mem_eq(&h1.w, &h2.w, sizeof(h1.w));
	char s1[E2E_SAS_LEN], s2[E2E_SAS_LEN];
	e2e_sas(h1.a, s1);
	e2e_sas(h2.b, s2);
	ck_assert_str_eq(s1, s2);
	ck_assert_str_eq(h1.w.commit, PINNED_COMMIT);
	ck_assert_str_eq(s1, PINNED_SAS);
	char pwd[E2E_ICE_PWD_LEN];
	e2e_ice_pwd(h1.a, true, pwd);
	ck_assert_str_eq(pwd, PINNED_PWD_CALLER);
	hs_free(&h1);
	hs_free(&h2);
}
END_TEST

START_TEST(different_calls_different_keys)
{
	struct hs h1, h2;
	hs_run(&h1, 70, 80);
	hs_run(&h2, 71, 80);   /* only the caller's ephemeral differs */
	struct mediacrypt_keys k1, k2;
	e2e_media_keys(h1.a, &k1);
	e2e_media_keys(h2.a, &k2);
	ck_assert(memcmp(k1.tx, k2.tx, 32) != 0);
	ck_assert(memcmp(k1.rx, k2.rx, 32) != 0);
	char p1[E2E_ICE_PWD_LEN], p2[E2E_ICE_PWD_LEN];
	e2e_ice_pwd(h1.b, true, p1);
	e2e_ice_pwd(h2.b, true, p2);
	ck_assert_str_ne(p1, p2);
	ck_assert_str_ne(h1.w.commit, h2.w.commit);
	hs_free(&h1);
	hs_free(&h2);
}
END_TEST

/* Mallory sits on the signalling path: to alice she plays bob's side,
 * to bob alice's, each time with her own identity (she cannot sign as
 * either) and her own ephemeral keys. Both handshakes complete, but the
 * two SAS differ -- for every one of 32 runs with different keys, which
 * would all collide only with probability 2^-640. */
START_TEST(man_in_the_middle_gets_two_sas)
{
	struct e2e_identity ida, idb, idm;
	ident(&ida, 1);
	ident(&idb, 2);
	ident(&idm, 66);
	char ka[E2E_KEY_B64], km[E2E_KEY_B64];
	b64url_encode(ka, sizeof(ka), ida.pk, 32);
	b64url_encode(km, sizeof(km), idm.pk, 32);
	for (uint8_t run = 0; run < 32; run++) {
		uint8_t s[32];
		struct e2e_call *a, *b, *m_as_b, *m_as_a;
		seed_of(s, (uint8_t)(100 + run));
		ck_assert_int_eq(e2e_call_new(&a, E2E_CALLER, &ida, "alice", "bob", s), 0);
		seed_of(s, (uint8_t)(140 + run));
		ck_assert_int_eq(e2e_call_new(&b, E2E_CALLEE, &idb, "alice", "bob", s), 0);
		seed_of(s, (uint8_t)(180 + run));
		ck_assert_int_eq(e2e_call_new(&m_as_b, E2E_CALLEE, &idm, "alice", "bob", s), 0);
		seed_of(s, (uint8_t)(220 + run));
		ck_assert_int_eq(e2e_call_new(&m_as_a, E2E_CALLER, &idm, "alice", "bob", s), 0);

		char c_a[E2E_KEY_B64], c_m[E2E_KEY_B64];
		char eb[E2E_KEY_B64], sgb[E2E_SIG_B64], em[E2E_KEY_B64], sgm[E2E_SIG_B64];
		char ea[E2E_KEY_B64], sga[E2E_SIG_B64], em2[E2E_KEY_B64], sgm2[E2E_SIG_B64];
		ck_assert_int_eq(e2e_commit(a, c_a), 0);                      /* alice -> M */
		ck_assert_int_eq(e2e_commit(m_as_a, c_m), 0);                 /* M -> bob */
		ck_assert_int_eq(e2e_answer(b, km, c_m, eb, sgb), 0);
		ck_assert_int_eq(e2e_answer(m_as_b, ka, c_a, em, sgm), 0);    /* M -> alice */
		ck_assert_int_eq(e2e_confirm(a, km, em, sgm, ea, sga), 0);
		char kb[E2E_KEY_B64];
		b64url_encode(kb, sizeof(kb), idb.pk, 32);
		ck_assert_int_eq(e2e_confirm(m_as_a, kb, eb, sgb, em2, sgm2), 0);
		ck_assert_int_eq(e2e_finish(m_as_b, ea, sga), 0);
		ck_assert_int_eq(e2e_finish(b, em2, sgm2), 0);

		char sas_a[E2E_SAS_LEN], sas_b[E2E_SAS_LEN];
		e2e_sas(a, sas_a);
		e2e_sas(b, sas_b);
		ck_assert_msg(strcmp(sas_a, sas_b) != 0, "run %u: both %s", run, sas_a);
		/* and each side can see the identity key is not the expected one */
		ck_assert_mem_eq(e2e_peer_idkey(a), idm.pk, 32);
		ck_assert_mem_eq(e2e_peer_idkey(b), idm.pk, 32);
		struct mediacrypt_keys x, y;
		e2e_media_keys(a, &x);
		e2e_media_keys(b, &y);
		ck_assert(memcmp(x.tx, y.rx, 32) != 0);
		e2e_call_free(a);
		e2e_call_free(b);
		e2e_call_free(m_as_a);
		e2e_call_free(m_as_b);
	}
}
END_TEST

/* A middleman who keeps bob's identity but swaps the ephemeral key (to
 * learn the media keys) cannot produce bob's signature over it. */
START_TEST(swapped_eph_under_peer_identity_refused)
{
	struct hs h;
	hs_start(&h, 1, 2);
	uint8_t s[32], pk[32], sk[32];
	seed_of(s, 99);
	crypto_kx_seed_keypair(pk, sk, s);
	char mine[E2E_KEY_B64];
	b64url_encode(mine, sizeof(mine), pk, 32);
	ck_assert_int_eq(e2e_confirm(h.a, h.w.idkey_b, mine, h.w.sig_b, h.w.eph_a, h.w.sig_a),
			 -EPERM);
	ck_assert(!e2e_ready(h.a));
	/* failed for good, even with the genuine fields now */
	ck_assert_int_eq(e2e_confirm(h.a, h.w.idkey_b, h.w.eph_b, h.w.sig_b, h.w.eph_a,
				     h.w.sig_a), -EINVAL);
	ck_assert_ptr_null(e2e_peer_idkey(h.a));
	hs_free(&h);
}
END_TEST

START_TEST(tampering_refused)
{
	/* every 7th bit of the callee's signature */
	for (unsigned bit = 0; bit < 512; bit += 7) {
		struct hs h;
		hs_start(&h, 3, 4);
		flip_b64(h.w.sig_b, 64, bit);
		ck_assert_int_eq(e2e_confirm(h.a, h.w.idkey_b, h.w.eph_b, h.w.sig_b,
					     h.w.eph_a, h.w.sig_a), -EPERM);
		hs_free(&h);
	}
	struct hs h;
	/* the callee's eph= */
	hs_start(&h, 3, 4);
	flip_b64(h.w.eph_b, 32, 77);
	ck_assert_int_eq(e2e_confirm(h.a, h.w.idkey_b, h.w.eph_b, h.w.sig_b, h.w.eph_a,
				     h.w.sig_a), -EPERM);
	hs_free(&h);
	/* a commitment changed on the way to the callee: the reveal no longer
	 * matches it (and the caller already refused the callee's signature) */
	hs_start(&h, 3, 4);
	e2e_call_free(h.b);
	uint8_t s[32];
	seed_of(s, 4);
	ck_assert_int_eq(e2e_call_new(&h.b, E2E_CALLEE, &h.idb, "alice", "bob", s), 0);
	flip_b64(h.w.commit, 32, 5);
	ck_assert_int_eq(e2e_answer(h.b, h.w.idkey_a, h.w.commit, h.w.eph_b, h.w.sig_b), 0);
	ck_assert_int_eq(e2e_confirm(h.a, h.w.idkey_b, h.w.eph_b, h.w.sig_b, h.w.eph_a,
				     h.w.sig_a), -EPERM);
	hs_free(&h);
	/* the reveal: eph (commitment mismatch) and sig (signature) */
	for (int which = 0; which < 2; which++) {
		hs_start(&h, 3, 4);
		ck_assert_int_eq(e2e_confirm(h.a, h.w.idkey_b, h.w.eph_b, h.w.sig_b,
					     h.w.eph_a, h.w.sig_a), 0);
		if (which == 0)
			flip_b64(h.w.eph_a, 32, 200);
		else
			flip_b64(h.w.sig_a, 64, 300);
		ck_assert_int_eq(e2e_finish(h.b, h.w.eph_a, h.w.sig_a), -EPERM);
		ck_assert(!e2e_ready(h.b));
		char sas[E2E_SAS_LEN];
		e2e_sas(h.b, sas);
		ck_assert_str_eq(sas, "");
		hs_free(&h);
	}
	/* the two sides disagree on who is calling whom */
	hs_start(&h, 3, 4);
	e2e_call_free(h.a);
	seed_of(s, 3);
	ck_assert_int_eq(e2e_call_new(&h.a, E2E_CALLER, &h.ida, "alice", "carol", s), 0);
	ck_assert_int_eq(e2e_commit(h.a, h.w.commit), 0);
	ck_assert_int_eq(e2e_confirm(h.a, h.w.idkey_b, h.w.eph_b, h.w.sig_b, h.w.eph_a,
				     h.w.sig_a), -EPERM);
	hs_free(&h);
}
END_TEST

/* A key of order 8 for X25519 (all-zero shared secret), signed by a
 * genuine callee who is itself the attacker: refused, not used. */
/* The accept message of e2e.h for alice -> bob with callee eph x. */
static size_t accept_msg(uint8_t *msg, const struct hs *h, const uint8_t x[32])
{
	uint8_t commit[32];
	ck_assert_int_eq(b64url_decode(commit, 32, h->w.commit), 0);
	size_t n = 29;
	memcpy(msg, "p2pcall-accept-v1\0\005alice\0\003bob", n);
	memcpy(msg + n, h->ida.pk, 32);
	memcpy(msg + n + 32, h->idb.pk, 32);
	memcpy(msg + n + 64, commit, 32);
	memcpy(msg + n + 96, x, 32);
	return n + 128;
}

/* A small-order X25519 key (all-zero shared secret), validly signed by a
 * callee who is itself the attacker: refused, not used. */
START_TEST(degenerate_eph_refused)
{
	struct hs h;
	hs_start(&h, 5, 6);
	uint8_t msg[256], sig[64], x[32];
	/* the message as built here is the one bob really signs */
	ck_assert_int_eq(b64url_decode(x, 32, h.w.eph_b), 0);
	ck_assert_int_eq(b64url_decode(sig, 64, h.w.sig_b), 0);
	ck_assert_int_eq(crypto_sign_verify_detached(sig, msg, accept_msg(msg, &h, x),
						     h.idb.pk), 0);
	memset(x, 0, sizeof(x));
	crypto_sign_detached(sig, NULL, msg, accept_msg(msg, &h, x), h.idb.sk);
	char eph0[E2E_KEY_B64], sigt[E2E_SIG_B64];
	b64url_encode(eph0, sizeof(eph0), x, 32);
	b64url_encode(sigt, sizeof(sigt), sig, 64);
	ck_assert_int_eq(e2e_confirm(h.a, h.w.idkey_b, eph0, sigt, h.w.eph_a, h.w.sig_a),
			 -EPERM);
	hs_free(&h);
}
END_TEST

START_TEST(malformed_text_refused)
{
	struct hs h;
	hs_start(&h, 7, 8);
	char long44[] = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
	char zero_key[E2E_KEY_B64];
	uint8_t z[32] = { 0 };
	b64url_encode(zero_key, sizeof(zero_key), z, 32); /* not a valid Ed25519 key */
	char out1[E2E_KEY_B64], out2[E2E_SIG_B64];
	const char *bad_key[] = { "", "abc", long44, h.w.sig_b, zero_key, "~~~" };
	for (size_t i = 0; i < sizeof(bad_key) / sizeof(bad_key[0]); i++) {
		ck_assert_msg(e2e_confirm(h.a, bad_key[i], h.w.eph_b, h.w.sig_b, out1, out2) ==
			      -EBADMSG, "idkey %zu", i);
		if (i != 4)
			ck_assert_msg(e2e_confirm(h.a, h.w.idkey_b, bad_key[i], h.w.sig_b, out1,
						  out2) == -EBADMSG, "eph %zu", i);
		if (i != 3)
			ck_assert_msg(e2e_confirm(h.a, h.w.idkey_b, h.w.eph_b, bad_key[i], out1,
						  out2) == -EBADMSG, "sig %zu", i);
	}
	/* nothing of that was consumed: the genuine fields still work */
	ck_assert_int_eq(e2e_confirm(h.a, h.w.idkey_b, h.w.eph_b, h.w.sig_b, h.w.eph_a,
				     h.w.sig_a), 0);
	ck_assert_int_eq(e2e_finish(h.b, "", h.w.sig_a), -EBADMSG);
	ck_assert_int_eq(e2e_finish(h.b, h.w.eph_a, h.w.eph_a), -EBADMSG);
	ck_assert_int_eq(e2e_finish(h.b, h.w.eph_a, long44), -EBADMSG);
	ck_assert_int_eq(e2e_finish(h.b, h.w.eph_a, h.w.sig_a), 0);
	hs_free(&h);

	/* the callee's side of INVITE */
	struct e2e_identity id;
	ident(&id, 2);
	uint8_t s[32];
	seed_of(s, 9);
	struct e2e_call *b;
	ck_assert_int_eq(e2e_call_new(&b, E2E_CALLEE, &id, "alice", "bob", s), 0);
	ck_assert_int_eq(e2e_answer(b, zero_key, long44, out1, out2), -EBADMSG);
	ck_assert_int_eq(e2e_answer(b, "x", "y", out1, out2), -EBADMSG);
	ck_assert_ptr_null(e2e_peer_idkey(b));
	e2e_call_free(b);
}
END_TEST

START_TEST(wrong_order_refused)
{
	struct e2e_identity id;
	ident(&id, 1);
	uint8_t s[32];
	seed_of(s, 11);
	char k[E2E_KEY_B64], sg[E2E_SIG_B64], kk[E2E_KEY_B64];
	b64url_encode(kk, sizeof(kk), id.pk, 32);
	struct e2e_call *a, *b;
	ck_assert_int_eq(e2e_call_new(&a, E2E_CALLER, &id, "alice", "bob", s), 0);
	ck_assert_int_eq(e2e_call_new(&b, E2E_CALLEE, &id, "alice", "bob", s), 0);
	/* before commit, the caller cannot confirm; roles are not swappable */
	ck_assert_int_eq(e2e_confirm(a, kk, kk, "x", k, sg), -EINVAL);
	ck_assert_int_eq(e2e_answer(a, kk, kk, k, sg), -EINVAL);
	ck_assert_int_eq(e2e_finish(a, kk, "x"), -EINVAL);
	ck_assert_int_eq(e2e_commit(b, k), -EINVAL);
	ck_assert_int_eq(e2e_confirm(b, kk, kk, "x", k, sg), -EINVAL);
	ck_assert_int_eq(e2e_finish(b, kk, "x"), -EINVAL);   /* before answer */
	ck_assert(!e2e_ready(a) && !e2e_ready(b));
	struct mediacrypt_keys mk;
	memset(&mk, 0xaa, sizeof(mk));
	e2e_media_keys(a, &mk);
	uint8_t zero[32] = { 0 };
	ck_assert_mem_eq(mk.tx, zero, 32);
	char pwd[E2E_ICE_PWD_LEN] = "x";
	e2e_ice_pwd(a, true, pwd);
	ck_assert_str_eq(pwd, "");
	ck_assert_ptr_null(e2e_peer_idkey(a));
	/* commit twice gives the same value */
	char c1[E2E_KEY_B64], c2[E2E_KEY_B64];
	ck_assert_int_eq(e2e_commit(a, c1), 0);
	ck_assert_int_eq(e2e_commit(a, c2), 0);
	ck_assert_str_eq(c1, c2);
	/* answering twice is refused */
	ck_assert_int_eq(e2e_answer(b, kk, c1, k, sg), 0);
	ck_assert_int_eq(e2e_answer(b, kk, c1, k, sg), -EINVAL);
	e2e_call_free(a);
	e2e_call_free(b);

	/* after ready, every step is over */
	struct hs h;
	hs_run(&h, 12, 13);
	ck_assert_int_eq(e2e_commit(h.a, c1), -EINVAL);
	ck_assert_int_eq(e2e_confirm(h.a, h.w.idkey_b, h.w.eph_b, h.w.sig_b, k, sg), -EINVAL);
	ck_assert_int_eq(e2e_finish(h.b, h.w.eph_a, h.w.sig_a), -EINVAL);
	hs_free(&h);
}
END_TEST

START_TEST(bad_arguments)
{
	struct e2e_identity id;
	ident(&id, 1);
	uint8_t s[32] = { 0 };
	struct e2e_call *c = NULL;
	char big[E2E_NAME_MAX + 2];
	memset(big, 'n', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	ck_assert_int_eq(e2e_call_new(&c, E2E_CALLER, &id, big, "bob", s), -EINVAL);
	ck_assert_int_eq(e2e_call_new(&c, E2E_CALLER, &id, "alice", big, s), -EINVAL);
	big[E2E_NAME_MAX] = '\0';   /* exactly the maximum is fine */
	ck_assert_int_eq(e2e_call_new(&c, E2E_CALLER, &id, big, big, s), 0);
	e2e_call_free(c);
	ck_assert_int_eq(e2e_call_new(&c, E2E_CALLER, NULL, "a", "b", s), -EINVAL);
	ck_assert_int_eq(e2e_call_new(&c, E2E_CALLER, &id, NULL, "b", s), -EINVAL);
	ck_assert_int_eq(e2e_call_new(&c, E2E_CALLER, &id, "a", "b", NULL), -EINVAL);
	ck_assert_int_eq(e2e_call_new(&c, (enum e2e_role)7, &id, "a", "b", s), -EINVAL);
	ck_assert_int_eq(e2e_call_new(NULL, E2E_CALLER, &id, "a", "b", s), -EINVAL);
	ck_assert_int_eq(e2e_commit(NULL, big), -EINVAL);
	ck_assert(!e2e_ready(NULL));
	e2e_call_free(NULL);
}
END_TEST

/* Longest names: the transcript buffer holds them. */
START_TEST(longest_names)
{
	struct e2e_identity ida, idb;
	ident(&ida, 1);
	ident(&idb, 2);
	static char na[E2E_NAME_MAX + 1], nb[E2E_NAME_MAX + 1];
	memset(na, 'a', E2E_NAME_MAX);
	memset(nb, 'b', E2E_NAME_MAX);
	uint8_t s[32] = { 1 };
	struct e2e_call *a, *b;
	ck_assert_int_eq(e2e_call_new(&a, E2E_CALLER, &ida, na, nb, s), 0);
	s[0] = 2;
	ck_assert_int_eq(e2e_call_new(&b, E2E_CALLEE, &idb, na, nb, s), 0);
	char c[E2E_KEY_B64], ka[E2E_KEY_B64], kb[E2E_KEY_B64];
	char eb[E2E_KEY_B64], sb[E2E_SIG_B64], ea[E2E_KEY_B64], sa[E2E_SIG_B64];
	b64url_encode(ka, sizeof(ka), ida.pk, 32);
	b64url_encode(kb, sizeof(kb), idb.pk, 32);
	ck_assert_int_eq(e2e_commit(a, c), 0);
	ck_assert_int_eq(e2e_answer(b, ka, c, eb, sb), 0);
	ck_assert_int_eq(e2e_confirm(a, kb, eb, sb, ea, sa), 0);
	ck_assert_int_eq(e2e_finish(b, ea, sa), 0);
	char x[E2E_SAS_LEN], y[E2E_SAS_LEN];
	e2e_sas(a, x);
	e2e_sas(b, y);
	ck_assert_str_eq(x, y);
	e2e_call_free(a);
	e2e_call_free(b);
}
END_TEST

Suite *e2e_suite(void)
{
	Suite *s = suite_create("e2e");
	TCase *tc = tcase_create("handshake");
	tcase_add_test(tc, identity_rfc8032);
	tcase_add_test(tc, b64_exact_and_canonical);
	tcase_add_test(tc, honest_handshake_agrees);
	tcase_add_test(tc, matches_the_documented_protocol);
	tcase_add_test(tc, deterministic_vectors);
	tcase_add_test(tc, different_calls_different_keys);
	tcase_add_test(tc, man_in_the_middle_gets_two_sas);
	tcase_add_test(tc, swapped_eph_under_peer_identity_refused);
	tcase_add_test(tc, tampering_refused);
	tcase_add_test(tc, degenerate_eph_refused);
	tcase_add_test(tc, malformed_text_refused);
	tcase_add_test(tc, wrong_order_refused);
	tcase_add_test(tc, bad_arguments);
	tcase_add_test(tc, longest_names);
	suite_add_tcase(s, tc);
	return s;
}
