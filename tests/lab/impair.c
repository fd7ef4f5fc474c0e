/* impair — delay, jitter and loss for the NAT lab's WAN (this kernel has no
 * sch_netem). Packets are sent to an NFQUEUE by iptables rules on the WAN
 * router (natlab.sh impair adds them); this program holds each one for
 * delay ± jitter (uniform) before accepting it, or drops it with
 * probability loss%. Each packet's hold is drawn independently, so jitter
 * larger than the packet spacing reorders packets, as on a real path.
 *
 *   impair [--queue N] [--delay MS] [--jitter MS] [--loss PCT] [--seed S]
 *
 * Prints "ready" once bound to the queue, and on SIGTERM/SIGINT releases
 * every held packet and prints "stats seen N dropped M".
 * Build: cc -O2 impair.c -lnetfilter_queue -lnfnetlink
 */
/* netinet/in.h before the netfilter headers: they pull linux/in.h otherwise. */
#include <netinet/in.h>

#include <errno.h>
#include <libnetfilter_queue/libnetfilter_queue.h>
#include <linux/netfilter.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef NETLINK_NO_ENOBUFS
#define NETLINK_NO_ENOBUFS 5
#endif
#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

#define MAX_HELD 65536

struct held {
	uint64_t release_us;
	uint32_t id;
};

/* A binary min-heap on release time. */
static struct held heap[MAX_HELD];
static size_t nheld;

static struct {
	double loss;       /* 0..1 */
	uint64_t delay_us;
	uint64_t jitter_us;
	unsigned long seen, dropped, overflow;
	struct nfq_q_handle *qh;
} st;

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static uint64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* xorshift64*: reproducible with --seed, no libc rand() state. */
static uint64_t rng_state = 88172645463325252ULL;

static double rng_unit(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (double)((rng_state * 2685821657736338717ULL) >> 11) / (double)(1ULL << 53);
}

static void heap_push(struct held h)
{
	size_t i = nheld++;
	heap[i] = h;
	while (i > 0) {
		size_t p = (i - 1) / 2;
		if (heap[p].release_us <= heap[i].release_us)
			break;
		struct held t = heap[p];
		heap[p] = heap[i];
		heap[i] = t;
		i = p;
	}
}

static struct held heap_pop(void)
{
	struct held top = heap[0];
	heap[0] = heap[--nheld];
	size_t i = 0;
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < nheld && heap[l].release_us < heap[m].release_us)
			m = l;
		if (r < nheld && heap[r].release_us < heap[m].release_us)
			m = r;
		if (m == i)
			break;
		struct held t = heap[m];
		heap[m] = heap[i];
		heap[i] = t;
		i = m;
	}
	return top;
}

static int on_packet(struct nfq_q_handle *qh, struct nfgenmsg *msg, struct nfq_data *nfa, void *data)
{
	(void)msg;
	(void)data;
	struct nfqnl_msg_packet_hdr *ph = nfq_get_msg_packet_hdr(nfa);
	if (!ph)
		return 0;
	uint32_t id = ntohl(ph->packet_id);
	st.seen++;
	if (st.loss > 0 && rng_unit() < st.loss) {
		st.dropped++;
		return nfq_set_verdict(qh, id, NF_DROP, 0, NULL);
	}
	int64_t hold = (int64_t)st.delay_us;
	if (st.jitter_us)
		hold += (int64_t)((rng_unit() * 2.0 - 1.0) * (double)st.jitter_us);
	if (hold <= 0)
		return nfq_set_verdict(qh, id, NF_ACCEPT, 0, NULL);
	if (nheld == MAX_HELD) {
		st.overflow++;
		return nfq_set_verdict(qh, id, NF_ACCEPT, 0, NULL);
	}
	heap_push((struct held){.release_us = now_us() + (uint64_t)hold, .id = id});
	return 0;
}

static void release_due(uint64_t now)
{
	while (nheld && heap[0].release_us <= now) {
		struct held h = heap_pop();
		nfq_set_verdict(st.qh, h.id, NF_ACCEPT, 0, NULL);
	}
}

static int parse_ms(const char *s, double lo, double hi, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end || v < lo || v > hi) {
		fprintf(stderr, "impair: bad value `%s' (want %g..%g)\n", s, lo, hi);
		return -1;
	}
	*out = v;
	return 0;
}

int main(int argc, char **argv)
{
	double queue = 0, delay = 0, jitter = 0, loss = 0, seed = 0;
	for (int i = 1; i < argc; i++) {
		double *dst = NULL, hi = 60000;
		if (!strcmp(argv[i], "--queue"))
			dst = &queue, hi = 65535;
		else if (!strcmp(argv[i], "--delay"))
			dst = &delay;
		else if (!strcmp(argv[i], "--jitter"))
			dst = &jitter;
		else if (!strcmp(argv[i], "--loss"))
			dst = &loss, hi = 100;
		else if (!strcmp(argv[i], "--seed"))
			dst = &seed, hi = 4294967295.0;
		if (!dst || i + 1 >= argc) {
			fprintf(stderr, "usage: impair [--queue N] [--delay MS] [--jitter MS] [--loss PCT] [--seed S]\n");
			return 2;
		}
		if (parse_ms(argv[++i], 0, hi, dst) < 0)
			return 2;
	}
	st.delay_us = (uint64_t)(delay * 1000.0);
	st.jitter_us = (uint64_t)(jitter * 1000.0);
	st.loss = loss / 100.0;
	rng_state ^= seed ? (uint64_t)seed : (uint64_t)now_us() ^ ((uint64_t)getpid() << 32);
	if (!rng_state)
		rng_state = 1;

	struct sigaction sa = {.sa_handler = on_signal};
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	int rc = 1;
	struct nfq_handle *h = nfq_open();
	if (!h) {
		perror("impair: nfq_open");
		return 1;
	}
	st.qh = nfq_create_queue(h, (uint16_t)queue, on_packet, NULL);
	if (!st.qh) {
		fprintf(stderr, "impair: cannot bind queue %u: %s (another impair running?)\n",
			(unsigned)queue, strerror(errno));
		goto out;
	}
	/* Only metadata: verdicts need the packet id, not its bytes. */
	if (nfq_set_mode(st.qh, NFQNL_COPY_META, 0) < 0) {
		perror("impair: nfq_set_mode");
		goto out;
	}
	nfq_set_queue_maxlen(st.qh, MAX_HELD);
	/* If userspace falls behind, let packets through rather than lose them
	 * silently: losses must be the ones asked for. */
	nfq_set_queue_flags(st.qh, NFQA_CFG_F_FAIL_OPEN, NFQA_CFG_F_FAIL_OPEN);
	int fd = nfq_fd(h);
	nfnl_rcvbufsiz(nfq_nfnlh(h), 8 << 20);
	int one = 1;
	setsockopt(fd, SOL_NETLINK, NETLINK_NO_ENOBUFS, &one, sizeof(one));

	printf("ready queue %u delay %g jitter %g loss %g\n", (unsigned)queue, delay, jitter, loss);
	fflush(stdout);

	static char buf[65536] __attribute__((aligned));
	while (!stop) {
		uint64_t now = now_us();
		release_due(now);
		struct timespec ts, *tp = NULL;
		if (nheld) {
			uint64_t t = now_us();
			uint64_t wait = heap[0].release_us > t ? heap[0].release_us - t : 0;
			ts.tv_sec = (time_t)(wait / 1000000);
			ts.tv_nsec = (long)(wait % 1000000) * 1000;
			tp = &ts;
		}
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		int r = ppoll(&pfd, 1, tp, NULL);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			perror("impair: poll");
			goto out;
		}
		if (r == 0)
			continue;
		ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN || errno == ENOBUFS)
				continue;
			perror("impair: recv");
			goto out;
		}
		nfq_handle_packet(h, buf, (int)n);
	}
	rc = 0;
out:
	/* Whatever we hold goes through now, not after the queue is gone. */
	if (st.qh)
		release_due(UINT64_MAX);
	printf("stats seen %lu dropped %lu overflow %lu\n", st.seen, st.dropped, st.overflow);
	if (st.qh)
		nfq_destroy_queue(st.qh);
	nfq_close(h);
	return rc;
}
