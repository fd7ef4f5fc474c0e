/* The client's end of call security (callsec.h): glue between the
 * signalling fields, the pure handshake (e2e.c), packet protection
 * (mediacrypt.c) and the files (identity.c, known_peers.c). */
#include "p2pcall/callsec.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "p2pcall/e2e.h"
#include "p2pcall/identity.h"
#include "p2pcall/known_peers.h"
#include "p2pcall/log.h"
#include "p2pcall/mediacrypt.h"
#include "p2pcall/regproof.h"
#include "p2pcall/sig.h"

struct callsec {
	struct e2e_identity id;
	char pk_text[E2E_KEY_B64];
	struct known_peers *known;
	char server[128];
	bool trust_new_key;

	/* the call */
	struct e2e_call *call;
	struct mediacrypt *mc;
	char peer[300];              /* name@server, as pinned */
	uint8_t peer_pk[32];
	char peer_pk_text[E2E_KEY_B64];
	char peer_commit[E2E_KEY_B64];
	enum known_peers_result peer_status;
	char sas[E2E_SAS_LEN];
};

int callsec_new(struct callsec **out, const struct callsec_cfg *cfg, char *err, size_t errlen)
{
	if (sodium_init() < 0) {
		snprintf(err, errlen, "libsodium cannot initialise");
		return -EIO;
	}
	struct callsec *cs = calloc(1, sizeof(*cs));
	if (!cs) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	char path[4096];
	const char *idp = cfg->identity_path;
	if (!idp) {
		if (identity_default_path(path, sizeof(path)) < 0) {
			snprintf(err, errlen, "no place for the identity key: set HOME or XDG_CONFIG_HOME, "
				 "or give --identity FILE");
			free(cs);
			return -ENOENT;
		}
		idp = path;
	}
	bool created = false;
	int rc = identity_load(idp, true, cs->id.pk, cs->id.sk, &created, err, errlen);
	if (rc < 0) {
		callsec_free(cs);
		return rc;
	}
	if (created)
		log_info("created a new identity key in %s", idp);
	b64url_encode(cs->pk_text, sizeof(cs->pk_text), cs->id.pk, sizeof(cs->id.pk));

	const char *kpp = cfg->known_peers_path;
	if (!kpp) {
		if (known_peers_default_path(path, sizeof(path)) < 0) {
			snprintf(err, errlen, "no place for known_peers: set HOME or XDG_CONFIG_HOME");
			callsec_free(cs);
			return -ENOENT;
		}
		kpp = path;
	}
	rc = known_peers_open(&cs->known, kpp, err, errlen);
	if (rc < 0) {
		callsec_free(cs);
		return rc;
	}
	snprintf(cs->server, sizeof(cs->server), "%s", cfg->server ? cfg->server : "");
	cs->trust_new_key = cfg->trust_new_key;
	*out = cs;
	return 0;
}

void callsec_end(struct callsec *cs)
{
	if (!cs)
		return;
	e2e_call_free(cs->call);
	cs->call = NULL;
	mediacrypt_free(cs->mc);
	cs->mc = NULL;
	cs->peer[0] = cs->sas[0] = cs->peer_pk_text[0] = '\0';
}

void callsec_free(struct callsec *cs)
{
	if (!cs)
		return;
	callsec_end(cs);
	known_peers_free(cs->known);
	sodium_memzero(&cs->id, sizeof(cs->id));
	free(cs);
}

const char *callsec_public_key(const struct callsec *cs) { return cs->pk_text; }

int callsec_sign_register(struct callsec *cs, const char *challenge, const char *name, struct sig_writer *w)
{
	uint8_t ch[32], sig[64];
	char text[E2E_SIG_B64];
	if (!challenge || b64url_decode(ch, sizeof(ch), challenge) < 0)
		return -EBADMSG;
	regproof_sign(cs->id.sk, ch, name, sig);
	b64url_encode(text, sizeof(text), sig, sizeof(sig));
	sig_writer_add(w, "key", cs->pk_text);
	sig_writer_add(w, "sig", text);
	return 0;
}

/* Starts the call's handshake in ROLE. */
static int begin(struct callsec *cs, enum e2e_role role, const char *caller, const char *callee, const char *peer)
{
	callsec_end(cs);
	uint8_t seed[32];
	randombytes_buf(seed, sizeof(seed));
	int rc = e2e_call_new(&cs->call, role, &cs->id, caller, callee, seed);
	sodium_memzero(seed, sizeof(seed));
	if (rc < 0)
		return rc;
	snprintf(cs->peer, sizeof(cs->peer), "%s@%s", peer, cs->server);
	return 0;
}

int callsec_invite(struct callsec *cs, const char *me, const char *peer, struct sig_writer *w)
{
	char commit[E2E_KEY_B64];
	int rc = begin(cs, E2E_CALLER, me, peer, peer);
	if (rc < 0 || (rc = e2e_commit(cs->call, commit)) < 0)
		return rc;
	sig_writer_add(w, "commit", commit);
	return 0;
}

/* Checks the server-attested key IDKEY of the peer against known_peers. */
static enum callsec_verdict check_peer_key(struct callsec *cs, const char *idkey, char *why, size_t whylen)
{
	if (b64url_decode(cs->peer_pk, sizeof(cs->peer_pk), idkey) < 0) {
		snprintf(why, whylen, "the server sent a malformed key for %s", cs->peer);
		return CALLSEC_BAD;
	}
	snprintf(cs->peer_pk_text, sizeof(cs->peer_pk_text), "%s", idkey);
	cs->peer_status = known_peers_check(cs->known, cs->peer, cs->peer_pk);
	if (cs->peer_status == KNOWN_PEERS_CHANGED && !cs->trust_new_key) {
		snprintf(why, whylen,
			 "THE KEY OF %s HAS CHANGED. Someone may be impersonating them, or the server may be "
			 "listening in; or they made a new key. Check with them by other means; to accept the "
			 "new key, call again with --trust-new-key (it replaces the pinned one in known_peers)",
			 cs->peer);
		return CALLSEC_KEY_CHANGED;
	}
	return CALLSEC_SECURE;
}

enum callsec_verdict callsec_incoming(struct callsec *cs, const char *me, const char *peer,
				      const struct sig_msg *m, char *why, size_t whylen)
{
	const char *idkey = sig_msg_get(m, "idkey"), *commit = sig_msg_get(m, "commit");
	callsec_end(cs);
	if (!idkey || !commit) {
		snprintf(why, whylen, "%s's client offers no end-to-end encryption", peer);
		return CALLSEC_PLAIN;
	}
	if (strlen(commit) >= sizeof(cs->peer_commit)) {
		snprintf(why, whylen, "%s sent a malformed key commitment", peer);
		return CALLSEC_BAD;
	}
	if (begin(cs, E2E_CALLEE, peer, me, peer) < 0) {
		snprintf(why, whylen, "cannot start the key exchange");
		return CALLSEC_BAD;
	}
	snprintf(cs->peer_commit, sizeof(cs->peer_commit), "%s", commit);
	return check_peer_key(cs, idkey, why, whylen);
}

int callsec_accept_fields(struct callsec *cs, struct sig_writer *w)
{
	char eph[E2E_KEY_B64], sig[E2E_SIG_B64];
	if (!cs->call)
		return -EINVAL;
	int rc = e2e_answer(cs->call, cs->peer_pk_text, cs->peer_commit, eph, sig);
	if (rc < 0)
		return rc;
	sig_writer_add(w, "eph", eph);
	sig_writer_add(w, "sig", sig);
	return 0;
}

/* Both ends hold the keys: set up packet protection, pin a new peer. */
static enum callsec_verdict keys_ready(struct callsec *cs, char *why, size_t whylen)
{
	struct mediacrypt_keys k;
	e2e_media_keys(cs->call, &k);
	int rc = mediacrypt_new(&cs->mc, &k);
	sodium_memzero(&k, sizeof(k));
	if (rc < 0) {
		snprintf(why, whylen, "cannot set up media encryption");
		return CALLSEC_BAD;
	}
	e2e_sas(cs->call, cs->sas);
	if (cs->peer_status != KNOWN_PEERS_MATCH) {
		char err[512];
		if (known_peers_pin(cs->known, cs->peer, cs->peer_pk, err, sizeof(err)) < 0)
			log_warn("cannot remember %s's key: %s", cs->peer, err);
		else if (cs->peer_status == KNOWN_PEERS_CHANGED)
			log_warn("%s's new key replaces the old one in known_peers (--trust-new-key)", cs->peer);
	}
	return CALLSEC_SECURE;
}

enum callsec_verdict callsec_accepted(struct callsec *cs, const struct sig_msg *m, struct sig_writer *reveal,
				      char *why, size_t whylen)
{
	const char *idkey = sig_msg_get(m, "idkey"), *peph = sig_msg_get(m, "eph"), *psig = sig_msg_get(m, "sig");
	if (!cs->call || !idkey || !peph || !psig) {
		snprintf(why, whylen, "the callee's client offers no end-to-end encryption");
		return CALLSEC_PLAIN;
	}
	enum callsec_verdict v = check_peer_key(cs, idkey, why, whylen);
	if (v != CALLSEC_SECURE)
		return v;
	char eph[E2E_KEY_B64], sig[E2E_SIG_B64];
	int rc = e2e_confirm(cs->call, idkey, peph, psig, eph, sig);
	if (rc < 0) {
		snprintf(why, whylen, "the callee's key exchange does not verify (%s): someone may be "
			 "tampering with the call", rc == -EPERM ? "bad signature" : "malformed");
		return CALLSEC_BAD;
	}
	sig_writer_add(reveal, "eph", eph);
	sig_writer_add(reveal, "sig", sig);
	return keys_ready(cs, why, whylen);
}

enum callsec_verdict callsec_reveal(struct callsec *cs, const struct sig_msg *m, char *why, size_t whylen)
{
	const char *peph = sig_msg_get(m, "eph"), *psig = sig_msg_get(m, "sig");
	if (!cs->call || !peph || !psig) {
		snprintf(why, whylen, "the caller's key reveal is incomplete");
		return CALLSEC_BAD;
	}
	int rc = e2e_finish(cs->call, peph, psig);
	if (rc < 0) {
		snprintf(why, whylen, "the caller's key exchange does not verify (%s): someone may be "
			 "tampering with the call", rc == -EPERM ? "bad signature or commitment" : "malformed");
		return CALLSEC_BAD;
	}
	return keys_ready(cs, why, whylen);
}

bool callsec_ready(const struct callsec *cs) { return cs && cs->mc; }

const char *callsec_sas(const struct callsec *cs) { return cs->sas; }

const char *callsec_peer_key(const struct callsec *cs) { return cs->peer_pk_text; }

const char *callsec_peer_key_status(const struct callsec *cs)
{
	switch (cs->peer_status) {
	case KNOWN_PEERS_MATCH: return "known";
	case KNOWN_PEERS_CHANGED: return "changed";
	default: return "new";
	}
}

void callsec_ice_pwds(const struct callsec *cs, char *local, char *remote)
{
	e2e_ice_pwd(cs->call, true, local);
	e2e_ice_pwd(cs->call, false, remote);
}

int callsec_protect(struct callsec *cs, uint8_t *pkt, size_t len, size_t cap)
{
	return cs->mc ? mediacrypt_protect(cs->mc, pkt, len, cap) : -EINVAL;
}

int callsec_unprotect(struct callsec *cs, uint8_t *pkt, size_t len)
{
	return cs->mc ? mediacrypt_unprotect(cs->mc, pkt, len) : -EINVAL;
}

uint64_t callsec_refused(const struct callsec *cs)
{
	if (!cs || !cs->mc)
		return 0;
	struct mediacrypt_counts c;
	mediacrypt_counts(cs->mc, &c);
	return c.tampered + c.replayed + c.malformed;
}
