/* Identities and the per-call key agreement with a SAS commitment; the
 * protocol, its labels and why it is shaped so are in e2e.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "p2pcall/bytes.h"
#include "p2pcall/e2e.h"
#include "p2pcall/b64url.h"



#define L_COMMIT     "p2pcall-commit-v1"
#define L_ACCEPT     "p2pcall-accept-v1"
#define L_REVEAL     "p2pcall-reveal-v1"
#define L_TRANSCRIPT "p2pcall-transcript-v1"
#define L_MEDIA      "p2pcall-media-v1"
#define L_ICE        "p2pcall-ice-v1"
#define L_SAS        "p2pcall-sas-v1"

#define ZBASE32      "ybndrfg8ejkmcpqxot1uwisza345h769"
#define ICE_RAW_LEN  16

/* label || F || X_a, at its largest */
#define MSG_MAX (32 + 2 + E2E_NAME_MAX + 2 + E2E_NAME_MAX + 5 * E2E_KEY_LEN)

enum state {
	ST_NEW,        /* both */
	ST_COMMITTED,  /* caller: commitment handed out */
	ST_ANSWERED,   /* callee: ACCEPT fields handed out */
	ST_READY,
	ST_FAILED,     /* a check failed: the call cannot go on */
};

struct e2e_call {
	enum e2e_role role;
	enum state st;
	uint8_t my_sk[crypto_sign_SECRETKEYBYTES];
	uint8_t eph_sk[crypto_kx_SECRETKEYBYTES];
	/* Transcript values under their protocol names (a = caller, b =
	 * callee), filled in as they become known. */
	uint8_t id_a[E2E_KEY_LEN], id_b[E2E_KEY_LEN];
	uint8_t x_a[E2E_KEY_LEN], x_b[E2E_KEY_LEN];
	uint8_t commit[E2E_KEY_LEN];
	bool    peer_known;
	char    name_a[E2E_NAME_MAX + 1], name_b[E2E_NAME_MAX + 1];
	size_t  len_a, len_b;
	/* Derived once ready. */
	struct mediacrypt_keys media;
	char    pwd_local[E2E_ICE_PWD_LEN], pwd_remote[E2E_ICE_PWD_LEN];
	char    sas[E2E_SAS_LEN];
};

int e2e_identity_from_seed(struct e2e_identity *id, const uint8_t seed[32])
{
	if (!id || !seed)
		return -EINVAL;
	if (sodium_init() < 0)
		return -EIO;
	if (crypto_sign_seed_keypair(id->pk, id->sk, seed) != 0)
		return -EIO;
	return 0;
}



static void b64_key(char out[E2E_KEY_B64], const uint8_t k[E2E_KEY_LEN])
{
	b64url_encode(out, E2E_KEY_B64, k, E2E_KEY_LEN);
}

int e2e_call_new(struct e2e_call **out, enum e2e_role role, const struct e2e_identity *me,
		 const char *caller_name, const char *callee_name,
		 const uint8_t eph_seed[32])
{
	if (!out)
		return -EINVAL;
	*out = NULL;
	if (!me || !caller_name || !callee_name || !eph_seed ||
	    (role != E2E_CALLER && role != E2E_CALLEE))
		return -EINVAL;
	size_t la = strnlen(caller_name, E2E_NAME_MAX + 1);
	size_t lb = strnlen(callee_name, E2E_NAME_MAX + 1);
	if (la > E2E_NAME_MAX || lb > E2E_NAME_MAX)
		return -EINVAL;
	if (sodium_init() < 0)
		return -EIO;
	struct e2e_call *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->role = role;
	c->st = ST_NEW;
	memcpy(c->my_sk, me->sk, sizeof(c->my_sk));
	memcpy(c->name_a, caller_name, la);
	memcpy(c->name_b, callee_name, lb);
	c->len_a = la;
	c->len_b = lb;
	uint8_t *my_id = role == E2E_CALLER ? c->id_a : c->id_b;
	uint8_t *my_x = role == E2E_CALLER ? c->x_a : c->x_b;
	memcpy(my_id, me->pk, E2E_KEY_LEN);
	if (crypto_kx_seed_keypair(my_x, c->eph_sk, eph_seed) != 0) {
		e2e_call_free(c);
		return -EIO;
	}
	if (role == E2E_CALLER) {
		crypto_generichash_state h;
		crypto_generichash_init(&h, NULL, 0, E2E_KEY_LEN);
		crypto_generichash_update(&h, (const uint8_t *)L_COMMIT, strlen(L_COMMIT));
		crypto_generichash_update(&h, c->x_a, E2E_KEY_LEN);
		crypto_generichash_final(&h, c->commit, E2E_KEY_LEN);
	}
	*out = c;
	return 0;
}

void e2e_call_free(struct e2e_call *c)
{
	if (!c)
		return;
	sodium_memzero(c, sizeof(*c));
	free(c);
}

static uint8_t *put(uint8_t *p, const void *v, size_t n)
{
	memcpy(p, v, n);
	return p + n;
}

static uint8_t *put_name(uint8_t *p, const char *name, size_t n)
{
	wr16(p, (uint16_t)n);
	return put(p + 2, name, n);
}

/* Writes label || F (|| X_a) into buf[MSG_MAX]; returns the length. */
static size_t transcript(const struct e2e_call *c, const char *label, bool with_xa,
			 uint8_t buf[MSG_MAX])
{
	uint8_t *p = put(buf, label, strlen(label));
	p = put_name(p, c->name_a, c->len_a);
	p = put_name(p, c->name_b, c->len_b);
	p = put(p, c->id_a, E2E_KEY_LEN);
	p = put(p, c->id_b, E2E_KEY_LEN);
	p = put(p, c->commit, E2E_KEY_LEN);
	p = put(p, c->x_b, E2E_KEY_LEN);
	if (with_xa)
		p = put(p, c->x_a, E2E_KEY_LEN);
	return (size_t)(p - buf);
}

static void sign(const struct e2e_call *c, const char *label, bool with_xa,
		 char sig[E2E_SIG_B64])
{
	uint8_t msg[MSG_MAX], s[E2E_SIG_LEN];
	size_t n = transcript(c, label, with_xa, msg);
	crypto_sign_detached(s, NULL, msg, n, c->my_sk);
	b64url_encode(sig, E2E_SIG_B64, s, sizeof(s));
}

static bool verify(const struct e2e_call *c, const char *label, bool with_xa,
		   const uint8_t s[E2E_SIG_LEN], const uint8_t pk[E2E_KEY_LEN])
{
	uint8_t msg[MSG_MAX];
	size_t n = transcript(c, label, with_xa, msg);
	return crypto_sign_verify_detached(s, msg, n, pk) == 0;
}

/* BLAKE2b-(outlen) keyed by key (NULL: unkeyed) of label || th. */
static void kdf(uint8_t *out, size_t outlen, const uint8_t *key, const char *label,
		const uint8_t th[32])
{
	crypto_generichash_state h;
	crypto_generichash_init(&h, key, key ? crypto_kx_SESSIONKEYBYTES : 0, outlen);
	crypto_generichash_update(&h, (const uint8_t *)label, strlen(label));
	crypto_generichash_update(&h, th, 32);
	crypto_generichash_final(&h, out, outlen);
	sodium_memzero(&h, sizeof(h));
}

static void ice_pwd(char out[E2E_ICE_PWD_LEN], const uint8_t *key, const uint8_t th[32])
{
	uint8_t raw[ICE_RAW_LEN];
	kdf(raw, sizeof(raw), key, L_ICE, th);
	sodium_bin2hex(out, E2E_ICE_PWD_LEN, raw, sizeof(raw));
	sodium_memzero(raw, sizeof(raw));
}

/* Everything the call needs from the crypto_kx keys and the transcript;
 * then the ephemeral secret goes, for forward secrecy. */
static void derive(struct e2e_call *c, uint8_t k_ab[32], uint8_t k_ba[32])
{
	uint8_t msg[MSG_MAX], th[32], m_ab[32], m_ba[32], sas[32];
	size_t n = transcript(c, L_TRANSCRIPT, true, msg);
	crypto_generichash(th, sizeof(th), msg, n, NULL, 0);

	kdf(m_ab, sizeof(m_ab), k_ab, L_MEDIA, th);
	kdf(m_ba, sizeof(m_ba), k_ba, L_MEDIA, th);
	bool caller = c->role == E2E_CALLER;
	memcpy(c->media.tx, caller ? m_ab : m_ba, 32);
	memcpy(c->media.rx, caller ? m_ba : m_ab, 32);
	ice_pwd(c->pwd_local, caller ? k_ab : k_ba, th);
	ice_pwd(c->pwd_remote, caller ? k_ba : k_ab, th);

	kdf(sas, sizeof(sas), NULL, L_SAS, th);
	uint32_t v = (uint32_t)sas[0] << 12 | (uint32_t)sas[1] << 4 | sas[2] >> 4;
	for (int i = 0; i < 4; i++)
		c->sas[i] = ZBASE32[(v >> (15 - 5 * i)) & 31];
	c->sas[4] = '\0';

	sodium_memzero(m_ab, sizeof(m_ab));
	sodium_memzero(m_ba, sizeof(m_ba));
	sodium_memzero(k_ab, 32);
	sodium_memzero(k_ba, 32);
	sodium_memzero(c->eph_sk, sizeof(c->eph_sk));
	c->st = ST_READY;
}

static int fail(struct e2e_call *c)
{
	c->st = ST_FAILED;
	sodium_memzero(c->eph_sk, sizeof(c->eph_sk));
	return -EPERM;
}

/* An identity key must be a canonical point of the prime-order group;
 * anything else (small order, not on the curve) is malformed. */
static int decode_idkey(uint8_t out[E2E_KEY_LEN], const char *text)
{
	if (b64url_decode(out, E2E_KEY_LEN, text) != 0 ||
	    !crypto_core_ed25519_is_valid_point(out))
		return -EBADMSG;
	return 0;
}

int e2e_commit(struct e2e_call *c, char commit[E2E_KEY_B64])
{
	if (!c || !commit || c->role != E2E_CALLER ||
	    (c->st != ST_NEW && c->st != ST_COMMITTED))
		return -EINVAL;
	b64_key(commit, c->commit);
	c->st = ST_COMMITTED;
	return 0;
}

int e2e_answer(struct e2e_call *c, const char *peer_idkey, const char *peer_commit,
	       char eph[E2E_KEY_B64], char sig[E2E_SIG_B64])
{
	if (!c || !peer_idkey || !peer_commit || !eph || !sig ||
	    c->role != E2E_CALLEE || c->st != ST_NEW)
		return -EINVAL;
	uint8_t id[E2E_KEY_LEN], cm[E2E_KEY_LEN];
	if (decode_idkey(id, peer_idkey) != 0 ||
	    b64url_decode(cm, sizeof(cm), peer_commit) != 0)
		return -EBADMSG;
	memcpy(c->id_a, id, E2E_KEY_LEN);
	memcpy(c->commit, cm, E2E_KEY_LEN);
	c->peer_known = true;
	b64_key(eph, c->x_b);
	sign(c, L_ACCEPT, false, sig);
	c->st = ST_ANSWERED;
	return 0;
}

int e2e_confirm(struct e2e_call *c, const char *peer_idkey, const char *peer_eph,
		const char *peer_sig, char eph[E2E_KEY_B64], char sig[E2E_SIG_B64])
{
	if (!c || !peer_idkey || !peer_eph || !peer_sig || !eph || !sig ||
	    c->role != E2E_CALLER || c->st != ST_COMMITTED)
		return -EINVAL;
	uint8_t id[E2E_KEY_LEN], x[E2E_KEY_LEN], s[E2E_SIG_LEN];
	if (decode_idkey(id, peer_idkey) != 0 ||
	    b64url_decode(x, sizeof(x), peer_eph) != 0 ||
	    b64url_decode(s, sizeof(s), peer_sig) != 0)
		return -EBADMSG;
	memcpy(c->id_b, id, E2E_KEY_LEN);
	memcpy(c->x_b, x, E2E_KEY_LEN);
	if (!verify(c, L_ACCEPT, false, s, c->id_b))
		return fail(c);
	/* crypto_kx: client rx || tx = BLAKE2b-512(q || X_a || X_b). */
	uint8_t k_ba[32], k_ab[32];
	if (crypto_kx_client_session_keys(k_ba, k_ab, c->x_a, c->eph_sk, c->x_b) != 0)
		return fail(c);
	c->peer_known = true;
	b64_key(eph, c->x_a);
	sign(c, L_REVEAL, true, sig);
	derive(c, k_ab, k_ba);
	return 0;
}

int e2e_finish(struct e2e_call *c, const char *peer_eph, const char *peer_sig)
{
	if (!c || !peer_eph || !peer_sig || c->role != E2E_CALLEE || c->st != ST_ANSWERED)
		return -EINVAL;
	uint8_t x[E2E_KEY_LEN], s[E2E_SIG_LEN], cm[E2E_KEY_LEN];
	if (b64url_decode(x, sizeof(x), peer_eph) != 0 ||
	    b64url_decode(s, sizeof(s), peer_sig) != 0)
		return -EBADMSG;
	crypto_generichash_state h;
	crypto_generichash_init(&h, NULL, 0, E2E_KEY_LEN);
	crypto_generichash_update(&h, (const uint8_t *)L_COMMIT, strlen(L_COMMIT));
	crypto_generichash_update(&h, x, E2E_KEY_LEN);
	crypto_generichash_final(&h, cm, E2E_KEY_LEN);
	if (sodium_memcmp(cm, c->commit, E2E_KEY_LEN) != 0)
		return fail(c);
	memcpy(c->x_a, x, E2E_KEY_LEN);
	if (!verify(c, L_REVEAL, true, s, c->id_a))
		return fail(c);
	/* crypto_kx: server tx || rx = BLAKE2b-512(q || X_a || X_b). */
	uint8_t k_ab[32], k_ba[32];
	if (crypto_kx_server_session_keys(k_ab, k_ba, c->x_b, c->eph_sk, c->x_a) != 0)
		return fail(c);
	derive(c, k_ab, k_ba);
	return 0;
}

bool e2e_ready(const struct e2e_call *c)
{
	return c && c->st == ST_READY;
}

void e2e_sas(const struct e2e_call *c, char sas[E2E_SAS_LEN])
{
	if (!sas)
		return;
	if (e2e_ready(c))
		memcpy(sas, c->sas, E2E_SAS_LEN);
	else
		sas[0] = '\0';
}

void e2e_ice_pwd(const struct e2e_call *c, bool local, char pwd[E2E_ICE_PWD_LEN])
{
	if (!pwd)
		return;
	if (e2e_ready(c))
		memcpy(pwd, local ? c->pwd_local : c->pwd_remote, E2E_ICE_PWD_LEN);
	else
		pwd[0] = '\0';
}

void e2e_media_keys(const struct e2e_call *c, struct mediacrypt_keys *k)
{
	if (!k)
		return;
	if (e2e_ready(c))
		*k = c->media;
	else
		sodium_memzero(k, sizeof(*k));
}

const uint8_t *e2e_peer_idkey(const struct e2e_call *c)
{
	if (!c || !c->peer_known)
		return NULL;
	return c->role == E2E_CALLER ? c->id_b : c->id_a;
}
