/* TURN client state machine: see include/p2pcall/turn.h for the model. */
#include "p2pcall/turn.h"
#include "p2pcall/prng.h"
#include "p2pcall/strcopy.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "p2pcall/ice.h"
#include "p2pcall/stun.h"

#define SEC 1000000ull
#define MAX_TXN (2 + 2 * TURN_MAX_PEERS)
#define MAX_CRED 128
#define MAX_REALM 256  /* RFC 8489 14.9: < 128 characters, 763 bytes */
#define MAX_NONCE 763 /* RFC 8489 14.10 */
#define MAX_STALE 3
#define RM 16 /* RFC 8489 6.2.1: last wait is Rm x RTO */
#define PERM_REFRESH_US (240 * SEC)  /* permissions live 300 s */
#define CHAN_REFRESH_US (540 * SEC)  /* channel bindings live 600 s */
#define TRANSPORT_UDP 17

enum txn_kind { TXN_ALLOCATE, TXN_REFRESH, TXN_PERMISSION, TXN_CHANNEL, TXN_DEALLOC };

struct txn {
	bool used;
	enum txn_kind kind;
	int peer; /* PERMISSION / CHANNEL */
	bool authed; /* carried credentials */
	unsigned stale; /* 438 retries so far */
	uint8_t txid[STUN_TXID_LEN];
	unsigned sends;
	uint64_t rto;
	uint64_t next_us;
	uint8_t pkt[1400]; /* the largest REALM and NONCE fit */
	size_t len;
};

enum peer_state { PS_NONE, PS_PENDING, PS_OK, PS_FAILED };

struct peer {
	struct sockaddr_storage addr;
	enum peer_state perm;
	uint64_t perm_refresh_us; /* UINT64_MAX: not scheduled */
	uint16_t channel;         /* 0: none asked */
	enum peer_state chan;
	uint64_t chan_refresh_us;
};

struct turn_client {
	struct turn_config cfg;
	struct sockaddr_storage server;
	char user[MAX_CRED], pass[MAX_CRED], software[MAX_CRED];
	char realm[MAX_REALM];
	uint8_t nonce[MAX_NONCE];
	size_t nonce_len;
	bool have_key;
	uint8_t key[16];
	uint64_t prng;

	enum turn_state state;
	struct sockaddr_storage relayed, mapped;
	bool have_mapped;
	uint32_t lifetime_s;
	uint64_t refresh_us; /* next allocation Refresh, UINT64_MAX if none */

	struct peer peers[TURN_MAX_PEERS];
	size_t n_peers;
	uint16_t next_channel;
	struct txn txn[MAX_TXN];

	char reason[640];
	struct turn_stats stats;
};

/* --- helpers --- */

static void rnd(struct turn_client *t, void *buf, size_t len)
{
	if (t->cfg.random_cb)
		t->cfg.random_cb(t->cfg.ctx, buf, len);
	else
		prng_fill(&t->prng, buf, len);
}

static bool valid_addr(const struct sockaddr *sa)
{
	return sa && (sa->sa_family == AF_INET || sa->sa_family == AF_INET6);
}

/* Same IP (ports ignored): permissions are per IP address (RFC 8656 9). */
static bool same_ip(const struct sockaddr *a, const struct sockaddr *b)
{
	if (a->sa_family != b->sa_family)
		return false;
	if (a->sa_family == AF_INET)
		return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
		       ((const struct sockaddr_in *)b)->sin_addr.s_addr;
	return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
		      &((const struct sockaddr_in6 *)b)->sin6_addr, 16) == 0;
}

static void emit(struct turn_client *t, struct turn_event *ev)
{
	if (t->cfg.event_cb)
		t->cfg.event_cb(t->cfg.ctx, ev);
}

static void send_pkt(struct turn_client *t, const uint8_t *buf, size_t len)
{
	const struct sockaddr *sa = (const struct sockaddr *)&t->server;
	t->cfg.send_cb(t->cfg.ctx, sa, ice_addr_len(sa), buf, len);
}

static void cancel_all(struct turn_client *t)
{
	for (size_t i = 0; i < MAX_TXN; i++)
		t->txn[i].used = false;
	t->refresh_us = UINT64_MAX;
	for (size_t i = 0; i < t->n_peers; i++)
		t->peers[i].perm_refresh_us = t->peers[i].chan_refresh_us = UINT64_MAX;
}

static void fail(struct turn_client *t, uint16_t code, const char *reason)
{
	cancel_all(t);
	t->state = TURN_STATE_FAILED;
	struct turn_event ev = { .type = TURN_EVENT_FAILED, .code = code,
				 .reason = reason };
	emit(t, &ev);
}

static void closed(struct turn_client *t)
{
	cancel_all(t);
	t->state = TURN_STATE_CLOSED;
	struct turn_event ev = { .type = TURN_EVENT_CLOSED };
	emit(t, &ev);
}

static uint16_t method_of(enum txn_kind k)
{
	switch (k) {
	case TXN_ALLOCATE:
		return STUN_METHOD_ALLOCATE;
	case TXN_PERMISSION:
		return STUN_METHOD_CREATE_PERMISSION;
	case TXN_CHANNEL:
		return STUN_METHOD_CHANNEL_BIND;
	case TXN_REFRESH:
	case TXN_DEALLOC:
		break;
	}
	return STUN_METHOD_REFRESH;
}

static const char *kind_name(enum txn_kind k)
{
	switch (k) {
	case TXN_ALLOCATE:
		return "Allocate";
	case TXN_REFRESH:
		return "Refresh";
	case TXN_PERMISSION:
		return "CreatePermission";
	case TXN_CHANNEL:
		return "ChannelBind";
	case TXN_DEALLOC:
		break;
	}
	return "Refresh (deallocate)";
}

/* Builds the request of x (fresh txid) and sends it. Returns 0 or -ENOSPC
 * (never with sane credentials: the buffer holds the largest realm/nonce). */
static int txn_send_new(struct turn_client *t, struct txn *x, uint64_t now)
{
	struct stun_writer w;
	rnd(t, x->txid, STUN_TXID_LEN);
	stun_writer_init(&w, x->pkt, sizeof(x->pkt), method_of(x->kind),
			 STUN_CLASS_REQUEST, x->txid);
	switch (x->kind) {
	case TXN_ALLOCATE:
		/* protocol number in the first byte, RFFU after (RFC 8656 14.7) */
		stun_put_u32(&w, STUN_ATTR_REQUESTED_TRANSPORT,
			     (uint32_t)TRANSPORT_UDP << 24);
		stun_put_u32(&w, STUN_ATTR_LIFETIME, t->cfg.lifetime_s);
		break;
	case TXN_REFRESH:
		stun_put_u32(&w, STUN_ATTR_LIFETIME, t->cfg.lifetime_s);
		break;
	case TXN_DEALLOC:
		stun_put_u32(&w, STUN_ATTR_LIFETIME, 0);
		break;
	case TXN_CHANNEL:
		stun_put_u32(&w, STUN_ATTR_CHANNEL_NUMBER,
			     (uint32_t)t->peers[x->peer].channel << 16);
		/* fall through */
	case TXN_PERMISSION:
		stun_put_xor_address(&w, STUN_ATTR_XOR_PEER_ADDRESS,
				     (const struct sockaddr *)&t->peers[x->peer].addr);
		break;
	}
	if (t->software[0])
		stun_put_software(&w, t->software);
	x->authed = t->have_key;
	if (t->have_key) {
		stun_put_bytes(&w, STUN_ATTR_USERNAME, t->user, strlen(t->user));
		stun_put_bytes(&w, STUN_ATTR_REALM, t->realm, strlen(t->realm));
		stun_put_bytes(&w, STUN_ATTR_NONCE, t->nonce, t->nonce_len);
		stun_put_integrity(&w, t->key, sizeof(t->key));
	}
	ssize_t n = stun_writer_finish(&w, true);
	if (n < 0)
		return (int)n;
	x->len = (size_t)n;
	x->used = true;
	x->sends = 1;
	x->rto = t->cfg.rto_us;
	x->next_us = now + x->rto;
	t->stats.requests_sent++;
	send_pkt(t, x->pkt, x->len);
	return 0;
}

static struct txn *txn_find_kind(struct turn_client *t, enum txn_kind k, int peer)
{
	for (size_t i = 0; i < MAX_TXN; i++)
		if (t->txn[i].used && t->txn[i].kind == k && t->txn[i].peer == peer)
			return &t->txn[i];
	return NULL;
}

/* Starts a transaction of kind k unless one is in flight already. */
static int txn_start(struct turn_client *t, enum txn_kind k, int peer, uint64_t now)
{
	if (txn_find_kind(t, k, peer))
		return 0;
	for (size_t i = 0; i < MAX_TXN; i++) {
		struct txn *x = &t->txn[i];
		if (x->used)
			continue;
		memset(x, 0, sizeof(*x));
		x->kind = k;
		x->peer = peer;
		int r = txn_send_new(t, x, now);
		if (r < 0)
			x->used = false;
		return r;
	}
	return -ENOSPC; /* cannot happen: one per kind and peer */
}

static void peer_failed(struct turn_client *t, struct txn *x, uint16_t code,
			const char *reason)
{
	struct peer *p = &t->peers[x->peer];
	struct turn_event ev = { .peer = (const struct sockaddr *)&p->addr,
				 .code = code, .reason = reason };
	if (x->kind == TXN_CHANNEL) {
		p->chan = PS_FAILED;
		p->chan_refresh_us = UINT64_MAX;
		ev.type = TURN_EVENT_CHANNEL_FAILED;
		ev.channel = p->channel;
	} else {
		p->perm = PS_FAILED;
		p->perm_refresh_us = UINT64_MAX;
		ev.type = TURN_EVENT_PERMISSION_FAILED;
	}
	emit(t, &ev);
}

/* A transaction ended without success (error answer or timeout). */
static void txn_failed(struct turn_client *t, struct txn *x, uint16_t code,
		       const char *reason)
{
	x->used = false;
	switch (x->kind) {
	case TXN_ALLOCATE:
	case TXN_REFRESH:
		fail(t, code, reason);
		break;
	case TXN_DEALLOC:
		closed(t);
		break;
	case TXN_PERMISSION:
	case TXN_CHANNEL:
		peer_failed(t, x, code, reason);
		break;
	}
}

/* --- public API --- */

int turn_new(struct turn_client **out, const struct turn_config *cfg)
{
	struct turn_client *t = NULL;
	int r = -EINVAL;

	if (!out || !cfg || !cfg->send_cb || !valid_addr(cfg->server))
		goto out;
	r = -ENOMEM;
	t = calloc(1, sizeof(*t));
	if (!t)
		goto out;
	r = -EINVAL;
	if (!strcopy_bounded(t->user, sizeof(t->user), cfg->username, 1) ||
	    !strcopy_bounded(t->pass, sizeof(t->pass), cfg->password, 0))
		goto out;
	if (cfg->software && !strcopy_bounded(t->software, sizeof(t->software), cfg->software, 0))
		goto out;
	t->cfg = *cfg;
	t->cfg.username = t->user;
	t->cfg.password = t->pass;
	t->cfg.software = t->software;
	t->cfg.server = (const struct sockaddr *)&t->server;
	memcpy(&t->server, cfg->server, ice_addr_len(cfg->server));
	if (!t->cfg.lifetime_s)
		t->cfg.lifetime_s = 600;
	if (!t->cfg.rto_us)
		t->cfg.rto_us = 500000;
	if (!t->cfg.max_transmits)
		t->cfg.max_transmits = 7;
	t->prng = cfg->seed ? cfg->seed : 0x9E3779B97F4A7C15ull;
	t->state = TURN_STATE_NEW;
	t->next_channel = TURN_CHANNEL_MIN;
	cancel_all(t);
	*out = t;
	t = NULL;
	r = 0;
out:
	free(t);
	return r;
}

void turn_free(struct turn_client *t)
{
	free(t);
}

int turn_start(struct turn_client *t, uint64_t now_us)
{
	if (!t)
		return -EINVAL;
	if (t->state != TURN_STATE_NEW)
		return -EALREADY;
	t->state = TURN_STATE_ALLOCATING;
	return txn_start(t, TXN_ALLOCATE, -1, now_us);
}

static int find_peer(const struct turn_client *t, const struct sockaddr *sa)
{
	for (size_t i = 0; i < t->n_peers; i++)
		if (ice_addr_equal(sa, (const struct sockaddr *)&t->peers[i].addr))
			return (int)i;
	return -1;
}

static int add_peer(struct turn_client *t, const struct sockaddr *sa)
{
	int i = find_peer(t, sa);
	if (i >= 0)
		return i;
	if (t->n_peers >= TURN_MAX_PEERS)
		return -ENOSPC;
	struct peer *p = &t->peers[t->n_peers];
	memset(p, 0, sizeof(*p));
	memcpy(&p->addr, sa, ice_addr_len(sa));
	p->perm_refresh_us = p->chan_refresh_us = UINT64_MAX;
	return (int)t->n_peers++;
}

int turn_permit(struct turn_client *t, uint64_t now_us, const struct sockaddr *peer)
{
	if (!t || !valid_addr(peer))
		return -EINVAL;
	if (t->state != TURN_STATE_ALLOCATED)
		return -ENOTCONN;
	int i = add_peer(t, peer);
	if (i < 0)
		return i;
	struct peer *p = &t->peers[i];
	if (p->perm == PS_PENDING || p->perm == PS_OK)
		return 0;
	p->perm = PS_PENDING;
	return txn_start(t, TXN_PERMISSION, i, now_us);
}

int turn_bind_channel(struct turn_client *t, uint64_t now_us, const struct sockaddr *peer)
{
	if (!t || !valid_addr(peer))
		return -EINVAL;
	if (t->state != TURN_STATE_ALLOCATED)
		return -ENOTCONN;
	int i = add_peer(t, peer);
	if (i < 0)
		return i;
	struct peer *p = &t->peers[i];
	if (p->channel && (p->chan == PS_PENDING || p->chan == PS_OK))
		return p->channel;
	/* A failed binding keeps its number: RFC 8656 12 forbids rebinding a
	 * number to another peer for 10 minutes, and it may be half-bound. */
	if (!p->channel) {
		if (t->next_channel > TURN_CHANNEL_MAX)
			return -ENOSPC;
		p->channel = t->next_channel++;
	}
	p->chan = PS_PENDING;
	int r = txn_start(t, TXN_CHANNEL, i, now_us);
	return r < 0 ? r : p->channel;
}

int turn_send(struct turn_client *t, uint64_t now_us, const struct sockaddr *peer,
	      const uint8_t *payload, size_t len)
{
	(void)now_us;
	uint8_t buf[TURN_MAX_PACKET];

	if (!t || !valid_addr(peer) || (!payload && len))
		return -EINVAL;
	if (t->state != TURN_STATE_ALLOCATED)
		return -ENOTCONN;
	if (len > TURN_MAX_PAYLOAD)
		return -EMSGSIZE;
	int i = find_peer(t, peer);
	if (i < 0)
		return -ENOENT;
	struct peer *p = &t->peers[i];
	if (p->channel && p->chan == PS_OK) {
		/* ChannelData (RFC 8656 12.4): channel, length, data, and over
		 * UDP padded to a multiple of 4 (12.5). */
		size_t total = (4 + len + 3) & ~(size_t)3;
		buf[0] = (uint8_t)(p->channel >> 8);
		buf[1] = (uint8_t)p->channel;
		buf[2] = (uint8_t)(len >> 8);
		buf[3] = (uint8_t)len;
		if (len)
			memcpy(buf + 4, payload, len);
		memset(buf + 4 + len, 0, total - 4 - len);
		t->stats.channel_data_sent++;
		send_pkt(t, buf, total);
		return 0;
	}
	struct stun_writer w;
	uint8_t txid[STUN_TXID_LEN];
	rnd(t, txid, sizeof(txid));
	stun_writer_init(&w, buf, sizeof(buf), STUN_METHOD_SEND, STUN_CLASS_INDICATION, txid);
	stun_put_xor_address(&w, STUN_ATTR_XOR_PEER_ADDRESS, peer);
	stun_put_bytes(&w, STUN_ATTR_DATA, payload, len);
	ssize_t n = stun_writer_finish(&w, true);
	if (n < 0)
		return (int)n;
	t->stats.send_indications++;
	send_pkt(t, buf, (size_t)n);
	return 0;
}

int turn_close(struct turn_client *t, uint64_t now_us)
{
	if (!t)
		return -EINVAL;
	if (t->state == TURN_STATE_CLOSING || t->state == TURN_STATE_CLOSED)
		return -EALREADY;
	if (t->state != TURN_STATE_ALLOCATED) {
		closed(t);
		return 0;
	}
	cancel_all(t);
	t->state = TURN_STATE_CLOSING;
	int r = txn_start(t, TXN_DEALLOC, -1, now_us);
	if (r < 0)
		closed(t);
	return 0;
}

/* --- receiving --- */

static void schedule_refresh(struct turn_client *t, uint64_t now, uint32_t lifetime_s)
{
	uint64_t l = (uint64_t)lifetime_s * SEC;
	t->lifetime_s = lifetime_s;
	t->refresh_us = now + (lifetime_s >= 120 ? l - 60 * SEC : l / 2);
}

static uint32_t msg_lifetime(const struct stun_msg *m, uint32_t dflt)
{
	const struct stun_attr *a = stun_msg_find(m, STUN_ATTR_LIFETIME);
	if (!a || a->len != 4)
		return dflt;
	return (uint32_t)a->value[0] << 24 | (uint32_t)a->value[1] << 16 |
	       (uint32_t)a->value[2] << 8 | a->value[3];
}

static void on_success(struct turn_client *t, struct txn *x, const struct stun_msg *m,
		       uint64_t now)
{
	struct peer *p = x->peer >= 0 ? &t->peers[x->peer] : NULL;
	struct turn_event ev = { 0 };

	switch (x->kind) {
	case TXN_ALLOCATE: {
		const struct stun_attr *a = stun_msg_find(m, STUN_ATTR_XOR_RELAYED_ADDRESS);
		if (!a || stun_attr_address(m, a, true, &t->relayed) != 0) {
			fail(t, 0, "Allocate success without a valid XOR-RELAYED-ADDRESS");
			return;
		}
		t->have_mapped = m->has_xor_mapped;
		if (m->has_xor_mapped)
			t->mapped = m->xor_mapped;
		t->state = TURN_STATE_ALLOCATED;
		schedule_refresh(t, now, msg_lifetime(m, t->cfg.lifetime_s));
		ev.type = TURN_EVENT_ALLOCATED;
		ev.relayed = (const struct sockaddr *)&t->relayed;
		ev.mapped = t->have_mapped ? (const struct sockaddr *)&t->mapped : NULL;
		ev.lifetime_s = t->lifetime_s;
		emit(t, &ev);
		return;
	}
	case TXN_REFRESH:
		schedule_refresh(t, now, msg_lifetime(m, t->cfg.lifetime_s));
		return;
	case TXN_DEALLOC:
		closed(t);
		return;
	case TXN_PERMISSION:
		p->perm_refresh_us = now + PERM_REFRESH_US;
		if (p->perm != PS_OK) {
			p->perm = PS_OK;
			ev.type = TURN_EVENT_PERMISSION_OK;
			ev.peer = (const struct sockaddr *)&p->addr;
			emit(t, &ev);
		}
		return;
	case TXN_CHANNEL:
		p->chan_refresh_us = now + CHAN_REFRESH_US;
		if (p->chan != PS_OK) {
			p->chan = PS_OK;
			ev.type = TURN_EVENT_CHANNEL_OK;
			ev.peer = (const struct sockaddr *)&p->addr;
			ev.channel = p->channel;
			emit(t, &ev);
		}
		return;
	}
}

static const char *code_hint(uint16_t code)
{
	switch (code) {
	case 400: return "Bad Request";
	case 401: return "Unauthorized: wrong username or password";
	case 403: return "Forbidden (the server refuses this peer address)";
	case 420: return "Unknown Attribute";
	case 437: return "Allocation Mismatch (the server lost our allocation)";
	case 440: return "Address Family not Supported";
	case 441: return "Wrong Credentials";
	case 442: return "Unsupported Transport Protocol";
	case 443: return "Peer Address Family Mismatch";
	case 486: return "Allocation Quota Reached (too many allocations for this user)";
	case 508: return "Insufficient Capacity (the server has no relay ports left)";
	}
	return NULL;
}

static void on_error(struct turn_client *t, struct txn *x, const struct stun_msg *m,
		     uint64_t now)
{
	uint16_t code = m->error_code;
	/* 401 to an unauthenticated request, 438 to any: (new) credentials
	 * from the server, then the same request again. */
	if ((code == 401 && !x->authed) || code == 438) {
		if (code == 438)
			t->stats.stale_nonces++;
		if (!m->nonce || m->nonce_len > MAX_NONCE ||
		    (!m->realm && !t->realm[0]) || (m->realm && m->realm_len >= MAX_REALM)) {
			snprintf(t->reason, sizeof(t->reason),
				 "%s: %u answer without a usable REALM/NONCE", kind_name(x->kind), code);
			txn_failed(t, x, code, t->reason);
			return;
		}
		if (code == 438 && ++x->stale > MAX_STALE) {
			snprintf(t->reason, sizeof(t->reason),
				 "%s: 438 Stale Nonce %u times in a row", kind_name(x->kind), x->stale);
			txn_failed(t, x, code, t->reason);
			return;
		}
		if (m->realm) {
			memcpy(t->realm, m->realm, m->realm_len);
			t->realm[m->realm_len] = '\0';
		}
		memcpy(t->nonce, m->nonce, m->nonce_len);
		t->nonce_len = m->nonce_len;
		stun_long_term_key(t->user, t->realm, t->pass, t->key);
		t->have_key = true;
		if (txn_send_new(t, x, now) < 0) {
			snprintf(t->reason, sizeof(t->reason),
				 "%s: server's REALM/NONCE too long", kind_name(x->kind));
			txn_failed(t, x, code, t->reason);
		}
		return;
	}
	/* A 437 to our deallocation: the allocation is gone anyway. */
	if (x->kind == TXN_DEALLOC) {
		x->used = false;
		closed(t);
		return;
	}
	const char *hint = code_hint(code);
	char phrase[128];
	size_t pl = m->error_reason_len < sizeof(phrase) - 1 ? m->error_reason_len
							     : sizeof(phrase) - 1;
	/* The server's phrase, printable bytes only. */
	for (size_t i = 0; i < pl; i++) {
		uint8_t c = m->error_reason[i];
		phrase[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	phrase[pl] = '\0';
	if (code == 401)
		snprintf(t->reason, sizeof(t->reason),
			 "%s: 401 Unauthorized: wrong username or password for user `%s' in realm `%s'",
			 kind_name(x->kind), t->user, t->realm);
	else
		snprintf(t->reason, sizeof(t->reason), "%s: %u %s%s%s%s", kind_name(x->kind),
			 code, hint ? hint : phrase, hint && pl ? " (server: " : "",
			 hint && pl ? phrase : "", hint && pl ? ")" : "");
	txn_failed(t, x, code, t->reason);
}

static struct txn *txn_find_id(struct turn_client *t, const uint8_t *txid)
{
	for (size_t i = 0; i < MAX_TXN; i++)
		if (t->txn[i].used && memcmp(t->txn[i].txid, txid, STUN_TXID_LEN) == 0)
			return &t->txn[i];
	return NULL;
}

/* A Data indication: XOR-PEER-ADDRESS and DATA, from a peer we permitted. */
static void on_data_ind(struct turn_client *t, const struct stun_msg *m)
{
	const struct stun_attr *pa = stun_msg_find(m, STUN_ATTR_XOR_PEER_ADDRESS);
	const struct stun_attr *da = stun_msg_find(m, STUN_ATTR_DATA);
	struct sockaddr_storage peer;
	/* RFC 8489 6.3.2: an indication with an unknown comprehension-required
	 * attribute is discarded. */
	if (!pa || !da || m->n_unknown || stun_attr_address(m, pa, true, &peer) != 0) {
		t->stats.dropped_malformed++;
		return;
	}
	bool known = false;
	for (size_t i = 0; i < t->n_peers && !known; i++)
		known = (t->peers[i].perm != PS_NONE || t->peers[i].chan != PS_NONE) &&
			same_ip((const struct sockaddr *)&peer,
				(const struct sockaddr *)&t->peers[i].addr);
	if (!known || t->state != TURN_STATE_ALLOCATED) {
		t->stats.dropped_unknown_peer++;
		return;
	}
	t->stats.data_indications++;
	struct turn_event ev = { .type = TURN_EVENT_DATA,
				 .peer = (const struct sockaddr *)&peer,
				 .data = da->value, .len = da->len };
	emit(t, &ev);
}

static void on_channel_data(struct turn_client *t, const uint8_t *buf, size_t len)
{
	if (len < 4) {
		t->stats.dropped_malformed++;
		return;
	}
	uint16_t ch = (uint16_t)(buf[0] << 8 | buf[1]);
	size_t dlen = (size_t)(buf[2] << 8 | buf[3]);
	/* Over UDP the padding may be there or not (12.5); more is wrong. */
	if (dlen > len - 4 || len - 4 - dlen > 3) {
		t->stats.dropped_malformed++;
		return;
	}
	/* The server binds before it answers, so data may beat the answer. */
	for (size_t i = 0; i < t->n_peers; i++) {
		struct peer *p = &t->peers[i];
		if (p->channel != ch || (p->chan != PS_OK && p->chan != PS_PENDING))
			continue;
		if (t->state != TURN_STATE_ALLOCATED)
			break;
		t->stats.channel_data_received++;
		struct turn_event ev = { .type = TURN_EVENT_DATA,
					 .peer = (const struct sockaddr *)&p->addr,
					 .data = buf + 4, .len = dlen, .channel = ch };
		emit(t, &ev);
		return;
	}
	t->stats.dropped_unknown_peer++;
}

static bool turn_method(uint16_t m)
{
	return m == STUN_METHOD_ALLOCATE || m == STUN_METHOD_REFRESH ||
	       m == STUN_METHOD_SEND || m == STUN_METHOD_DATA ||
	       m == STUN_METHOD_CREATE_PERMISSION || m == STUN_METHOD_CHANNEL_BIND;
}

bool turn_handle_packet(struct turn_client *t, uint64_t now_us,
			const struct sockaddr *from, const uint8_t *buf, size_t len)
{
	if (!t || !buf || !turn_is_server(t, from) || len == 0)
		return false;
	if (buf[0] >= 0x40 && buf[0] <= 0x4F) {
		on_channel_data(t, buf, len);
		return true;
	}
	if (!stun_is_message(buf, len))
		return false;
	/* Method bits sit in fixed places whatever the class (see stun.h). */
	uint16_t type = (uint16_t)(buf[0] << 8 | buf[1]);
	uint16_t method = (uint16_t)((type & 0x000F) | ((type & 0x00E0) >> 1) |
				     ((type & 0x3E00) >> 2));
	if (!turn_method(method))
		return false;

	struct stun_msg m;
	if (stun_parse(buf, len, &m) != 0) {
		t->stats.dropped_malformed++;
		return true;
	}
	if (m.cls == STUN_CLASS_INDICATION) {
		if (m.method == STUN_METHOD_DATA)
			on_data_ind(t, &m);
		else
			t->stats.dropped_unmatched++;
		return true;
	}
	if (m.cls == STUN_CLASS_REQUEST) {
		t->stats.dropped_unmatched++;
		return true;
	}
	struct txn *x = txn_find_id(t, m.txid);
	if (!x || method_of(x->kind) != m.method) {
		t->stats.dropped_unmatched++;
		return true;
	}
	if (m.cls == STUN_CLASS_ERROR && !m.has_error) {
		t->stats.dropped_malformed++;
		return true;
	}
	/* Integrity: required on everything but 401/438 (RFC 8489 9.2.5), and
	 * checked whenever present with a key we have. */
	bool unsigned_ok = m.cls == STUN_CLASS_ERROR &&
			   (m.error_code == 401 || m.error_code == 438);
	if (m.has_integrity && t->have_key) {
		if (stun_verify_integrity(&m, buf, t->key, sizeof(t->key)) != 0 &&
		    !unsigned_ok) {
			t->stats.dropped_bad_integrity++;
			return true;
		}
	} else if (!unsigned_ok) {
		t->stats.dropped_bad_integrity++;
		return true;
	}
	if (m.n_unknown) {
		/* A comprehension-required attribute we do not know in an
		 * authenticated answer: we cannot act on it (RFC 8489 6.3.3). */
		snprintf(t->reason, sizeof(t->reason),
			 "%s: answer with unknown comprehension-required attribute 0x%04x",
			 kind_name(x->kind), m.unknown[0]);
		txn_failed(t, x, 0, t->reason);
		return true;
	}
	t->stats.responses_accepted++;
	if (m.cls == STUN_CLASS_SUCCESS) {
		x->used = false;
		on_success(t, x, &m, now_us);
	} else {
		on_error(t, x, &m, now_us);
	}
	return true;
}

/* --- time --- */

void turn_tick(struct turn_client *t, uint64_t now_us)
{
	if (!t)
		return;
	for (size_t i = 0; i < MAX_TXN; i++) {
		struct txn *x = &t->txn[i];
		if (!x->used || x->next_us > now_us)
			continue;
		if (x->sends >= t->cfg.max_transmits) {
			snprintf(t->reason, sizeof(t->reason),
				 "%s: timeout: no answer from the TURN server after %u tries",
				 kind_name(x->kind), x->sends);
			txn_failed(t, x, 0, t->reason);
			if (t->state == TURN_STATE_FAILED || t->state == TURN_STATE_CLOSED)
				return;
			continue;
		}
		x->sends++;
		x->rto *= 2;
		x->next_us = now_us + (x->sends == t->cfg.max_transmits
					       ? t->cfg.rto_us * RM : x->rto);
		t->stats.retransmits++;
		send_pkt(t, x->pkt, x->len);
	}
	if (t->state != TURN_STATE_ALLOCATED)
		return;
	if (t->refresh_us <= now_us) {
		t->refresh_us = UINT64_MAX;
		txn_start(t, TXN_REFRESH, -1, now_us);
	}
	for (size_t i = 0; i < t->n_peers; i++) {
		struct peer *p = &t->peers[i];
		if (p->perm_refresh_us <= now_us) {
			p->perm_refresh_us = UINT64_MAX;
			txn_start(t, TXN_PERMISSION, (int)i, now_us);
		}
		if (p->chan_refresh_us <= now_us) {
			p->chan_refresh_us = UINT64_MAX;
			txn_start(t, TXN_CHANNEL, (int)i, now_us);
		}
	}
}

uint64_t turn_next_deadline(const struct turn_client *t)
{
	uint64_t d = UINT64_MAX;
	if (!t)
		return d;
	for (size_t i = 0; i < MAX_TXN; i++)
		if (t->txn[i].used && t->txn[i].next_us < d)
			d = t->txn[i].next_us;
	if (t->state != TURN_STATE_ALLOCATED)
		return d;
	if (t->refresh_us < d)
		d = t->refresh_us;
	for (size_t i = 0; i < t->n_peers; i++) {
		if (t->peers[i].perm_refresh_us < d)
			d = t->peers[i].perm_refresh_us;
		if (t->peers[i].chan_refresh_us < d)
			d = t->peers[i].chan_refresh_us;
	}
	return d;
}

/* --- accessors --- */

int turn_relayed_address(const struct turn_client *t, struct sockaddr_storage *out)
{
	if (!t || !out)
		return -EINVAL;
	if (t->state != TURN_STATE_ALLOCATED)
		return -ENOTCONN;
	*out = t->relayed;
	return 0;
}

int turn_mapped_address(const struct turn_client *t, struct sockaddr_storage *out)
{
	if (!t || !out)
		return -EINVAL;
	if (t->state != TURN_STATE_ALLOCATED || !t->have_mapped)
		return -ENOTCONN;
	*out = t->mapped;
	return 0;
}

bool turn_is_server(const struct turn_client *t, const struct sockaddr *from)
{
	return t && from && ice_addr_equal(from, (const struct sockaddr *)&t->server);
}

enum turn_state turn_get_state(const struct turn_client *t)
{
	return t->state;
}

const struct turn_stats *turn_get_stats(const struct turn_client *t)
{
	return &t->stats;
}

const char *turn_state_name(enum turn_state s)
{
	static const char *const names[] = { "new", "allocating", "allocated",
					     "closing", "closed", "failed" };
	return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "?";
}

int turn_parse_uri(const char *s, char *user, size_t usercap, char *pass,
		   size_t passcap, char *host, size_t hostcap, uint16_t *port)
{
	if (!s || !user || !pass || !host || !port)
		return -EINVAL;
	const char *at = strrchr(s, '@');
	const char *colon = strchr(s, ':');
	if (!at || !colon || colon > at || colon == s)
		return -EINVAL;
	size_t ul = (size_t)(colon - s), pl = (size_t)(at - colon - 1);

	const char *h = at + 1, *p = NULL;
	size_t hl;
	if (*h == '[') {
		const char *close = strchr(h, ']');
		if (!close)
			return -EINVAL;
		h++;
		hl = (size_t)(close - h);
		if (close[1] == ':')
			p = close + 2;
		else if (close[1] != '\0')
			return -EINVAL;
		/* an IPv6 literal: hex digits, ':' and '.' (v4 tail) only */
		for (size_t i = 0; i < hl; i++)
			if (!strchr("0123456789abcdefABCDEF:.", h[i]))
				return -EINVAL;
	} else {
		const char *c = strchr(h, ':');
		hl = c ? (size_t)(c - h) : strlen(h);
		if (c)
			p = c + 1;
		/* a name or an IPv4 literal (RFC 1123 characters) */
		for (size_t i = 0; i < hl; i++)
			if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-",
				    h[i]))
				return -EINVAL;
	}
	if (hl == 0)
		return -EINVAL;
	unsigned long pn = 3478;
	if (p) {
		char *end;
		if (*p < '0' || *p > '9')
			return -EINVAL;
		pn = strtoul(p, &end, 10);
		if (*end || pn == 0 || pn > 65535)
			return -EINVAL;
	}
	if (ul >= usercap || pl >= passcap || hl >= hostcap)
		return -ENOSPC;
	memcpy(user, s, ul);
	user[ul] = '\0';
	memcpy(pass, colon + 1, pl);
	pass[pl] = '\0';
	memcpy(host, h, hl);
	host[hl] = '\0';
	*port = (uint16_t)pn;
	return 0;
}
