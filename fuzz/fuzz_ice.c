/* libFuzzer target: a sequence of datagrams and clock steps fed into an
 * ICE agent. Input format, repeated:
 *   u8 flags  (bits 0-1: source address index, bit 2: re-sign with the
 *              right key, bit 3: take the txid of our last check, bit 4:
 *              role of a fresh agent... only read from the first record,
 *              bits 5-7: clock step exponent)
 *   u8 len_hi, u8 len_lo, then len bytes of datagram.
 * Re-signing lets the fuzzer past MESSAGE-INTEGRITY, which it could never
 * guess, so the authenticated state machine gets explored too. */
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "p2pcall/ice.h"
#include "p2pcall/stun.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t last_txid[STUN_TXID_LEN];
static struct sockaddr_storage last_dest;

static void on_send(void *ctx, const struct sockaddr *dest, socklen_t len,
		    const uint8_t *buf, size_t n)
{
	(void)ctx;
	if (len != ice_addr_len(dest) || n < STUN_HEADER_LEN)
		abort();
	struct stun_msg m;
	if (stun_parse(buf, n, &m) != 0) /* we only ever send valid STUN */
		abort();
	if (m.cls == STUN_CLASS_REQUEST) {
		memcpy(last_txid, m.txid, STUN_TXID_LEN);
		memset(&last_dest, 0, sizeof(last_dest));
		memcpy(&last_dest, dest, len);
	}
}

static void on_event(void *ctx, const struct ice_event *ev)
{
	(void)ctx;
	if ((ev->type == ICE_EVENT_SELECTED || ev->type == ICE_EVENT_REMOTE_CHANGED) &&
	    (!ev->local || !ev->remote))
		abort();
}

static void resign(uint8_t *p, size_t n, size_t cap, const char *key, bool use_txid,
		   size_t *outlen)
{
	struct stun_msg m;
	struct stun_writer w;

	if (stun_parse(p, n, &m) != 0)
		return;
	size_t off = m.has_integrity ? m.integrity_offset : n;
	if (m.has_fingerprint && !m.has_integrity)
		off = n - 8;
	stun_writer_init(&w, p, cap, m.method, m.cls, use_txid ? last_txid : m.txid);
	w.len = off;
	stun_put_integrity(&w, (const uint8_t *)key, strlen(key));
	ssize_t r = stun_writer_finish(&w, true);
	if (r > 0)
		*outlen = (size_t)r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ice_agent *a;
	struct sockaddr_storage src[4];
	static const char *cands[] = { "host/192.0.2.1/5000", "srflx/203.0.113.7/40000",
				       "host/2001:db8::1/5000", "relay/198.51.100.3/3478" };
	if (size < 1)
		return 0;
	struct ice_config c = {
		.role = (data[0] & 0x10) ? ICE_CONTROLLED : ICE_CONTROLLING,
		.local_ufrag = "LFRAG", .local_pwd = "local-password-0123456789",
		.remote_ufrag = "RFRAG", .remote_pwd = "remote-password-0123456789",
		.send_cb = on_send, .event_cb = on_event, .seed = 1,
	};
	if (ice_new(&a, &c) != 0)
		abort();
	ice_add_remote_str(a, cands[0]);
	ice_add_remote_str(a, cands[1]);
	ice_add_remote_str(a, cands[2]);
	struct ice_cand l;
	ice_cand_parse("host/10.0.0.2/6000", &l);
	ice_add_local(a, &l);
	for (int i = 0; i < 4; i++) {
		struct ice_cand x;
		ice_cand_parse(cands[i], &x);
		src[i] = x.addr;
	}
	uint64_t now = 1000000;
	memset(last_txid, 0, sizeof(last_txid));
	if (ice_start(a, now) != 0)
		abort();

	size_t i = 0;
	while (i + 3 <= size) {
		uint8_t f = data[i];
		size_t n = ((size_t)data[i + 1] << 8) | data[i + 2];
		i += 3;
		if (n > size - i)
			n = size - i;
		uint8_t *p = malloc(n + 64);
		if (!p)
			abort();
		memcpy(p, data + i, n);
		i += n;
		size_t len = n;
		const struct sockaddr *from = (const struct sockaddr *)&src[f & 3];
		if ((f & 8) && last_dest.ss_family)
			from = (const struct sockaddr *)&last_dest;
		if (f & 4) {
			bool resp = n >= 2 && (p[0] & 1);
			resign(p, n, n + 64, resp ? c.remote_pwd : c.local_pwd, (f & 8) != 0,
			       &len);
		}
		now += (uint64_t)1 << (3 * (f >> 5) + 4);
		ice_handle_packet(a, now, from, p, len);
		free(p);
		uint64_t d = ice_next_deadline(a);
		if (d <= now)
			ice_tick(a, now);
		else if (d != UINT64_MAX && (f & 0xE0) == 0xE0)
			ice_tick(a, now = d);
		struct ice_cand lc, rc;
		if (ice_selected(a, &lc, &rc) == 0 && rc.addr.ss_family != AF_INET &&
		    rc.addr.ss_family != AF_INET6)
			abort();
	}
	ice_free(a);
	return 0;
}
