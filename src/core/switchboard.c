/* Signalling server logic; see switchboard.h and doc/protocol.md. */
#include "p2pcall/switchboard.h"
#include "p2pcall/list.h"
#include "p2pcall/regproof.h"
#include "p2pcall/sig.h"
#include "p2pcall/sig_parser.h"
#include "p2pcall/strmap.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum conn_state { C_GREETED, C_HELLO, C_REGISTERED, C_CLOSING };
enum call_state { CALL_INVITED, CALL_RINGING, CALL_ANSWERED };

struct sb_call {
	unsigned long long id;
	struct sb_conn *caller, *callee;
	enum call_state state;
	bool private;  /* a party asked that addresses not be revealed */
	bool relayed;  /* a relay is allocated */
	uint64_t ring_deadline;
	struct list ringing; /* in sb->ring_queue while unanswered */
};

/* A token bucket: BURST at once, PER_S sustained. */
struct bucket {
	double tokens;
	uint64_t at;
};

struct binding {
	char name[33];
	uint8_t pk[SB_KEY_LEN];
};

struct sb_conn {
	void *io;
	struct sig_parser parser;
	enum conn_state state;
	unsigned malformed;
	uint64_t opened_us;
	struct list all;          /* in sb->conns */
	struct list unregistered; /* in sb->reg_queue until registered */
	struct list partial;      /* in sb->line_queue while a line is unfinished */
	uint64_t partial_since_us;
	struct bucket lines, registers, invites;
	unsigned rate_drops;      /* lines refused */
	unsigned verb_refused;    /* REGISTER/INVITE refused as too many */
	bool has_challenge, has_key;
	uint8_t challenge[REGPROOF_CHALLENGE_LEN];
	uint8_t key[SB_KEY_LEN];  /* proved at registration (has_key) */
	struct sb_call *call;
	char name[33];
	char seen[56];
};

struct sb {
	struct sb_config cfg;
	struct sb_ops ops;
	void *ctx;
	struct strmap *names;  /* name -> live sb_conn */
	struct strmap *known;  /* names seen since start -> owned key copy */
	struct strmap *bindings; /* name -> owned struct binding */
	struct list conns;
	/* Both queues hold entries with one fixed timeout, so insertion order
	 * is deadline order: O(1) to add, remove and find the next one. */
	struct list reg_queue;
	struct list ring_queue;
	struct list line_queue;
	unsigned long long next_call_id;
	struct sb_stats stats;
};

int sb_new(struct sb **out, const struct sb_config *cfg, const struct sb_ops *ops, void *ctx)
{
	if (!cfg || !ops || !ops->send || !ops->close)
		return -EINVAL;
	struct sb *sb = calloc(1, sizeof(*sb));
	if (!sb)
		return -ENOMEM;
	sb->cfg = *cfg;
	if (!sb->cfg.agent)
		sb->cfg.agent = "p2pcall";
	if (!sb->cfg.keepalive_s)
		sb->cfg.keepalive_s = 30;
	if (!sb->cfg.register_timeout_us)
		sb->cfg.register_timeout_us = 10 * 1000000ull;
	if (!sb->cfg.ring_timeout_us)
		sb->cfg.ring_timeout_us = 30 * 1000000ull;
	if (!sb->cfg.max_known_names)
		sb->cfg.max_known_names = 100000;
	if (!sb->cfg.max_malformed)
		sb->cfg.max_malformed = 16;
	if (!sb->cfg.line_timeout_us)
		sb->cfg.line_timeout_us = 10 * 1000000ull;
	if (!sb->cfg.lines_per_s)
		sb->cfg.lines_per_s = 50;
	if (!sb->cfg.lines_burst)
		sb->cfg.lines_burst = 100;
	if (!sb->cfg.max_line || sb->cfg.max_line > SIG_MAX_LINE)
		sb->cfg.max_line = SIG_MAX_LINE;
	if (!sb->cfg.register_per_s)
		sb->cfg.register_per_s = 2;
	if (!sb->cfg.register_burst)
		sb->cfg.register_burst = 5;
	if (!sb->cfg.invite_per_s)
		sb->cfg.invite_per_s = 5;
	if (!sb->cfg.invite_burst)
		sb->cfg.invite_burst = 10;
	if (!sb->cfg.max_refused)
		sb->cfg.max_refused = 20;
	if (!sb->cfg.max_bindings)
		sb->cfg.max_bindings = 100000;
	sb->ops = *ops;
	sb->ctx = ctx;
	list_init(&sb->conns);
	list_init(&sb->reg_queue);
	list_init(&sb->ring_queue);
	list_init(&sb->line_queue);
	if (strmap_new(&sb->names) < 0 || strmap_new(&sb->known) < 0 || strmap_new(&sb->bindings) < 0) {
		sb_free(sb);
		return -ENOMEM;
	}
	*out = sb;
	return 0;
}

static void free_known(void *ctx, const char *key, void *val) { free(val); }

static void free_call(struct sb *sb, struct sb_call *call);

void sb_free(struct sb *sb)
{
	if (!sb)
		return;
	while (!list_empty(&sb->conns)) {
		struct sb_conn *c = list_entry(sb->conns.next, struct sb_conn, all);
		if (c->call)
			free_call(sb, c->call);
		list_del(&c->all);
		sig_parser_reset(&c->parser);
		free(c);
	}
	if (sb->known)
		strmap_each(sb->known, free_known, NULL);
	strmap_free(sb->known);
	if (sb->bindings)
		strmap_each(sb->bindings, free_known, NULL);
	strmap_free(sb->bindings);
	strmap_free(sb->names);
	free(sb);
}

const struct sb_stats *sb_stats(const struct sb *sb) { return &sb->stats; }

/* --- bindings --- */

static int bind_name(struct sb *sb, const char *name, const uint8_t pk[SB_KEY_LEN], bool *added)
{
	*added = false;
	if (!name || !pk || !sig_name_valid(name))
		return -EINVAL;
	struct binding *b = strmap_get(sb->bindings, name);
	if (b)
		return memcmp(b->pk, pk, SB_KEY_LEN) == 0 ? 0 : -EEXIST;
	if (strmap_count(sb->bindings) >= sb->cfg.max_bindings)
		return -ENOSPC;
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	snprintf(b->name, sizeof(b->name), "%s", name);
	memcpy(b->pk, pk, SB_KEY_LEN);
	if (strmap_put(sb->bindings, b->name, b) < 0) {
		free(b);
		return -ENOMEM;
	}
	sb->stats.bindings++;
	*added = true;
	return 0;
}

static void unbind_name(struct sb *sb, const char *name)
{
	free(strmap_del(sb->bindings, name));
	sb->stats.bindings--;
}

int sb_bind(struct sb *sb, const char *name, const uint8_t pk[SB_KEY_LEN])
{
	bool added;
	return sb ? bind_name(sb, name, pk, &added) : -EINVAL;
}

int sb_key_of(const struct sb *sb, const char *name, uint8_t pk[SB_KEY_LEN])
{
	const struct binding *b = sb && name ? strmap_get(sb->bindings, name) : NULL;
	if (!b)
		return -ENOENT;
	memcpy(pk, b->pk, SB_KEY_LEN);
	return 0;
}

/* --- rate limits --- */

static void bucket_init(struct bucket *b, unsigned burst, uint64_t now)
{
	b->tokens = burst;
	b->at = now;
}

static bool bucket_take(struct bucket *b, uint64_t now, unsigned per_s, unsigned burst)
{
	if (now > b->at) {
		b->tokens += (double)(now - b->at) * per_s / 1e6;
		if (b->tokens > burst)
			b->tokens = burst;
		b->at = now;
	}
	if (b->tokens < 1)
		return false;
	b->tokens -= 1;
	return true;
}
/* --- output --- */

/* Sends W, already finished to N bytes. */
static void send_finished(struct sb *sb, struct sb_conn *c, const struct sig_writer *w, int n)
{
	sb->ops.send(sb->ctx, c->io, w->buf, (size_t)n);
}

static void send_line(struct sb *sb, struct sb_conn *c, struct sig_writer *w)
{
	int n = sig_writer_finish(w);
	if (n < 0) {
		/* Only forwarded candidate lists can grow this long; the
		 * input line limit keeps them under, so this is a bug. */
		return;
	}
	sb->ops.send(sb->ctx, c->io, w->buf, (size_t)n);
}

static void send_err(struct sb *sb, struct sb_conn *c, const char *re, int code, const char *reason)
{
	struct sig_writer w;
	sig_writer_init(&w, "ERR");
	sig_writer_add(&w, "re", re);
	sig_writer_addf(&w, "code", "%d", code);
	sig_writer_add(&w, "reason", reason);
	sb->stats.errors_sent++;
	send_line(sb, c, &w);
}

static void send_ok(struct sb *sb, struct sb_conn *c, const char *re, unsigned long long call)
{
	struct sig_writer w;
	sig_writer_init(&w, "OK");
	sig_writer_add(&w, "re", re);
	if (call)
		sig_writer_addf(&w, "call", "%llu", call);
	send_line(sb, c, &w);
}

static void send_ended(struct sb *sb, struct sb_conn *c, unsigned long long call, const char *reason)
{
	struct sig_writer w;
	sig_writer_init(&w, "ENDED");
	sig_writer_addf(&w, "call", "%llu", call);
	sig_writer_add(&w, "reason", reason);
	send_line(sb, c, &w);
}

/* Copies every field of M to W except those the server sets itself: keys,
 * signatures and candidate types of later versions pass through unchanged. */
static void forward_fields(struct sig_writer *w, const struct sig_msg *m)
{
	for (size_t i = 0; i < m->nfields; i++) {
		const char *k = m->f[i].key;
		if (strcmp(k, "call") && strcmp(k, "to") && strcmp(k, "from") && strcmp(k, "seen") &&
		    strcmp(k, "relay") && strcmp(k, "idkey"))
			sig_writer_add(w, k, m->f[i].val);
	}
}

/* The server's attestation of who sent a forwarded INVITE or ACCEPT: the
 * key that sender proved at registration (none for a keyless one). */
static void add_idkey(struct sig_writer *w, const struct sb_conn *c)
{
	char b64[REGPROOF_B64_32 + 1];
	if (c->has_key && b64url_encode(b64, sizeof(b64), c->key, SB_KEY_LEN) > 0)
		sig_writer_add(w, "idkey", b64);
}

static bool wants_private(const struct sig_msg *m)
{
	const char *v = sig_msg_get(m, "private");
	return v && strcmp(v, "1") == 0;
}

/* --- calls --- */

static void free_call(struct sb *sb, struct sb_call *call)
{
	if (call->relayed && sb->ops.relay_release)
		sb->ops.relay_release(sb->ctx, call->id);
	if (list_linked(&call->ringing))
		list_del(&call->ringing);
	if (call->caller)
		call->caller->call = NULL;
	if (call->callee)
		call->callee->call = NULL;
	sb->stats.calls--;
	free(call);
}

/* Ends C's call, telling the other party REASON. */
static void end_call_for_other(struct sb *sb, struct sb_conn *c, const char *reason)
{
	struct sb_call *call = c->call;
	struct sb_conn *other = call->caller == c ? call->callee : call->caller;
	send_ended(sb, other, call->id, reason);
	free_call(sb, call);
}

/* --- connection life --- */

/* Releases what C holds: its name, its place in the registration queue,
 * its call (ended for the other party). */
static void release(struct sb *sb, struct sb_conn *c)
{
	if (c->state == C_REGISTERED) {
		strmap_del(sb->names, c->name);
		sb->stats.registered--;
	}
	if (list_linked(&c->unregistered))
		list_del(&c->unregistered);
	if (list_linked(&c->partial))
		list_del(&c->partial);
	if (c->call) {
		sb->stats.peer_gone++;
		end_call_for_other(sb, c, "peer-gone");
	}
}

static void request_close(struct sb *sb, struct sb_conn *c)
{
	if (c->state == C_CLOSING)
		return;
	release(sb, c);
	c->state = C_CLOSING;
	sb->ops.close(sb->ctx, c->io);
}

struct sb_conn *sb_conn_open(struct sb *sb, void *io, const char *seen, uint64_t now_us)
{
	struct sb_conn *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->io = io;
	c->opened_us = now_us;
	snprintf(c->seen, sizeof(c->seen), "%s", seen);
	list_init(&c->partial);
	bucket_init(&c->lines, sb->cfg.lines_burst, now_us);
	bucket_init(&c->registers, sb->cfg.register_burst, now_us);
	bucket_init(&c->invites, sb->cfg.invite_burst, now_us);
	char chal[REGPROOF_B64_32 + 1] = "";
	if (sb->ops.random) {
		/* Fresh per connection: a signature seen on one connection
		 * proves nothing on another. */
		if (sb->ops.random(sb->ctx, c->challenge, sizeof(c->challenge)) < 0) {
			free(c);
			return NULL;
		}
		c->has_challenge = true;
		b64url_encode(chal, sizeof(chal), c->challenge, sizeof(c->challenge));
	}
	list_add_tail(&sb->conns, &c->all);
	list_init(&c->unregistered);
	list_add_tail(&sb->reg_queue, &c->unregistered);
	sb->stats.conns++;

	struct sig_writer w;
	sig_writer_init(&w, "HELLO");
	sig_writer_addf(&w, "version", "%d", SIG_VERSION);
	sig_writer_add(&w, "agent", sb->cfg.agent);
	sig_writer_addf(&w, "keepalive", "%u", sb->cfg.keepalive_s);
	sig_writer_add(&w, "challenge", c->has_challenge ? chal : NULL);
	send_line(sb, c, &w);
	return c;
}

void sb_conn_close(struct sb *sb, struct sb_conn *c, uint64_t now_us)
{
	if (!c)
		return;
	if (c->state != C_CLOSING)
		release(sb, c);
	list_del(&c->all);
	sig_parser_reset(&c->parser);
	sb->stats.conns--;
	free(c);
}

/* --- commands --- */

static bool hello_version_ok(const struct sig_msg *m)
{
	size_t pos = 0;
	const char *v;
	while ((v = sig_msg_next(m, "version", &pos))) {
		/* A list such as "1,2" names every version the client speaks. */
		char buf[64];
		snprintf(buf, sizeof(buf), "%s", v);
		for (char *save, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
			if (strcmp(tok, "1") == 0)
				return true;
	}
	return false;
}

static void remember_name(struct sb *sb, const char *name)
{
	if (strmap_get(sb->known, name) || strmap_count(sb->known) >= sb->cfg.max_known_names)
		return;
	char *copy = strdup(name);
	if (copy && strmap_put(sb->known, copy, copy) < 0)
		free(copy);
}

/* The key a REGISTER proves, into C->key: 0 with C->has_key set, 0 without
 * a key= (keyless), or after replying with an error, -1. */
static int register_key(struct sb *sb, struct sb_conn *c, const struct sig_msg *m, const char *name)
{
	const char *key = sig_msg_get(m, "key"), *sig = sig_msg_get(m, "sig");
	uint8_t pk[SB_KEY_LEN], sg[REGPROOF_SIG_LEN];
	if (key && b64url_decode(pk, sizeof(pk), key) < 0) {
		send_err(sb, c, "REGISTER", 400, "bad-key");
		return -1;
	}
	const struct binding *b = strmap_get(sb->bindings, name);
	if (sb->cfg.closed && !b) {
		sb->stats.key_refusals++;
		send_err(sb, c, "REGISTER", 403, "not-listed");
		return -1;
	}
	if (!key) {
		if (b || sb->cfg.require_keys) {
			sb->stats.key_refusals++;
			send_err(sb, c, "REGISTER", 401, "key-required");
			return -1;
		}
		return 0;
	}
	/* Check the proof before the binding: a wrong proof says nothing
	 * about whose the name is. */
	if (!c->has_challenge || !sig || b64url_decode(sg, sizeof(sg), sig) < 0 ||
	    regproof_verify(pk, c->challenge, name, sg) < 0) {
		sb->stats.bad_signatures++;
		send_err(sb, c, "REGISTER", 401, "bad-signature");
		return -1;
	}
	if (b && memcmp(b->pk, pk, SB_KEY_LEN) != 0) {
		struct sig_writer w;
		sb->stats.key_refusals++;
		sb->stats.errors_sent++;
		sig_writer_init(&w, "ERR");
		sig_writer_add(&w, "re", "REGISTER");
		sig_writer_add(&w, "code", "403");
		sig_writer_add(&w, "reason", "key-mismatch");
		sig_writer_add(&w, "msg", "this name is bound to another key");
		send_line(sb, c, &w);
		return -1;
	}
	memcpy(c->key, pk, SB_KEY_LEN);
	c->has_key = true;
	return 0;
}

static void cmd_register(struct sb *sb, struct sb_conn *c, const struct sig_msg *m)
{
	const char *name = sig_msg_get(m, "name");
	if (c->state == C_REGISTERED)
		return send_err(sb, c, "REGISTER", 403, "already-registered");
	if (!name || !sig_name_valid(name))
		return send_err(sb, c, "REGISTER", 400, "bad-name");
	c->has_key = false;
	if (register_key(sb, c, m, name) < 0)
		return;
	if (strmap_get(sb->names, name))
		return send_err(sb, c, "REGISTER", 409, "name-taken");
	/* A first keyed registration binds the name, durably before the OK:
	 * a server restart must not hand the name to someone else. */
	bool added = false;
	if (c->has_key) {
		int rc = bind_name(sb, name, c->key, &added);
		if (rc == -ENOSPC)
			return send_err(sb, c, "REGISTER", 503, "bindings-full");
		if (rc < 0)
			return send_err(sb, c, "REGISTER", 500, "no-memory");
		if (added && sb->ops.bound && sb->ops.bound(sb->ctx, name, c->key) < 0) {
			unbind_name(sb, name);
			sb->stats.store_failures++;
			return send_err(sb, c, "REGISTER", 503, "store-failed");
		}
	}
	snprintf(c->name, sizeof(c->name), "%s", name);
	if (strmap_put(sb->names, c->name, c) < 0) {
		c->name[0] = '\0';
		return send_err(sb, c, "REGISTER", 500, "no-memory");
	}
	remember_name(sb, c->name);
	list_del(&c->unregistered);
	c->state = C_REGISTERED;
	sb->stats.registered++;
	sb->stats.keyed += c->has_key;

	struct sig_writer w;
	sig_writer_init(&w, "OK");
	sig_writer_add(&w, "re", "REGISTER");
	sig_writer_add(&w, "name", c->name);
	sig_writer_add(&w, "seen", c->seen);
	sig_writer_add(&w, "key", !c->has_key ? NULL : added ? "bound" : "verified");
	send_line(sb, c, &w);
}

static void cmd_invite(struct sb *sb, struct sb_conn *c, const struct sig_msg *m, uint64_t now)
{
	const char *to = sig_msg_get(m, "to");
	if (c->call)
		return send_err(sb, c, "INVITE", 409, "in-call");
	if (!to || !sig_name_valid(to))
		return send_err(sb, c, "INVITE", 400, "bad-name");
	if (strcmp(to, c->name) == 0)
		return send_err(sb, c, "INVITE", 400, "self");
	struct sb_conn *callee = strmap_get(sb->names, to);
	if (!callee) {
		bool known = strmap_get(sb->known, to) || strmap_get(sb->bindings, to);
		return send_err(sb, c, "INVITE", known ? 480 : 404, known ? "offline" : "unknown");
	}
	if (callee->call)
		return send_err(sb, c, "INVITE", 486, "busy");

	/* The callee's line first: what the caller adds may not fit once
	 * the server's own fields are in, and then no call is made. */
	struct sig_writer in;
	bool private = wants_private(m);
	sig_writer_init(&in, "INCOMING");
	sig_writer_addf(&in, "call", "%llu", sb->next_call_id + 1);
	sig_writer_add(&in, "from", c->name);
	if (!private)
		sig_writer_add(&in, "seen", c->seen);
	add_idkey(&in, c);
	forward_fields(&in, m);
	int in_len = sig_writer_finish(&in);
	if (in_len < 0)
		return send_err(sb, c, "INVITE", 400, "too-long");

	struct sb_call *call = calloc(1, sizeof(*call));
	if (!call)
		return send_err(sb, c, "INVITE", 500, "no-memory");
	call->id = ++sb->next_call_id;
	call->caller = c;
	call->callee = callee;
	call->state = CALL_INVITED;
	call->private = private;
	call->ring_deadline = now + sb->cfg.ring_timeout_us;
	list_add_tail(&sb->ring_queue, &call->ringing);
	c->call = callee->call = call;
	sb->stats.calls++;
	sb->stats.calls_total++;

	struct sig_writer w;
	sig_writer_init(&w, "OK");
	sig_writer_add(&w, "re", "INVITE");
	sig_writer_addf(&w, "call", "%llu", call->id);
	sig_writer_add(&w, "to", to);
	send_line(sb, c, &w);
	send_finished(sb, callee, &in, in_len);
}

/* The sender's call named by call=, or NULL after replying with an error. */
static struct sb_call *named_call(struct sb *sb, struct sb_conn *c, const struct sig_msg *m)
{
	unsigned long long id;
	if (!sig_parse_u64(sig_msg_get(m, "call"), &id) || !c->call || c->call->id != id) {
		send_err(sb, c, m->verb, 481, "no-such-call");
		return NULL;
	}
	return c->call;
}

static void cmd_call_update(struct sb *sb, struct sb_conn *c, const struct sig_msg *m)
{
	struct sb_call *call = named_call(sb, c, m);
	if (!call)
		return;
	const char *v = m->verb;
	bool is_callee = call->callee == c;
	bool answered = call->state == CALL_ANSWERED;
	struct sig_writer w;

	if (strcmp(v, "RINGING") == 0) {
		if (!is_callee || call->state != CALL_INVITED)
			return send_err(sb, c, v, 409, "bad-state");
		call->state = CALL_RINGING;
		sig_writer_init(&w, "RINGING");
		sig_writer_addf(&w, "call", "%llu", call->id);
		send_line(sb, call->caller, &w);
	} else if (strcmp(v, "ACCEPT") == 0) {
		if (!is_callee || answered)
			return send_err(sb, c, v, 409, "bad-state");
		bool private = call->private || wants_private(m);
		char tok_caller[17], tok_callee[17];
		bool relayed = sb->ops.relay_alloc &&
			       sb->ops.relay_alloc(sb->ctx, call->id, tok_caller, tok_callee) == 0;
		struct sig_writer acc;
		sig_writer_init(&acc, "ACCEPTED");
		sig_writer_addf(&acc, "call", "%llu", call->id);
		if (!private)
			sig_writer_add(&acc, "seen", c->seen);
		sig_writer_add(&acc, "relay", relayed ? tok_caller : NULL);
		add_idkey(&acc, c);
		forward_fields(&acc, m);
		int acc_len = sig_writer_finish(&acc);
		if (acc_len < 0) {
			/* Too long with the server's fields: still ringing. */
			if (relayed && sb->ops.relay_release)
				sb->ops.relay_release(sb->ctx, call->id);
			return send_err(sb, c, v, 400, "too-long");
		}
		call->state = CALL_ANSWERED;
		call->private = private;
		call->relayed = relayed;
		list_del(&call->ringing);
		sig_writer_init(&w, "OK");
		sig_writer_add(&w, "re", v);
		sig_writer_addf(&w, "call", "%llu", call->id);
		sig_writer_add(&w, "relay", relayed ? tok_callee : NULL);
		send_line(sb, c, &w);
		send_finished(sb, call->caller, &acc, acc_len);
	} else if (strcmp(v, "REJECT") == 0) {
		if (!is_callee || answered)
			return send_err(sb, c, v, 409, "bad-state");
		const char *why = sig_msg_get(m, "reason");
		send_ok(sb, c, v, call->id);
		end_call_for_other(sb, c, why && strcmp(why, "busy") == 0 ? "busy" : "rejected");
	} else if (strcmp(v, "CANCEL") == 0) {
		if (is_callee || answered)
			return send_err(sb, c, v, 409, "bad-state");
		send_ok(sb, c, v, call->id);
		end_call_for_other(sb, c, "cancelled");
	} else if (strcmp(v, "UPDATE") == 0) {
		/* New candidates during the call (a NAT rebinding): passed on
		 * as they are, unanswered. */
		if (!answered)
			return send_err(sb, c, v, 409, "bad-state");
		struct sb_conn *other = is_callee ? call->caller : call->callee;
		sig_writer_init(&w, "UPDATE");
		sig_writer_addf(&w, "call", "%llu", call->id);
		forward_fields(&w, m);
		int n = sig_writer_finish(&w);
		if (n < 0)
			return send_err(sb, c, v, 400, "too-long");
		send_finished(sb, other, &w, n);
	} else { /* HANGUP */
		if (!answered)
			return send_err(sb, c, v, 409, "bad-state");
		send_ok(sb, c, v, call->id);
		end_call_for_other(sb, c, "hangup");
	}
}

/* Token bucket per connection: a client may send lines_burst lines at
 * once and lines_per_s sustained; more are refused, and a client that
 * keeps pushing is closed. */
static bool line_allowed(struct sb *sb, struct sb_conn *c, uint64_t now)
{
	if (bucket_take(&c->lines, now, sb->cfg.lines_per_s, sb->cfg.lines_burst))
		return true;
	sb->stats.rate_limited++;
	if (c->rate_drops++ == 0)
		send_err(sb, c, NULL, 429, "rate-limited");
	if (c->rate_drops >= sb->cfg.lines_burst)
		request_close(sb, c);
	return false;
}

/* REGISTER (a signature check, a store write) and INVITE (a line to
 * another user) have their own, tighter buckets. Every refusal is
 * answered, since a client waits for the reply; a client refused
 * max_refused times is closed. */
static bool verb_allowed(struct sb *sb, struct sb_conn *c, const char *verb, uint64_t now)
{
	bool reg = strcmp(verb, "REGISTER") == 0;
	if (reg ? bucket_take(&c->registers, now, sb->cfg.register_per_s, sb->cfg.register_burst)
		: bucket_take(&c->invites, now, sb->cfg.invite_per_s, sb->cfg.invite_burst))
		return true;
	sb->stats.verb_rate_limited++;
	send_err(sb, c, verb, 429, "too-many");
	if (++c->verb_refused >= sb->cfg.max_refused)
		request_close(sb, c);
	return false;
}

static void handle_line(struct sb *sb, struct sb_conn *c, char *line, size_t len, uint64_t now)
{
	struct sig_msg m;
	sb->stats.lines++;
	if (!line_allowed(sb, c, now))
		return;
	int rc = sig_msg_parse(line, len, &m);
	if (rc == -ENODATA)
		return;
	if (rc < 0) {
		sb->stats.malformed++;
		send_err(sb, c, NULL, 400, rc == -E2BIG ? "too-many-fields" : "malformed");
		if (++c->malformed >= sb->cfg.max_malformed)
			request_close(sb, c);
		return;
	}
	const char *v = m.verb;

	if (strcmp(v, "PING") == 0) {
		struct sig_writer w;
		sig_writer_init(&w, "PONG");
		sig_writer_add(&w, "id", sig_msg_get(&m, "id"));
		return send_line(sb, c, &w);
	}
	if (strcmp(v, "PONG") == 0)
		return;
	if (strcmp(v, "QUIT") == 0) {
		send_ok(sb, c, v, 0);
		return request_close(sb, c);
	}
	if (c->state == C_GREETED) {
		if (strcmp(v, "HELLO") != 0) {
			send_err(sb, c, v, 403, "hello-first");
			return request_close(sb, c);
		}
		if (!hello_version_ok(&m)) {
			send_err(sb, c, v, 505, "version-unsupported");
			return request_close(sb, c);
		}
		c->state = C_HELLO;
		return send_ok(sb, c, v, 0);
	}
	if (strcmp(v, "HELLO") == 0)
		return send_err(sb, c, v, 403, "already-hello");
	if (strcmp(v, "REGISTER") == 0)
		return verb_allowed(sb, c, v, now) ? cmd_register(sb, c, &m) : (void)0;
	bool known = strcmp(v, "INVITE") == 0 || strcmp(v, "RINGING") == 0 ||
		     strcmp(v, "ACCEPT") == 0 || strcmp(v, "REJECT") == 0 ||
		     strcmp(v, "CANCEL") == 0 || strcmp(v, "HANGUP") == 0 || strcmp(v, "UPDATE") == 0;
	if (!known)
		return send_err(sb, c, v, 400, "unknown-command");
	if (c->state != C_REGISTERED)
		return send_err(sb, c, v, 403, "register-first");
	if (strcmp(v, "INVITE") == 0)
		return verb_allowed(sb, c, v, now) ? cmd_invite(sb, c, &m, now) : (void)0;
	cmd_call_update(sb, c, &m);
}

struct feed_ctx {
	struct sb *sb;
	struct sb_conn *c;
	uint64_t now;
};

static void overlong(struct sb *sb, struct sb_conn *c)
{
	sb->stats.overlong++;
	send_err(sb, c, NULL, 400, "line-too-long");
	request_close(sb, c);
}

static int on_line(void *ctx, char *line, size_t len)
{
	struct feed_ctx *f = ctx;
	/* The parser's own bound is SIG_MAX_LINE; a server may set less. */
	if (len + 1 > f->sb->cfg.max_line) {
		overlong(f->sb, f->c);
		return 1;
	}
	handle_line(f->sb, f->c, line, len, f->now);
	return f->c->state == C_CLOSING; /* stop reading a closing connection */
}

void sb_conn_feed(struct sb *sb, struct sb_conn *c, char *data, size_t n, uint64_t now_us)
{
	if (c->state == C_CLOSING)
		return;
	struct feed_ctx f = { sb, c, now_us };
	int rc = sig_parser_feed(&c->parser, data, n, on_line, &f);
	if (rc == -EMSGSIZE)
		return overlong(sb, c);
	if (rc == -ENOMEM) {
		send_err(sb, c, NULL, 400, "no-memory");
		return request_close(sb, c);
	}
	/* A line begun must be finished in time: a client dribbling one byte
	 * now and then must not hold a connection (and its buffer) forever.
	 * The clock starts when a line is first left unfinished. */
	if (c->state == C_CLOSING)
		return;
	bool pending = sig_parser_pending(&c->parser);
	if (pending && c->parser.len + 1 > sb->cfg.max_line)
		return overlong(sb, c);
	if (pending && !list_linked(&c->partial)) {
		c->partial_since_us = now_us;
		list_add_tail(&sb->line_queue, &c->partial);
	} else if (!pending && list_linked(&c->partial)) {
		list_del(&c->partial);
	}
}

void sb_tick(struct sb *sb, uint64_t now)
{
	while (!list_empty(&sb->line_queue)) {
		struct sb_conn *c = list_entry(sb->line_queue.next, struct sb_conn, partial);
		if (c->partial_since_us + sb->cfg.line_timeout_us > now)
			break;
		sb->stats.line_timeouts++;
		list_del(&c->partial);
		send_err(sb, c, NULL, 408, "line-timeout");
		request_close(sb, c);
	}
	while (!list_empty(&sb->reg_queue)) {
		struct sb_conn *c = list_entry(sb->reg_queue.next, struct sb_conn, unregistered);
		if (c->opened_us + sb->cfg.register_timeout_us > now)
			break;
		sb->stats.register_timeouts++;
		send_err(sb, c, NULL, 408, "register-timeout");
		request_close(sb, c);
	}
	while (!list_empty(&sb->ring_queue)) {
		struct sb_call *call = list_entry(sb->ring_queue.next, struct sb_call, ringing);
		if (call->ring_deadline > now)
			break;
		sb->stats.no_answer++;
		send_ended(sb, call->caller, call->id, "no-answer");
		send_ended(sb, call->callee, call->id, "no-answer");
		free_call(sb, call);
	}
}

uint64_t sb_next_deadline(const struct sb *sb)
{
	uint64_t d = UINT64_MAX;
	if (!list_empty(&sb->line_queue)) {
		const struct sb_conn *c = list_entry(sb->line_queue.next, struct sb_conn, partial);
		d = c->partial_since_us + sb->cfg.line_timeout_us;
	}
	if (!list_empty(&sb->reg_queue)) {
		const struct sb_conn *c = list_entry(sb->reg_queue.next, struct sb_conn, unregistered);
		if (c->opened_us + sb->cfg.register_timeout_us < d)
			d = c->opened_us + sb->cfg.register_timeout_us;
	}
	if (!list_empty(&sb->ring_queue)) {
		const struct sb_call *call = list_entry(sb->ring_queue.next, struct sb_call, ringing);
		if (call->ring_deadline < d)
			d = call->ring_deadline;
	}
	return d;
}
