/* Unpadded base64url (RFC 4648 section 5), the one text form of keys,
 * signatures and challenges on the wire and in key files: a 32-byte
 * value is 43 characters, 64 bytes are 86. Pure (libsodium's codec). */
#ifndef P2PCALL_B64URL_H
#define P2PCALL_B64URL_H

#include <stddef.h>
#include <stdint.h>

/* Text length (without NUL) of N bytes. */
#define B64URL_LEN(n) (((n) * 4 + 2) / 3)

/* Writes N bytes of IN as text and a NUL into OUT[CAP]. Returns the text
 * length, -EINVAL on NULL arguments, -ENOSPC if CAP is too small. */
int b64url_encode(char *out, size_t cap, const uint8_t *in, size_t n);

/* Decodes IN, which must be exactly N bytes in the one canonical spelling
 * (no padding, blanks, other alphabets, bytes >= 0x80 or stray low bits:
 * one value, one text). Returns 0, -EINVAL on NULL arguments, -EBADMSG
 * on any other text (OUT is then unspecified). */
int b64url_decode(uint8_t *out, size_t n, const char *in);

#endif
