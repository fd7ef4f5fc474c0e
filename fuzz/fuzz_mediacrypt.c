/* libFuzzer target: mediacrypt. Arbitrary bytes go to unprotect under
 * fixed keys (they must be refused without reading outside the input,
 * unless they happen to be a genuine packet, which a fuzzer cannot make);
 * then the same bytes, read as a plaintext RTP/RTCP packet, must survive
 * protect -> unprotect unchanged, with the header left readable. */
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "p2pcall/mediacrypt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct mediacrypt *rx_only, *alice, *bob;

static void setup(void)
{
	struct mediacrypt_keys a, b;
	for (int i = 0; i < 32; i++) {
		a.tx[i] = (uint8_t)i;
		a.rx[i] = (uint8_t)(0x80 + i);
	}
	memcpy(b.tx, a.rx, 32);
	memcpy(b.rx, a.tx, 32);
	if (mediacrypt_new(&rx_only, &a) != 0 || mediacrypt_new(&alice, &a) != 0 ||
	    mediacrypt_new(&bob, &b) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!rx_only)
		setup();
	if (size > 4096)
		return 0;
	/* an exact-size heap copy, so ASan sees any read past the end */
	uint8_t *p = malloc(size ? size : 1);
	if (size)
		memcpy(p, data, size);
	int rc = mediacrypt_unprotect(rx_only, p, size);
	assert(rc == -EPROTO || rc == -EBADMSG || rc == -EALREADY ||
	       (rc >= 0 && (size_t)rc <= size));
	free(p);

	/* Round trip. Fresh pairs would cost a malloc each run; the
	 * long-lived ones refuse a seq not above the last one (-EALREADY),
	 * which is then checked instead. */
	size_t cap = size + MEDIACRYPT_OVERHEAD;
	uint8_t *q = malloc(cap ? cap : 1);
	if (size)
		memcpy(q, data, size);
	int n = mediacrypt_protect(alice, q, size, cap);
	if (n >= 0) {
		assert((size_t)n > size && (size_t)n <= cap);
		size_t clear = size < 8 ? size : 8;
		assert(memcmp(q, data, clear) == 0);
		int m = mediacrypt_unprotect(bob, q, (size_t)n);
		assert(m == (int)size);
		assert(memcmp(q, data, size) == 0);
		/* and never twice */
		assert(mediacrypt_unprotect(bob, q, (size_t)n) < 0);
	} else {
		assert(n == -EINVAL || n == -EALREADY);
		assert(size == 0 || memcmp(q, data, size) == 0);
	}
	free(q);
	return 0;
}
