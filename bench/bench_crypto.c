/* Cost of end-to-end encryption: protect + unprotect of one 20 ms Opus
 * packet (12-byte RTP header, 80-byte payload: 32 kbit/s) and of an RTCP
 * SR, in microseconds, and what that adds up to per second of call at one
 * end (50 packets sent and 50 received); then one whole handshake (both
 * ends, four signatures checked or made, two key exchanges). Wall clock,
 * best of five rounds, so a busy machine shows less. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "p2pcall/e2e.h"
#include "p2pcall/mediacrypt.h"

static double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static _Noreturn void die(const char *what)
{
	fprintf(stderr, "bench_crypto: %s failed\n", what);
	exit(1);
}

/* Mean µs for one protect + unprotect of a plen-byte RTP payload. */
static double rtp_round(struct mediacrypt *a, struct mediacrypt *b, size_t plen, int n,
			uint32_t *seq)
{
	uint8_t pkt[256];
	double best = 1e30;
	for (int round = 0; round < 5; round++) {
		double t0 = now_us();
		for (int i = 0; i < n; i++, (*seq)++) {
			memset(pkt, 0x5a, 12 + plen);
			pkt[0] = 0x80;
			pkt[1] = 111;
			pkt[2] = (uint8_t)(*seq >> 8);
			pkt[3] = (uint8_t)*seq;
			int m = mediacrypt_protect(a, pkt, 12 + plen, sizeof(pkt));
			if (m < 0 || mediacrypt_unprotect(b, pkt, (size_t)m) != (int)(12 + plen))
				die("rtp round trip");
		}
		double us = (now_us() - t0) / n;
		if (us < best)
			best = us;
	}
	return best;
}

static double rtcp_round(struct mediacrypt *a, struct mediacrypt *b, int n)
{
	uint8_t pkt[128];
	double best = 1e30;
	for (int round = 0; round < 5; round++) {
		double t0 = now_us();
		for (int i = 0; i < n; i++) {
			memset(pkt, 0, 52);
			pkt[0] = 0x81;
			pkt[1] = 200;
			pkt[3] = 12;
			int m = mediacrypt_protect(a, pkt, 52, sizeof(pkt));
			if (m < 0 || mediacrypt_unprotect(b, pkt, (size_t)m) != 52)
				die("rtcp round trip");
		}
		double us = (now_us() - t0) / n;
		if (us < best)
			best = us;
	}
	return best;
}

static double handshake(int n)
{
	struct e2e_identity ida, idb;
	uint8_t s[32];
	memset(s, 1, 32);
	e2e_identity_from_seed(&ida, s);
	memset(s, 2, 32);
	e2e_identity_from_seed(&idb, s);
	char ka[E2E_KEY_B64], kb[E2E_KEY_B64], c[E2E_KEY_B64];
	char eb[E2E_KEY_B64], sb[E2E_SIG_B64], ea[E2E_KEY_B64], sa[E2E_SIG_B64];
	b64url_encode(ka, sizeof(ka), ida.pk, 32);
	b64url_encode(kb, sizeof(kb), idb.pk, 32);
	double best = 1e30;
	for (int round = 0; round < 5; round++) {
		double t0 = now_us();
		for (int i = 0; i < n; i++) {
			struct e2e_call *a, *b;
			memset(s, i + 3, 32);
			if (e2e_call_new(&a, E2E_CALLER, &ida, "alice", "bob", s))
				die("e2e_call_new");
			s[0] ^= 0xff;
			if (e2e_call_new(&b, E2E_CALLEE, &idb, "alice", "bob", s))
				die("e2e_call_new");
			if (e2e_commit(a, c) || e2e_answer(b, ka, c, eb, sb) ||
			    e2e_confirm(a, kb, eb, sb, ea, sa) || e2e_finish(b, ea, sa))
				die("handshake");
			e2e_call_free(a);
			e2e_call_free(b);
		}
		double us = (now_us() - t0) / n;
		if (us < best)
			best = us;
	}
	return best;
}

int main(void)
{
	struct mediacrypt_keys ka, kb;
	for (int i = 0; i < 32; i++) {
		ka.tx[i] = (uint8_t)i;
		ka.rx[i] = (uint8_t)(i + 64);
	}
	memcpy(kb.tx, ka.rx, 32);
	memcpy(kb.rx, ka.tx, 32);
	struct mediacrypt *a = NULL, *b = NULL;
	if (mediacrypt_new(&a, &ka) || mediacrypt_new(&b, &kb))
		die("mediacrypt_new");
	uint32_t seq = 0;
	(void)rtp_round(a, b, 80, 2000, &seq);   /* warm up caches and clocks */
	double r80 = rtp_round(a, b, 80, 20000, &seq);
	double r160 = rtp_round(a, b, 160, 20000, &seq);
	double rc = rtcp_round(a, b, 20000);
	printf("rtp 20 ms, 80 B payload : %.2f us protect+unprotect, %.0f ns per call-second\n",
	       r80, r80 * 50 * 1000);
	printf("rtp 20 ms, 160 B payload: %.2f us protect+unprotect, %.0f ns per call-second\n",
	       r160, r160 * 50 * 1000);
	printf("rtcp SR, 52 B           : %.2f us protect+unprotect\n", rc);
	printf("handshake (both ends)   : %.0f us\n", handshake(100));
	mediacrypt_free(a);
	mediacrypt_free(b);
	return 0;
}
