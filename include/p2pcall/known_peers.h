/* Keys of the peers we have talked to, like ssh's known_hosts: the first
 * key seen for a peer is pinned, and a different key later is a warning
 * sign. One line per peer, `PEER KEY' (KEY: 43 base64url characters of the
 * Ed25519 public key); `#' comments and blank lines are kept as they are.
 * PEER is "name@host:port", the server as the user gave it. */
#ifndef P2PCALL_KNOWN_PEERS_H
#define P2PCALL_KNOWN_PEERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct known_peers;

#define KNOWN_PEERS_PEER_MAX 255 /* bytes of a PEER */

/* $XDG_CONFIG_HOME/p2pcall/known_peers when XDG_CONFIG_HOME is absolute,
 * else $HOME/.config/p2pcall/known_peers. 0, -ENOENT or -ENOSPC. */
int known_peers_default_path(char *out, size_t cap);

/* Reads PATH (a missing file is an empty list, created by the first pin).
 * 0, or a negative errno with a message in ERR naming PATH (and the line:
 * "PATH:LINE: ..."): -EPERM writable by others or owned by someone else
 * (root is fine), -EISDIR / -EINVAL not a regular file, -EBADMSG malformed
 * line or a peer listed twice. *OUT is the caller's (known_peers_free). */
int known_peers_open(struct known_peers **out, const char *path, char *err, size_t errlen);

enum known_peers_result { KNOWN_PEERS_NEW, KNOWN_PEERS_MATCH, KNOWN_PEERS_CHANGED };

/* What the list says about PEER presenting PK. */
enum known_peers_result known_peers_check(const struct known_peers *kp, const char *peer, const uint8_t pk[32]);

/* Adds PEER's key, or replaces it, and rewrites the file atomically,
 * keeping every other line and comment. It re-reads the file under a lock
 * on its directory first, so pins by other p2pcall processes meanwhile are
 * kept (and KP brought up to date); a file that became malformed is
 * refused, not rewritten. Creates the file (0600) and its directories
 * (0700) if missing. 0, or a negative errno with ERR: -EINVAL bad PEER,
 * the errors of known_peers_open, or the system's. KP is unchanged on
 * failure. */
int known_peers_pin(struct known_peers *kp, const char *peer, const uint8_t pk[32], char *err, size_t errlen);

/* True if PEER can be stored: 1-255 printable ASCII bytes without blanks,
 * not starting with `#', with a non-empty part before and after an `@'. */
bool known_peers_peer_valid(const char *peer);

void known_peers_free(struct known_peers *kp);

#endif
