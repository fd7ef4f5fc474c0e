/* End-to-end keys for a call: long-term identities and the per-call
 * handshake that the signalling messages carry (INVITE, ACCEPT, UPDATE).
 * Everything is libsodium; nothing here is a primitive of our own. Pure:
 * no I/O and no randomness of its own: the caller passes seeds (from
 * randombytes_buf in the client, fixed ones in tests).
 *
 * Wire text: every key, commitment and signature travels as base64url
 * without padding (RFC 4648 §5): 32 bytes are 43 characters, 64 bytes 86.
 * Only exactly sized, canonical text is accepted.
 *
 * Identities are Ed25519 key pairs (crypto_sign_seed_keypair). Whether a
 * peer's identity key is the one expected (pinned, or checked by reading
 * the SAS aloud) is the client's business; this module proves that the
 * holder of that key took part in this very handshake.
 *
 * Handshake (a = caller, b = callee; x_a, x_b ephemeral X25519 key pairs
 * from crypto_kx_seed_keypair(eph_seed), one per call):
 *
 *   caller                                      callee
 *   INVITE  idkey=ID_a commit=C ----------->    C = BLAKE2b-256("p2pcall-commit-v1" || X_a)
 *           <-----------  ACCEPT idkey=ID_b eph=X_b sig=S_b
 *           S_b = Ed25519_b("p2pcall-accept-v1" || F)
 *   verify S_b, derive keys
 *   UPDATE  eph=X_a sig=S_a --------------->    check C, verify S_a, derive keys
 *           S_a = Ed25519_a("p2pcall-reveal-v1" || F || X_a)
 *
 *   F = len16(caller name) || caller name || len16(callee name) ||
 *       callee name || ID_a || ID_b || C || X_b
 *   (len16: 2-byte big-endian length; names are the signalling user names
 *   exactly as both ends see them; keys are the 32 raw bytes.)
 *
 * The commitment is the ZRTP trick: the caller is bound to X_a before it
 * sees X_b, and the callee picks X_b before it sees X_a, so a man in the
 * middle (who must run one handshake with each side, under its own
 * identity since it cannot sign as either) cannot try ephemeral keys until
 * the two short authentication strings match: each side's SAS is fixed by
 * a value the attacker learns only after committing. It succeeds with
 * probability 2^-20 per call.
 *
 * Keys. Both sides compute crypto_kx session keys (caller = client,
 * callee = server): K_ab (caller->callee; caller's tx, callee's rx) and
 * K_ba. With the transcript hash
 *   TH = BLAKE2b-256("p2pcall-transcript-v1" || F || X_a)
 * every derived value is keyed BLAKE2b (crypto_generichash) of a label
 * and TH:
 *   media key a->b  = BLAKE2b-256(key K_ab, "p2pcall-media-v1" || TH)
 *   media key b->a  = BLAKE2b-256(key K_ba, "p2pcall-media-v1" || TH)
 *   ICE pwd caller  = hex(BLAKE2b-128(key K_ab, "p2pcall-ice-v1" || TH))
 *   ICE pwd callee  = hex(BLAKE2b-128(key K_ba, "p2pcall-ice-v1" || TH))
 *   SAS             = first 20 bits of BLAKE2b-256("p2pcall-sas-v1" || TH)
 *                     as 4 z-base-32 characters (ybndrfg8ejkmcpqxot1uwisza345h769),
 *                     most significant bits first.
 * Labels are ASCII without their NUL. The ICE passwords replace the
 * random ones, so connectivity checks (STUN MESSAGE-INTEGRITY) are keyed
 * by the handshake too: a party that was not in it cannot answer them.
 * The SAS depends only on public values; it is to be read aloud, and is
 * equal on both ends exactly when both saw the same transcript.
 *
 * Forward secrecy: the ephemeral secret key and the crypto_kx keys are
 * wiped as soon as the derived keys exist; a stolen identity key later
 * does not decrypt a recorded call.
 *
 * Errors: -EINVAL wrong state or arguments, -EBADMSG malformed field
 * (state unchanged: the step may be retried with the right text), -EPERM
 * bad signature, commitment mismatch or degenerate key (the call is then
 * failed: every later step returns -EINVAL). */
#ifndef P2PCALL_E2E_H
#define P2PCALL_E2E_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "p2pcall/b64url.h"

#include "p2pcall/mediacrypt.h"

#define E2E_KEY_LEN      32  /* raw public key, commitment, seed */
#define E2E_SIG_LEN      64
#define E2E_KEY_B64      44  /* 32 bytes as text + NUL */
#define E2E_SIG_B64      87  /* 64 bytes as text + NUL */
#define E2E_SAS_LEN      5   /* 4 chars + NUL */
#define E2E_ICE_PWD_LEN  33  /* 32 hex chars + NUL */
#define E2E_NAME_MAX     1024 /* bytes of a user name in the transcript */

/* A long-term Ed25519 identity. sk is libsodium's 64-byte form (seed ||
 * pk); wipe it with sodium_memzero when done. */
struct e2e_identity {
	uint8_t pk[32];
	uint8_t sk[64];
};

/* Derives the identity of a 32-byte seed (crypto_sign_seed_keypair; the
 * same seed always gives the same key, as in RFC 8032 test vectors).
 * Returns 0, -EINVAL on NULL arguments, -EIO if libsodium fails to start. */
int e2e_identity_from_seed(struct e2e_identity *id, const uint8_t seed[32]);

/* Keys and signatures as text: b64url.h. */

enum e2e_role { E2E_CALLER, E2E_CALLEE };

struct e2e_call;

/* Starts one side of a handshake. me is copied (the caller may wipe its
 * copy), names are the caller's and callee's user names (copied, at most
 * E2E_NAME_MAX bytes each, the same strings on both ends), eph_seed makes
 * this call's X25519 key pair and must be fresh random bytes for every
 * call. Returns 0 and sets *out, -EINVAL on NULL arguments or a name too
 * long, -ENOMEM, -EIO if libsodium fails to start. */
int e2e_call_new(struct e2e_call **out, enum e2e_role role, const struct e2e_identity *me,
		 const char *caller_name, const char *callee_name,
		 const uint8_t eph_seed[32]);

/* Wipes every secret and frees. Accepts NULL. */
void e2e_call_free(struct e2e_call *c);

/* Caller, for INVITE: writes the commitment (commit=) to its ephemeral
 * key. May be called again (same result) until e2e_confirm. Returns 0,
 * -EINVAL if c is the callee's, or past that step. */
int e2e_commit(struct e2e_call *c, char commit[E2E_KEY_B64]);

/* Callee, on INCOMING: takes the caller's identity key (idkey=) and
 * commitment (commit=); writes this side's ephemeral key (eph=) and
 * signature (sig=) for ACCEPT. Returns 0, -EINVAL if c is the caller's or
 * already answered, -EBADMSG if a field is malformed or idkey is not a
 * valid Ed25519 point. */
int e2e_answer(struct e2e_call *c, const char *peer_idkey, const char *peer_commit,
	       char eph[E2E_KEY_B64], char sig[E2E_SIG_B64]);

/* Caller, on ACCEPTED: takes the callee's idkey=, eph= and sig=, checks
 * the signature, derives the keys (the call is then ready) and writes the
 * reveal, its own eph= and sig=, for `UPDATE call=ID eph=.. sig=..`.
 * Returns 0, -EINVAL if not after e2e_commit, -EBADMSG on a malformed
 * field, -EPERM if the signature does not verify or the key exchange
 * gives a degenerate secret (the call is then failed). */
int e2e_confirm(struct e2e_call *c, const char *peer_idkey, const char *peer_eph,
		const char *peer_sig, char eph[E2E_KEY_B64], char sig[E2E_SIG_B64]);

/* Callee, on the reveal: checks that eph= matches the commitment and sig=
 * the caller's identity, then derives the keys (the call is then ready).
 * Returns 0, -EINVAL if not after e2e_answer, -EBADMSG on a malformed
 * field, -EPERM on a commitment or signature mismatch (call failed). */
int e2e_finish(struct e2e_call *c, const char *peer_eph, const char *peer_sig);

/* True once the keys are derived (caller after e2e_confirm, callee after
 * e2e_finish); the three getters below need it. */
bool e2e_ready(const struct e2e_call *c);

/* The short authentication string both users compare: 4 z-base-32
 * characters and a NUL. "" if the call is not ready. */
void e2e_sas(const struct e2e_call *c, char sas[E2E_SAS_LEN]);

/* An ICE password (32 lowercase hex characters and a NUL): local = true
 * gives this side's (the one the peer's checks to us are keyed with),
 * false the peer's. The caller's local one is the callee's remote one.
 * "" if the call is not ready. */
void e2e_ice_pwd(const struct e2e_call *c, bool local, char pwd[E2E_ICE_PWD_LEN]);

/* The media keys for mediacrypt_new: tx = this side's sending key. The
 * caller's tx is the callee's rx. Zeroes if the call is not ready. */
void e2e_media_keys(const struct e2e_call *c, struct mediacrypt_keys *k);

/* The peer's 32-byte identity key once known, else NULL; points into c.
 * Callee: the caller's claimed key from e2e_answer on (so a pinned key
 * can be checked before ringing), proven only once e2e_finish succeeds.
 * Caller: after e2e_confirm succeeded (already proven). */
const uint8_t *e2e_peer_idkey(const struct e2e_call *c);

#endif
