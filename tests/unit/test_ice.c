/* ICE agent tests: two agents on a simulated network with NATs (simnat),
 * a fake clock, no sockets. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "p2pcall/birthday.h"
#include "p2pcall/ice.h"
#include "p2pcall/stun.h"
#include "simnat.h"

#define MS 1000ull
#define SEC 1000000ull

/* ---- candidates ---- */

START_TEST(test_priority_formulas)
{
	/* RFC 8445 5.1.2.1 with the recommended type preferences. */
	ck_assert_uint_eq(ice_priority(ICE_CAND_HOST, 65535, 1), 0x7effffff);
	ck_assert_uint_eq(ice_priority(ICE_CAND_PRFLX, 65535, 1), 0x6effffff);
	ck_assert_uint_eq(ice_priority(ICE_CAND_SRFLX, 65535, 1), 0x64ffffff);
	ck_assert_uint_eq(ice_priority(ICE_CAND_RELAY, 65535, 1), 0x00ffffff);
	ck_assert_uint_eq(ice_priority(ICE_CAND_HOST, 0, 2), 0x7e0000fe);
	/* 6.1.2.3 */
	ck_assert(ice_pair_priority(5, 7) == ((5ull << 32) + 14 + 0));
	ck_assert(ice_pair_priority(7, 5) == ((5ull << 32) + 14 + 1));
	ck_assert(ice_pair_priority(0xffffffffu, 0xffffffffu) ==
		  ((0xffffffffull << 32) + 2 * 0xffffffffull));
	/* host-host beats host-srflx beats srflx-relay */
	uint32_t h = ice_priority(ICE_CAND_HOST, 65535, 1);
	uint32_t s = ice_priority(ICE_CAND_SRFLX, 65535, 1);
	uint32_t r = ice_priority(ICE_CAND_RELAY, 65535, 1);
	ck_assert(ice_pair_priority(h, h) > ice_pair_priority(h, s));
	ck_assert(ice_pair_priority(h, s) > ice_pair_priority(s, r));
}
END_TEST

START_TEST(test_cand_strings)
{
	struct ice_cand c;
	char buf[64];

	ck_assert_int_eq(ice_cand_parse("host/192.168.1.20/5000", &c), 0);
	ck_assert_int_eq(c.type, ICE_CAND_HOST);
	ck_assert_int_eq(c.addr.ss_family, AF_INET);
	ck_assert_uint_eq(ntohs(((struct sockaddr_in *)&c.addr)->sin_port), 5000);
	ck_assert_uint_eq(c.priority, ice_priority(ICE_CAND_HOST, 65535, 1));
	ck_assert_int_eq(ice_cand_format(&c, buf, sizeof(buf)), 22);
	ck_assert_str_eq(buf, "host/192.168.1.20/5000");

	ck_assert_int_eq(ice_cand_parse("srflx/2001:db8::7/65535", &c), 0);
	ck_assert_int_eq(c.type, ICE_CAND_SRFLX);
	ck_assert_int_eq(c.addr.ss_family, AF_INET6);
	ice_cand_format(&c, buf, sizeof(buf));
	ck_assert_str_eq(buf, "srflx/2001:db8::7/65535");

	/* extra parts are ignored */
	ck_assert_int_eq(ice_cand_parse("relay/203.0.113.1/3478/udp/x=1", &c), 0);
	ck_assert_int_eq(c.type, ICE_CAND_RELAY);
	ice_cand_format(&c, buf, sizeof(buf));
	ck_assert_str_eq(buf, "relay/203.0.113.1/3478");
	ck_assert_int_eq(ice_cand_parse("prflx/10.0.0.1/1", &c), 0);

	static const char *bad[] = {
		"", "host", "host/", "host/1.2.3.4", "host/1.2.3.4/", "host/1.2.3.4/0",
		"host/1.2.3.4/65536", "host/1.2.3.4/12x", "host/1.2.3.4/-1",
		"host/1.2.3.4:5/6", "host//5", "HOST/1.2.3.4/5", "bogus/1.2.3.4/5",
		"/1.2.3.4/5", "host/[::1]/5", "host/1.2.3.4/ 5", "host/999.1.1.1/5",
		"host/1.2.3.4/99999999999999999999",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(ice_cand_parse(bad[i], &c) == -EINVAL, "accepted '%s'", bad[i]);
	ck_assert_int_eq(ice_cand_parse(NULL, &c), -EINVAL);

	ck_assert_int_eq(ice_cand_parse("host/2001:db8::1/5", &c), 0);
	ck_assert_int_eq(ice_cand_format(&c, buf, 10), -ENOSPC);
}
END_TEST

/* ---- the simulated world ---- */

struct peer {
	struct world *w;
	struct ice_agent *agent;
	int host;
	char name;
	int n_selected, n_failed, n_consent_lost, n_remote_changed;
	uint64_t t_selected, t_failed, t_consent_lost, t_remote_changed;
	const char *fail_reason;
	struct ice_cand sel_local, sel_remote;
	/* birthday: sends to route_peer leave from local port route_port */
	uint16_t route_port;
	struct sockaddr_storage route_peer;
	bool lenient; /* probes' answers are not the agent's: no assert */
};

struct world {
	struct simnet *net;
	uint64_t now;
	struct peer a, b;
	/* tap records */
	uint64_t keepalive_times[16];
	int n_keepalives;
	int keepalive_host;
	struct sockaddr_storage tap_dst;
	uint64_t tap_times[32];
	int n_tap_times;
	/* the stranger's sniffing */
	bool sniff;
	uint8_t sniffed[256];
	size_t sniffed_len;
	struct sockaddr_storage sniffed_dst;
	uint64_t last_b_success; /* when B last sent a success response */
};

static struct sockaddr_storage stun_server;

static void peer_send(void *ctx, const struct sockaddr *dest, socklen_t len,
		      const uint8_t *buf, size_t n)
{
	struct peer *p = ctx;
	ck_assert_uint_eq(len, ice_addr_len(dest));
	if (p->route_port && ice_addr_equal(dest, (const struct sockaddr *)&p->route_peer)) {
		simnet_send_from(p->w->net, p->host, p->route_port, p->w->now, dest, buf, n);
		return;
	}
	simnet_send(p->w->net, p->host, p->w->now, dest, buf, n);
}

static void peer_event(void *ctx, const struct ice_event *ev)
{
	struct peer *p = ctx;
	switch (ev->type) {
	case ICE_EVENT_SELECTED:
		p->n_selected++;
		p->t_selected = p->w->now;
		p->sel_local = *ev->local;
		p->sel_remote = *ev->remote;
		break;
	case ICE_EVENT_REMOTE_CHANGED:
		p->n_remote_changed++;
		p->t_remote_changed = p->w->now;
		p->sel_remote = *ev->remote;
		break;
	case ICE_EVENT_FAILED:
		p->n_failed++;
		p->t_failed = p->w->now;
		p->fail_reason = ev->reason;
		break;
	case ICE_EVENT_CONSENT_LOST:
		p->n_consent_lost++;
		p->t_consent_lost = p->w->now;
		break;
	}
}

static void peer_recv(void *ctx, uint64_t now, const struct sockaddr *from,
		      const uint8_t *buf, size_t len)
{
	struct peer *p = ctx;
	ck_assert(now == p->w->now);
	bool mine = ice_handle_packet(p->agent, now, from, buf, len);
	ck_assert(mine || p->lenient);
}

static void tap(void *ctx, uint64_t now, int h, const struct sockaddr *src,
		const struct sockaddr *dst, const uint8_t *buf, size_t len)
{
	struct world *w = ctx;
	struct stun_msg m;

	if (stun_parse(buf, len, &m) != 0)
		return;
	if (h == w->b.host && m.cls == STUN_CLASS_SUCCESS)
		w->last_b_success = now;
	if (h == w->keepalive_host && m.cls == STUN_CLASS_INDICATION &&
	    w->n_keepalives < 16)
		w->keepalive_times[w->n_keepalives++] = now;
	if (m.cls == STUN_CLASS_REQUEST && h == w->a.host &&
	    ice_addr_equal(dst, (const struct sockaddr *)&w->tap_dst) && w->n_tap_times < 32)
		w->tap_times[w->n_tap_times++] = now;
	if (w->sniff && m.cls == STUN_CLASS_REQUEST && h == w->a.host && len <= 256) {
		memcpy(w->sniffed, buf, len);
		w->sniffed_len = len;
		memset(&w->sniffed_dst, 0, sizeof(w->sniffed_dst));
		memcpy(&w->sniffed_dst, dst, ice_addr_len(dst));
	}
}

static void sa(struct sockaddr_storage *ss, const char *ip, uint16_t port)
{
	struct ice_cand c;
	char s[80];
	snprintf(s, sizeof(s), "host/%s/%u", ip, port);
	ck_assert_int_eq(ice_cand_parse(s, &c), 0);
	*ss = c.addr;
}

struct world_opts {
	enum simnat_type nat_a, nat_b;
	uint64_t delay;
	struct ice_config cfg; /* times only */
	bool b_no_start;
	bool both_controlling;
};

static void make_agent(struct world *w, struct peer *p, char name, enum ice_role role,
		       const struct world_opts *o)
{
	struct ice_config c = o->cfg;
	c.role = role;
	c.local_ufrag = name == 'a' ? "ufragA" : "ufragB";
	c.local_pwd = name == 'a' ? "passwordA-passwordA-22" : "passwordB-passwordB-22";
	c.remote_ufrag = name == 'a' ? "ufragB" : "ufragA";
	c.remote_pwd = name == 'a' ? "passwordB-passwordB-22" : "passwordA-passwordA-22";
	c.send_cb = peer_send;
	c.event_cb = peer_event;
	c.ctx = p;
	c.seed = name == 'a' ? 11 : 22;
	p->w = w;
	p->name = name;
	ck_assert_int_eq(ice_new(&p->agent, &c), 0);
}

static void world_init(struct world *w, const struct world_opts *o)
{
	memset(w, 0, sizeof(*w));
	w->now = 1 * SEC; /* an arbitrary origin */
	w->keepalive_host = -1;
	sa(&stun_server, "192.0.2.100", 3478);
	ck_assert_int_eq(simnet_new(&w->net, o->delay ? o->delay : 10 * MS), 0);
	simnet_set_tap(w->net, tap, w);
	make_agent(w, &w->a, 'a', ICE_CONTROLLING, o);
	make_agent(w, &w->b, 'b', o->both_controlling ? ICE_CONTROLLING : ICE_CONTROLLED, o);
	w->a.host = simnet_add_host(w->net, o->nat_a == SIMNAT_NONE ? "198.51.100.1" : "10.1.0.2",
				    5000, o->nat_a, "203.0.113.1", peer_recv, &w->a);
	w->b.host = simnet_add_host(w->net, o->nat_b == SIMNAT_NONE ? "198.51.100.2" : "10.2.0.2",
				    6000, o->nat_b, "203.0.113.2", peer_recv, &w->b);

	/* Each side learns host + server-reflexive candidates and tells the
	 * other, as the signalling would. */
	struct peer *ps[2] = { &w->a, &w->b };
	for (int i = 0; i < 2; i++) {
		struct ice_cand host = { .type = ICE_CAND_HOST }, srflx = { .type = ICE_CAND_SRFLX };
		char s[80];
		simnet_host_addr(w->net, ps[i]->host, &host.addr);
		simnet_stun_query(w->net, ps[i]->host, (const struct sockaddr *)&stun_server,
				  &srflx.addr);
		ck_assert_int_eq(ice_add_local(ps[i]->agent, &host), 0);
		ck_assert_int_eq(ice_add_local(ps[i]->agent, &srflx), 0);
		/* through the string form, like the real signalling */
		ck_assert_int_gt(ice_cand_format(&host, s, sizeof(s)), 0);
		ck_assert_int_eq(ice_add_remote_str(ps[1 - i]->agent, s), 0);
		ck_assert_int_gt(ice_cand_format(&srflx, s, sizeof(s)), 0);
		ck_assert_int_eq(ice_add_remote_str(ps[1 - i]->agent, s), 0);
	}
}

static void world_free(struct world *w)
{
	ice_free(w->a.agent);
	ice_free(w->b.agent);
	simnet_free(w->net);
}

static uint64_t min3(uint64_t x, uint64_t y, uint64_t z)
{
	uint64_t m = x < y ? x : y;
	return m < z ? m : z;
}

/* Runs the world until `until` (absolute), or until stop() says so. */
static void run_until(struct world *w, uint64_t until, bool (*stop)(struct world *))
{
	for (int guard = 0; guard < 1000000; guard++) {
		uint64_t t = min3(ice_next_deadline(w->a.agent), ice_next_deadline(w->b.agent),
				  simnet_next(w->net));
		if (t > until)
			break;
		if (t > w->now)
			w->now = t;
		simnet_run(w->net, w->now);
		if (ice_next_deadline(w->a.agent) <= w->now)
			ice_tick(w->a.agent, w->now);
		if (ice_next_deadline(w->b.agent) <= w->now)
			ice_tick(w->b.agent, w->now);
		if (stop && stop(w))
			return;
	}
	ck_assert_uint_le(w->now, until);
	w->now = until;
}

static bool both_done(struct world *w)
{
	return (w->a.n_selected || w->a.n_failed) && (w->b.n_selected || w->b.n_failed);
}

static void start_both(struct world *w, const struct world_opts *o)
{
	ck_assert_int_eq(ice_start(w->a.agent, w->now), 0);
	if (!o->b_no_start)
		ck_assert_int_eq(ice_start(w->b.agent, w->now), 0);
}

/* Both sides selected, and each one's remote is where the other's packets
 * really come from (as the NAT translates them): they agree on the pair. */
static void assert_agree_remotes(struct world *w)
{
	struct ice_cand la, ra, lb, rb;
	struct sockaddr_storage seen;

	ck_assert_int_eq(w->a.n_selected, 1);
	ck_assert_int_eq(w->b.n_selected, 1);
	ck_assert_int_eq(ice_selected(w->a.agent, &la, &ra), 0);
	ck_assert_int_eq(ice_selected(w->b.agent, &lb, &rb), 0);
	ck_assert(ice_addr_equal((struct sockaddr *)&ra.addr,
				 (struct sockaddr *)&w->a.sel_remote.addr));
	ck_assert(simnet_mapping(w->net, w->a.host, (struct sockaddr *)&ra.addr, &seen));
	ck_assert(ice_addr_equal((struct sockaddr *)&seen, (struct sockaddr *)&rb.addr));
	ck_assert(simnet_mapping(w->net, w->b.host, (struct sockaddr *)&rb.addr, &seen));
	ck_assert(ice_addr_equal((struct sockaddr *)&seen, (struct sockaddr *)&ra.addr));
	ck_assert_int_eq(ice_get_state(w->a.agent), ICE_STATE_CONNECTED);
	ck_assert_int_eq(ice_get_state(w->b.agent), ICE_STATE_CONNECTED);
}

/* The same, and each side's local is what the other sees as its remote.
 * The controlled side may select on the nomination before its own check
 * told it its mapped address; the first consent answer does, so this
 * holds a few seconds after selection. */
static void assert_agree(struct world *w)
{
	struct ice_cand la, ra, lb, rb;

	assert_agree_remotes(w);
	run_until(w, w->now + 12 * SEC, NULL);
	ck_assert_int_eq(ice_selected(w->a.agent, &la, &ra), 0);
	ck_assert_int_eq(ice_selected(w->b.agent, &lb, &rb), 0);
	ck_assert(ice_addr_equal((struct sockaddr *)&la.addr, (struct sockaddr *)&rb.addr));
	ck_assert(ice_addr_equal((struct sockaddr *)&lb.addr, (struct sockaddr *)&ra.addr));
}

/* ---- NAT matrix ---- */

static bool nat_pair_works(enum simnat_type x, enum simnat_type y)
{
	if (x == SIMNAT_SYMMETRIC && (y == SIMNAT_SYMMETRIC || y == SIMNAT_PORT_RESTRICTED))
		return false;
	if (y == SIMNAT_SYMMETRIC && x == SIMNAT_PORT_RESTRICTED)
		return false;
	return true;
}

START_TEST(test_nat_matrix)
{
	enum simnat_type na = (enum simnat_type)(_i / 5), nb = (enum simnat_type)(_i % 5);
	struct world_opts o = { .nat_a = na, .nat_b = nb, .delay = 15 * MS };
	struct world w;

	world_init(&w, &o);
	start_both(&w, &o);
	run_until(&w, w.now + 20 * SEC, both_done);
	bool works = nat_pair_works(na, nb);
	const char *an = simnat_type_name(na), *bn = simnat_type_name(nb);
	if (works) {
		ck_assert_msg(w.a.n_selected == 1 && w.b.n_selected == 1,
			      "%s vs %s: expected a pair (a: sel %d fail %d, b: sel %d fail %d)",
			      an, bn, w.a.n_selected, w.a.n_failed, w.b.n_selected, w.b.n_failed);
		assert_agree(&w);
		ck_assert_int_eq(w.a.n_failed + w.b.n_failed, 0);
		/* Setup time: a few round trips, well under a second. */
		ck_assert_uint_lt(w.a.t_selected - 1 * SEC, 1 * SEC);
		/* Direct paths between two hosts without NAT are host pairs;
		 * a symmetric NAT yields a peer-reflexive remote on the other
		 * side. */
		if (na == SIMNAT_NONE && nb == SIMNAT_NONE) {
			ck_assert_int_eq(w.a.sel_remote.type, ICE_CAND_HOST);
			ck_assert_int_eq(w.b.sel_remote.type, ICE_CAND_HOST);
		}
		if (na == SIMNAT_SYMMETRIC)
			ck_assert_int_eq(w.b.sel_remote.type, ICE_CAND_PRFLX);
		if (nb == SIMNAT_SYMMETRIC)
			ck_assert_int_eq(w.a.sel_remote.type, ICE_CAND_PRFLX);
		if (na != SIMNAT_SYMMETRIC && nb != SIMNAT_SYMMETRIC) {
			ck_assert_int_ne(w.a.sel_remote.type, ICE_CAND_PRFLX);
			ck_assert_int_ne(w.b.sel_remote.type, ICE_CAND_PRFLX);
		}
		/* Consent keeps flowing through every NAT that let the pair
		 * work: nothing lost in 45 s, nothing changed. */
		run_until(&w, w.now + 45 * SEC, NULL);
		ck_assert_int_eq(w.a.n_consent_lost + w.b.n_consent_lost, 0);
		ck_assert_int_eq(w.a.n_remote_changed + w.b.n_remote_changed, 0);
		ck_assert_uint_ge(ice_get_stats(w.a.agent)->consent_sent, 7);
		ck_assert_uint_ge(ice_get_stats(w.b.agent)->consent_sent, 7);
		assert_agree(&w);
	} else {
		ck_assert_msg(w.a.n_failed == 1 && w.b.n_failed == 1,
			      "%s vs %s: expected failure on both sides", an, bn);
		ck_assert_int_eq(w.a.n_selected + w.b.n_selected, 0);
		ck_assert_str_eq(w.a.fail_reason, "all-pairs-failed");
		ck_assert_int_eq(ice_get_state(w.a.agent), ICE_STATE_FAILED);
		/* 100+200+400+800+1600+1600 ms of retransmissions, plus pacing */
		ck_assert_uint_ge(w.a.t_failed - 1 * SEC, 4700 * MS);
		ck_assert_uint_lt(w.a.t_failed - 1 * SEC, 5 * SEC);
		ck_assert_uint_ge(ice_get_stats(w.a.agent)->pairs_failed, 2);
		/* After failure the agents go quiet. */
		ck_assert_uint_eq(ice_next_deadline(w.a.agent), UINT64_MAX);
	}
	world_free(&w);
}
END_TEST

/* 10% to 50% of the packets lost (both ways, 3 seeds each):
 * retransmissions carry the checks through, both sides still agree, and
 * consent survives the loss. */
START_TEST(test_lossy_path)
{
	struct world_opts o = { .nat_a = SIMNAT_PORT_RESTRICTED, .nat_b = SIMNAT_RESTRICTED,
				.delay = 40 * MS };
	struct world w;

	world_init(&w, &o);
	simnet_set_loss(w.net, 10 * (unsigned)(_i / 3 + 1), (uint64_t)_i + 1);
	start_both(&w, &o);
	run_until(&w, w.now + 10 * SEC, both_done);
	assert_agree(&w);
	run_until(&w, w.now + 60 * SEC, NULL);
	ck_assert_uint_gt(simnet_counters(w.net)->lost, 0);
	ck_assert_int_eq(w.a.n_consent_lost + w.b.n_consent_lost, 0);
	assert_agree(&w);
	world_free(&w);
}
END_TEST

/* ---- pacing and retransmission ---- */

START_TEST(test_pacing_and_retransmit)
{
	struct world_opts o = { .nat_a = SIMNAT_NONE, .nat_b = SIMNAT_NONE };
	struct world w;

	world_init(&w, &o);
	/* A has two remote candidates; B never answers. */
	simnet_blackhole(w.net, w.b.host, true);
	simnet_host_addr(w.net, w.b.host, &w.tap_dst);
	uint64_t t0 = w.now;
	ck_assert_int_eq(ice_start(w.a.agent, t0), 0);
	/* the first check goes out at once */
	ck_assert_int_eq(w.n_tap_times, 1);
	run_until(&w, t0 + 20 * SEC, both_done);
	/* Retransmissions to B's address: 0, 100, 300, 700, 1500, 3100 ms;
	 * failure 1600 ms after the last. */
	ck_assert_int_eq(w.n_tap_times, 6);
	static const uint64_t at[] = { 0, 100, 300, 700, 1500, 3100 };
	for (int i = 0; i < 6; i++)
		ck_assert_uint_eq(w.tap_times[i] - t0, at[i] * MS);
	ck_assert_int_eq(w.a.n_failed, 1);
	/* Both pairs' checks are paced 5 ms apart, so the second pair
	 * (srflx == host here, merged) ... with no NAT both candidates are
	 * the same address, merged into one pair. */
	ck_assert_uint_eq(ice_remote_count(w.a.agent), 1);
	ck_assert_uint_eq(w.a.t_failed - t0, 4700 * MS);
	const struct ice_stats *st = ice_get_stats(w.a.agent);
	ck_assert_uint_eq(st->checks_sent, 1);
	ck_assert_uint_eq(st->retransmits, 5);
	world_free(&w);
}
END_TEST

START_TEST(test_pacing_multiple_pairs)
{
	struct world_opts o = { .nat_a = SIMNAT_NONE, .nat_b = SIMNAT_FULL_CONE };
	struct world w;
	struct sockaddr_storage extra;

	world_init(&w, &o);
	/* more remote candidates: checks must be 5 ms apart, best first */
	for (int i = 0; i < 4; i++) {
		char s[64];
		snprintf(s, sizeof(s), "host/192.0.2.%d/7000", 10 + i);
		ck_assert_int_eq(ice_add_remote_str(w.a.agent, s), 0);
	}
	sa(&extra, "192.0.2.13", 7000);
	w.tap_dst = extra;
	simnet_blackhole(w.net, w.b.host, true);
	uint64_t t0 = w.now;
	ice_start(w.a.agent, t0);
	run_until(&w, t0 + 100 * MS, NULL);
	/* 6 remote candidates: B's host (unreachable), B's srflx, 4 extra
	 * host candidates: after 30 ms all have had their first check. */
	ck_assert_uint_eq(ice_get_stats(w.a.agent)->checks_sent, 6);
	/* the last extra host candidate (lowest local preference of the
	 * hosts) went out 5th, at 20 ms: hosts before srflx */
	ck_assert_int_eq(w.n_tap_times, 1);
	ck_assert_uint_eq(w.tap_times[0] - t0, 20 * MS);
	world_free(&w);
}
END_TEST

/* ---- credentials ---- */

/* A stranger who knows the ufrags but not the password sends nominating
 * checks to B: all dropped, nothing learnt, nothing selected. */
START_TEST(test_stranger_requests)
{
	struct world_opts o = { .nat_a = SIMNAT_NONE, .nat_b = SIMNAT_NONE };
	struct world w;
	struct sockaddr_storage stranger, b_addr;
	uint8_t buf[256];
	uint8_t txid[12] = { 1, 2, 3 };

	world_init(&w, &o);
	sa(&stranger, "192.0.2.66", 6666);
	simnet_host_addr(w.net, w.b.host, &b_addr);
	ck_assert_int_eq(ice_start(w.b.agent, w.now), 0);
	size_t nremote = ice_remote_count(w.b.agent);
	static const char *keys[] = { "wrong-password", "passwordA-passwordA-22x", "" };
	static const char *users[] = { "ufragB:ufragA", "ufragB:ufragA", "ufragB:ufragA",
				       "ufragX:ufragA", "ufragB:ufragX" };
	for (int i = 0; i < 5; i++) {
		struct stun_binding_opts so = {
			.username = users[i],
			/* the right password with a wrong username, too */
			.key = (const uint8_t *)(i < 3 ? keys[i] : "passwordB-passwordB-22"),
			.keylen = strlen(i < 3 ? keys[i] : "passwordB-passwordB-22"),
			.priority = 0x7effffff,
			.use_candidate = true,
			.ice_controlling = true,
			.tiebreaker = UINT64_MAX,
		};
		txid[11] = (uint8_t)i;
		ssize_t n = stun_build_binding_request(buf, sizeof(buf), txid, &so);
		ck_assert_int_gt(n, 0);
		simnet_inject(w.net, w.now, (struct sockaddr *)&stranger,
			      (struct sockaddr *)&b_addr, buf, (size_t)n);
	}
	/* and one without integrity at all */
	struct stun_binding_opts noauth = { .username = "ufragB:ufragA", .use_candidate = true };
	ssize_t n = stun_build_binding_request(buf, sizeof(buf), txid, &noauth);
	simnet_inject(w.net, w.now, (struct sockaddr *)&stranger, (struct sockaddr *)&b_addr,
		      buf, (size_t)n);
	run_until(&w, w.now + 50 * MS, NULL);
	const struct ice_stats *st = ice_get_stats(w.b.agent);
	ck_assert_uint_eq(st->dropped_bad_credentials, 6);
	ck_assert_uint_eq(st->requests_received, 0);
	ck_assert_uint_eq(st->prflx_learned, 0);
	ck_assert_uint_eq(st->role_conflicts, 0);
	ck_assert_uint_eq(ice_remote_count(w.b.agent), nremote);
	ck_assert_int_eq(ice_get_role(w.b.agent), ICE_CONTROLLED);
	ck_assert_int_eq(w.b.n_selected, 0);

	/* Now the real peer: it connects normally despite the noise. */
	ice_start(w.a.agent, w.now);
	run_until(&w, w.now + 5 * SEC, both_done);
	assert_agree(&w);
	world_free(&w);
}
END_TEST

/* A stranger who sees A's checks (on-path) answers them with the right
 * transaction id but without B's password, while B is unreachable: A must
 * not accept those answers and ends up failing. */
START_TEST(test_stranger_responses)
{
	struct world_opts o = { .nat_a = SIMNAT_NONE, .nat_b = SIMNAT_NONE };
	struct world w;

	world_init(&w, &o);
	simnet_blackhole(w.net, w.b.host, true);
	w.sniff = true;
	ice_start(w.a.agent, w.now);
	uint64_t end = w.now + 20 * SEC;
	int forged = 0;
	while (w.now < end && !w.a.n_failed) {
		run_until(&w, w.now + 1 * MS, NULL);
		if (!w.sniffed_len)
			continue;
		struct stun_msg req;
		ck_assert_int_eq(stun_parse(w.sniffed, w.sniffed_len, &req), 0);
		uint8_t buf[256];
		struct stun_writer sw;
		struct sockaddr_storage a_addr;
		simnet_host_addr(w.net, w.a.host, &a_addr);
		stun_writer_init(&sw, buf, sizeof(buf), STUN_METHOD_BINDING,
				 STUN_CLASS_SUCCESS, req.txid);
		stun_put_xor_address(&sw, STUN_ATTR_XOR_MAPPED_ADDRESS, (struct sockaddr *)&a_addr);
		/* forged with A's own password (which the stranger might
		 * guess is used both ways): still wrong */
		stun_put_integrity(&sw, (const uint8_t *)"passwordA-passwordA-22", 22);
		ssize_t n = stun_writer_finish(&sw, true);
		simnet_inject(w.net, w.now, (struct sockaddr *)&w.sniffed_dst,
			      (struct sockaddr *)&a_addr, buf, (size_t)n);
		forged++;
		w.sniffed_len = 0;
	}
	ck_assert_int_gt(forged, 3);
	ck_assert_int_eq(w.a.n_selected, 0);
	ck_assert_int_eq(w.a.n_failed, 1);
	ck_assert_uint_eq(ice_get_stats(w.a.agent)->dropped_bad_credentials, (uint64_t)forged);
	ck_assert_uint_eq(ice_get_stats(w.a.agent)->responses_received, 0);
	world_free(&w);
}
END_TEST

/* ---- late start, role conflict, IPv6 ---- */

/* B answers checks before it has started (its user has not answered
 * yet), learning A as peer-reflexive; once started it connects at once. */
START_TEST(test_answers_before_start)
{
	struct world_opts o = { .nat_a = SIMNAT_PORT_RESTRICTED, .nat_b = SIMNAT_FULL_CONE,
				.b_no_start = true };
	struct world w;

	world_init(&w, &o);
	start_both(&w, &o);
	run_until(&w, w.now + 300 * MS, NULL);
	ck_assert_int_eq(ice_get_state(w.b.agent), ICE_STATE_NEW);
	ck_assert_uint_gt(ice_get_stats(w.b.agent)->requests_received, 0);
	ck_assert_uint_eq(ice_get_stats(w.b.agent)->checks_sent, 0);
	/* A's port-restricted (cone) mapping is its advertised srflx */
	ck_assert_uint_eq(ice_get_stats(w.b.agent)->prflx_learned, 0);
	/* B's answers were enough for A to nominate (as in RFC 8445); B
	 * remembers the nomination and selects once its own check works. */
	ck_assert_int_eq(w.a.n_selected, 1);
	ck_assert_int_eq(w.b.n_selected, 0);
	ck_assert_int_eq(ice_start(w.b.agent, w.now), 0);
	ck_assert_int_eq(ice_start(w.b.agent, w.now), -EALREADY);
	uint64_t t = w.now;
	run_until(&w, w.now + 10 * SEC, both_done);
	assert_agree(&w);
	/* B's triggered check goes out first thing: a round trip or two. */
	ck_assert_uint_lt(w.b.t_selected - t, 200 * MS);
	world_free(&w);
}
END_TEST

START_TEST(test_role_conflict)
{
	struct world_opts o = { .nat_a = SIMNAT_FULL_CONE, .nat_b = SIMNAT_RESTRICTED,
				.both_controlling = true };
	struct world w;

	world_init(&w, &o);
	start_both(&w, &o);
	run_until(&w, w.now + 10 * SEC, both_done);
	assert_agree(&w);
	ck_assert_int_ne(ice_get_role(w.a.agent), ice_get_role(w.b.agent));
	ck_assert_uint_gt(ice_get_stats(w.a.agent)->role_conflicts +
			  ice_get_stats(w.b.agent)->role_conflicts, 0);
	world_free(&w);
}
END_TEST

START_TEST(test_ipv6_and_families)
{
	struct world_opts o = { 0 };
	struct world w;

	memset(&w, 0, sizeof(w));
	w.now = SEC;
	w.keepalive_host = -1;
	ck_assert_int_eq(simnet_new(&w.net, 5 * MS), 0);
	make_agent(&w, &w.a, 'a', ICE_CONTROLLING, &o);
	make_agent(&w, &w.b, 'b', ICE_CONTROLLED, &o);
	w.a.host = simnet_add_host(w.net, "2001:db8::a", 5000, SIMNAT_NONE, NULL, peer_recv, &w.a);
	w.b.host = simnet_add_host(w.net, "2001:db8::b", 6000, SIMNAT_NONE, NULL, peer_recv, &w.b);
	ck_assert_int_eq(ice_add_local(w.a.agent, &(struct ice_cand){ .type = ICE_CAND_HOST,
			 .addr = { 0 } }), -EINVAL);
	struct ice_cand c;
	/* A's IPv4 address goes in first, its IPv6 one only after the
	 * remote candidates: the IPv6 pair must still be checked. */
	ice_cand_parse("host/192.0.2.50/5000", &c);
	ice_add_local(w.a.agent, &c);
	ice_cand_parse("host/2001:db8::b/6000", &c);
	ice_add_local(w.b.agent, &c);
	/* B also advertises an IPv4 address (unreachable: B has none);
	 * B has no IPv4 local candidate so never checks A's. */
	ck_assert_int_eq(ice_add_remote_str(w.a.agent, "host/192.0.2.9/6000"), 0);
	ck_assert_int_eq(ice_add_remote_str(w.a.agent, "host/2001:db8::b/6000"), 0);
	ck_assert_int_eq(ice_add_remote_str(w.b.agent, "host/2001:db8::a/5000"), 0);
	ice_cand_parse("host/2001:db8::a/5000", &c);
	ice_add_local(w.a.agent, &c);
	start_both(&w, &o);
	run_until(&w, w.now + 5 * SEC, both_done);
	assert_agree(&w);
	ck_assert_int_eq(w.a.sel_remote.addr.ss_family, AF_INET6);
	/* v6 check + v4 check + nomination */
	ck_assert_uint_eq(ice_get_stats(w.a.agent)->checks_sent, 3);
	/* B never checked anything but A's IPv6 address */
	ck_assert_uint_eq(ice_get_stats(w.b.agent)->checks_sent, 1);
	world_free(&w);
}
END_TEST

/* ---- after selection ---- */

static bool a_selected(struct world *w)
{
	return w->a.n_selected && w->b.n_selected;
}

START_TEST(test_consent_expiry)
{
	struct world_opts o = { .nat_a = SIMNAT_FULL_CONE, .nat_b = SIMNAT_FULL_CONE };
	struct world w;

	world_init(&w, &o);
	start_both(&w, &o);
	run_until(&w, w.now + 5 * SEC, a_selected);
	assert_agree(&w);
	/* A minute of health: consent requests flow, nothing is lost. */
	run_until(&w, w.now + 60 * SEC, NULL);
	ck_assert_int_eq(w.a.n_consent_lost + w.b.n_consent_lost, 0);
	ck_assert_uint_ge(ice_get_stats(w.a.agent)->consent_sent, 10);
	ck_assert_uint_le(ice_get_stats(w.a.agent)->consent_sent, 16);
	/* Then B vanishes. */
	uint64_t t = w.now;
	simnet_blackhole(w.net, w.b.host, true);
	/* B's last answer reached A 10 ms after it left; consent is lost 30 s
	 * after that, to the microsecond, and not before. */
	uint64_t last = w.last_b_success + 10 * MS;
	ck_assert_uint_gt(last, t - 7 * SEC);
	run_until(&w, last + 30 * SEC - 1, NULL);
	ck_assert_int_eq(w.a.n_consent_lost, 0);
	run_until(&w, t + 40 * SEC, NULL);
	ck_assert_int_eq(w.a.n_consent_lost, 1);
	ck_assert_uint_eq(w.a.t_consent_lost, last + 30 * SEC);
	/* B hears nothing either and loses consent too */
	ck_assert_int_eq(w.b.n_consent_lost, 1);
	ck_assert_int_eq(ice_get_state(w.a.agent), ICE_STATE_CONSENT_LOST);
	ck_assert_uint_eq(ice_next_deadline(w.a.agent), UINT64_MAX);
	world_free(&w);
}
END_TEST

START_TEST(test_keepalive_timing)
{
	struct world_opts o = { .nat_a = SIMNAT_RESTRICTED, .nat_b = SIMNAT_NONE,
				.cfg = { .consent_interval_us = ICE_NEVER,
					 .consent_timeout_us = ICE_NEVER } };
	struct world w;

	world_init(&w, &o);
	start_both(&w, &o);
	run_until(&w, w.now + 5 * SEC, a_selected);
	assert_agree(&w);
	w.keepalive_host = w.a.host;
	uint64_t t0 = w.a.t_selected;
	/* idle: keepalives at 15 s, 30 s after selection */
	run_until(&w, t0 + 31 * SEC, NULL);
	ck_assert_int_eq(w.n_keepalives, 2);
	ck_assert_uint_eq(w.keepalive_times[0], t0 + 15 * SEC);
	ck_assert_uint_eq(w.keepalive_times[1], t0 + 30 * SEC);
	/* media sent at 40 s pushes the next one to 55 s */
	run_until(&w, t0 + 40 * SEC, NULL);
	ice_note_sent(w.a.agent, w.now);
	run_until(&w, t0 + 56 * SEC, NULL);
	ck_assert_int_eq(w.n_keepalives, 3);
	ck_assert_uint_eq(w.keepalive_times[2], t0 + 55 * SEC);
	ck_assert_uint_eq(ice_get_stats(w.a.agent)->keepalives_sent, 3);
	ck_assert_uint_eq(ice_get_stats(w.a.agent)->consent_sent, 0);
	world_free(&w);
}
END_TEST

/* A's NAT forgets its mapping; A's next consent check leaves from a new
 * port; B checks the new address and adopts it. */
START_TEST(test_rebinding)
{
	struct world_opts o = { .nat_a = SIMNAT_PORT_RESTRICTED, .nat_b = SIMNAT_FULL_CONE };
	struct world w;
	struct sockaddr_storage before, after;

	world_init(&w, &o);
	start_both(&w, &o);
	run_until(&w, w.now + 5 * SEC, a_selected);
	assert_agree(&w);
	before = w.b.sel_remote.addr;
	simnet_rebind(w.net, w.a.host);
	uint64_t t = w.now;
	run_until(&w, t + 10 * SEC, NULL);
	ck_assert_int_eq(w.b.n_remote_changed, 1);
	ck_assert_uint_le(w.b.t_remote_changed - t, 7 * SEC);
	ck_assert(simnet_mapping(w.net, w.a.host, (struct sockaddr *)&w.a.sel_remote.addr,
				 &after));
	ck_assert(!ice_addr_equal((struct sockaddr *)&before, (struct sockaddr *)&after));
	ck_assert(ice_addr_equal((struct sockaddr *)&w.b.sel_remote.addr,
				 (struct sockaddr *)&after));
	struct ice_cand r;
	ice_selected(w.b.agent, NULL, &r);
	ck_assert(ice_addr_equal((struct sockaddr *)&r.addr, (struct sockaddr *)&after));
	ck_assert_int_eq(r.type, ICE_CAND_PRFLX);
	/* and the path stays alive: no consent loss a minute later */
	run_until(&w, w.now + 60 * SEC, NULL);
	ck_assert_int_eq(w.a.n_consent_lost + w.b.n_consent_lost, 0);
	ck_assert_int_eq(w.a.n_selected + w.b.n_selected, 2);
	assert_agree(&w);
	world_free(&w);
}
END_TEST

/* Both NATs filter by address and port: after A's NAT rebinds, B's NAT
 * drops A's packets from the new address, so B can never learn it by
 * itself. Once the new address is signalled (ice_probe_remote), B checks
 * it, which opens B's NAT, and adopts it within a round trip or two. */
START_TEST(test_rebinding_signalled)
{
	struct world_opts o = { .nat_a = SIMNAT_PORT_RESTRICTED, .nat_b = SIMNAT_PORT_RESTRICTED };
	struct world w;
	struct sockaddr_storage after;

	world_init(&w, &o);
	start_both(&w, &o);
	run_until(&w, w.now + 5 * SEC, a_selected);
	assert_agree(&w);
	simnet_rebind(w.net, w.a.host);
	run_until(&w, w.now + 10 * SEC, NULL);
	ck_assert_int_eq(w.b.n_remote_changed, 0); /* the problem */

	ck_assert(simnet_mapping(w.net, w.a.host, (struct sockaddr *)&w.a.sel_remote.addr, &after));
	struct ice_cand c = { .type = ICE_CAND_SRFLX };
	c.addr = after;
	uint64_t t = w.now;
	ck_assert_int_eq(ice_probe_remote(w.b.agent, w.now, &c), 0);
	run_until(&w, t + 2 * SEC, NULL);
	ck_assert_int_eq(w.b.n_remote_changed, 1);
	ck_assert_uint_le(w.b.t_remote_changed - t, 1 * SEC);
	struct ice_cand r;
	ice_selected(w.b.agent, NULL, &r);
	ck_assert(ice_addr_equal((struct sockaddr *)&r.addr, (struct sockaddr *)&after));
	/* and the path holds: no consent loss a minute later */
	run_until(&w, w.now + 60 * SEC, NULL);
	ck_assert_int_eq(w.a.n_consent_lost + w.b.n_consent_lost, 0);
	world_free(&w);
}
END_TEST

/* ---- API edges ---- */

static void null_send(void *ctx, const struct sockaddr *d, socklen_t l, const uint8_t *b,
		      size_t n)
{
	(void)ctx; (void)d; (void)l; (void)b; (void)n;
}

START_TEST(test_api_edges)
{
	struct ice_agent *a = NULL;
	struct ice_config c = { .role = ICE_CONTROLLING, .local_ufrag = "abcd",
				.local_pwd = "pw", .send_cb = null_send };

	ck_assert_int_eq(ice_new(&a, NULL), -EINVAL);
	c.local_ufrag = "abc"; /* too short */
	ck_assert_int_eq(ice_new(&a, &c), -EINVAL);
	c.local_ufrag = "ab:cd";
	ck_assert_int_eq(ice_new(&a, &c), -EINVAL);
	c.local_ufrag = "abcd";
	c.remote_ufrag = "x"; /* without a password */
	ck_assert_int_eq(ice_new(&a, &c), -EINVAL);
	c.remote_ufrag = NULL;
	c.send_cb = NULL;
	ck_assert_int_eq(ice_new(&a, &c), -EINVAL);
	c.send_cb = null_send;
	ck_assert_int_eq(ice_new(&a, &c), 0);
	ck_assert_int_eq(ice_start(a, 0), -EINVAL); /* no remote credentials */
	ck_assert_int_eq(ice_set_remote(a, "a:b", "p"), -EINVAL);
	ck_assert_int_eq(ice_set_remote(a, "efgh", "p"), 0);
	ck_assert_int_eq(ice_selected(a, NULL, NULL), -ENOENT);
	ck_assert_int_eq(ice_add_remote_str(a, "nonsense"), -EINVAL);
	for (int i = 0; i < 32; i++) {
		char s[64];
		snprintf(s, sizeof(s), "host/192.0.2.1/%d", 1000 + i);
		ck_assert_int_eq(ice_add_remote_str(a, s), 0);
	}
	ck_assert_int_eq(ice_add_remote_str(a, "host/192.0.2.1/1000"), 0); /* merged */
	ck_assert_int_eq(ice_add_remote_str(a, "host/192.0.2.1/999"), -ENOSPC);
	/* Not STUN: not consumed. A response to an unknown transaction: not
	 * consumed either (it may be the client's own server query). */
	struct sockaddr_storage from;
	sa(&from, "192.0.2.1", 1000);
	uint8_t rtp[40] = { 0x80, 0x60 };
	ck_assert(!ice_handle_packet(a, 1, (struct sockaddr *)&from, rtp, sizeof(rtp)));
	uint8_t buf[128];
	struct stun_writer w;
	uint8_t txid[12] = { 7 };
	stun_writer_init(&w, buf, sizeof(buf), STUN_METHOD_BINDING, STUN_CLASS_SUCCESS, txid);
	ssize_t n = stun_writer_finish(&w, true);
	ck_assert(!ice_handle_packet(a, 1, (struct sockaddr *)&from, buf, (size_t)n));
	ck_assert_uint_eq(ice_next_deadline(a), UINT64_MAX); /* not started */
	ice_free(a);
	ice_free(NULL);
}
END_TEST

/* ---- birthday probing (core/birthday.c) with the agents ---- */

#define K_BASE 20000

/* b's sockets: the main one (6000) goes to the agent; an extra one
 * (K_BASE + i) only once an authentic check came through it, which then
 * routes everything to that peer through it. */
static void b_port_recv(void *ctx, uint64_t now, uint16_t lport, const struct sockaddr *from,
			const uint8_t *buf, size_t len)
{
	struct peer *p = ctx;
	if (lport >= K_BASE) {
		bool routed = p->route_port == lport &&
			      ice_addr_equal(from, (const struct sockaddr *)&p->route_peer);
		if (!routed) {
			if (p->route_port || !ice_authentic_request(p->agent, buf, len))
				return;
			p->route_port = lport;
			memset(&p->route_peer, 0, sizeof(p->route_peer));
			memcpy(&p->route_peer, from, ice_addr_len(from));
		}
	}
	ice_handle_packet(p->agent, now, from, buf, len);
}

static bool both_selected(struct world *w)
{
	return w->a.n_selected && w->b.n_selected;
}

/* Symmetric (random ports) against a port-restricted cone: the normal
 * checks cannot open a pair; birthday probing with authenticated probes
 * does, while the held agents wait for it, and both agree on the pair. */
START_TEST(test_birthday_opens_symmetric_vs_port)
{
	struct world_opts o = { .nat_a = SIMNAT_PORT_RESTRICTED, .nat_b = SIMNAT_SYMMETRIC_RANDOM,
				.delay = 20 * MS };
	struct world w;
	world_init(&w, &o);
	simnet_set_port_seed(w.net, (uint64_t)_i + 5);
	simnet_set_port_cb(w.net, w.b.host, b_port_recv);
	w.a.lenient = true;
	start_both(&w, &o);
	ice_hold(w.a.agent, true);
	ice_hold(w.b.agent, true);
	struct sockaddr_storage a_pub, b_pub;
	simnet_stun_query(w.net, w.a.host, (struct sockaddr *)&stun_server, &a_pub);
	simnet_stun_query(w.net, w.b.host, (struct sockaddr *)&stun_server, &b_pub);
	struct birthday *pa, *sb;
	struct birthday_config ca = { .role = BIRTHDAY_PROBE, .seed = (uint64_t)_i + 1 };
	struct birthday_config cb = { .role = BIRTHDAY_SPRAY, .sockets = 256 };
	ck_assert_int_eq(birthday_new(&pa, &ca, w.now), 0);
	ck_assert_int_eq(birthday_new(&sb, &cb, w.now), 0);
	uint64_t start = w.now;
	for (int guard = 0; guard < 1000000 && !both_selected(&w); guard++) {
		struct birthday_probe out[512];
		uint8_t pkt[256];
		size_t n = birthday_poll(sb, w.now, out, 512);
		for (size_t i = 0; i < n; i++) {
			ssize_t len = ice_build_probe(w.b.agent, pkt, sizeof(pkt));
			ck_assert_int_gt(len, 0);
			simnet_send_from(w.net, w.b.host, (uint16_t)(K_BASE + out[i].socket), w.now,
					 (struct sockaddr *)&a_pub, pkt, (size_t)len);
		}
		n = birthday_poll(pa, w.now, out, 512);
		for (size_t i = 0; i < n; i++) {
			struct sockaddr_storage to = b_pub;
			((struct sockaddr_in *)&to)->sin_port = htons(out[i].port);
			ssize_t len = ice_build_probe(w.a.agent, pkt, sizeof(pkt));
			ck_assert_int_gt(len, 0);
			simnet_send(w.net, w.a.host, w.now, (struct sockaddr *)&to, pkt, (size_t)len);
		}
		uint64_t t = min3(ice_next_deadline(w.a.agent), ice_next_deadline(w.b.agent), simnet_next(w.net));
		t = min3(t, birthday_next_deadline(pa), birthday_next_deadline(sb));
		ck_assert_uint_ne(t, UINT64_MAX);
		if (t > w.now)
			w.now = t;
		simnet_run(w.net, w.now);
		if (ice_next_deadline(w.a.agent) <= w.now)
			ice_tick(w.a.agent, w.now);
		if (ice_next_deadline(w.b.agent) <= w.now)
			ice_tick(w.b.agent, w.now);
	}
	ck_assert_msg(both_selected(&w), "no pair (a failed %d, b failed %d)", w.a.n_failed, w.b.n_failed);
	ck_assert_int_eq(w.a.n_failed + w.b.n_failed, 0);
	/* a's remote: b's NAT mapping of an extra socket, one a probed. */
	ck_assert_int_eq(w.a.sel_remote.type, ICE_CAND_PRFLX);
	uint16_t port = ntohs(((struct sockaddr_in *)&w.a.sel_remote.addr)->sin_port);
	ck_assert(birthday_probed(pa, port));
	ck_assert_uint_ge(w.b.route_port, K_BASE);
	ck_assert(ice_addr_equal((struct sockaddr *)&w.b.sel_remote.addr, (struct sockaddr *)&a_pub));
	ck_assert_uint_lt(w.now - start, 4 * SEC);
	birthday_done(pa);
	birthday_done(sb);
	ice_hold(w.a.agent, false);
	ice_hold(w.b.agent, false);
	/* The pair carries consent from then on (over the routed socket). */
	ck_assert_int_eq(ice_get_state(w.a.agent), ICE_STATE_CONNECTED);
	ck_assert_int_eq(ice_get_state(w.b.agent), ICE_STATE_CONNECTED);
	run_until(&w, w.now + 40 * SEC, NULL);
	ck_assert_int_eq(w.a.n_consent_lost + w.b.n_consent_lost, 0);
	ck_assert_int_eq(w.a.n_remote_changed + w.b.n_remote_changed, 0);
	ck_assert_uint_ge(ice_get_stats(w.b.agent)->consent_sent, 6);
	birthday_free(pa);
	birthday_free(sb);
	world_free(&w);
}
END_TEST

/* A hold keeps a failed-looking agent checking until the check timeout,
 * or until released. */
START_TEST(test_hold_defers_failure)
{
	struct world_opts o = { .nat_a = SIMNAT_PORT_RESTRICTED, .nat_b = SIMNAT_SYMMETRIC };
	struct world w;
	world_init(&w, &o);
	start_both(&w, &o);
	uint64_t start = w.now;
	ice_hold(w.a.agent, true);
	ice_hold(w.b.agent, true);
	run_until(&w, start + 8 * SEC, NULL);
	ck_assert_int_eq(w.a.n_failed + w.b.n_failed, 0);
	ck_assert_int_eq(ice_get_state(w.a.agent), ICE_STATE_CHECKING);
	/* Released: fails at the next tick, for the real reason. */
	ice_hold(w.a.agent, false);
	ice_tick(w.a.agent, w.now);
	ck_assert_int_eq(w.a.n_failed, 1);
	ck_assert_str_eq(w.a.fail_reason, "all-pairs-failed");
	/* Still held: the check timeout ends it (10 s). */
	run_until(&w, start + 11 * SEC, NULL);
	ck_assert_int_eq(w.b.n_failed, 1);
	ck_assert_str_eq(w.b.fail_reason, "timeout");
	world_free(&w);
}
END_TEST

/* Only the peer's credentials make a request authentic; probes are
 * authentic requests that the agent does not track. */
START_TEST(test_authentic_request_and_probe)
{
	struct world_opts o = { .nat_a = SIMNAT_NONE, .nat_b = SIMNAT_NONE };
	struct world w;
	world_init(&w, &o);
	uint8_t pkt[256];
	ssize_t n = ice_build_probe(w.a.agent, pkt, sizeof(pkt));
	ck_assert_int_gt(n, 0);
	ck_assert(ice_authentic_request(w.b.agent, pkt, (size_t)n));
	ck_assert(!ice_authentic_request(w.a.agent, pkt, (size_t)n)); /* a's own */
	pkt[n - 1] ^= 1; /* fingerprint/integrity broken */
	ck_assert(!ice_authentic_request(w.b.agent, pkt, (size_t)n));
	ck_assert(!ice_authentic_request(w.b.agent, pkt, 10));
	ck_assert_int_eq(ice_build_probe(w.a.agent, pkt, 20), -ENOSPC);
	/* A stranger with other credentials. */
	struct ice_agent *x;
	struct ice_config c = { .role = ICE_CONTROLLING, .local_ufrag = "ufragA", .local_pwd = "wrong",
				.remote_ufrag = "ufragB", .remote_pwd = "guess", .send_cb = peer_send };
	ck_assert_int_eq(ice_new(&x, &c), 0);
	n = ice_build_probe(x, pkt, sizeof(pkt));
	ck_assert(!ice_authentic_request(w.b.agent, pkt, (size_t)n));
	ice_free(x);
	/* No remote credentials yet: no probe. */
	c.remote_ufrag = c.remote_pwd = NULL;
	ck_assert_int_eq(ice_new(&x, &c), 0);
	ck_assert_int_eq(ice_build_probe(x, pkt, sizeof(pkt)), -EINVAL);
	ice_free(x);
	world_free(&w);
}
END_TEST

Suite *ice_suite(void);
Suite *ice_suite(void)
{
	Suite *s = suite_create("ice");
	TCase *tc = tcase_create("cand");
	tcase_add_test(tc, test_priority_formulas);
	tcase_add_test(tc, test_cand_strings);
	tcase_add_test(tc, test_api_edges);
	suite_add_tcase(s, tc);

	tc = tcase_create("simnat");
	tcase_set_timeout(tc, 30);
	tcase_add_loop_test(tc, test_nat_matrix, 0, 25);
	tcase_add_loop_test(tc, test_lossy_path, 0, 15);
	tcase_add_test(tc, test_pacing_and_retransmit);
	tcase_add_test(tc, test_pacing_multiple_pairs);
	tcase_add_test(tc, test_stranger_requests);
	tcase_add_test(tc, test_stranger_responses);
	tcase_add_test(tc, test_answers_before_start);
	tcase_add_test(tc, test_role_conflict);
	tcase_add_test(tc, test_ipv6_and_families);
	tcase_add_test(tc, test_consent_expiry);
	tcase_add_test(tc, test_keepalive_timing);
	tcase_add_test(tc, test_rebinding);
	tcase_add_test(tc, test_rebinding_signalled);
	tcase_add_loop_test(tc, test_birthday_opens_symmetric_vs_port, 0, 5);
	tcase_add_test(tc, test_hold_defers_failure);
	tcase_add_test(tc, test_authentic_request_and_probe);
	suite_add_tcase(s, tc);
	return s;
}
