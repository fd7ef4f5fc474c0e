/* TURN client tests: a fake clock and a fake server built from the STUN
 * writer, no sockets. Every request the client sends is parsed and checked
 * field by field; answers are signed (or not) as each test needs. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <nettle/md5.h>
#include <stdio.h>
#include <string.h>

#include "p2pcall/ice.h"
#include "p2pcall/turn.h"
#include "p2pcall/stun.h"

#define MS 1000ull
#define SEC 1000000ull
#define MAXPKT 16

struct sent {
	uint8_t buf[TURN_MAX_PACKET];
	size_t len;
	struct sockaddr_storage dest;
};

struct evrec {
	enum turn_event_type type;
	uint16_t code;
	uint16_t channel;
	char reason[512];
	struct sockaddr_storage peer, relayed, mapped;
	bool has_mapped;
	uint8_t data[TURN_MAX_PAYLOAD];
	size_t len;
	uint32_t lifetime_s;
};

struct fix {
	struct turn_client *t;
	struct sent sent[MAXPKT];
	size_t n_sent, total_sent;
	struct evrec ev[MAXPKT];
	size_t n_ev;
	struct sockaddr_in server;
	uint8_t key[16];
	uint64_t now;
};

static void on_send(void *ctx, const struct sockaddr *dest, socklen_t destlen,
		    const uint8_t *buf, size_t len)
{
	struct fix *f = ctx;
	ck_assert_uint_le(len, TURN_MAX_PACKET);
	ck_assert_uint_eq(destlen, sizeof(struct sockaddr_in));
	f->total_sent++;
	if (f->n_sent == MAXPKT)
		return;
	struct sent *s = &f->sent[f->n_sent++];
	memcpy(s->buf, buf, len);
	s->len = len;
	memset(&s->dest, 0, sizeof(s->dest));
	memcpy(&s->dest, dest, destlen);
}

static void on_event(void *ctx, const struct turn_event *ev)
{
	struct fix *f = ctx;
	ck_assert_uint_lt(f->n_ev, MAXPKT);
	struct evrec *r = &f->ev[f->n_ev++];
	memset(r, 0, sizeof(*r));
	r->type = ev->type;
	r->code = ev->code;
	r->channel = ev->channel;
	r->lifetime_s = ev->lifetime_s;
	if (ev->reason)
		snprintf(r->reason, sizeof(r->reason), "%s", ev->reason);
	if (ev->peer)
		memcpy(&r->peer, ev->peer, sizeof(struct sockaddr_in));
	if (ev->relayed)
		memcpy(&r->relayed, ev->relayed, sizeof(struct sockaddr_in));
	if (ev->mapped) {
		memcpy(&r->mapped, ev->mapped, sizeof(struct sockaddr_in));
		r->has_mapped = true;
	}
	if (ev->data) {
		ck_assert_uint_le(ev->len, sizeof(r->data));
		memcpy(r->data, ev->data, ev->len);
		r->len = ev->len;
	}
}

static struct sockaddr_in mkaddr(const char *ip, uint16_t port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	inet_pton(AF_INET, ip, &a.sin_addr);
	return a;
}

#define SA(x) ((const struct sockaddr *)(x))

static void fix_init(struct fix *f, const char *pass)
{
	memset(f, 0, sizeof(*f));
	f->server = mkaddr("192.0.2.1", 3478);
	struct turn_config cfg = {
		.server = SA(&f->server),
		.username = "user",
		.password = pass,
		.send_cb = on_send,
		.event_cb = on_event,
		.ctx = f,
		.seed = 42,
	};
	ck_assert_int_eq(turn_new(&f->t, &cfg), 0);
	f->now = 1000 * SEC;
	/* RFC 8489 9.2.2: key = MD5(username ":" realm ":" password),
	 * computed here independently of the STUN module. */
	struct md5_ctx md5;
	char kin[128];
	snprintf(kin, sizeof(kin), "user:example.org:%s", "pass");
	md5_init(&md5);
	md5_update(&md5, strlen(kin), (const uint8_t *)kin);
	md5_digest(&md5, sizeof(f->key), f->key);
}

/* The last packet sent, parsed. */
static struct sent *last(struct fix *f, struct stun_msg *m)
{
	ck_assert_uint_gt(f->n_sent, 0);
	struct sent *s = &f->sent[f->n_sent - 1];
	if (m)
		ck_assert_int_eq(stun_parse(s->buf, s->len, m), 0);
	return s;
}

static uint32_t attr_u32(const struct stun_msg *m, uint16_t type)
{
	const struct stun_attr *a = stun_msg_find(m, type);
	ck_assert_ptr_nonnull(a);
	ck_assert_uint_eq(a->len, 4);
	return (uint32_t)a->value[0] << 24 | (uint32_t)a->value[1] << 16 |
	       (uint32_t)a->value[2] << 8 | a->value[3];
}

/* Answer kinds the fake server can give. */
struct reply {
	enum stun_class cls;
	uint16_t code;
	const char *realm, *nonce;
	const struct sockaddr_in *relayed, *mapped;
	uint32_t lifetime; /* 0: none */
	const uint8_t *key; /* NULL: unsigned */
	bool other_txid;
};

static size_t build_reply(const struct stun_msg *req, const struct reply *r, uint8_t *buf,
			  size_t cap)
{
	struct stun_writer w;
	uint8_t txid[STUN_TXID_LEN];
	memcpy(txid, req->txid, sizeof(txid));
	if (r->other_txid)
		txid[0] ^= 1;
	ck_assert_int_eq(stun_writer_init(&w, buf, cap, req->method, r->cls, txid), 0);
	if (r->code)
		stun_put_error(&w, r->code, "Some Reason");
	if (r->realm)
		stun_put_bytes(&w, STUN_ATTR_REALM, r->realm, strlen(r->realm));
	if (r->nonce)
		stun_put_bytes(&w, STUN_ATTR_NONCE, r->nonce, strlen(r->nonce));
	if (r->relayed)
		stun_put_xor_address(&w, STUN_ATTR_XOR_RELAYED_ADDRESS, SA(r->relayed));
	if (r->mapped)
		stun_put_xor_address(&w, STUN_ATTR_XOR_MAPPED_ADDRESS, SA(r->mapped));
	if (r->lifetime)
		stun_put_u32(&w, STUN_ATTR_LIFETIME, r->lifetime);
	if (r->key)
		stun_put_integrity(&w, r->key, 16);
	ssize_t n = stun_writer_finish(&w, true);
	ck_assert_int_gt(n, 0);
	return (size_t)n;
}

/* Answers the last request; returns turn_handle_packet's verdict. */
static bool answer(struct fix *f, const struct reply *r)
{
	struct stun_msg req;
	uint8_t buf[512];
	last(f, &req);
	ck_assert_int_eq(req.cls, STUN_CLASS_REQUEST);
	size_t n = build_reply(&req, r, buf, sizeof(buf));
	return turn_handle_packet(f->t, f->now, SA(&f->server), buf, n);
}

/* Start, 401, authenticated Allocate, success: an allocated client. */
static void allocate(struct fix *f)
{
	struct stun_msg m;
	struct sockaddr_in relayed = mkaddr("198.51.100.7", 50000);
	struct sockaddr_in mapped = mkaddr("203.0.113.9", 40000);

	ck_assert_int_eq(turn_start(f->t, f->now), 0);
	ck_assert(answer(f, &(struct reply){ .cls = STUN_CLASS_ERROR, .code = 401,
					      .realm = "example.org", .nonce = "nonce1" }));
	last(f, &m);
	ck_assert(stun_verify_integrity(&m, last(f, NULL)->buf, f->key, 16) == 0);
	ck_assert(answer(f, &(struct reply){ .cls = STUN_CLASS_SUCCESS, .relayed = &relayed,
					      .mapped = &mapped, .lifetime = 600,
					      .key = f->key }));
	ck_assert_int_eq(turn_get_state(f->t), TURN_STATE_ALLOCATED);
	f->n_sent = 0;
	f->n_ev = 0;
}

START_TEST(test_allocate_401_flow)
{
	struct fix f;
	struct stun_msg m;
	fix_init(&f, "pass");
	ck_assert_uint_eq(turn_next_deadline(f.t), UINT64_MAX);
	ck_assert_int_eq(turn_start(f.t, f.now), 0);
	ck_assert_int_eq(turn_start(f.t, f.now), -EALREADY);

	/* First Allocate: no credentials. Byte-level: type 0x0003, then
	 * REQUESTED-TRANSPORT = 00 19 00 04 | 11 00 00 00 (UDP), LIFETIME. */
	struct sent *s = last(&f, &m);
	ck_assert_uint_eq(f.n_sent, 1);
	ck_assert(ice_addr_equal(SA(&s->dest), SA(&f.server)));
	ck_assert_uint_eq(s->buf[0], 0x00);
	ck_assert_uint_eq(s->buf[1], 0x03);
	static const uint8_t rt[8] = { 0x00, 0x19, 0x00, 0x04, 0x11, 0x00, 0x00, 0x00 };
	ck_assert(memcmp(s->buf + 20, rt, 8) == 0);
	ck_assert_uint_eq(attr_u32(&m, STUN_ATTR_LIFETIME), 600);
	ck_assert(!m.has_integrity);
	ck_assert_ptr_null(m.username);
	ck_assert(m.has_fingerprint);
	uint8_t txid1[STUN_TXID_LEN];
	memcpy(txid1, m.txid, sizeof(txid1));

	/* 401 with REALM and NONCE (unsigned, as servers must send it). */
	ck_assert(answer(&f, &(struct reply){ .cls = STUN_CLASS_ERROR, .code = 401,
					      .realm = "example.org", .nonce = "nonce1" }));
	ck_assert_uint_eq(f.n_ev, 0);
	ck_assert_uint_eq(f.n_sent, 2);
	last(&f, &m);
	ck_assert_int_eq(m.method, STUN_METHOD_ALLOCATE);
	ck_assert(memcmp(m.txid, txid1, STUN_TXID_LEN) != 0);
	ck_assert_uint_eq(m.username_len, 4);
	ck_assert(memcmp(m.username, "user", 4) == 0);
	ck_assert(m.realm_len == 11 && memcmp(m.realm, "example.org", 11) == 0);
	ck_assert(m.nonce_len == 6 && memcmp(m.nonce, "nonce1", 6) == 0);
	/* keyed with MD5("user:example.org:pass"), not with the password */
	ck_assert(m.has_integrity);
	ck_assert_int_eq(stun_verify_integrity(&m, last(&f, NULL)->buf, f.key, 16), 0);
	ck_assert_int_eq(stun_verify_integrity(&m, last(&f, NULL)->buf,
					       (const uint8_t *)"pass", 4), -EACCES);
	ck_assert_uint_eq(attr_u32(&m, STUN_ATTR_REQUESTED_TRANSPORT), 0x11000000);

	struct sockaddr_in relayed = mkaddr("198.51.100.7", 50000);
	struct sockaddr_in mapped = mkaddr("203.0.113.9", 40000);
	ck_assert(answer(&f, &(struct reply){ .cls = STUN_CLASS_SUCCESS, .relayed = &relayed,
					      .mapped = &mapped, .lifetime = 600, .key = f.key }));
	ck_assert_uint_eq(f.n_ev, 1);
	ck_assert_int_eq(f.ev[0].type, TURN_EVENT_ALLOCATED);
	ck_assert(ice_addr_equal(SA(&f.ev[0].relayed), SA(&relayed)));
	ck_assert(f.ev[0].has_mapped);
	ck_assert(ice_addr_equal(SA(&f.ev[0].mapped), SA(&mapped)));
	ck_assert_uint_eq(f.ev[0].lifetime_s, 600);
	struct sockaddr_storage ss;
	ck_assert_int_eq(turn_relayed_address(f.t, &ss), 0);
	ck_assert(ice_addr_equal(SA(&ss), SA(&relayed)));
	ck_assert_int_eq(turn_mapped_address(f.t, &ss), 0);
	ck_assert(ice_addr_equal(SA(&ss), SA(&mapped)));
	ck_assert_uint_eq(turn_get_stats(f.t)->responses_accepted, 2);
	turn_free(f.t);
}
END_TEST

START_TEST(test_wrong_password)
{
	struct fix f;
	fix_init(&f, "wrong");
	ck_assert_int_eq(turn_start(f.t, f.now), 0);
	ck_assert(answer(&f, &(struct reply){ .cls = STUN_CLASS_ERROR, .code = 401,
					      .realm = "example.org", .nonce = "n" }));
	struct stun_msg m;
	last(&f, &m);
	/* signed with MD5(user:example.org:wrong), so our key does not verify */
	ck_assert_int_eq(stun_verify_integrity(&m, last(&f, NULL)->buf, f.key, 16), -EACCES);
	ck_assert(answer(&f, &(struct reply){ .cls = STUN_CLASS_ERROR, .code = 401,
					      .realm = "example.org", .nonce = "n" }));
	ck_assert_uint_eq(f.n_ev, 1);
	ck_assert_int_eq(f.ev[0].type, TURN_EVENT_FAILED);
	ck_assert_uint_eq(f.ev[0].code, 401);
	ck_assert_msg(strstr(f.ev[0].reason, "wrong username or password"), "%s", f.ev[0].reason);
	ck_assert_msg(strstr(f.ev[0].reason, "`user'"), "%s", f.ev[0].reason);
	ck_assert_int_eq(turn_get_state(f.t), TURN_STATE_FAILED);
	ck_assert_uint_eq(turn_next_deadline(f.t), UINT64_MAX);
	ck_assert_uint_eq(f.n_sent, 2); /* no third try */
	turn_free(f.t);
}
END_TEST

START_TEST(test_error_codes)
{
	static const struct {
		uint16_t code;
		const char *needle;
	} cases[] = {
		{ 486, "Quota" }, { 508, "Insufficient Capacity" }, { 437, "Mismatch" },
		{ 442, "Unsupported Transport" }, { 599, "Some Reason" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct fix f;
		fix_init(&f, "pass");
		ck_assert_int_eq(turn_start(f.t, f.now), 0);
		answer(&f, &(struct reply){ .cls = STUN_CLASS_ERROR, .code = 401,
					    .realm = "example.org", .nonce = "n" });
		/* unsigned error to an authenticated request: dropped */
		ck_assert(answer(&f, &(struct reply){ .cls = STUN_CLASS_ERROR,
						      .code = cases[i].code }));
		ck_assert_uint_eq(f.n_ev, 0);
		ck_assert_uint_eq(turn_get_stats(f.t)->dropped_bad_integrity, 1);
		ck_assert(answer(&f, &(struct reply){ .cls = STUN_CLASS_ERROR,
						      .code = cases[i].code, .key = f.key }));
		ck_assert_uint_eq(f.n_ev, 1);
		ck_assert_int_eq(f.ev[0].type, TURN_EVENT_FAILED);
		ck_assert_uint_eq(f.ev[0].code, cases[i].code);
		ck_assert_msg(strstr(f.ev[0].reason, cases[i].needle), "%u: %s", cases[i].code,
			      f.ev[0].reason);
		turn_free(f.t);
	}
}
END_TEST

START_TEST(test_bad_responses_dropped)
{
	struct fix f;
	fix_init(&f, "pass");
	struct sockaddr_in relayed = mkaddr("198.51.100.7", 50000);
	uint8_t wrong_key[16];
	memcpy(wrong_key, f.key, 16);
	wrong_key[3] ^= 0x40;

	ck_assert_int_eq(turn_start(f.t, f.now), 0);
	answer(&f, &(struct reply){ .cls = STUN_CLASS_ERROR, .code = 401,
				    .realm = "example.org", .nonce = "n" });
	/* success signed with a wrong key */
	ck_assert(answer(&f, &(struct reply){ .cls = STUN_CLASS_SUCCESS, .relayed = &relayed,
					      .key = wrong_key }));
	/* success without MESSAGE-INTEGRITY */
	ck_assert(answer(&f, &(struct reply){ .cls = STUN_CLASS_SUCCESS, .relayed = &relayed }));
	/* right key, another transaction */
	ck_assert(answer(&f, &(struct reply){ .cls = STUN_CLASS_SUCCESS, .relayed = &relayed,
					      .key = f.key, .other_txid = true }));
	ck_assert_uint_eq(f.n_ev, 0);
	const struct turn_stats *st = turn_get_stats(f.t);
	ck_assert_uint_eq(st->dropped_bad_integrity, 2);
	ck_assert_uint_eq(st->dropped_unmatched, 1);

	/* the right answer from another address: not TURN's at all */
	struct stun_msg req;
	uint8_t buf[512];
	last(&f, &req);
	size_t n = build_reply(&req, &(struct reply){ .cls = STUN_CLASS_SUCCESS,
						       .relayed = &relayed, .key = f.key },
			       buf, sizeof(buf));
	struct sockaddr_in other = mkaddr("192.0.2.1", 3479);
	ck_assert(!turn_handle_packet(f.t, f.now, SA(&other), buf, n));
	/* truncated: TURN's, malformed */
	buf[3] = (uint8_t)(buf[3] - 4);
	ck_assert(turn_handle_packet(f.t, f.now, SA(&f.server), buf, n - 4));
	ck_assert_uint_eq(st->dropped_malformed, 1);
	buf[3] = (uint8_t)(buf[3] + 4);
	ck_assert_uint_eq(f.n_ev, 0);
	/* and finally as it should be */
	ck_assert(turn_handle_packet(f.t, f.now, SA(&f.server), buf, n));
	ck_assert_uint_eq(f.n_ev, 1);
	ck_assert_int_eq(f.ev[0].type, TURN_EVENT_ALLOCATED);
	ck_assert(!f.ev[0].has_mapped);

	/* a Binding response from the same server (it is our STUN server
	 * too) and media are someone else's */
	uint8_t txid[STUN_TXID_LEN] = { 1 };
	ssize_t bn = stun_build_binding_request(buf, sizeof(buf), txid, NULL);
	buf[0] = 0x01; /* Binding success */
	ck_assert(!turn_handle_packet(f.t, f.now, SA(&f.server), buf, (size_t)bn));
	uint8_t rtp[12] = { 0x80, 0x60 };
	ck_assert(!turn_handle_packet(f.t, f.now, SA(&f.server), rtp, sizeof(rtp)));
	turn_free(f.t);
}
END_TEST

START_TEST(test_timeout_retransmissions)
{
	struct fix f;
	fix_init(&f, "pass");
	uint64_t t0 = f.now;
	ck_assert_int_eq(turn_start(f.t, t0), 0);
	/* RFC 8489 6.2.1 with RTO 500 ms, Rc 7, Rm 16: sends at 0, 0.5, 1.5,
	 * 3.5, 7.5, 15.5, 31.5 s, failure at 39.5 s. */
	static const uint64_t at_ms[] = { 500, 1500, 3500, 7500, 15500, 31500, 39500 };
	for (size_t i = 0; i < 7; i++) {
		ck_assert_uint_eq(turn_next_deadline(f.t), t0 + at_ms[i] * MS);
		turn_tick(f.t, t0 + at_ms[i] * MS - 1);
		ck_assert_uint_eq(f.n_sent, i + 1);
		turn_tick(f.t, t0 + at_ms[i] * MS);
		if (i < 6) {
			ck_assert_uint_eq(f.n_sent, i + 2);
			ck_assert(memcmp(f.sent[i + 1].buf, f.sent[0].buf, f.sent[0].len) == 0);
		}
	}
	ck_assert_uint_eq(f.n_sent, 7);
	ck_assert_uint_eq(f.n_ev, 1);
	ck_assert_int_eq(f.ev[0].type, TURN_EVENT_FAILED);
	ck_assert_uint_eq(f.ev[0].code, 0);
	ck_assert_msg(strstr(f.ev[0].reason, "timeout"), "%s", f.ev[0].reason);
	ck_assert_uint_eq(turn_get_stats(f.t)->retransmits, 6);
	ck_assert_uint_eq(turn_next_deadline(f.t), UINT64_MAX);
	turn_free(f.t);
}
END_TEST

START_TEST(test_stale_nonce_and_permission)
{
	struct fix f;
	struct stun_msg m;
	fix_init(&f, "pass");
	allocate(&f);
	struct sockaddr_in peer = mkaddr("203.0.113.50", 6000);
	ck_assert_int_eq(turn_permit(f.t, f.now, SA(&peer)), 0);
	ck_assert_int_eq(turn_permit(f.t, f.now, SA(&peer)), 0); /* idempotent */
	ck_assert_uint_eq(f.n_sent, 1);
	last(&f, &m);
	ck_assert_int_eq(m.method, STUN_METHOD_CREATE_PERMISSION);
	const struct stun_attr *pa = stun_msg_find(&m, STUN_ATTR_XOR_PEER_ADDRESS);
	ck_assert_ptr_nonnull(pa);
	/* XOR-PEER-ADDRESS: family 1, port ^ 0x2112, address ^ cookie */
	ck_assert_uint_eq(pa->len, 8);
	ck_assert_uint_eq(pa->value[1], 0x01);
	ck_assert_uint_eq((pa->value[2] << 8 | pa->value[3]), 6000 ^ 0x2112);
	ck_assert_uint_eq(pa->value[4], 203 ^ 0x21);
	uint8_t txid1[STUN_TXID_LEN];
	memcpy(txid1, m.txid, sizeof(txid1));

	/* 438: new nonce, the same request again with a new txid */
	ck_assert(answer(&f, &(struct reply){ .cls = STUN_CLASS_ERROR, .code = 438,
					      .realm = "example.org", .nonce = "nonce2" }));
	ck_assert_uint_eq(f.n_ev, 0);
	ck_assert_uint_eq(f.n_sent, 2);
	last(&f, &m);
	ck_assert_int_eq(m.method, STUN_METHOD_CREATE_PERMISSION);
	ck_assert(memcmp(m.txid, txid1, STUN_TXID_LEN) != 0);
	ck_assert(m.nonce_len == 6 && memcmp(m.nonce, "nonce2", 6) == 0);
	ck_assert_int_eq(stun_verify_integrity(&m, last(&f, NULL)->buf, f.key, 16), 0);
	ck_assert(answer(&f, &(struct reply){ .cls = STUN_CLASS_SUCCESS, .key = f.key }));
	ck_assert_uint_eq(f.n_ev, 1);
	ck_assert_int_eq(f.ev[0].type, TURN_EVENT_PERMISSION_OK);
	ck_assert(ice_addr_equal(SA(&f.ev[0].peer), SA(&peer)));
	ck_assert_uint_eq(turn_get_stats(f.t)->stale_nonces, 1);

	/* later requests carry the new nonce too: the permission refresh
	 * comes 240 s later (permissions last 300 s) */
	f.n_sent = 0;
	ck_assert_uint_eq(turn_next_deadline(f.t), f.now + 240 * SEC);
	turn_tick(f.t, f.now + 240 * SEC);
	last(&f, &m);
	ck_assert_int_eq(m.method, STUN_METHOD_CREATE_PERMISSION);
	ck_assert(m.nonce_len == 6 && memcmp(m.nonce, "nonce2", 6) == 0);

	/* endless 438s give up */
	for (int i = 0; i < 3; i++)
		answer(&f, &(struct reply){ .cls = STUN_CLASS_ERROR, .code = 438,
					    .realm = "example.org", .nonce = "n3" });
	ck_assert_uint_eq(f.n_ev, 1);
	answer(&f, &(struct reply){ .cls = STUN_CLASS_ERROR, .code = 438,
				    .realm = "example.org", .nonce = "n4" });
	ck_assert_uint_eq(f.n_ev, 2);
	ck_assert_int_eq(f.ev[1].type, TURN_EVENT_PERMISSION_FAILED);
	ck_assert_msg(strstr(f.ev[1].reason, "438"), "%s", f.ev[1].reason);
	ck_assert_int_eq(turn_get_state(f.t), TURN_STATE_ALLOCATED);
	turn_free(f.t);
}
END_TEST

START_TEST(test_refresh_timing)
{
	struct fix f;
	struct stun_msg m;
	fix_init(&f, "pass");
	allocate(&f);
	uint64_t t0 = f.now;
	/* LIFETIME 600: refresh one minute early, at 540 s */
	ck_assert_uint_eq(turn_next_deadline(f.t), t0 + 540 * SEC);
	turn_tick(f.t, t0 + 540 * SEC - 1);
	ck_assert_uint_eq(f.n_sent, 0);
	f.now = t0 + 540 * SEC;
	turn_tick(f.t, f.now);
	ck_assert_uint_eq(f.n_sent, 1);
	last(&f, &m);
	ck_assert_int_eq(m.method, STUN_METHOD_REFRESH);
	ck_assert_uint_eq(attr_u32(&m, STUN_ATTR_LIFETIME), 600);
	ck_assert_int_eq(stun_verify_integrity(&m, last(&f, NULL)->buf, f.key, 16), 0);
	/* the server grants only 100 s: refresh half way */
	ck_assert(answer(&f, &(struct reply){ .cls = STUN_CLASS_SUCCESS, .lifetime = 100,
					      .key = f.key }));
	ck_assert_uint_eq(turn_next_deadline(f.t), f.now + 50 * SEC);
	f.now += 50 * SEC;
	turn_tick(f.t, f.now);
	ck_assert_uint_eq(f.n_sent, 2);
	/* 437: the server lost the allocation */
	ck_assert(answer(&f, &(struct reply){ .cls = STUN_CLASS_ERROR, .code = 437,
					      .key = f.key }));
	ck_assert_uint_eq(f.n_ev, 1);
	ck_assert_int_eq(f.ev[0].type, TURN_EVENT_FAILED);
	ck_assert_uint_eq(f.ev[0].code, 437);
	ck_assert_msg(strstr(f.ev[0].reason, "Refresh"), "%s", f.ev[0].reason);
	turn_free(f.t);
}
END_TEST

START_TEST(test_channel_data)
{
	struct fix f;
	struct stun_msg m;
	fix_init(&f, "pass");
	allocate(&f);
	struct sockaddr_in peer = mkaddr("203.0.113.50", 6000);
	ck_assert_int_eq(turn_send(f.t, f.now, SA(&peer), (const uint8_t *)"x", 1), -ENOENT);
	ck_assert_int_eq(turn_bind_channel(f.t, f.now, SA(&peer)), 0x4000);
	ck_assert_int_eq(turn_bind_channel(f.t, f.now, SA(&peer)), 0x4000);
	ck_assert_uint_eq(f.n_sent, 1);
	last(&f, &m);
	ck_assert_int_eq(m.method, STUN_METHOD_CHANNEL_BIND);
	/* CHANNEL-NUMBER: 00 0C 00 04 | 40 00 | 00 00 (RFFU) */
	ck_assert_uint_eq(attr_u32(&m, STUN_ATTR_CHANNEL_NUMBER), 0x40000000);
	ck_assert_ptr_nonnull(stun_msg_find(&m, STUN_ATTR_XOR_PEER_ADDRESS));

	/* not confirmed yet: a Send indication */
	ck_assert_int_eq(turn_send(f.t, f.now, SA(&peer), (const uint8_t *)"hello", 5), 0);
	last(&f, &m);
	ck_assert_int_eq(m.method, STUN_METHOD_SEND);
	ck_assert_int_eq(m.cls, STUN_CLASS_INDICATION);
	const struct stun_attr *d = stun_msg_find(&m, STUN_ATTR_DATA);
	ck_assert(d && d->len == 5 && memcmp(d->value, "hello", 5) == 0);
	struct sockaddr_storage pa;
	ck_assert_int_eq(stun_attr_address(&m, stun_msg_find(&m, STUN_ATTR_XOR_PEER_ADDRESS),
					   true, &pa), 0);
	ck_assert(ice_addr_equal(SA(&pa), SA(&peer)));

	/* confirm: answer the ChannelBind (sent[0]) */
	f.n_sent = 1;
	ck_assert(answer(&f, &(struct reply){ .cls = STUN_CLASS_SUCCESS, .key = f.key }));
	ck_assert_uint_eq(f.n_ev, 1);
	ck_assert_int_eq(f.ev[0].type, TURN_EVENT_CHANNEL_OK);
	ck_assert_uint_eq(f.ev[0].channel, 0x4000);

	/* ChannelData: 40 00 | 00 05 | "hello" | 3 bytes of padding */
	ck_assert_int_eq(turn_send(f.t, f.now, SA(&peer), (const uint8_t *)"hello", 5), 0);
	struct sent *s = last(&f, NULL);
	static const uint8_t cd5[12] = { 0x40, 0x00, 0x00, 0x05, 'h', 'e', 'l', 'l', 'o', 0, 0, 0 };
	ck_assert_uint_eq(s->len, 12);
	ck_assert(memcmp(s->buf, cd5, 12) == 0);
	/* 4 bytes need no padding; 0 bytes is a bare header */
	turn_send(f.t, f.now, SA(&peer), (const uint8_t *)"abcd", 4);
	ck_assert_uint_eq(last(&f, NULL)->len, 8);
	turn_send(f.t, f.now, SA(&peer), NULL, 0);
	ck_assert_uint_eq(last(&f, NULL)->len, 4);
	ck_assert_uint_eq(turn_get_stats(f.t)->channel_data_sent, 3);
	uint8_t big[TURN_MAX_PAYLOAD + 1] = { 0 };
	ck_assert_int_eq(turn_send(f.t, f.now, SA(&peer), big, sizeof(big)), -EMSGSIZE);

	/* receiving: padded and unpadded both accepted */
	const uint8_t in1[8] = { 0x40, 0x00, 0x00, 0x03, 'a', 'b', 'c', 0 };
	ck_assert(turn_handle_packet(f.t, f.now, SA(&f.server), in1, 8));
	ck_assert(turn_handle_packet(f.t, f.now, SA(&f.server), in1, 7));
	ck_assert_uint_eq(f.n_ev, 3);
	for (int i = 1; i <= 2; i++) {
		ck_assert_int_eq(f.ev[i].type, TURN_EVENT_DATA);
		ck_assert_uint_eq(f.ev[i].channel, 0x4000);
		ck_assert(f.ev[i].len == 3 && memcmp(f.ev[i].data, "abc", 3) == 0);
		ck_assert(ice_addr_equal(SA(&f.ev[i].peer), SA(&peer)));
	}
	/* unbound channel, length beyond the datagram, too much padding,
	 * runt: dropped, but still TURN's */
	const uint8_t bad1[8] = { 0x40, 0x01, 0x00, 0x03, 'a', 'b', 'c', 0 };
	const uint8_t bad2[8] = { 0x40, 0x00, 0x00, 0x09, 'a', 'b', 'c', 0 };
	const uint8_t bad3[12] = { 0x40, 0x00, 0x00, 0x03, 'a', 'b', 'c', 0, 0, 0, 0, 0 };
	ck_assert(turn_handle_packet(f.t, f.now, SA(&f.server), bad1, 8));
	ck_assert(turn_handle_packet(f.t, f.now, SA(&f.server), bad2, 8));
	ck_assert(turn_handle_packet(f.t, f.now, SA(&f.server), bad3, 12));
	ck_assert(turn_handle_packet(f.t, f.now, SA(&f.server), bad3, 3));
	ck_assert_uint_eq(f.n_ev, 3);
	ck_assert_uint_eq(turn_get_stats(f.t)->dropped_unknown_peer, 1);
	ck_assert_uint_eq(turn_get_stats(f.t)->dropped_malformed, 3);
	/* ChannelData-looking bytes from elsewhere: our own relay frames */
	struct sockaddr_in relay = mkaddr("192.0.2.1", 4000);
	ck_assert(!turn_handle_packet(f.t, f.now, SA(&relay), in1, 8));

	/* the binding is refreshed after 9 minutes */
	ck_assert_uint_eq(turn_next_deadline(f.t), f.now + 540 * SEC);
	f.n_sent = 0;
	turn_tick(f.t, f.now + 540 * SEC);
	/* allocation Refresh and ChannelBind are both due at 540 s */
	ck_assert_uint_eq(f.n_sent, 2);
	ck_assert_int_eq(stun_parse(f.sent[1].buf, f.sent[1].len, &m), 0);
	ck_assert_int_eq(m.method, STUN_METHOD_CHANNEL_BIND);
	ck_assert_uint_eq(attr_u32(&m, STUN_ATTR_CHANNEL_NUMBER), 0x40000000);
	turn_free(f.t);
}
END_TEST

static size_t data_indication(const struct sockaddr_in *peer, const char *payload,
			      uint8_t *buf, size_t cap)
{
	struct stun_writer w;
	uint8_t txid[STUN_TXID_LEN] = { 9, 9, 9 };
	stun_writer_init(&w, buf, cap, STUN_METHOD_DATA, STUN_CLASS_INDICATION, txid);
	stun_put_xor_address(&w, STUN_ATTR_XOR_PEER_ADDRESS, SA(peer));
	stun_put_bytes(&w, STUN_ATTR_DATA, payload, strlen(payload));
	return (size_t)stun_writer_finish(&w, false);
}

START_TEST(test_data_indication)
{
	struct fix f;
	uint8_t buf[256];
	fix_init(&f, "pass");
	allocate(&f);
	struct sockaddr_in peer = mkaddr("203.0.113.50", 6000);
	struct sockaddr_in peer2 = mkaddr("203.0.113.50", 6001); /* same IP */
	struct sockaddr_in stranger = mkaddr("203.0.113.51", 6000);

	size_t n = data_indication(&peer, "early", buf, sizeof(buf));
	ck_assert(turn_handle_packet(f.t, f.now, SA(&f.server), buf, n));
	ck_assert_uint_eq(f.n_ev, 0); /* no permission asked */
	ck_assert_uint_eq(turn_get_stats(f.t)->dropped_unknown_peer, 1);

	turn_permit(f.t, f.now, SA(&peer));
	n = data_indication(&peer2, "voice", buf, sizeof(buf));
	ck_assert(turn_handle_packet(f.t, f.now, SA(&f.server), buf, n));
	ck_assert_uint_eq(f.n_ev, 1);
	ck_assert_int_eq(f.ev[0].type, TURN_EVENT_DATA);
	ck_assert_uint_eq(f.ev[0].channel, 0);
	ck_assert(ice_addr_equal(SA(&f.ev[0].peer), SA(&peer2)));
	ck_assert(f.ev[0].len == 5 && memcmp(f.ev[0].data, "voice", 5) == 0);
	n = data_indication(&stranger, "spam", buf, sizeof(buf));
	ck_assert(turn_handle_packet(f.t, f.now, SA(&f.server), buf, n));
	ck_assert_uint_eq(f.n_ev, 1);
	ck_assert_uint_eq(turn_get_stats(f.t)->dropped_unknown_peer, 2);
	ck_assert_uint_eq(turn_get_stats(f.t)->data_indications, 1);

	/* an unknown comprehension-required attribute: discarded */
	struct stun_writer w;
	uint8_t txid[STUN_TXID_LEN] = { 8 };
	stun_writer_init(&w, buf, sizeof(buf), STUN_METHOD_DATA, STUN_CLASS_INDICATION, txid);
	stun_put_xor_address(&w, STUN_ATTR_XOR_PEER_ADDRESS, SA(&peer));
	stun_put_bytes(&w, STUN_ATTR_DATA, "odd", 3);
	stun_put_u32(&w, 0x7ABC, 1);
	n = (size_t)stun_writer_finish(&w, false);
	ck_assert(turn_handle_packet(f.t, f.now, SA(&f.server), buf, n));
	ck_assert_uint_eq(f.n_ev, 1);
	ck_assert_uint_eq(turn_get_stats(f.t)->dropped_malformed, 1);
	turn_free(f.t);
}
END_TEST

START_TEST(test_peer_failures)
{
	struct fix f;
	struct stun_msg m;
	fix_init(&f, "pass");
	allocate(&f);
	struct sockaddr_in p1 = mkaddr("203.0.113.50", 6000);
	struct sockaddr_in p2 = mkaddr("203.0.113.60", 7000);

	/* 403 to CreatePermission: that peer failed, the allocation lives */
	ck_assert_int_eq(turn_permit(f.t, f.now, SA(&p1)), 0);
	ck_assert(answer(&f, &(struct reply){ .cls = STUN_CLASS_ERROR, .code = 403,
					      .key = f.key }));
	ck_assert_uint_eq(f.n_ev, 1);
	ck_assert_int_eq(f.ev[0].type, TURN_EVENT_PERMISSION_FAILED);
	ck_assert_uint_eq(f.ev[0].code, 403);
	ck_assert(ice_addr_equal(SA(&f.ev[0].peer), SA(&p1)));
	ck_assert_msg(strstr(f.ev[0].reason, "CreatePermission: 403 Forbidden"), "%s",
		      f.ev[0].reason);
	ck_assert_int_eq(turn_get_state(f.t), TURN_STATE_ALLOCATED);

	/* 400 to ChannelBind: CHANNEL_FAILED, and sending falls back to Send
	 * indications */
	ck_assert_int_eq(turn_bind_channel(f.t, f.now, SA(&p2)), 0x4000);
	ck_assert(answer(&f, &(struct reply){ .cls = STUN_CLASS_ERROR, .code = 400,
					      .key = f.key }));
	ck_assert_uint_eq(f.n_ev, 2);
	ck_assert_int_eq(f.ev[1].type, TURN_EVENT_CHANNEL_FAILED);
	ck_assert_uint_eq(f.ev[1].channel, 0x4000);
	ck_assert_int_eq(turn_send(f.t, f.now, SA(&p2), (const uint8_t *)"hi", 2), 0);
	last(&f, &m);
	ck_assert_int_eq(m.method, STUN_METHOD_SEND);
	/* asking again reuses the number (RFC 8656 12: no rebinding to
	 * another peer for a while) */
	ck_assert_int_eq(turn_bind_channel(f.t, f.now, SA(&p2)), 0x4000);
	last(&f, &m);
	ck_assert_int_eq(m.method, STUN_METHOD_CHANNEL_BIND);
	ck_assert_uint_eq(attr_u32(&m, STUN_ATTR_CHANNEL_NUMBER), 0x40000000);

	/* a CreatePermission nobody answers times out alone */
	struct sockaddr_in p3 = mkaddr("203.0.113.70", 8000);
	ck_assert_int_eq(turn_permit(f.t, f.now, SA(&p3)), 0);
	uint64_t t0 = f.now;
	for (uint64_t ms = 0; ms <= 40000; ms += 100)
		turn_tick(f.t, t0 + ms * MS);
	ck_assert_uint_ge(f.n_ev, 3);
	bool saw = false;
	for (size_t i = 2; i < f.n_ev; i++)
		if (f.ev[i].type == TURN_EVENT_PERMISSION_FAILED &&
		    ice_addr_equal(SA(&f.ev[i].peer), SA(&p3))) {
			saw = true;
			ck_assert_uint_eq(f.ev[i].code, 0);
			ck_assert_msg(strstr(f.ev[i].reason, "timeout"), "%s", f.ev[i].reason);
		}
	ck_assert(saw);
	ck_assert_int_eq(turn_get_state(f.t), TURN_STATE_ALLOCATED);
	turn_free(f.t);
}
END_TEST

START_TEST(test_close)
{
	struct fix f;
	struct stun_msg m;
	fix_init(&f, "pass");
	allocate(&f);
	ck_assert_int_eq(turn_close(f.t, f.now), 0);
	ck_assert_int_eq(turn_close(f.t, f.now), -EALREADY);
	ck_assert_int_eq(turn_get_state(f.t), TURN_STATE_CLOSING);
	last(&f, &m);
	ck_assert_int_eq(m.method, STUN_METHOD_REFRESH);
	ck_assert_uint_eq(attr_u32(&m, STUN_ATTR_LIFETIME), 0);
	ck_assert_int_eq(stun_verify_integrity(&m, last(&f, NULL)->buf, f.key, 16), 0);
	struct sockaddr_in peer = mkaddr("203.0.113.50", 6000);
	ck_assert_int_eq(turn_permit(f.t, f.now, SA(&peer)), -ENOTCONN);
	ck_assert(answer(&f, &(struct reply){ .cls = STUN_CLASS_SUCCESS, .key = f.key }));
	ck_assert_uint_eq(f.n_ev, 1);
	ck_assert_int_eq(f.ev[0].type, TURN_EVENT_CLOSED);
	ck_assert_int_eq(turn_get_state(f.t), TURN_STATE_CLOSED);
	ck_assert_uint_eq(turn_next_deadline(f.t), UINT64_MAX);
	turn_free(f.t);

	/* closing before allocation: closed at once, nothing sent */
	fix_init(&f, "pass");
	ck_assert_int_eq(turn_close(f.t, f.now), 0);
	ck_assert_uint_eq(f.n_sent, 0);
	ck_assert_int_eq(f.ev[0].type, TURN_EVENT_CLOSED);
	turn_free(f.t);
}
END_TEST

START_TEST(test_parse_uri)
{
	char u[32], p[32], h[64];
	uint16_t port;
#define PARSE(str) turn_parse_uri(str, u, sizeof(u), p, sizeof(p), h, sizeof(h), &port)
	ck_assert_int_eq(PARSE("alice:s3:cret@192.0.2.5:3479"), 0);
	ck_assert_str_eq(u, "alice");
	ck_assert_str_eq(p, "s3:cret");
	ck_assert_str_eq(h, "192.0.2.5");
	ck_assert_uint_eq(port, 3479);
	ck_assert_int_eq(PARSE("u:p@w@[2001:db8::1]"), 0);
	ck_assert_str_eq(p, "p@w");
	ck_assert_str_eq(h, "2001:db8::1");
	ck_assert_uint_eq(port, 3478);
	ck_assert_int_eq(PARSE("u:p@[::1]:5000"), 0);
	ck_assert_str_eq(h, "::1");
	ck_assert_uint_eq(port, 5000);
	ck_assert_int_eq(PARSE("u:@turn.example.org"), 0);
	ck_assert_str_eq(p, "");
	ck_assert_str_eq(h, "turn.example.org");
	ck_assert_uint_eq(port, 3478);
	ck_assert_int_eq(PARSE("127.0.0.1:3478"), -EINVAL);        /* no credentials */
	ck_assert_int_eq(PARSE(":p@127.0.0.1"), -EINVAL);          /* no user */
	ck_assert_int_eq(PARSE("u:p@"), -EINVAL);                  /* no host */
	ck_assert_int_eq(PARSE("u:p@127.0.0.1:70000"), -EINVAL);
	ck_assert_int_eq(PARSE("u:p@127.0.0.1:"), -EINVAL);
	ck_assert_int_eq(PARSE("u:p@127.0.0.1:34x"), -EINVAL);
	ck_assert_int_eq(PARSE("u:p@[::1"), -EINVAL);
	ck_assert_int_eq(PARSE("u:p@[::1]x"), -EINVAL);
	ck_assert_int_eq(PARSE("u:p@host name"), -EINVAL);
	ck_assert_int_eq(PARSE("averyveryverylongusernamethatdoesnotfit:p@127.0.0.1"), -ENOSPC);
#undef PARSE
}
END_TEST

START_TEST(test_bad_config)
{
	struct turn_client *t;
	struct sockaddr_in s = mkaddr("192.0.2.1", 3478);
	struct turn_config cfg = { .server = SA(&s), .username = "u", .password = "p",
				   .send_cb = on_send };
	ck_assert_int_eq(turn_new(&t, &cfg), 0);
	ck_assert_int_eq(turn_send(t, 0, SA(&s), (const uint8_t *)"x", 1), -ENOTCONN);
	ck_assert_int_eq(turn_permit(t, 0, SA(&s)), -ENOTCONN);
	ck_assert_int_eq(turn_relayed_address(t, &(struct sockaddr_storage){ 0 }), -ENOTCONN);
	turn_free(t);
	turn_free(NULL);
	cfg.username = "";
	ck_assert_int_eq(turn_new(&t, &cfg), -EINVAL);
	cfg.username = "u";
	cfg.send_cb = NULL;
	ck_assert_int_eq(turn_new(&t, &cfg), -EINVAL);
	cfg.send_cb = on_send;
	struct sockaddr bad = { .sa_family = AF_UNIX };
	cfg.server = &bad;
	ck_assert_int_eq(turn_new(&t, &cfg), -EINVAL);
}
END_TEST

Suite *turn_suite(void)
{
	Suite *s = suite_create("turn");
	TCase *tc = tcase_create("client");
	tcase_add_test(tc, test_allocate_401_flow);
	tcase_add_test(tc, test_wrong_password);
	tcase_add_test(tc, test_error_codes);
	tcase_add_test(tc, test_bad_responses_dropped);
	tcase_add_test(tc, test_timeout_retransmissions);
	tcase_add_test(tc, test_stale_nonce_and_permission);
	tcase_add_test(tc, test_refresh_timing);
	tcase_add_test(tc, test_channel_data);
	tcase_add_test(tc, test_data_indication);
	tcase_add_test(tc, test_peer_failures);
	tcase_add_test(tc, test_close);
	tcase_add_test(tc, test_parse_uri);
	tcase_add_test(tc, test_bad_config);
	suite_add_tcase(s, tc);
	return s;
}
