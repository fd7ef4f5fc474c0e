/* The user's long-term Ed25519 identity key, in a small text file that a
 * person can recognise:
 *
 *   # p2pcall identity key. Keep it secret: it proves you are you.
 *   p2pcall-identity 1
 *   public <base64url of the 32-byte Ed25519 public key>
 *   secret <base64url of the 32-byte seed>
 *
 * Like ssh, it refuses a file that others may read, that is not a regular
 * file, or that someone else owns; and it never overwrites one. */
#ifndef P2PCALL_IDENTITY_H
#define P2PCALL_IDENTITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IDENTITY_PK_BYTES 32
#define IDENTITY_SK_BYTES 64 /* libsodium's form: seed, then public key */

/* $XDG_CONFIG_HOME/p2pcall/identity when XDG_CONFIG_HOME is absolute, else
 * $HOME/.config/p2pcall/identity. 0, -ENOENT (neither set) or -ENOSPC. */
int identity_default_path(char *out, size_t cap);

/* Loads the identity at PATH into PK and SK. If PATH does not exist and
 * CREATE, makes a new key there (missing parent directories 0700, the file
 * 0600) and sets *CREATED (may be NULL); if another process creates PATH
 * at the same moment, its file is loaded instead and never replaced.
 * Returns 0; or a negative errno with a message naming PATH (and the line)
 * in ERR: -ENOENT missing (and not CREATE), -EPERM mode or owner, -EISDIR
 * or -EINVAL not a regular file, -EBADMSG malformed, unsupported version
 * or mismatched keys, other errnos from the system. The file is never
 * modified on failure. */
int identity_load(const char *path, bool create, uint8_t pk[IDENTITY_PK_BYTES], uint8_t sk[IDENTITY_SK_BYTES],
		  bool *created, char *err, size_t errlen);

#endif
