/* Per-call UDP relay; see relay.h. Allocations are found by either
 * party's token (hex string key in a strmap) and by call id. */
#include "p2pcall/relay.h"
#include "p2pcall/strmap.h"

#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct alloc;

struct party {
	struct alloc *a;
	int idx;
	char key[2 * RELAY_TOKEN_LEN + 1]; /* hex token: the strmap key */
	struct sockaddr_storage addr;
	bool bound;
	double bucket;                     /* bytes */
	uint64_t refill_us;
};

struct alloc {
	char id[24]; /* call id as text: the strmap key */
	struct party p[2];
};

struct relay {
	struct relay_config cfg;
	struct strmap *by_token; /* hex token -> struct party */
	struct strmap *by_call;  /* call id -> struct alloc */
	struct relay_stats stats;
};

int relay_new(struct relay **out, const struct relay_config *cfg)
{
	struct relay *r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	if (cfg)
		r->cfg = *cfg;
	if (!r->cfg.max_calls)
		r->cfg.max_calls = 10000;
	if (!r->cfg.rate_bytes_per_s)
		r->cfg.rate_bytes_per_s = 32000;
	if (!r->cfg.burst_bytes)
		r->cfg.burst_bytes = 16000;
	if (strmap_new(&r->by_token) < 0 || strmap_new(&r->by_call) < 0) {
		relay_free(r);
		return -ENOMEM;
	}
	*out = r;
	return 0;
}

static void free_alloc(void *ctx, const char *key, void *val) { free(val); }

void relay_free(struct relay *r)
{
	if (!r)
		return;
	if (r->by_call)
		strmap_each(r->by_call, free_alloc, NULL);
	strmap_free(r->by_call);
	strmap_free(r->by_token);
	free(r);
}

const struct relay_stats *relay_stats(const struct relay *r) { return &r->stats; }

static void hex(char *out, const uint8_t *tok)
{
	static const char digits[] = "0123456789abcdef";
	for (int i = 0; i < RELAY_TOKEN_LEN; i++) {
		out[2 * i] = digits[tok[i] >> 4];
		out[2 * i + 1] = digits[tok[i] & 15];
	}
	out[2 * RELAY_TOKEN_LEN] = '\0';
}

int relay_alloc(struct relay *r, uint64_t call_id, const uint8_t tok_caller[RELAY_TOKEN_LEN],
		const uint8_t tok_callee[RELAY_TOKEN_LEN])
{
	char id[24];
	snprintf(id, sizeof(id), "%" PRIu64, call_id);
	if (strmap_get(r->by_call, id))
		return -EEXIST;
	if (strmap_count(r->by_call) >= r->cfg.max_calls)
		return -ENOSPC;
	struct alloc *a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	memcpy(a->id, id, sizeof(id));
	const uint8_t *toks[2] = { tok_caller, tok_callee };
	for (int i = 0; i < 2; i++) {
		a->p[i].a = a;
		a->p[i].idx = i;
		a->p[i].bucket = r->cfg.burst_bytes;
		hex(a->p[i].key, toks[i]);
	}
	if (strcmp(a->p[0].key, a->p[1].key) == 0 || strmap_get(r->by_token, a->p[0].key) ||
	    strmap_get(r->by_token, a->p[1].key)) {
		free(a); /* tokens must be unique: the caller draws again */
		return -EEXIST;
	}
	if (strmap_put(r->by_call, a->id, a) < 0 || strmap_put(r->by_token, a->p[0].key, &a->p[0]) < 0 ||
	    strmap_put(r->by_token, a->p[1].key, &a->p[1]) < 0) {
		strmap_del(r->by_call, a->id);
		strmap_del(r->by_token, a->p[0].key);
		free(a);
		return -ENOMEM;
	}
	r->stats.allocations++;
	r->stats.active++;
	return 0;
}

void relay_release(struct relay *r, uint64_t call_id)
{
	char id[24];
	snprintf(id, sizeof(id), "%" PRIu64, call_id);
	struct alloc *a = strmap_del(r->by_call, id);
	if (!a)
		return;
	strmap_del(r->by_token, a->p[0].key);
	strmap_del(r->by_token, a->p[1].key);
	free(a);
	r->stats.active--;
}

int relay_is_frame(const uint8_t *buf, size_t len)
{
	return len >= RELAY_HDR && buf[0] == RELAY_TO_SERVER;
}

/* Token bucket: RATE bytes/s, at most BURST saved up. */
static bool rate_ok(const struct relay *r, struct party *p, uint64_t now, size_t bytes)
{
	if (now > p->refill_us) {
		p->bucket += (double)(now - p->refill_us) * r->cfg.rate_bytes_per_s / 1e6;
		p->refill_us = now;
	}
	if (p->bucket > r->cfg.burst_bytes)
		p->bucket = r->cfg.burst_bytes;
	if (p->bucket < (double)bytes)
		return false;
	p->bucket -= (double)bytes;
	return true;
}

size_t relay_handle(struct relay *r, uint64_t now, const struct sockaddr *from,
		    const uint8_t *buf, size_t len, uint8_t *out, struct sockaddr_storage *dest)
{
	if (len < RELAY_HDR + RELAY_TOKEN_LEN || buf[0] != RELAY_TO_SERVER || buf[1] || buf[2] || buf[3] ||
	    (from->sa_family != AF_INET && from->sa_family != AF_INET6)) {
		r->stats.dropped_malformed++;
		return 0;
	}
	char key[2 * RELAY_TOKEN_LEN + 1];
	hex(key, buf + RELAY_HDR);
	struct party *me = strmap_get(r->by_token, key);
	if (!me) {
		r->stats.dropped_bad_token++;
		return 0;
	}
	struct party *peer = &me->a->p[!me->idx];
	if (!rate_ok(r, me, now, len)) {
		r->stats.dropped_rate++;
		return 0;
	}
	size_t fromlen = from->sa_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
	memset(&me->addr, 0, sizeof(me->addr));
	memcpy(&me->addr, from, fromlen);
	me->bound = true;

	size_t payload = len - RELAY_HDR - RELAY_TOKEN_LEN;
	if (payload == 0) {
		/* A bind: acknowledged to the sender, same size as its frame. */
		memcpy(out, buf, len);
		out[0] = RELAY_BOUND;
		*dest = me->addr;
		return len;
	}
	if (!peer->bound) {
		r->stats.dropped_unbound_peer++;
		return 0;
	}
	out[0] = RELAY_FROM_PEER;
	out[1] = out[2] = out[3] = 0;
	memcpy(out + RELAY_HDR, buf + RELAY_HDR + RELAY_TOKEN_LEN, payload);
	*dest = peer->addr;
	r->stats.forwarded++;
	r->stats.forwarded_bytes += payload;
	return RELAY_HDR + payload;
}
