/* libFuzzer target: the handshake fields. The input is split at NUL bytes
 * into up to three strings which replace, one role at a time, the fields
 * an honest peer would send (idkey/commit into e2e_answer, idkey/eph/sig
 * into e2e_confirm, eph/sig into e2e_finish). Whatever comes in, the
 * result is 0, -EBADMSG or -EPERM; a step that succeeds on forged input
 * must have been given the genuine field (a fuzzer cannot forge a
 * signature); b64 decoding must agree with re-encoding. */
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "p2pcall/e2e.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct e2e_identity ida, idb;
static char ka[E2E_KEY_B64], kb[E2E_KEY_B64];

static void setup(void)
{
	uint8_t s[32];
	memset(s, 1, sizeof(s));
	if (e2e_identity_from_seed(&ida, s) != 0)
		abort();
	memset(s, 2, sizeof(s));
	if (e2e_identity_from_seed(&idb, s) != 0)
		abort();
	b64url_encode(ka, sizeof(ka), ida.pk, 32);
	b64url_encode(kb, sizeof(kb), idb.pk, 32);
}

static struct e2e_call *mk(enum e2e_role role, uint8_t seedbyte)
{
	uint8_t s[32];
	memset(s, seedbyte, sizeof(s));
	struct e2e_call *c = NULL;
	if (e2e_call_new(&c, role, role == E2E_CALLER ? &ida : &idb, "alice", "bob", s) != 0)
		abort();
	return c;
}

static void check_b64(const char *t)
{
	uint8_t raw[64];
	char back[E2E_SIG_B64];
	for (size_t n = 32; n <= 64; n += 32)
		if (b64url_decode(raw, n, t) == 0) {
			b64url_encode(back, sizeof(back), raw, n);
			assert(strcmp(back, t) == 0);   /* canonical only */
		}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!ida.pk[0] && !ida.pk[1])
		setup();
	if (size > 1024)
		return 0;
	char buf[1025];
	memcpy(buf, data, size);
	buf[size] = '\0';
	const char *f[3] = { "", "", "" };
	char *p = buf;
	for (int i = 0; i < 3; i++) {
		f[i] = p;
		size_t l = strlen(p);
		if (p + l >= buf + size)
			break;
		p += l + 1;
	}
	for (int i = 0; i < 3; i++)
		check_b64(f[i]);

	/* the honest run, to have genuine fields to compare with */
	struct e2e_call *a = mk(E2E_CALLER, 3), *b = mk(E2E_CALLEE, 4);
	char commit[E2E_KEY_B64], eb[E2E_KEY_B64], sb[E2E_SIG_B64];
	char ea[E2E_KEY_B64], sa[E2E_SIG_B64];
	if (e2e_commit(a, commit) || e2e_answer(b, ka, commit, eb, sb))
		abort();

	/* callee on a forged INVITE */
	struct e2e_call *b2 = mk(E2E_CALLEE, 5);
	char o1[E2E_KEY_B64], o2[E2E_SIG_B64];
	int rc = e2e_answer(b2, f[0], f[1], o1, o2);
	assert(rc == 0 || rc == -EBADMSG);
	e2e_call_free(b2);

	/* caller on a forged ACCEPT */
	struct e2e_call *a2 = mk(E2E_CALLER, 3);
	e2e_commit(a2, o1);
	rc = e2e_confirm(a2, kb, f[0], f[1], o1, o2);
	assert(rc == -EBADMSG || rc == -EPERM ||
	       (rc == 0 && strcmp(f[0], eb) == 0 && strcmp(f[1], sb) == 0));
	e2e_call_free(a2);
	a2 = mk(E2E_CALLER, 3);
	e2e_commit(a2, o1);
	rc = e2e_confirm(a2, f[0], f[1], f[2], o1, o2);
	assert(rc == -EBADMSG || rc == -EPERM ||
	       (rc == 0 && strcmp(f[0], kb) == 0 && strcmp(f[1], eb) == 0 &&
		strcmp(f[2], sb) == 0));
	e2e_call_free(a2);

	/* callee on a forged reveal */
	if (e2e_confirm(a, kb, eb, sb, ea, sa) != 0)
		abort();
	rc = e2e_finish(b, f[0], f[1]);
	assert(rc == -EBADMSG || rc == -EPERM ||
	       (rc == 0 && strcmp(f[0], ea) == 0 && strcmp(f[1], sa) == 0));
	if (rc == 0) {
		char x[E2E_SAS_LEN], y[E2E_SAS_LEN];
		e2e_sas(a, x);
		e2e_sas(b, y);
		assert(strcmp(x, y) == 0);
	}
	e2e_call_free(a);
	e2e_call_free(b);
	return 0;
}
