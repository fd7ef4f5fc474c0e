/* punch — a tiny UDP tool for the NAT lab (not part of p2pcall).
 *
 *   punch serve [--port N] [--timeout S]
 *       rendezvous: two clients that send "HELLO <session>" are told each
 *       other's server-observed address ("PEER ip port yourip yourport").
 *   punch client SERVER PORT SESSION [--lport N] [--time S] [--no-prflx]
 *       learns the peer's address from the server, then both send
 *       "PUNCH <session> <heard>" every 20 ms for up to S seconds (3). A
 *       client answers every address a punch arrives from (peer-reflexive)
 *       unless --no-prflx. Prints "result open" and exits 0 once it has
 *       heard the peer and the peer says it heard us; else "result fail", 1.
 *   punch echo [--port N] [--timeout S]
 *       sends every datagram back to where it came from.
 *   punch ping SERVER PORT [--count N] [--interval MS] [--wait MS]
 *       sends numbered, timestamped datagrams to an echo and prints
 *       "sent N recv M loss P% rtt min/avg/max A/B/C ms"; exit 0 if any came back.
 *
 *   punch whoami SERVER PORT [--lport N]
 *       prints "mapped ip:port", the address the server saw (exit 1 if no answer).
 *
 * Exit 2 means bad usage or a socket/rendezvous error. Output is one fact a
 * line, so scripts can grep it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_TARGETS 8
#define MAX_SESSIONS 64
#define PUNCH_INTERVAL_MS 20
#define EXTRA_AFTER_OPEN 10 /* punches sent after success so the peer also sees "heard" */

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static int parse_num(const char *s, long lo, long hi, long *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi) {
		fprintf(stderr, "punch: bad number `%s' (want %ld..%ld)\n", s, lo, hi);
		return -1;
	}
	*out = v;
	return 0;
}

static int parse_addr(const char *ip, const char *port, struct sockaddr_in *sa)
{
	long p;
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	if (inet_pton(AF_INET, ip, &sa->sin_addr) != 1) {
		fprintf(stderr, "punch: bad IPv4 address `%s'\n", ip);
		return -1;
	}
	if (parse_num(port, 1, 65535, &p) < 0)
		return -1;
	sa->sin_port = htons((uint16_t)p);
	return 0;
}

static const char *fmt_addr(const struct sockaddr_in *sa, char *buf, size_t n)
{
	char ip[INET_ADDRSTRLEN];
	inet_ntop(AF_INET, &sa->sin_addr, ip, sizeof(ip));
	snprintf(buf, n, "%s:%u", ip, ntohs(sa->sin_port));
	return buf;
}

static int same_addr(const struct sockaddr_in *x, const struct sockaddr_in *y)
{
	return x->sin_addr.s_addr == y->sin_addr.s_addr && x->sin_port == y->sin_port;
}

static int udp_socket(long port)
{
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0) {
		perror("punch: socket");
		return -1;
	}
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, "punch: bind to port %ld: %s\n", port, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* Waits up to ms for a datagram; returns its length, 0 on timeout, -1 on error. */
static ssize_t recv_wait(int fd, char *buf, size_t n, struct sockaddr_in *from, int ms)
{
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	int r = poll(&pfd, 1, ms < 0 ? 0 : ms);
	if (r <= 0)
		return r < 0 && errno != EINTR ? -1 : 0;
	socklen_t fl = sizeof(*from);
	ssize_t len = recvfrom(fd, buf, n - 1, 0, (struct sockaddr *)from, &fl);
	if (len < 0)
		return errno == EINTR || errno == ECONNREFUSED ? 0 : -1;
	buf[len] = '\0';
	return len;
}

static void send_to(int fd, const void *buf, size_t n, const struct sockaddr_in *to)
{
	/* Losses are expected in the lab; ICMP errors are not failures. */
	(void)sendto(fd, buf, n, 0, (const struct sockaddr *)to, sizeof(*to));
}

struct session {
	char name[64];
	struct sockaddr_in addr[2];
	int n;
};

static int cmd_serve(int argc, char **argv)
{
	long port = 3478, timeout = 0;
	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--port") && i + 1 < argc) {
			if (parse_num(argv[++i], 1, 65535, &port) < 0)
				return 2;
		} else if (!strcmp(argv[i], "--timeout") && i + 1 < argc) {
			if (parse_num(argv[++i], 0, 86400, &timeout) < 0)
				return 2;
		} else {
			fprintf(stderr, "punch serve: unknown option `%s'\n", argv[i]);
			return 2;
		}
	}
	int fd = udp_socket(port);
	if (fd < 0)
		return 2;
	printf("serving %ld\n", port);
	fflush(stdout);
	static struct session ss[MAX_SESSIONS];
	int nss = 0;
	uint64_t end = timeout ? now_ms() + (uint64_t)timeout * 1000 : 0;
	for (;;) {
		if (end && now_ms() >= end)
			break;
		char buf[512];
		struct sockaddr_in from;
		ssize_t len = recv_wait(fd, buf, sizeof(buf), &from, 200);
		if (len < 0) {
			perror("punch: recv");
			return 2;
		}
		char name[64];
		if (len > 0 && !strcmp(buf, "WHOAMI")) {
			char ip[INET_ADDRSTRLEN], out[64];
			inet_ntop(AF_INET, &from.sin_addr, ip, sizeof(ip));
			int n = snprintf(out, sizeof(out), "YOU %s %u", ip, ntohs(from.sin_port));
			send_to(fd, out, (size_t)n, &from);
			continue;
		}
		if (len == 0 || sscanf(buf, "HELLO %63s", name) != 1)
			continue;
		struct session *s = NULL;
		for (int i = 0; i < nss; i++)
			if (!strcmp(ss[i].name, name))
				s = &ss[i];
		if (!s) {
			if (nss == MAX_SESSIONS)
				nss = 0; /* a test tool: recycling old sessions is fine */
			s = &ss[nss++];
			memset(s, 0, sizeof(*s));
			snprintf(s->name, sizeof(s->name), "%s", name);
		}
		int me = -1;
		for (int i = 0; i < s->n; i++)
			if (same_addr(&s->addr[i], &from))
				me = i;
		if (me < 0 && s->n < 2) {
			me = s->n++;
			s->addr[me] = from;
			char a[64];
			printf("hello %s from %s\n", name, fmt_addr(&from, a, sizeof(a)));
			fflush(stdout);
		}
		if (me < 0 || s->n < 2)
			continue;
		const struct sockaddr_in *peer = &s->addr[1 - me];
		char pip[INET_ADDRSTRLEN], mip[INET_ADDRSTRLEN], out[160];
		inet_ntop(AF_INET, &peer->sin_addr, pip, sizeof(pip));
		inet_ntop(AF_INET, &from.sin_addr, mip, sizeof(mip));
		int n = snprintf(out, sizeof(out), "PEER %s %u %s %u", pip, ntohs(peer->sin_port), mip,
				 ntohs(from.sin_port));
		send_to(fd, out, (size_t)n, &from);
	}
	close(fd);
	return 0;
}

static int cmd_client(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: punch client SERVER PORT SESSION [--lport N] [--time S] [--no-prflx]\n");
		return 2;
	}
	struct sockaddr_in server;
	if (parse_addr(argv[0], argv[1], &server) < 0)
		return 2;
	const char *session = argv[2];
	if (strlen(session) > 60 || strchr(session, ' ')) {
		fprintf(stderr, "punch: bad session name `%s'\n", session);
		return 2;
	}
	long lport = 0, secs = 3;
	int prflx = 1;
	for (int i = 3; i < argc; i++) {
		if (!strcmp(argv[i], "--lport") && i + 1 < argc) {
			if (parse_num(argv[++i], 0, 65535, &lport) < 0)
				return 2;
		} else if (!strcmp(argv[i], "--time") && i + 1 < argc) {
			if (parse_num(argv[++i], 1, 600, &secs) < 0)
				return 2;
		} else if (!strcmp(argv[i], "--no-prflx")) {
			prflx = 0;
		} else {
			fprintf(stderr, "punch client: unknown option `%s'\n", argv[i]);
			return 2;
		}
	}
	int fd = udp_socket(lport);
	if (fd < 0)
		return 2;

	/* Rendezvous: both clients must be registered before either learns
	 * the other; keep asking until the server answers with the peer. */
	char hello[80], buf[512], a[64];
	int hn = snprintf(hello, sizeof(hello), "HELLO %s", session);
	struct sockaddr_in targets[MAX_TARGETS];
	int ntargets = 0;
	uint64_t deadline = now_ms() + 10000, next = 0;
	while (ntargets == 0) {
		uint64_t t = now_ms();
		if (t >= deadline) {
			fprintf(stderr, "punch: no answer from rendezvous %s\n", fmt_addr(&server, a, sizeof(a)));
			printf("result fail\n");
			close(fd);
			return 2;
		}
		if (t >= next) {
			send_to(fd, hello, (size_t)hn, &server);
			next = t + 100;
		}
		struct sockaddr_in from;
		ssize_t len = recv_wait(fd, buf, sizeof(buf), &from, (int)(next - t));
		char pip[64], mip[64];
		unsigned pport, mport;
		if (len > 0 && same_addr(&from, &server) &&
		    sscanf(buf, "PEER %63s %u %63s %u", pip, &pport, mip, &mport) == 4) {
			char ps[8];
			snprintf(ps, sizeof(ps), "%u", pport);
			if (parse_addr(pip, ps, &targets[0]) < 0)
				return 2;
			ntargets = 1;
			printf("mapped %s:%u\npeer %s:%u\n", mip, mport, pip, pport);
		}
	}

	/* Punch: everyone sends to every known address of the peer; "heard"
	 * tells the peer its packets get through, so both sides can decide
	 * the path is open both ways. */
	int heard = 0, open = 0, extra = 0;
	uint64_t start = now_ms(), end = start + (uint64_t)secs * 1000;
	next = start;
	while (now_ms() < end && !(open && extra >= EXTRA_AFTER_OPEN)) {
		uint64_t t = now_ms();
		if (t >= next) {
			char p[96];
			int pn = snprintf(p, sizeof(p), "PUNCH %s %d", session, heard);
			for (int i = 0; i < ntargets; i++)
				send_to(fd, p, (size_t)pn, &targets[i]);
			if (open)
				extra++;
			next = t + PUNCH_INTERVAL_MS;
		}
		struct sockaddr_in from;
		ssize_t len = recv_wait(fd, buf, sizeof(buf), &from, (int)(next > t ? next - t : 0));
		if (len < 0) {
			perror("punch: recv");
			return 2;
		}
		char sess[64];
		int their_heard;
		if (len == 0 || sscanf(buf, "PUNCH %63s %d", sess, &their_heard) != 2 || strcmp(sess, session))
			continue;
		int known = 0;
		for (int i = 0; i < ntargets; i++)
			known |= same_addr(&targets[i], &from);
		if (!known && prflx && ntargets < MAX_TARGETS) {
			targets[ntargets++] = from;
			printf("prflx %s\n", fmt_addr(&from, a, sizeof(a)));
		}
		if (!heard) {
			heard = 1;
			printf("heard %s after %llu ms\n", fmt_addr(&from, a, sizeof(a)),
			       (unsigned long long)(now_ms() - start));
		}
		if (their_heard && !open) {
			open = 1;
			printf("open via %s after %llu ms\n", fmt_addr(&from, a, sizeof(a)),
			       (unsigned long long)(now_ms() - start));
		}
	}
	printf("result %s\n", open ? "open" : "fail");
	close(fd);
	return open ? 0 : 1;
}

static int cmd_echo(int argc, char **argv)
{
	long port = 7, timeout = 0;
	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--port") && i + 1 < argc) {
			if (parse_num(argv[++i], 1, 65535, &port) < 0)
				return 2;
		} else if (!strcmp(argv[i], "--timeout") && i + 1 < argc) {
			if (parse_num(argv[++i], 0, 86400, &timeout) < 0)
				return 2;
		} else {
			fprintf(stderr, "punch echo: unknown option `%s'\n", argv[i]);
			return 2;
		}
	}
	int fd = udp_socket(port);
	if (fd < 0)
		return 2;
	printf("echo %ld\n", port);
	fflush(stdout);
	uint64_t end = timeout ? now_ms() + (uint64_t)timeout * 1000 : 0;
	while (!end || now_ms() < end) {
		char buf[2048];
		struct sockaddr_in from;
		ssize_t len = recv_wait(fd, buf, sizeof(buf), &from, 200);
		if (len < 0) {
			perror("punch: recv");
			return 2;
		}
		if (len > 0)
			send_to(fd, buf, (size_t)len, &from);
	}
	close(fd);
	return 0;
}

static int cmd_ping(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: punch ping SERVER PORT [--count N] [--interval MS] [--wait MS]\n");
		return 2;
	}
	struct sockaddr_in server;
	if (parse_addr(argv[0], argv[1], &server) < 0)
		return 2;
	long count = 10, interval = 20, wait = 1000;
	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--count") && i + 1 < argc) {
			if (parse_num(argv[++i], 1, 100000, &count) < 0)
				return 2;
		} else if (!strcmp(argv[i], "--interval") && i + 1 < argc) {
			if (parse_num(argv[++i], 1, 10000, &interval) < 0)
				return 2;
		} else if (!strcmp(argv[i], "--wait") && i + 1 < argc) {
			if (parse_num(argv[++i], 0, 60000, &wait) < 0)
				return 2;
		} else {
			fprintf(stderr, "punch ping: unknown option `%s'\n", argv[i]);
			return 2;
		}
	}
	int fd = udp_socket(0);
	if (fd < 0)
		return 2;
	unsigned char *got = calloc((size_t)count, 1);
	if (!got) {
		close(fd);
		return 2;
	}
	long sent = 0, recvd = 0;
	uint64_t rmin = UINT64_MAX, rmax = 0, rsum = 0;
	uint64_t next = now_ms(), end = 0;
	for (;;) {
		uint64_t t = now_ms();
		if (sent < count && t >= next) {
			char p[64];
			int pn = snprintf(p, sizeof(p), "PING %ld %llu", sent, (unsigned long long)now_us());
			send_to(fd, p, (size_t)pn, &server);
			sent++;
			next = t + (uint64_t)interval;
			if (sent == count)
				end = t + (uint64_t)wait;
		}
		if (sent == count && (t >= end || recvd == count))
			break;
		uint64_t until = sent < count ? next : end;
		char buf[256];
		struct sockaddr_in from;
		ssize_t len = recv_wait(fd, buf, sizeof(buf), &from, (int)(until > t ? until - t : 0));
		long seq;
		unsigned long long ts;
		if (len <= 0 || !same_addr(&from, &server) || sscanf(buf, "PING %ld %llu", &seq, &ts) != 2 ||
		    seq < 0 || seq >= count || got[seq])
			continue;
		got[seq] = 1;
		recvd++;
		uint64_t rtt = now_us() - ts;
		rsum += rtt;
		rmin = rtt < rmin ? rtt : rmin;
		rmax = rtt > rmax ? rtt : rmax;
	}
	free(got);
	close(fd);
	double loss = 100.0 * (double)(sent - recvd) / (double)sent;
	if (recvd)
		printf("sent %ld recv %ld loss %.1f%% rtt min/avg/max %.2f/%.2f/%.2f ms\n", sent, recvd, loss,
		       rmin / 1000.0, (double)rsum / (double)recvd / 1000.0, rmax / 1000.0);
	else
		printf("sent %ld recv 0 loss 100.0%%\n", sent);
	return recvd ? 0 : 1;
}

static int cmd_whoami(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: punch whoami SERVER PORT [--lport N]\n");
		return 2;
	}
	struct sockaddr_in server;
	if (parse_addr(argv[0], argv[1], &server) < 0)
		return 2;
	long lport = 0;
	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--lport") && i + 1 < argc) {
			if (parse_num(argv[++i], 0, 65535, &lport) < 0)
				return 2;
		} else {
			fprintf(stderr, "punch whoami: unknown option `%s'\n", argv[i]);
			return 2;
		}
	}
	int fd = udp_socket(lport);
	if (fd < 0)
		return 2;
	int rc = 1;
	for (int tries = 0; tries < 20 && rc; tries++) {
		send_to(fd, "WHOAMI", 6, &server);
		uint64_t end = now_ms() + 100;
		for (uint64_t t = now_ms(); t < end && rc; t = now_ms()) {
			char buf[128], ip[64];
			unsigned port;
			struct sockaddr_in from;
			ssize_t len = recv_wait(fd, buf, sizeof(buf), &from, (int)(end - t));
			if (len > 0 && same_addr(&from, &server) && sscanf(buf, "YOU %63s %u", ip, &port) == 2) {
				printf("mapped %s:%u\n", ip, port);
				rc = 0;
			}
		}
	}
	if (rc)
		fprintf(stderr, "punch: no answer from %s:%s\n", argv[0], argv[1]);
	close(fd);
	return rc;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	/* A caller may stop reading our progress lines; keep serving. */
	signal(SIGPIPE, SIG_IGN);
	if (argc >= 2 && !strcmp(argv[1], "serve"))
		return cmd_serve(argc - 2, argv + 2);
	if (argc >= 2 && !strcmp(argv[1], "client"))
		return cmd_client(argc - 2, argv + 2);
	if (argc >= 2 && !strcmp(argv[1], "echo"))
		return cmd_echo(argc - 2, argv + 2);
	if (argc >= 2 && !strcmp(argv[1], "ping"))
		return cmd_ping(argc - 2, argv + 2);
	if (argc >= 2 && !strcmp(argv[1], "whoami"))
		return cmd_whoami(argc - 2, argv + 2);
	fprintf(stderr, "usage: punch serve|client|echo|ping|whoami ... (see the comment in tests/lab/punch.c)\n");
	return 2;
}
