/* libFuzzer target: datagrams "from the TURN server" fed into an allocated
 * TURN client that has a permission and a channel for one peer.
 *
 * Setup (not fuzzed): Allocate, 401 with REALM/NONCE, Allocate with
 * credentials, signed success; turn_permit and turn_bind_channel for
 * PEER -- unless the input starts with 0xFF: then the client is left
 * waiting for its first Allocate answer. Then the input, repeated:
 *   u8 flags  bit 0: re-sign the datagram with the long-term key (so the
 *                    fuzzer gets past MESSAGE-INTEGRITY, which it could
 *                    never guess),
 *             bit 1: give it the txid of our last request,
 *             bit 2: send it from another address (must not be TURN's),
 *             bit 3: call turn_send(PEER, datagram bytes) afterwards,
 *             bit 4: call turn_bind_channel / turn_permit on an address
 *                    taken from the datagram,
 *             bits 5-7: clock step exponent (then turn_tick if due)
 *   u8 len_hi, u8 len_lo, then len bytes of datagram.
 * Invariants checked: every datagram the client sends goes to the server,
 * is at most TURN_MAX_PACKET bytes, and is well-formed STUN or ChannelData;
 * events carry what they promise. */
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "p2pcall/ice.h"
#include "p2pcall/stun.h"
#include "p2pcall/turn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t last_txid[STUN_TXID_LEN];
static uint16_t last_method;
static struct sockaddr_in server, other, peer;
static uint8_t key[16];

static void on_send(void *ctx, const struct sockaddr *dest, socklen_t len,
		    const uint8_t *buf, size_t n)
{
	(void)ctx;
	if (n > TURN_MAX_PACKET || n < 4 || len != sizeof(struct sockaddr_in) ||
	    !ice_addr_equal(dest, (const struct sockaddr *)&server))
		abort();
	if (buf[0] >= 0x40 && buf[0] <= 0x4F) {
		size_t dlen = (size_t)buf[2] << 8 | buf[3];
		if (n != ((4 + dlen + 3) & ~(size_t)3))
			abort();
		return;
	}
	struct stun_msg m;
	if (stun_parse(buf, n, &m) != 0)
		abort();
	if (m.cls == STUN_CLASS_REQUEST) {
		memcpy(last_txid, m.txid, STUN_TXID_LEN);
		last_method = m.method;
	}
}

static void on_event(void *ctx, const struct turn_event *ev)
{
	(void)ctx;
	switch (ev->type) {
	case TURN_EVENT_ALLOCATED:
		if (!ev->relayed)
			abort();
		break;
	case TURN_EVENT_FAILED:
	case TURN_EVENT_PERMISSION_FAILED:
	case TURN_EVENT_CHANNEL_FAILED:
		if (!ev->reason || !ev->reason[0])
			abort();
		break;
	case TURN_EVENT_DATA:
		if (!ev->peer || (ev->len && !ev->data) || ev->len > 65535)
			abort();
		break;
	default:
		break;
	}
}

/* Rewrites p as a response to our last request (optionally) signed with
 * the long-term key. */
static void resign(uint8_t *p, size_t n, size_t cap, bool use_txid, size_t *outlen)
{
	struct stun_msg m;
	struct stun_writer w;

	if (stun_parse(p, n, &m) != 0)
		return;
	size_t off = m.has_integrity ? m.integrity_offset : n;
	if (m.has_fingerprint && !m.has_integrity)
		off = n - 8;
	stun_writer_init(&w, p, cap, use_txid ? last_method : m.method, m.cls,
			 use_txid ? last_txid : m.txid);
	w.len = off;
	stun_put_integrity(&w, key, sizeof(key));
	ssize_t r = stun_writer_finish(&w, true);
	if (r > 0)
		*outlen = (size_t)r;
}

static void answer(struct turn_client *t, uint64_t now, enum stun_class cls, bool sign,
		   bool relayed)
{
	uint8_t buf[256];
	struct stun_writer w;
	stun_writer_init(&w, buf, sizeof(buf), last_method, cls, last_txid);
	if (cls == STUN_CLASS_ERROR) {
		stun_put_error(&w, 401, "Unauthorized");
		stun_put_bytes(&w, STUN_ATTR_REALM, "r", 1);
		stun_put_bytes(&w, STUN_ATTR_NONCE, "nonce", 5);
	}
	if (relayed)
		stun_put_xor_address(&w, STUN_ATTR_XOR_RELAYED_ADDRESS,
				     (const struct sockaddr *)&other);
	if (sign)
		stun_put_integrity(&w, key, sizeof(key));
	ssize_t n = stun_writer_finish(&w, true);
	if (n < 0 || !turn_handle_packet(t, now, (const struct sockaddr *)&server, buf, (size_t)n))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct turn_client *t;
	server = (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons(3478),
				       .sin_addr.s_addr = htonl(0xC0000201) };
	other = server;
	other.sin_port = htons(3479);
	peer = (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons(6000),
				     .sin_addr.s_addr = htonl(0xCB007132) };
	stun_long_term_key("u", "r", "p", key);
	struct turn_config c = {
		.server = (const struct sockaddr *)&server, .username = "u", .password = "p",
		.send_cb = on_send, .event_cb = on_event, .seed = 1,
	};
	if (turn_new(&t, &c) != 0)
		abort();
	uint64_t now = 1000000;
	if (turn_start(t, now) != 0)
		abort();
	/* An input starting with 0xFF explores the allocation itself. */
	if (size > 0 && data[0] == 0xFF) {
		data++;
		size--;
	} else {
		answer(t, now, STUN_CLASS_ERROR, false, false);
		answer(t, now, STUN_CLASS_SUCCESS, true, true);
		if (turn_get_state(t) != TURN_STATE_ALLOCATED)
			abort();
		turn_permit(t, now, (const struct sockaddr *)&peer);
		if (turn_bind_channel(t, now, (const struct sockaddr *)&peer) != TURN_CHANNEL_MIN)
			abort();
	}

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
		if (f & 1)
			resign(p, n, n + 64, (f & 2) != 0, &len);
		now += (uint64_t)1 << (3 * (f >> 5) + 10);
		const struct sockaddr *from = (const struct sockaddr *)((f & 4) ? &other : &server);
		bool mine = turn_handle_packet(t, now, from, p, len);
		if ((f & 4) && mine)
			abort(); /* only the server's datagrams are TURN's */
		if (f & 8)
			turn_send(t, now, (const struct sockaddr *)&peer, p, len);
		if ((f & 16) && len >= 6) {
			struct sockaddr_in a = { .sin_family = AF_INET };
			memcpy(&a.sin_addr, p, 4);
			memcpy(&a.sin_port, p + 4, 2);
			if (p[0] & 1)
				turn_bind_channel(t, now, (const struct sockaddr *)&a);
			else
				turn_permit(t, now, (const struct sockaddr *)&a);
		}
		free(p);
		if (turn_next_deadline(t) <= now)
			turn_tick(t, now);
		if (turn_next_deadline(t) < now)
			abort(); /* tick must clear everything due */
	}
	turn_close(t, now);
	turn_free(t);
	return 0;
}
