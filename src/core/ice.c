/* Connectivity-check agent: see include/p2pcall/ice.h for the model. */
#include "p2pcall/ice.h"
#include "p2pcall/prng.h"
#include "p2pcall/strcopy.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "p2pcall/stun.h"

#define MAX_LOCAL 8
#define MAX_REMOTE 32
#define MAX_TXN 96
#define MAX_UFRAG 64
#define MAX_PWD 128
#define PKT_MAX 320

enum pair_state {
	PAIR_WAITING,
	PAIR_IN_PROGRESS,
	PAIR_SUCCEEDED,
	PAIR_FAILED,
};

/* One pair per remote candidate (same index); see the header for why. */
struct pair {
	enum pair_state state;
	int valid_local;          /* local cand seen in the response, or -1 */
	bool nominate_on_success; /* controlled: peer sent USE-CANDIDATE */
	bool triggered;           /* queued for a triggered check */
	bool rebind;              /* learnt after selection: adopt on success */
	bool no_local;            /* failed for want of a local candidate */
	uint64_t heard_us;        /* last authenticated request from there */
	bool heard;
};

enum txn_kind { TXN_CHECK, TXN_NOMINATE, TXN_CONSENT };

struct txn {
	bool used;
	/* Answered, timed out or cancelled, but kept a while so that late
	 * or duplicate answers are recognised as ours and absorbed. */
	bool done;
	enum txn_kind kind;
	int pair;
	uint8_t txid[STUN_TXID_LEN];
	unsigned sends;
	uint64_t start_us;
	uint64_t rto;
	uint64_t next_us;
	uint8_t pkt[PKT_MAX];
	size_t len;
};

struct ice_agent {
	struct ice_config cfg;
	char lufrag[MAX_UFRAG + 1], lpwd[MAX_PWD + 1];
	char rufrag[MAX_UFRAG + 1], rpwd[MAX_PWD + 1];
	bool have_remote;
	enum ice_role role;
	uint64_t tiebreaker;
	uint64_t prng;

	struct ice_cand local[MAX_LOCAL];
	size_t n_local;
	struct ice_cand remote[MAX_REMOTE];
	struct pair pairs[MAX_REMOTE];
	size_t n_remote;
	int trig[MAX_REMOTE]; /* FIFO of pair indices */
	size_t n_trig;
	struct txn txn[MAX_TXN];

	enum ice_state state;
	bool hold; /* ice_hold(): not failed while a pair may still appear */
	uint64_t start_us;
	uint64_t next_pace_us;
	int nominating; /* pair with a nomination in flight, or -1 */
	int selected;   /* pair index, or -1 */
	struct ice_cand sel_local;
	uint64_t last_sent_us, last_consent_us, next_consent_us;

	struct ice_stats stats;
};

/* --- small helpers --- */

static void rnd(struct ice_agent *a, void *buf, size_t len)
{
	if (a->cfg.random_cb)
		a->cfg.random_cb(a->cfg.ctx, buf, len);
	else
		prng_fill(&a->prng, buf, len);
}

static void send_to(struct ice_agent *a, const struct sockaddr_storage *to,
		    const uint8_t *buf, size_t len, uint64_t now)
{
	const struct sockaddr *sa = (const struct sockaddr *)to;
	a->cfg.send_cb(a->cfg.ctx, sa, ice_addr_len(sa), buf, len);
	if (a->selected >= 0 &&
	    ice_addr_equal(sa, (const struct sockaddr *)&a->remote[a->selected].addr))
		a->last_sent_us = now;
}

static void emit(struct ice_agent *a, enum ice_event_type t, const char *reason)
{
	struct ice_event ev = { .type = t, .reason = reason };
	if (a->selected >= 0) {
		ev.local = &a->sel_local;
		ev.remote = &a->remote[a->selected];
	}
	if (a->cfg.event_cb)
		a->cfg.event_cb(a->cfg.ctx, &ev);
}

/* The best local candidate (host first, then srflx; never relay) of the
 * family of remote i: the pair's local side. -1 if none. */
static int pair_local(const struct ice_agent *a, size_t i)
{
	int best = -1;
	sa_family_t fam = a->remote[i].addr.ss_family;
	for (size_t k = 0; k < a->n_local; k++) {
		const struct ice_cand *c = &a->local[k];
		if (c->addr.ss_family != fam ||
		    (c->type != ICE_CAND_HOST && c->type != ICE_CAND_SRFLX))
			continue;
		if (best < 0 || c->priority > a->local[best].priority)
			best = (int)k;
	}
	return best;
}

static uint64_t pair_prio(const struct ice_agent *a, size_t i)
{
	int l = pair_local(a, i);
	uint32_t lp = l >= 0 ? a->local[l].priority : 0;
	uint32_t rp = a->remote[i].priority;
	return a->role == ICE_CONTROLLING ? ice_pair_priority(lp, rp)
					  : ice_pair_priority(rp, lp);
}

static int find_remote(const struct ice_agent *a, const struct sockaddr *sa)
{
	for (size_t i = 0; i < a->n_remote; i++)
		if (ice_addr_equal(sa, (const struct sockaddr *)&a->remote[i].addr))
			return (int)i;
	return -1;
}

static int find_local(const struct ice_agent *a, const struct sockaddr *sa)
{
	for (size_t i = 0; i < a->n_local; i++)
		if (ice_addr_equal(sa, (const struct sockaddr *)&a->local[i].addr))
			return (int)i;
	return -1;
}

static struct txn *find_txn(struct ice_agent *a, const uint8_t *txid)
{
	for (size_t i = 0; i < MAX_TXN; i++)
		if (a->txn[i].used && memcmp(a->txn[i].txid, txid, STUN_TXID_LEN) == 0)
			return &a->txn[i];
	return NULL;
}

static bool pair_busy(const struct ice_agent *a, int p)
{
	for (size_t i = 0; i < MAX_TXN; i++)
		if (a->txn[i].used && !a->txn[i].done && a->txn[i].pair == p &&
		    a->txn[i].kind != TXN_CONSENT)
			return true;
	return false;
}

static void retire(struct ice_agent *a, struct txn *t, uint64_t now)
{
	t->done = true;
	t->next_us = now + 2 * a->cfg.rto_max_us;
}

static void cancel_checks(struct ice_agent *a, uint64_t now)
{
	for (size_t i = 0; i < MAX_TXN; i++)
		if (a->txn[i].used && !a->txn[i].done && a->txn[i].kind != TXN_CONSENT)
			retire(a, &a->txn[i], now);
	a->n_trig = 0;
	for (size_t i = 0; i < a->n_remote; i++)
		a->pairs[i].triggered = false;
}

static bool valid_cand(const struct ice_cand *c)
{
	return c && (unsigned)c->type <= ICE_CAND_RELAY &&
	       (c->addr.ss_family == AF_INET || c->addr.ss_family == AF_INET6);
}

/* --- construction --- */

int ice_new(struct ice_agent **out, const struct ice_config *cfg)
{
	struct ice_agent *a = NULL;
	int r = -EINVAL;

	if (!out || !cfg || !cfg->send_cb ||
	    (cfg->role != ICE_CONTROLLING && cfg->role != ICE_CONTROLLED))
		goto out;
	a = calloc(1, sizeof(*a));
	if (!a) {
		r = -ENOMEM;
		goto out;
	}
	a->cfg = *cfg;
	if (!strcopy_bounded(a->lufrag, sizeof(a->lufrag), cfg->local_ufrag, 4) ||
	    strchr(a->lufrag, ':') ||
	    !strcopy_bounded(a->lpwd, sizeof(a->lpwd), cfg->local_pwd, 1))
		goto out;
	/* The strings now live in the agent. */
	a->cfg.local_ufrag = a->cfg.local_pwd = NULL;
	a->cfg.remote_ufrag = a->cfg.remote_pwd = NULL;
	if (cfg->remote_ufrag || cfg->remote_pwd) {
		if (!strcopy_bounded(a->rufrag, sizeof(a->rufrag), cfg->remote_ufrag, 1) ||
		    strchr(a->rufrag, ':') ||
		    !strcopy_bounded(a->rpwd, sizeof(a->rpwd), cfg->remote_pwd, 1))
			goto out;
		a->have_remote = true;
	}
	struct ice_config *c = &a->cfg;
	if (!c->pace_us)
		c->pace_us = 5000;
	if (!c->rto_us)
		c->rto_us = 100000;
	if (!c->rto_max_us)
		c->rto_max_us = 1600000;
	if (!c->max_transmits)
		c->max_transmits = 6;
	if (!c->check_timeout_us)
		c->check_timeout_us = 10000000;
	if (!c->keepalive_us)
		c->keepalive_us = 15000000;
	if (!c->consent_interval_us)
		c->consent_interval_us = 5000000;
	if (!c->consent_timeout_us)
		c->consent_timeout_us = 30000000;
	a->prng = cfg->seed ? cfg->seed : 0x9E3779B97F4A7C15ull;
	a->role = cfg->role;
	rnd(a, &a->tiebreaker, sizeof(a->tiebreaker));
	a->state = ICE_STATE_NEW;
	a->nominating = -1;
	a->selected = -1;
	*out = a;
	a = NULL;
	r = 0;
out:
	free(a);
	return r;
}

void ice_free(struct ice_agent *a)
{
	free(a);
}

int ice_set_remote(struct ice_agent *a, const char *ufrag, const char *pwd)
{
	char u[MAX_UFRAG + 1], p[MAX_PWD + 1];

	if (!a || !strcopy_bounded(u, sizeof(u), ufrag, 1) || strchr(u, ':') ||
	    !strcopy_bounded(p, sizeof(p), pwd, 1))
		return -EINVAL;
	memcpy(a->rufrag, u, sizeof(u));
	memcpy(a->rpwd, p, sizeof(p));
	a->have_remote = true;
	return 0;
}

int ice_add_local(struct ice_agent *a, const struct ice_cand *c)
{
	if (!a || !valid_cand(c))
		return -EINVAL;
	int i = find_local(a, (const struct sockaddr *)&c->addr);
	struct ice_cand n = *c;
	if (!n.priority)
		n.priority = ice_priority(n.type, (uint16_t)(65535 - a->n_local), 1);
	if (i >= 0) {
		if (n.priority > a->local[i].priority)
			a->local[i] = n;
		return 0;
	}
	if (a->n_local >= MAX_LOCAL)
		return -ENOSPC;
	a->local[a->n_local++] = n;
	/* Pairs that were waiting for a local candidate of this family. */
	for (size_t k = 0; k < a->n_remote; k++) {
		if (a->pairs[k].no_local && pair_local(a, k) >= 0) {
			a->pairs[k].no_local = false;
			a->pairs[k].state = PAIR_WAITING;
		}
	}
	return 0;
}

/* Adds a remote candidate with its pair; returns its index or -errno. */
static void start_txn(struct ice_agent *a, int p, enum txn_kind kind, uint64_t now);

static int add_remote(struct ice_agent *a, const struct ice_cand *c)
{
	int i = find_remote(a, (const struct sockaddr *)&c->addr);
	if (i >= 0) {
		if (c->priority > a->remote[i].priority)
			a->remote[i].priority = c->priority;
		return i;
	}
	if (a->n_remote >= MAX_REMOTE)
		return -ENOSPC;
	i = (int)a->n_remote++;
	a->remote[i] = *c;
	a->pairs[i] = (struct pair){ .state = PAIR_WAITING, .valid_local = -1 };
	/* A pair whose family we have no local candidate for cannot work
	 * (until one is added). */
	if (a->n_local > 0 && pair_local(a, (size_t)i) < 0) {
		a->pairs[i].state = PAIR_FAILED;
		a->pairs[i].no_local = true;
	}
	return i;
}

int ice_add_remote(struct ice_agent *a, const struct ice_cand *c)
{
	if (!a || !valid_cand(c))
		return -EINVAL;
	struct ice_cand n = *c;
	if (!n.priority)
		n.priority = ice_priority(n.type, (uint16_t)(65535 - a->n_remote), 1);
	int r = add_remote(a, &n);
	return r < 0 ? r : 0;
}

int ice_probe_remote(struct ice_agent *a, uint64_t now_us, const struct ice_cand *c)
{
	if (!a || !valid_cand(c))
		return -EINVAL;
	struct ice_cand n = *c;
	if (!n.priority)
		n.priority = ice_priority(n.type, (uint16_t)(65535 - a->n_remote), 1);
	int p = add_remote(a, &n);
	if (p < 0)
		return p;
	if (a->state == ICE_STATE_CONNECTED && p != a->selected && !a->pairs[p].no_local) {
		/* Checked now, unpaced; adopted on success like a rebinding
		 * learnt from the peer's own request. */
		a->pairs[p].state = PAIR_WAITING;
		a->pairs[p].rebind = true;
		start_txn(a, p, TXN_CHECK, now_us);
	} else if (a->state == ICE_STATE_CHECKING && a->pairs[p].state != PAIR_SUCCEEDED &&
		   !a->pairs[p].no_local) {
		/* A path just opened towards it (birthday probing): check now
		 * rather than after the backed-off retransmission of an older
		 * check that went nowhere. */
		for (size_t i = 0; i < MAX_TXN; i++)
			if (a->txn[i].used && !a->txn[i].done && a->txn[i].pair == p &&
			    a->txn[i].kind == TXN_CHECK)
				retire(a, &a->txn[i], now_us);
		start_txn(a, p, TXN_CHECK, now_us);
	}
	return 0;
}

int ice_add_remote_str(struct ice_agent *a, const char *s)
{
	struct ice_cand c;
	int r = ice_cand_parse(s, &c);
	if (r < 0)
		return r;
	c.priority = 0;
	return ice_add_remote(a, &c);
}

/* --- sending checks --- */

/* PRIORITY of a check: what a peer-reflexive candidate learnt from it
 * would get (RFC 8445 7.1.1). */
static uint32_t check_priority(const struct ice_agent *a, int p)
{
	int l = pair_local(a, (size_t)p);
	uint16_t lp = l >= 0 ? (uint16_t)((a->local[l].priority >> 8) & 0xFFFF) : 65535;
	return ice_priority(ICE_CAND_PRFLX, lp, 1);
}

static void start_txn(struct ice_agent *a, int p, enum txn_kind kind,
		      uint64_t now)
{
	struct txn *t = NULL;
	char user[2 * MAX_UFRAG + 2];

	if (!a->have_remote)
		return;
	for (size_t i = 0; i < MAX_TXN; i++) {
		if (!a->txn[i].used) {
			t = &a->txn[i];
			break;
		}
	}
	if (!t) {
		a->stats.dropped_other++;
		return;
	}
	memset(t, 0, sizeof(*t));
	rnd(a, t->txid, STUN_TXID_LEN);
	strcpy(user, a->rufrag);
	strcat(user, ":");
	strcat(user, a->lufrag);
	struct stun_binding_opts o = {
		.username = user,
		.key = (const uint8_t *)a->rpwd,
		.keylen = strlen(a->rpwd),
		.priority = check_priority(a, p),
		.use_candidate = kind == TXN_NOMINATE,
		.ice_controlling = a->role == ICE_CONTROLLING,
		.ice_controlled = a->role == ICE_CONTROLLED,
		.tiebreaker = a->tiebreaker,
	};
	ssize_t n = stun_build_binding_request(t->pkt, sizeof(t->pkt), t->txid, &o);
	if (n < 0)
		return;
	t->used = true;
	t->kind = kind;
	t->pair = p;
	t->len = (size_t)n;
	t->sends = 1;
	t->start_us = now;
	t->rto = a->cfg.rto_us;
	/* Consent checks are retransmitted too (RFC 7675 section 5.1): on a
	 * lossy path single requests would let consent lapse. */
	t->next_us = now + t->rto;
	/* A nomination goes over a pair that already succeeded: it stays so. */
	if (kind == TXN_CHECK)
		a->pairs[p].state = PAIR_IN_PROGRESS;
	if (kind == TXN_CONSENT)
		a->stats.consent_sent++;
	else
		a->stats.checks_sent++;
	send_to(a, &a->remote[p].addr, t->pkt, t->len, now);
}

static void select_pair(struct ice_agent *a, int p, uint64_t now)
{
	int l = a->pairs[p].valid_local >= 0 ? a->pairs[p].valid_local
					     : pair_local(a, (size_t)p);
	a->selected = p;
	if (l >= 0)
		a->sel_local = a->local[l];
	a->state = ICE_STATE_CONNECTED;
	a->nominating = -1;
	cancel_checks(a, now);
	a->last_sent_us = now;
	a->last_consent_us = now;
	uint64_t r = 0;
	rnd(a, &r, sizeof(r));
	uint64_t iv = a->cfg.consent_interval_us;
	/* RFC 7675: randomised 0.8..1.2 x the interval. */
	a->next_consent_us = iv == ICE_NEVER ? ICE_NEVER
					     : now + iv * 4 / 5 + (iv ? r % (iv * 2 / 5 + 1) : 0);
	emit(a, ICE_EVENT_SELECTED, NULL);
}

int ice_start(struct ice_agent *a, uint64_t now_us)
{
	if (!a || !a->have_remote)
		return -EINVAL;
	if (a->state != ICE_STATE_NEW)
		return -EALREADY;
	a->state = ICE_STATE_CHECKING;
	a->start_us = now_us;
	a->next_pace_us = now_us;
	/* Pairs added before any local candidate: re-check the families. */
	for (size_t i = 0; i < a->n_remote; i++) {
		if (a->pairs[i].state == PAIR_WAITING && pair_local(a, i) < 0) {
			a->pairs[i].state = PAIR_FAILED;
			a->pairs[i].no_local = true;
		}
	}
	/* The peer nominated a pair while we were not started yet. */
	if (a->role == ICE_CONTROLLED) {
		for (size_t i = 0; i < a->n_remote; i++) {
			if (a->pairs[i].nominate_on_success) {
				select_pair(a, (int)i, now_us);
				return 0;
			}
		}
	}
	ice_tick(a, now_us);
	return 0;
}

/* --- answering --- */

static void respond(struct ice_agent *a, const struct stun_msg *m,
		    const struct sockaddr *from, uint16_t err, uint64_t now)
{
	uint8_t buf[PKT_MAX];
	struct stun_writer w;
	struct sockaddr_storage to;

	stun_writer_init(&w, buf, sizeof(buf), STUN_METHOD_BINDING,
			 err ? STUN_CLASS_ERROR : STUN_CLASS_SUCCESS, m->txid);
	if (err)
		stun_put_error(&w, err, err == 487 ? "Role Conflict" : NULL);
	else
		stun_put_xor_address(&w, STUN_ATTR_XOR_MAPPED_ADDRESS, from);
	stun_put_integrity(&w, (const uint8_t *)a->lpwd, strlen(a->lpwd));
	ssize_t n = stun_writer_finish(&w, true);
	if (n < 0)
		return;
	memset(&to, 0, sizeof(to));
	memcpy(&to, from, ice_addr_len(from));
	send_to(a, &to, buf, (size_t)n, now);
}

/* RFC 8445 7.3.1.1. Returns true if the request must be answered with 487
 * and not processed further. */
static bool role_conflict(struct ice_agent *a, const struct stun_msg *m)
{
	if (a->role == ICE_CONTROLLING && m->has_ice_controlling) {
		a->stats.role_conflicts++;
		if (a->tiebreaker >= m->ice_controlling)
			return true;
		a->role = ICE_CONTROLLED;
	} else if (a->role == ICE_CONTROLLED && m->has_ice_controlled) {
		a->stats.role_conflicts++;
		if (a->tiebreaker >= m->ice_controlled) {
			a->role = ICE_CONTROLLING;
		} else {
			return true;
		}
	}
	return false;
}

static void enqueue_triggered(struct ice_agent *a, int p)
{
	struct pair *pr = &a->pairs[p];
	if (pr->triggered || pr->state == PAIR_SUCCEEDED || pair_busy(a, p))
		return;
	pr->state = PAIR_WAITING;
	pr->triggered = true;
	a->trig[a->n_trig++] = p;
}

/* USERNAME must be "ourufrag:theirufrag" (theirs checked when known),
 * MESSAGE-INTEGRITY keyed with our password. */
static bool credentials_ok(const struct ice_agent *a, const struct stun_msg *m, const uint8_t *buf)
{
	size_t lu = strlen(a->lufrag);
	return m->username && m->username_len > lu && memcmp(m->username, a->lufrag, lu) == 0 &&
	       m->username[lu] == ':' &&
	       (!a->have_remote ||
		(m->username_len - lu - 1 == strlen(a->rufrag) &&
		 memcmp(m->username + lu + 1, a->rufrag, m->username_len - lu - 1) == 0)) &&
	       stun_verify_integrity(m, buf, (const uint8_t *)a->lpwd, strlen(a->lpwd)) == 0;
}

bool ice_authentic_request(const struct ice_agent *a, const uint8_t *buf, size_t len)
{
	struct stun_msg m;
	return a && buf && stun_is_message(buf, len) && stun_parse(buf, len, &m) == 0 &&
	       m.method == STUN_METHOD_BINDING && m.cls == STUN_CLASS_REQUEST && credentials_ok(a, &m, buf);
}

bool ice_authentic_response(const struct ice_agent *a, const uint8_t *buf, size_t len)
{
	struct stun_msg m;
	return a && buf && a->have_remote && stun_is_message(buf, len) && stun_parse(buf, len, &m) == 0 &&
	       m.method == STUN_METHOD_BINDING && m.cls == STUN_CLASS_SUCCESS &&
	       stun_verify_integrity(&m, buf, (const uint8_t *)a->rpwd, strlen(a->rpwd)) == 0;
}

ssize_t ice_build_probe(struct ice_agent *a, uint8_t *buf, size_t cap)
{
	char user[2 * MAX_UFRAG + 2];
	uint8_t txid[STUN_TXID_LEN];
	if (!a || !buf || !a->have_remote)
		return -EINVAL;
	rnd(a, txid, sizeof(txid));
	snprintf(user, sizeof(user), "%s:%s", a->rufrag, a->lufrag);
	struct stun_binding_opts o = {
		.username = user,
		.key = (const uint8_t *)a->rpwd,
		.keylen = strlen(a->rpwd),
		.priority = ice_priority(ICE_CAND_PRFLX, 65535, 1),
		.ice_controlling = a->role == ICE_CONTROLLING,
		.ice_controlled = a->role == ICE_CONTROLLED,
		.tiebreaker = a->tiebreaker,
	};
	ssize_t n = stun_build_binding_request(buf, cap, txid, &o);
	return n < 0 ? -ENOSPC : n;
}

void ice_hold(struct ice_agent *a, bool on)
{
	if (a)
		a->hold = on;
}

static void handle_request(struct ice_agent *a, uint64_t now,
			   const struct sockaddr *from, const uint8_t *buf,
			   const struct stun_msg *m)
{
	if (!credentials_ok(a, m, buf)) {
		a->stats.dropped_bad_credentials++;
		return;
	}
	if (m->n_unknown) {
		a->stats.dropped_malformed++;
		return;
	}
	a->stats.requests_received++;
	if (role_conflict(a, m)) {
		respond(a, m, from, 487, now);
		return;
	}
	if (a->state == ICE_STATE_FAILED || a->state == ICE_STATE_CONSENT_LOST)
		return;

	int p = find_remote(a, from);
	bool learnt = false;
	if (p < 0) {
		struct ice_cand c = { .type = ICE_CAND_PRFLX };
		memcpy(&c.addr, from, ice_addr_len(from));
		c.priority = m->has_priority ? m->priority
					     : ice_priority(ICE_CAND_PRFLX, 65535, 1);
		p = add_remote(a, &c);
		if (p < 0) {
			a->stats.dropped_other++;
			return;
		}
		a->stats.prflx_learned++;
		learnt = true;
	}
	respond(a, m, from, 0, now);
	a->pairs[p].heard = true;
	a->pairs[p].heard_us = now;

	if (a->state == ICE_STATE_CONNECTED) {
		/* NAT rebinding: the peer speaks from an address we did not
		 * know; check it now (unpaced) and adopt it on success. */
		if (learnt) {
			a->pairs[p].rebind = true;
			start_txn(a, p, TXN_CHECK, now);
		}
		return;
	}
	if (m->use_candidate && a->role == ICE_CONTROLLED) {
		/* The controlling side only nominates a pair on which it got
		 * our answer, so an authenticated USE-CANDIDATE proves both
		 * directions: select now rather than wait for our own check,
		 * which may be lost (RFC 8445 would wait; on a lossy path that
		 * waiting can fail a working call). Before ice_start, remember
		 * it for then. */
		if (a->state == ICE_STATE_CHECKING) {
			select_pair(a, p, now);
			return;
		}
		a->pairs[p].nominate_on_success = true;
	}
	if (a->pairs[p].state == PAIR_FAILED && pair_local(a, (size_t)p) < 0)
		return;
	enqueue_triggered(a, p);
}

/* --- responses --- */

static void pair_failed(struct ice_agent *a, int p)
{
	if (a->pairs[p].state != PAIR_FAILED)
		a->stats.pairs_failed++;
	a->pairs[p].state = PAIR_FAILED;
	if (a->nominating == p)
		a->nominating = -1;
}

/* The local candidate with address ma, added as peer-reflexive if new
 * (RFC 8445 7.2.5.3.1). -1 if the table is full. */
static int learn_local(struct ice_agent *a, const struct sockaddr_storage *ma, int p)
{
	int l = find_local(a, (const struct sockaddr *)ma);
	if (l < 0 && a->n_local < MAX_LOCAL) {
		struct ice_cand c = { .type = ICE_CAND_PRFLX,
				      .addr = *ma,
				      .priority = check_priority(a, p) };
		a->local[a->n_local] = c;
		l = (int)a->n_local++;
	}
	return l;
}

static void handle_response(struct ice_agent *a, uint64_t now,
			    const struct sockaddr *from, const uint8_t *buf,
			    const struct stun_msg *m, struct txn *t)
{
	if (stun_verify_integrity(m, buf, (const uint8_t *)a->rpwd,
				  strlen(a->rpwd)) != 0) {
		a->stats.dropped_bad_credentials++;
		return;
	}
	int p = t->pair;
	enum txn_kind kind = t->kind;
	if (t->done) {
		/* A late answer to a check cancelled by the selection of its
		 * own pair still counts: consent, and how the peer sees us. */
		a->stats.late_responses++;
		if (a->state != ICE_STATE_CONNECTED || p != a->selected ||
		    m->cls != STUN_CLASS_SUCCESS ||
		    !ice_addr_equal(from, (const struct sockaddr *)&a->remote[p].addr))
			return;
		kind = TXN_CONSENT;
	} else {
		a->stats.responses_received++;
		retire(a, t, now);
	}

	if (!ice_addr_equal(from, (const struct sockaddr *)&a->remote[p].addr)) {
		/* RFC 8445 7.2.5.2.1: non-symmetric, the pair fails. */
		a->stats.dropped_other++;
		if (kind != TXN_CONSENT)
			pair_failed(a, p);
		return;
	}
	if (m->cls == STUN_CLASS_ERROR) {
		if (m->has_error && m->error_code == 487 && kind != TXN_CONSENT) {
			a->role = a->role == ICE_CONTROLLING ? ICE_CONTROLLED
							     : ICE_CONTROLLING;
			a->stats.role_conflicts++;
			a->pairs[p].state = PAIR_WAITING;
			if (kind == TXN_NOMINATE)
				a->nominating = -1;
			enqueue_triggered(a, p);
		} else if (kind != TXN_CONSENT) {
			pair_failed(a, p);
		}
		return;
	}
	if (a->state == ICE_STATE_CONNECTED && p == a->selected) {
		a->last_consent_us = now;
		/* Our own NAT may have rebound: the peer tells us how it
		 * sees us now. */
		if (m->has_xor_mapped &&
		    !ice_addr_equal((const struct sockaddr *)&m->xor_mapped,
				    (const struct sockaddr *)&a->sel_local.addr)) {
			int l = learn_local(a, &m->xor_mapped, p);
			if (l >= 0)
				a->sel_local = a->local[l];
		}
		return;
	}
	if (kind == TXN_CONSENT)
		return;

	/* The address the peer saw: our local candidate for this pair,
	 * possibly a new peer-reflexive one (e.g. behind a symmetric NAT). */
	if (m->has_xor_mapped || m->has_mapped)
		a->pairs[p].valid_local =
			learn_local(a, m->has_xor_mapped ? &m->xor_mapped : &m->mapped, p);
	a->pairs[p].state = PAIR_SUCCEEDED;

	if (a->state == ICE_STATE_CONNECTED) {
		if (a->pairs[p].rebind) {
			a->pairs[p].rebind = false;
			int l = a->pairs[p].valid_local;
			a->selected = p;
			if (l >= 0)
				a->sel_local = a->local[l];
			a->last_consent_us = now;
			emit(a, ICE_EVENT_REMOTE_CHANGED, NULL);
		}
		return;
	}
	if (a->state != ICE_STATE_CHECKING && a->state != ICE_STATE_NEW)
		return;
	if (kind == TXN_NOMINATE) {
		select_pair(a, p, now);
		return;
	}
	if (a->role == ICE_CONTROLLED && a->pairs[p].nominate_on_success) {
		select_pair(a, p, now);
		return;
	}
	if (a->role == ICE_CONTROLLING && a->nominating < 0) {
		/* Our check's round trip proves the pair both ways for us:
		 * select it now and nominate it to the peer alongside, rather
		 * than wait another round trip for the nomination's answer.
		 * The peer still selects only on the authenticated nomination,
		 * which keeps being retransmitted until answered. */
		select_pair(a, p, now);
		a->nominating = p;
		start_txn(a, p, TXN_NOMINATE, now);
	}
}

bool ice_handle_packet(struct ice_agent *a, uint64_t now_us,
		       const struct sockaddr *from, const uint8_t *buf,
		       size_t len)
{
	struct stun_msg m;

	if (!a || !from || !buf || !stun_is_message(buf, len))
		return false;
	if (from->sa_family != AF_INET && from->sa_family != AF_INET6)
		return false;
	if (stun_parse(buf, len, &m) < 0) {
		a->stats.dropped_malformed++;
		return true;
	}
	if (m.method != STUN_METHOD_BINDING)
		return false;
	switch (m.cls) {
	case STUN_CLASS_REQUEST:
		handle_request(a, now_us, from, buf, &m);
		return true;
	case STUN_CLASS_INDICATION:
		return true; /* keepalive: nothing to do */
	case STUN_CLASS_SUCCESS:
	case STUN_CLASS_ERROR: {
		struct txn *t = find_txn(a, m.txid);
		if (!t)
			return false; /* not ours: maybe the client's server query */
		handle_response(a, now_us, from, buf, &m, t);
		return true;
	}
	}
	return false;
}

/* --- time --- */

static void check_failure(struct ice_agent *a, uint64_t now)
{
	if (a->state != ICE_STATE_CHECKING)
		return;
	if (now - a->start_us >= a->cfg.check_timeout_us) {
		a->state = ICE_STATE_FAILED;
		cancel_checks(a, now);
		emit(a, ICE_EVENT_FAILED, "timeout");
		return;
	}
	if (a->n_remote == 0 || a->n_trig || a->hold)
		return;
	for (size_t i = 0; i < a->n_remote; i++)
		if (a->pairs[i].state != PAIR_FAILED)
			return;
	a->state = ICE_STATE_FAILED;
	cancel_checks(a, now);
	emit(a, ICE_EVENT_FAILED, "all-pairs-failed");
}

/* The next pair to check: a triggered one first, else the best waiting. */
static int next_check(struct ice_agent *a)
{
	while (a->n_trig) {
		int p = a->trig[0];
		a->n_trig--;
		memmove(a->trig, a->trig + 1, a->n_trig * sizeof(a->trig[0]));
		a->pairs[p].triggered = false;
		if (a->pairs[p].state == PAIR_WAITING && !pair_busy(a, p))
			return p;
	}
	int best = -1;
	uint64_t bp = 0;
	for (size_t i = 0; i < a->n_remote; i++) {
		if (a->pairs[i].state != PAIR_WAITING)
			continue;
		uint64_t pp = pair_prio(a, i);
		if (best < 0 || pp > bp) {
			best = (int)i;
			bp = pp;
		}
	}
	return best;
}

static bool have_waiting(const struct ice_agent *a)
{
	if (a->n_trig)
		return true;
	for (size_t i = 0; i < a->n_remote; i++)
		if (a->pairs[i].state == PAIR_WAITING)
			return true;
	return false;
}

void ice_tick(struct ice_agent *a, uint64_t now)
{
	if (!a || a->state == ICE_STATE_NEW || a->state == ICE_STATE_FAILED ||
	    a->state == ICE_STATE_CONSENT_LOST)
		return;

	/* Retransmissions and timeouts. */
	for (size_t i = 0; i < MAX_TXN; i++) {
		struct txn *t = &a->txn[i];
		if (!t->used || t->next_us > now)
			continue;
		if (t->done) {
			t->used = false;
			continue;
		}
		if (t->sends >= a->cfg.max_transmits) {
			retire(a, t, now);
			if (t->kind == TXN_NOMINATE &&
			    (a->state == ICE_STATE_CHECKING ||
			     (a->state == ICE_STATE_CONNECTED && t->pair == a->selected)) &&
			    a->pairs[t->pair].state == PAIR_SUCCEEDED) {
				/* The pair worked a moment ago: the nomination
				 * or its answer was lost. Try again (until the
				 * check timeout, or for as long as we use the
				 * pair) rather than give it up while the peer
				 * may already have selected it. */
				start_txn(a, t->pair, TXN_NOMINATE, now);
			} else if (t->kind == TXN_CHECK && a->state == ICE_STATE_CHECKING &&
				   a->pairs[t->pair].heard &&
				   a->pairs[t->pair].heard_us >= t->start_us) {
				/* The peer's checks reach us over this pair
				 * while ours got no answer: only the way back
				 * was unlucky. Keep trying (until the check
				 * timeout) instead of failing a live path. */
				start_txn(a, t->pair, TXN_CHECK, now);
			} else if (t->kind != TXN_CONSENT) {
				a->pairs[t->pair].rebind = false;
				pair_failed(a, t->pair);
			}
			continue;
		}
		t->sends++;
		t->rto = t->rto * 2 > a->cfg.rto_max_us ? a->cfg.rto_max_us : t->rto * 2;
		t->next_us = now + t->rto;
		a->stats.retransmits++;
		send_to(a, &a->remote[t->pair].addr, t->pkt, t->len, now);
	}

	if (a->state == ICE_STATE_CHECKING) {
		if (now >= a->next_pace_us) {
			int p = next_check(a);
			if (p >= 0) {
				/* The pace advances even if the check could not
				 * go out (no transaction slot): retry later. */
				start_txn(a, p, TXN_CHECK, now);
				a->next_pace_us = now + a->cfg.pace_us;
			}
		}
		check_failure(a, now);
		return;
	}

	/* CONNECTED */
	if (a->cfg.consent_timeout_us != ICE_NEVER &&
	    now - a->last_consent_us >= a->cfg.consent_timeout_us) {
		a->state = ICE_STATE_CONSENT_LOST;
		for (size_t i = 0; i < MAX_TXN; i++)
			a->txn[i].used = false;
		emit(a, ICE_EVENT_CONSENT_LOST, NULL);
		return;
	}
	if (now >= a->next_consent_us) {
		start_txn(a, a->selected, TXN_CONSENT, now);
		uint64_t r = 0, iv = a->cfg.consent_interval_us;
		rnd(a, &r, sizeof(r));
		a->next_consent_us = now + iv * 4 / 5 + r % (iv * 2 / 5 + 1);
	}
	if (a->cfg.keepalive_us != ICE_NEVER &&
	    now - a->last_sent_us >= a->cfg.keepalive_us) {
		uint8_t buf[64], txid[STUN_TXID_LEN];
		rnd(a, txid, sizeof(txid));
		ssize_t n = stun_build_binding(buf, sizeof(buf), STUN_CLASS_INDICATION,
					       txid, NULL);
		if (n > 0) {
			a->stats.keepalives_sent++;
			send_to(a, &a->remote[a->selected].addr, buf, (size_t)n, now);
		}
	}
}

static uint64_t min64(uint64_t x, uint64_t y)
{
	return x < y ? x : y;
}

static uint64_t add_sat(uint64_t x, uint64_t y)
{
	return x > UINT64_MAX - y ? UINT64_MAX : x + y;
}

uint64_t ice_next_deadline(const struct ice_agent *a)
{
	uint64_t d = UINT64_MAX;

	if (!a)
		return d;
	switch (a->state) {
	case ICE_STATE_NEW:
	case ICE_STATE_FAILED:
	case ICE_STATE_CONSENT_LOST:
		return d;
	case ICE_STATE_CHECKING:
		if (have_waiting(a))
			d = a->next_pace_us;
		d = min64(d, add_sat(a->start_us, a->cfg.check_timeout_us));
		break;
	case ICE_STATE_CONNECTED:
		d = min64(d, a->next_consent_us);
		d = min64(d, add_sat(a->last_consent_us, a->cfg.consent_timeout_us));
		d = min64(d, add_sat(a->last_sent_us, a->cfg.keepalive_us));
		break;
	}
	for (size_t i = 0; i < MAX_TXN; i++)
		if (a->txn[i].used)
			d = min64(d, a->txn[i].next_us);
	return d;
}

void ice_note_sent(struct ice_agent *a, uint64_t now_us)
{
	if (a && now_us > a->last_sent_us)
		a->last_sent_us = now_us;
}

int ice_selected(const struct ice_agent *a, struct ice_cand *local,
		 struct ice_cand *remote)
{
	if (!a || a->selected < 0)
		return -ENOENT;
	if (local)
		*local = a->sel_local;
	if (remote)
		*remote = a->remote[a->selected];
	return 0;
}

enum ice_state ice_get_state(const struct ice_agent *a)
{
	return a->state;
}

enum ice_role ice_get_role(const struct ice_agent *a)
{
	return a->role;
}

const struct ice_stats *ice_get_stats(const struct ice_agent *a)
{
	return &a->stats;
}

size_t ice_remote_count(const struct ice_agent *a)
{
	return a ? a->n_remote : 0;
}

const struct ice_cand *ice_remote_at(const struct ice_agent *a, size_t i)
{
	return a && i < a->n_remote ? &a->remote[i] : NULL;
}
