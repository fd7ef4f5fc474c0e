/* Unpadded base64url; see b64url.h. */
#include "p2pcall/b64url.h"

#include <errno.h>
#include <sodium.h>
#include <stdint.h>
#include <string.h>

#define VARIANT  sodium_base64_VARIANT_URLSAFE_NO_PADDING
#define ALPHABET "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

int b64url_encode(char *out, size_t cap, const uint8_t *in, size_t n)
{
	if (!out || (!in && n > 0))
		return -EINVAL;
	size_t need = sodium_base64_ENCODED_LEN(n, VARIANT);
	if (cap < need || need > INT32_MAX)
		return -ENOSPC;
	sodium_bin2base64(out, cap, in, n, VARIANT);
	return (int)(need - 1);
}

int b64url_decode(uint8_t *out, size_t n, const char *in)
{
	if (!out || !in)
		return -EINVAL;
	size_t want = sodium_base64_ENCODED_LEN(n, VARIANT) - 1;
	size_t len = strnlen(in, want + 1);
	size_t got = 0;
	const char *end = NULL;
	/* Exact length and alphabet first: libsodium 1.0.18 reads some bytes
	 * >= 0x80 as if they were '_' (found by fuzz_e2e), and stops at the
	 * first character outside the alphabet reporting success. The
	 * decoder itself rejects non-zero leftover bits, the other way to be
	 * non-canonical. */
	if (len != want || strspn(in, ALPHABET) != len ||
	    sodium_base642bin(out, n, in, len, NULL, &got, &end, VARIANT) != 0 || end != in + len || got != n)
		return -EBADMSG;
	return 0;
}
