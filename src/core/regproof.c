/* Registration proofs; see regproof.h. */
#include "p2pcall/regproof.h"

#include <errno.h>
#include <sodium.h>
#include <string.h>

/* The domain separator (with its NUL) keeps these signatures from being
 * taken for any other message signed with the same key, such as a call
 * signature. */
static const char CONTEXT[] = "p2pcall-register-v1";
#define MSG_MAX (sizeof(CONTEXT) + REGPROOF_CHALLENGE_LEN + REGPROOF_NAME_MAX)

/* The signed message for (CHALLENGE, NAME) into MSG; its length, or 0 for
 * a bad name. */
static size_t message(const uint8_t *challenge, const char *name, uint8_t msg[MSG_MAX])
{
	size_t n = strnlen(name, REGPROOF_NAME_MAX + 1);
	if (n == 0 || n > REGPROOF_NAME_MAX)
		return 0;
	memcpy(msg, CONTEXT, sizeof(CONTEXT));
	memcpy(msg + sizeof(CONTEXT), challenge, REGPROOF_CHALLENGE_LEN);
	memcpy(msg + sizeof(CONTEXT) + REGPROOF_CHALLENGE_LEN, name, n);
	return sizeof(CONTEXT) + REGPROOF_CHALLENGE_LEN + n;
}

int regproof_sign(const uint8_t sk[REGPROOF_SK_LEN], const uint8_t challenge[REGPROOF_CHALLENGE_LEN],
		  const char *name, uint8_t sig[REGPROOF_SIG_LEN])
{
	uint8_t msg[MSG_MAX];
	if (!sk || !challenge || !name || !sig || sodium_init() < 0)
		return -EINVAL;
	size_t n = message(challenge, name, msg);
	if (n == 0)
		return -EINVAL;
	crypto_sign_detached(sig, NULL, msg, n, sk);
	return 0;
}

int regproof_verify(const uint8_t pk[REGPROOF_PK_LEN], const uint8_t challenge[REGPROOF_CHALLENGE_LEN],
		    const char *name, const uint8_t sig[REGPROOF_SIG_LEN])
{
	uint8_t msg[MSG_MAX];
	if (!pk || !challenge || !name || !sig || sodium_init() < 0)
		return -EINVAL;
	size_t n = message(challenge, name, msg);
	if (n == 0)
		return -EINVAL;
	return crypto_sign_verify_detached(sig, msg, n, pk) == 0 ? 0 : -EPERM;
}


