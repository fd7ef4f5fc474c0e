/* Encryption and authentication of one call's RTP and RTCP packets:
 * SRTP's packet layout and replay rules (RFC 3711), with libsodium's
 * ChaCha20-Poly1305 (IETF, 96-bit nonce) as the transform instead of
 * AES-CM + HMAC-SHA1. Pure: touches only the buffers it is given, draws
 * no randomness (nonces are packet indices, unique per key).
 *
 * Keys. The handshake (e2e.h) gives one 32-byte key per direction; each
 * is split with crypto_kdf_derive_from_key (context "p2pmedia") into an
 * RTP key (subkey id 1) and an RTCP key (id 2), so the two kinds never
 * share a nonce space. The caller's tx is the callee's rx.
 *
 * Protected RTP (tag only: overhead 16 bytes):
 *    +--------------------------------------+
 *    | RTP header, 12 + 4*CC (+ extension)  |  clear; associated data
 *    +--------------------------------------+
 *    | payload (incl. any padding)          |  encrypted in place
 *    +--------------------------------------+
 *    | Poly1305 tag (16)                    |
 *    +--------------------------------------+
 * Nonce: SSRC (4, BE) || 0x0000 || 48-bit index ROC<<16|seq (6, BE). The
 * sender counts the roll-over counter (ROC) itself; the receiver
 * estimates each packet's index from the highest one it authenticated
 * (RFC 3711 §3.3.1). The header stays readable, so tshark still decodes
 * sequence numbers and timestamps (it sees the payload as opaque).
 *
 * Protected RTCP (overhead 20 bytes):
 *    +--------------------------------------+
 *    | V/P/RC, PT, length, sender SSRC (8)  |  clear; associated data
 *    +--------------------------------------+
 *    | rest of the compound packet          |  encrypted in place
 *    +--------------------------------------+
 *    |1|   31-bit SRTCP index (4, BE)       |  clear; associated data
 *    +--------------------------------------+
 *    | Poly1305 tag (16)                    |
 *    +--------------------------------------+
 * The index is one counter per sending side (not per SSRC), so the nonce
 * SSRC || 0x00000000 || index (4, BE) never repeats under one key. The
 * high bit (SRTCP's E flag) says "encrypted"; packets without it are
 * rejected, so nothing is ever accepted in the clear.
 *
 * RTP and RTCP are told apart as on the wire (RFC 5761 §4: second byte
 * & 0x7f in 64..95 is RTCP). Each direction remembers up to
 * MEDIACRYPT_MAX_SSRC RTP streams (least recently used one replaced);
 * each has a 128-packet replay window that moves only once a tag has
 * verified. */
#ifndef P2PCALL_MEDIACRYPT_H
#define P2PCALL_MEDIACRYPT_H

#include <stddef.h>
#include <stdint.h>

#define MEDIACRYPT_KEY_LEN    32
#define MEDIACRYPT_TAG_LEN    16
#define MEDIACRYPT_OVERHEAD   24 /* most bytes protect may add (RTP 16, RTCP 20) */
#define MEDIACRYPT_MAX_SSRC   4  /* RTP streams tracked per direction */

/* One key per direction: tx protects what we send, rx checks what we
 * receive. */
struct mediacrypt_keys {
	uint8_t tx[MEDIACRYPT_KEY_LEN];
	uint8_t rx[MEDIACRYPT_KEY_LEN];
};

/* What unprotect made of the packets it was given (RTP and RTCP). */
struct mediacrypt_counts {
	uint64_t ok;        /* authenticated and decrypted */
	uint64_t tampered;  /* well formed, but the tag did not verify */
	uint64_t replayed;  /* seen before, or older than the replay window */
	uint64_t malformed; /* too short, not version 2, header overruns... */
};

struct mediacrypt;

/* Creates a context from the two direction keys (copied; the caller may
 * wipe its copy). Returns 0 and sets *out, -EINVAL on NULL arguments,
 * -ENOMEM, or -EIO if libsodium cannot be initialised. */
int mediacrypt_new(struct mediacrypt **out, const struct mediacrypt_keys *k);

/* Wipes the keys and frees. Accepts NULL. */
void mediacrypt_free(struct mediacrypt *mc);

/* Protects the RTP or RTCP packet pkt[0..len) in place; the buffer holds
 * cap bytes (cap >= len + MEDIACRYPT_OVERHEAD is always enough). Returns
 * the protected length, -EINVAL on NULL arguments or if pkt is not a
 * version-2 RTP/RTCP packet whose header fits in len (RTCP needs 8 bytes),
 * -ENOSPC if cap is too small, -EALREADY if an RTP packet's index is not
 * above the highest one already protected for its SSRC (sending it would
 * reuse a nonce: RTP senders never repeat a sequence number), -EOVERFLOW
 * once an index space is used up (2^48 RTP packets per SSRC, 2^31 RTCP).
 * On error pkt is unchanged. */
int mediacrypt_protect(struct mediacrypt *mc, uint8_t *pkt, size_t len, size_t cap);

/* Checks and decrypts, in place, a packet protect made on the other end.
 * Returns the plaintext length (the RTP or RTCP packet as the peer wrote
 * it, starting at pkt) or:
 *   -EINVAL   mc or pkt NULL;
 *   -EPROTO   malformed: too short, not version 2, header longer than the
 *             packet, RTCP without the E flag (counted as malformed);
 *   -EALREADY replayed or older than the replay window (counted);
 *   -EBADMSG  the tag did not verify: forged, corrupted, or sent under
 *             another key (counted as tampered).
 * Never reads outside pkt[0..len). On error the packet is dropped and its
 * bytes after the clear header are unspecified (libsodium zeroes them). */
int mediacrypt_unprotect(struct mediacrypt *mc, uint8_t *pkt, size_t len);

/* Copies the counters of what unprotect saw. */
void mediacrypt_counts(const struct mediacrypt *mc, struct mediacrypt_counts *c);

#endif
