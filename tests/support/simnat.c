/* Simulated NATs and network: see simnat.h. */
#include "simnat.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "p2pcall/ice.h"

#define MAX_HOSTS 8

struct mapping {
	struct sockaddr_storage dst; /* SYMMETRIC: the one destination */
	uint16_t lport;              /* the host's local port */
	uint16_t port;               /* public port */
	struct sockaddr_storage *peers; /* destinations contacted */
	size_t n_peers, cap_peers;
};

struct host {
	struct sockaddr_storage addr;
	enum simnat_type nat;
	struct in_addr pub;
	struct mapping *maps;
	size_t n_maps, cap_maps;
	bool blackhole;
	simnet_recv_cb cb;
	simnet_recv_port_cb port_cb;
	void *ctx;
};

struct packet {
	uint64_t at;
	struct sockaddr_storage src, dst;
	size_t len;
	uint8_t buf[1500];
};

struct simnet {
	uint64_t delay;
	struct host hosts[MAX_HOSTS];
	int n_hosts;
	uint16_t next_port;
	struct packet *q;
	size_t n_q, cap_q;
	simnet_tap_cb tap;
	void *tap_ctx;
	unsigned loss_pct;
	uint64_t loss_rng;
	uint64_t port_rng;
	struct simnet_counters c;
};

const char *simnat_type_name(enum simnat_type t)
{
	static const char *names[] = { "none", "full-cone", "restricted",
				       "port-restricted", "symmetric", "symmetric-random" };
	return (unsigned)t <= SIMNAT_SYMMETRIC_RANDOM ? names[t] : "?";
}

int simnet_new(struct simnet **out, uint64_t delay_us)
{
	struct simnet *n = calloc(1, sizeof(*n));
	if (!n)
		return -1;
	n->delay = delay_us;
	n->next_port = 40000;
	n->port_rng = 0x9E3779B97F4A7C15ull;
	*out = n;
	return 0;
}

void simnet_free(struct simnet *n)
{
	if (n) {
		free(n->q);
		for (int i = 0; i < n->n_hosts; i++)
			simnet_rebind(n, i), free(n->hosts[i].maps);
	}
	free(n);
}

void simnet_set_tap(struct simnet *n, simnet_tap_cb cb, void *ctx)
{
	n->tap = cb;
	n->tap_ctx = ctx;
}

static void set_addr(struct sockaddr_storage *ss, const char *ip, uint16_t port)
{
	memset(ss, 0, sizeof(*ss));
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
	if (inet_pton(AF_INET, ip, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
	} else if (inet_pton(AF_INET6, ip, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
	} else {
		abort();
	}
}

static void copy_sa(struct sockaddr_storage *d, const struct sockaddr *s)
{
	memset(d, 0, sizeof(*d));
	memcpy(d, s, ice_addr_len(s));
}

int simnet_add_host(struct simnet *n, const char *ip, uint16_t port, enum simnat_type nat,
		    const char *public_ip, simnet_recv_cb cb, void *ctx)
{
	if (n->n_hosts >= MAX_HOSTS)
		abort();
	struct host *h = &n->hosts[n->n_hosts];
	memset(h, 0, sizeof(*h));
	set_addr(&h->addr, ip, port);
	h->nat = nat;
	if (nat != SIMNAT_NONE && inet_pton(AF_INET, public_ip, &h->pub) != 1)
		abort();
	h->cb = cb;
	h->ctx = ctx;
	return n->n_hosts++;
}

void simnet_host_addr(const struct simnet *n, int h, struct sockaddr_storage *out)
{
	*out = n->hosts[h].addr;
}

static void public_addr(const struct host *h, const struct mapping *m,
			struct sockaddr_storage *out)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)out;
	memset(out, 0, sizeof(*out));
	sin->sin_family = AF_INET;
	sin->sin_addr = h->pub;
	sin->sin_port = htons(m->port);
}

static bool edm(const struct host *h)
{
	return h->nat == SIMNAT_SYMMETRIC || h->nat == SIMNAT_SYMMETRIC_RANDOM;
}

static struct mapping *find_map(struct host *h, uint16_t lport, const struct sockaddr *dst)
{
	for (size_t i = 0; i < h->n_maps; i++) {
		struct mapping *m = &h->maps[i];
		if (m->lport == lport &&
		    (!edm(h) || ice_addr_equal((const struct sockaddr *)&m->dst, dst)))
			return m;
	}
	return NULL;
}

static bool port_in_use(const struct host *h, uint16_t port)
{
	for (size_t i = 0; i < h->n_maps; i++)
		if (h->maps[i].port == port)
			return true;
	return false;
}

/* SYMMETRIC_RANDOM: a free port of 1024..65535 (as `snat random`). */
static uint16_t random_port(struct simnet *n, const struct host *h)
{
	for (;;) {
		uint64_t z = (n->port_rng += 0x9E3779B97F4A7C15ull);
		z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
		z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
		z ^= z >> 31;
		uint16_t port = (uint16_t)(1024 + z % (65536 - 1024));
		if (!port_in_use(h, port))
			return port;
	}
}

/* Outbound translation: the mapping used (created on demand), with dst
 * remembered for filtering. */
static struct mapping *outbound(struct simnet *n, struct host *h, uint16_t lport,
				const struct sockaddr *dst)
{
	struct mapping *m = find_map(h, lport, dst);
	if (!m) {
		if (h->n_maps == h->cap_maps) {
			h->cap_maps = h->cap_maps ? 2 * h->cap_maps : 16;
			h->maps = realloc(h->maps, h->cap_maps * sizeof(*h->maps));
			if (!h->maps)
				abort();
		}
		m = &h->maps[h->n_maps++];
		memset(m, 0, sizeof(*m));
		copy_sa(&m->dst, dst);
		m->lport = lport;
		m->port = h->nat == SIMNAT_SYMMETRIC_RANDOM ? random_port(n, h) : n->next_port++;
	}
	for (size_t i = 0; i < m->n_peers; i++)
		if (ice_addr_equal((const struct sockaddr *)&m->peers[i], dst))
			return m;
	if (m->n_peers == m->cap_peers) {
		m->cap_peers = m->cap_peers ? 2 * m->cap_peers : 8;
		m->peers = realloc(m->peers, m->cap_peers * sizeof(*m->peers));
		if (!m->peers)
			abort();
	}
	copy_sa(&m->peers[m->n_peers++], dst);
	return m;
}

static uint16_t host_port(const struct host *h)
{
	return ntohs(((const struct sockaddr_in *)&h->addr)->sin_port);
}

void simnet_stun_query(struct simnet *n, int hi, const struct sockaddr *server,
		       struct sockaddr_storage *out)
{
	struct host *h = &n->hosts[hi];
	if (h->nat == SIMNAT_NONE) {
		*out = h->addr;
		return;
	}
	public_addr(h, outbound(n, h, host_port(h), server), out);
}

bool simnet_mapping(const struct simnet *n, int hi, const struct sockaddr *dst,
		    struct sockaddr_storage *out)
{
	struct host *h = (struct host *)&n->hosts[hi];
	if (h->nat == SIMNAT_NONE) {
		*out = h->addr;
		return true;
	}
	struct mapping *m = find_map(h, host_port(h), dst);
	if (!m)
		return false;
	public_addr(h, m, out);
	return true;
}

static void enqueue(struct simnet *n, uint64_t now, const struct sockaddr *src,
		    const struct sockaddr *dst, const uint8_t *buf, size_t len)
{
	if (len > sizeof(n->q[0].buf))
		abort();
	/* splitmix64: consecutive draws must be independent, or the loss
	 * pattern lines up with the agents' retransmission pattern */
	uint64_t z = (n->loss_rng += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	z ^= z >> 31;
	if (n->loss_pct && z % 100 < n->loss_pct) {
		n->c.lost++;
		return;
	}
	if (n->n_q == n->cap_q) {
		n->cap_q = n->cap_q ? 2 * n->cap_q : 64;
		n->q = realloc(n->q, n->cap_q * sizeof(*n->q));
		if (!n->q)
			abort();
	}
	/* Keep the queue sorted by time (stable for equal times). */
	uint64_t at = now + n->delay;
	size_t i = n->n_q;
	while (i > 0 && n->q[i - 1].at > at)
		i--;
	memmove(&n->q[i + 1], &n->q[i], (n->n_q - i) * sizeof(*n->q));
	struct packet *p = &n->q[i];
	p->at = at;
	copy_sa(&p->src, src);
	copy_sa(&p->dst, dst);
	memcpy(p->buf, buf, len);
	p->len = len;
	n->n_q++;
}

void simnet_send(struct simnet *n, int hi, uint64_t now, const struct sockaddr *dst,
		 const uint8_t *buf, size_t len)
{
	simnet_send_from(n, hi, host_port(&n->hosts[hi]), now, dst, buf, len);
}

void simnet_send_from(struct simnet *n, int hi, uint16_t lport, uint64_t now,
		      const struct sockaddr *dst, const uint8_t *buf, size_t len)
{
	struct host *h = &n->hosts[hi];
	struct sockaddr_storage src;

	n->c.sent++;
	if (h->blackhole) {
		n->c.blackholed++;
		return;
	}
	if (h->nat == SIMNAT_NONE) {
		src = h->addr;
	} else {
		if (dst->sa_family != AF_INET) {
			n->c.unroutable++;
			return;
		}
		public_addr(h, outbound(n, h, lport, dst), &src);
	}
	if (n->tap)
		n->tap(n->tap_ctx, now, hi, (const struct sockaddr *)&src, dst, buf, len);
	enqueue(n, now, (const struct sockaddr *)&src, dst, buf, len);
}

void simnet_inject(struct simnet *n, uint64_t now, const struct sockaddr *src,
		   const struct sockaddr *dst, const uint8_t *buf, size_t len)
{
	n->c.sent++;
	enqueue(n, now, src, dst, buf, len);
}

uint64_t simnet_next(const struct simnet *n)
{
	return n->n_q ? n->q[0].at : UINT64_MAX;
}

static bool filter_ok(const struct host *h, const struct mapping *m,
		      const struct sockaddr *src)
{
	const struct sockaddr_in *s = (const struct sockaddr_in *)src;
	for (size_t i = 0; i < m->n_peers; i++) {
		const struct sockaddr_in *p = (const struct sockaddr_in *)&m->peers[i];
		switch (h->nat) {
		case SIMNAT_FULL_CONE:
			return true;
		case SIMNAT_RESTRICTED:
			if (p->sin_addr.s_addr == s->sin_addr.s_addr)
				return true;
			break;
		default:
			if (ice_addr_equal((const struct sockaddr *)p, src))
				return true;
			break;
		}
	}
	return h->nat == SIMNAT_FULL_CONE;
}

/* Which host receives a packet to dst, or -1; *lport: at which local port. */
static int route(struct simnet *n, const struct packet *p, uint16_t *lport)
{
	const struct sockaddr *dst = (const struct sockaddr *)&p->dst;
	for (int i = 0; i < n->n_hosts; i++) {
		struct host *h = &n->hosts[i];
		if (h->nat == SIMNAT_NONE) {
			if (ice_addr_equal(dst, (const struct sockaddr *)&h->addr)) {
				*lport = host_port(h);
				return i;
			}
			continue;
		}
		const struct sockaddr_in *d = (const struct sockaddr_in *)dst;
		if (dst->sa_family != AF_INET || d->sin_addr.s_addr != h->pub.s_addr)
			continue;
		for (size_t k = 0; k < h->n_maps; k++) {
			if (h->maps[k].port != ntohs(d->sin_port))
				continue;
			if (!filter_ok(h, &h->maps[k], (const struct sockaddr *)&p->src)) {
				n->c.filtered++;
				return -2;
			}
			*lport = h->maps[k].lport;
			return i;
		}
		n->c.filtered++;
		return -2;
	}
	n->c.unroutable++;
	return -1;
}

void simnet_run(struct simnet *n, uint64_t now)
{
	while (n->n_q && n->q[0].at <= now) {
		struct packet p = n->q[0];
		n->n_q--;
		memmove(&n->q[0], &n->q[1], n->n_q * sizeof(*n->q));
		uint16_t lport = 0;
		int h = route(n, &p, &lport);
		if (h < 0)
			continue;
		if (n->hosts[h].blackhole) {
			n->c.blackholed++;
			continue;
		}
		n->c.delivered++;
		if (n->hosts[h].port_cb)
			n->hosts[h].port_cb(n->hosts[h].ctx, p.at, lport, (const struct sockaddr *)&p.src,
					    p.buf, p.len);
		else
			n->hosts[h].cb(n->hosts[h].ctx, p.at, (const struct sockaddr *)&p.src,
				       p.buf, p.len);
	}
}

void simnet_rebind(struct simnet *n, int h)
{
	for (size_t i = 0; i < n->hosts[h].n_maps; i++)
		free(n->hosts[h].maps[i].peers);
	n->hosts[h].n_maps = 0;
}

void simnet_blackhole(struct simnet *n, int h, bool on)
{
	n->hosts[h].blackhole = on;
}

void simnet_set_port_cb(struct simnet *n, int h, simnet_recv_port_cb cb)
{
	n->hosts[h].port_cb = cb;
}

void simnet_set_port_seed(struct simnet *n, uint64_t seed)
{
	n->port_rng = seed;
}

void simnet_set_loss(struct simnet *n, unsigned pct, uint64_t seed)
{
	n->loss_pct = pct;
	n->loss_rng = seed;
}

const struct simnet_counters *simnet_counters(const struct simnet *n)
{
	return &n->c;
}
