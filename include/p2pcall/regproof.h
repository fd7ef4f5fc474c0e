/* Proof of a name's key at registration (doc/protocol.md, "Identities").
 *
 * The server's HELLO carries a fresh 32-byte challenge per connection; a
 * client registering NAME with an Ed25519 key signs
 *
 *     "p2pcall-register-v1" NUL || challenge (32 bytes) || NAME
 *
 * and sends key= and sig=. The server checks the signature against the
 * key, so a name bound to a key can be taken only by its key's holder,
 * and a recorded signature is useless on any other connection.
 *
 * On the wire keys, signatures and challenges are base64url without
 * padding (RFC 4648 section 5): 32 bytes are 43 characters, 64 are 86.
 * Decoding accepts only that exact form and size.
 *
 * Pure (libsodium computation only): no I/O, no clock, no randomness. */
#ifndef P2PCALL_REGPROOF_H
#define P2PCALL_REGPROOF_H

#include <stddef.h>
#include <stdint.h>

#include "p2pcall/b64url.h"

#define REGPROOF_PK_LEN        32
#define REGPROOF_SK_LEN        64 /* libsodium's seed || public key form */
#define REGPROOF_SIG_LEN       64
#define REGPROOF_CHALLENGE_LEN 32
#define REGPROOF_NAME_MAX      32
/* Text lengths (without NUL) of 32- and 64-byte values. */
#define REGPROOF_B64_32 43
#define REGPROOF_B64_64 86

/* Signs the registration of NAME (1..REGPROOF_NAME_MAX bytes) over
 * CHALLENGE with the Ed25519 secret key SK into SIG.
 * Returns 0, or -EINVAL for a bad argument or name length. */
int regproof_sign(const uint8_t sk[REGPROOF_SK_LEN], const uint8_t challenge[REGPROOF_CHALLENGE_LEN],
		  const char *name, uint8_t sig[REGPROOF_SIG_LEN]);

/* Checks SIG over (CHALLENGE, NAME) against the public key PK.
 * Returns 0 if it is valid, -EPERM if not (including keys that are not
 * valid points), -EINVAL for a bad argument or name length. */
int regproof_verify(const uint8_t pk[REGPROOF_PK_LEN], const uint8_t challenge[REGPROOF_CHALLENGE_LEN],
		    const char *name, const uint8_t sig[REGPROOF_SIG_LEN]);

/* Keys, signatures and challenges as text: b64url.h. */

#endif
