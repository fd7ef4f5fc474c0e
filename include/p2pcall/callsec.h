/* The client's end of call security: its identity key, the keys of the
 * peers it knows (known_peers), and for each call the end-to-end
 * handshake (e2e.h) and the packet protection (mediacrypt.h).
 *
 * The signalling fields, in the order a call uses them:
 *   REGISTER  key= sig=            proof of our identity (regproof.h)
 *   INVITE    commit=              caller: hash of its ephemeral key
 *   INCOMING  idkey= commit=       the server attests the caller's key
 *   ACCEPT    eph= sig=            callee: its ephemeral key, signed
 *   ACCEPTED  idkey= eph= sig=     the server attests the callee's key
 *   UPDATE    eph= sig=            caller: reveals its ephemeral key
 * after which both ends hold the call's keys and the same short
 * authentication string (SAS) unless someone sat in the middle.
 *
 * A peer whose key differs from the one pinned in known_peers is refused
 * (CALLSEC_KEY_CHANGED) unless the user said --trust-new-key; a new peer
 * is pinned once its handshake has verified. */
#ifndef P2PCALL_CALLSEC_H
#define P2PCALL_CALLSEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct callsec;
struct sig_writer;
struct sig_msg;

struct callsec_cfg {
	const char *identity_path;    /* NULL: identity_default_path() */
	const char *known_peers_path; /* NULL: known_peers_default_path() */
	const char *server;           /* "host:port": peers are pinned as name@server */
	bool trust_new_key;           /* a changed key is accepted and re-pinned */
};

/* Loads (or creates, with a notice) the identity and opens known_peers.
 * 0, or -errno with a message in ERR naming the file. */
int callsec_new(struct callsec **out, const struct callsec_cfg *cfg, char *err, size_t errlen);
void callsec_free(struct callsec *cs);

/* Our identity key as text (base64url, 43 chars). */
const char *callsec_public_key(const struct callsec *cs);

/* Adds key= and sig= to a REGISTER for NAME, proving our key over the
 * server's CHALLENGE (from its HELLO). -EBADMSG for a malformed one. */
int callsec_sign_register(struct callsec *cs, const char *challenge, const char *name, struct sig_writer *w);

enum callsec_verdict {
	CALLSEC_SECURE,       /* the peer takes part in the handshake */
	CALLSEC_PLAIN,        /* the peer offers no encryption */
	CALLSEC_KEY_CHANGED,  /* its key is not the pinned one */
	CALLSEC_BAD,          /* malformed, or a signature that does not verify */
};

/* Caller: starts the call's handshake and adds commit= to the INVITE. */
int callsec_invite(struct callsec *cs, const char *me, const char *peer, struct sig_writer *w);

/* Callee: looks at an INCOMING from PEER. For CALLSEC_SECURE, the handshake
 * is started and callsec_accept_fields() completes the ACCEPT. WHY says
 * what went wrong otherwise. */
enum callsec_verdict callsec_incoming(struct callsec *cs, const char *me, const char *peer,
				      const struct sig_msg *m, char *why, size_t whylen);
int callsec_accept_fields(struct callsec *cs, struct sig_writer *w);

/* Caller: looks at an ACCEPTED; for CALLSEC_SECURE the call's keys are
 * ready and REVEAL (an UPDATE the caller must send) is filled in. */
enum callsec_verdict callsec_accepted(struct callsec *cs, const struct sig_msg *m, struct sig_writer *reveal,
				      char *why, size_t whylen);

/* Callee: an UPDATE with eph= is the caller's reveal. Returns
 * CALLSEC_SECURE when the keys are ready, CALLSEC_BAD if it fails. */
enum callsec_verdict callsec_reveal(struct callsec *cs, const struct sig_msg *m, char *why, size_t whylen);

/* The handshake finished and the call's keys are ready. */
bool callsec_ready(const struct callsec *cs);

/* After ready: the short authentication string both people compare, and
 * how the peer's key stood in known_peers ("new", "known", "changed"). */
const char *callsec_sas(const struct callsec *cs);
const char *callsec_peer_key_status(const struct callsec *cs);
const char *callsec_peer_key(const struct callsec *cs);

/* After ready: the passwords of this call's connectivity checks (ours, and
 * the peer's), derived from the call's keys so only the two ends can
 * answer checks. At least 33 bytes each. */
void callsec_ice_pwds(const struct callsec *cs, char *local, char *remote);

/* After ready: protects an outgoing RTP/RTCP packet in place (CAP is the
 * buffer size; MEDIACRYPT_OVERHEAD more bytes are needed), or checks and
 * decrypts an incoming one. New length, or -errno (the packet is dropped
 * and counted). */
int callsec_protect(struct callsec *cs, uint8_t *pkt, size_t len, size_t cap);
int callsec_unprotect(struct callsec *cs, uint8_t *pkt, size_t len);

/* Packets refused so far in this call (tampered, replayed or malformed). */
uint64_t callsec_refused(const struct callsec *cs);

/* The call is over: its keys are wiped. */
void callsec_end(struct callsec *cs);

#endif
