/* Signalling server benchmark (make bench): prints figures, asserts none.
 *
 *  1. Idle registered clients: N connections (default 50000) HELLO and
 *     REGISTER, then sit idle; the server's resident memory is read from
 *     /proc before and after, giving bytes of user-space memory per client.
 *  2. Throughput: P caller/callee pairs loop INVITE -> INCOMING -> ACCEPT
 *     -> ACCEPTED -> HANGUP -> OK for a few seconds; exchanges and protocol
 *     messages (lines in and out of the server) per second are printed.
 *     The server is one process on one core; this generator runs beside it.
 *
 * The descriptor limit is raised here, for us and (inherited) for the
 * server we start, never in the server's defaults. Connections come from
 * several loopback source addresses so 50000 fit in the ephemeral range.
 * Environment: P2PCALL_BIN, BENCH_CLIENTS, BENCH_PAIRS, BENCH_SECONDS. */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

static pid_t server_pid;
static long rss_half = -1;

static long rss_kib(pid_t pid);

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long rss_kib(pid_t pid)
{
	char path[64], line[256];
	long kib = -1;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	if (f)
		fclose(f);
	return kib;
}

static pid_t start_server(int *port)
{
	int fds[2];
	if (pipe(fds) < 0)
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		dup2(fds[1], 2);
		close(fds[0]);
		const char *bin = getenv("P2PCALL_BIN") ? getenv("P2PCALL_BIN") : "build/p2pcall";
		/* The load comes from a few addresses: lift the per-address
		 * and total connection limits for the measurement. */
		execl(bin, bin, "--serve", "--listen", "127.0.0.1:0", "--keepalive", "600",
		      "--register-timeout", "120", "--max-clients", "1000000", "--max-per-ip", "1000000",
		      (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	char buf[512];
	size_t len = 0;
	*port = 0;
	while (len < sizeof(buf) - 1) {
		ssize_t r = read(fds[0], buf + len, sizeof(buf) - 1 - len);
		if (r <= 0)
			break;
		len += (size_t)r;
		buf[len] = '\0';
		char *at = strstr(buf, "listening on 127.0.0.1:");
		if (at && strchr(at, '\n')) {
			*port = atoi(at + strlen("listening on 127.0.0.1:"));
			break;
		}
	}
	/* Keep the pipe open (the server logs to it) but never read it again:
	 * it logs little once running. */
	return *port ? pid : -1;
}

static void stop_server(pid_t pid)
{
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
}

/* --- the generator --- */

struct bench;

struct peer {
	struct bench *b;
	struct bufferevent *bev;
	struct peer *partner; /* throughput: caller <-> callee */
	int idx;
	int is_caller;
	int registered;
	char name[24];
};

struct bench {
	struct event_base *base;
	struct sockaddr_in server;
	struct peer *peers;
	int n, started, registered, inflight;
	int throughput;            /* phase 2 running */
	long exchanges, lines_in;  /* lines the server received */
	long lines_out;            /* lines we received from it */
	double stop_at;
};

static void peer_send(struct peer *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void peer_send(struct peer *p, const char *fmt, ...)
{
	char line[256];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	bufferevent_write(p->bev, line, (size_t)n);
	p->b->lines_in++;
}

static void start_more(struct bench *b);

static void handle(struct peer *p, char *line)
{
	struct bench *b = p->b;
	b->lines_out++;
	if (strncmp(line, "HELLO ", 6) == 0) {
		peer_send(p, "HELLO version=1\nREGISTER name=%s\n", p->name);
		b->lines_in++; /* two lines */
	} else if (strncmp(line, "OK re=REGISTER", 14) == 0) {
		p->registered = 1;
		b->registered++;
		if (!b->throughput && b->registered == b->n / 2)
			rss_half = rss_kib(server_pid);
		b->inflight--;
		start_more(b);
		if (b->registered == b->n)
			event_base_loopbreak(b->base);
	} else if (!b->throughput) {
		return;
	} else if (strncmp(line, "INCOMING call=", 14) == 0) {
		unsigned long long id = strtoull(line + 14, NULL, 10);
		peer_send(p, "ACCEPT call=%llu\n", id);
	} else if (strncmp(line, "ACCEPTED call=", 14) == 0) {
		unsigned long long id = strtoull(line + 14, NULL, 10);
		peer_send(p, "HANGUP call=%llu\n", id);
	} else if (strncmp(line, "OK re=HANGUP", 12) == 0) {
		b->exchanges++;
		if (now_s() < b->stop_at)
			peer_send(p, "INVITE to=%s\n", p->partner->name);
	}
}

static void on_read(struct bufferevent *bev, void *arg)
{
	struct peer *p = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	char *line;
	size_t n;
	while ((line = evbuffer_readln(in, &n, EVBUFFER_EOL_LF))) {
		handle(p, line);
		free(line);
	}
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	struct peer *p = arg;
	if (what & BEV_EVENT_CONNECTED)
		return;
	fprintf(stderr, "bench: connection %d lost (%s)\n", p->idx,
		what & BEV_EVENT_EOF ? "EOF" : evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
	bufferevent_free(bev);
	p->bev = NULL;
	event_base_loopbreak(p->b->base);
}

static int connect_peer(struct bench *b, struct peer *p)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	int one = 1;
	setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	/* 127.0.0.2 .. 127.0.0.9: 8 x ~28000 ephemeral ports. */
	struct sockaddr_in src = { .sin_family = AF_INET };
	src.sin_addr.s_addr = htonl(0x7f000002u + (uint32_t)(p->idx % 8));
	if (bind(fd, (struct sockaddr *)&src, sizeof(src)) < 0) {
		close(fd);
		return -errno;
	}
	p->bev = bufferevent_socket_new(b->base, fd, BEV_OPT_CLOSE_ON_FREE);
	bufferevent_setcb(p->bev, on_read, NULL, on_event, p);
	bufferevent_enable(p->bev, EV_READ | EV_WRITE);
	if (bufferevent_socket_connect(p->bev, (struct sockaddr *)&b->server, sizeof(b->server)) < 0)
		return -errno;
	return 0;
}

/* Keeps a bounded number of registrations in flight: the server's listen
 * backlog is finite, and a SYN flood measures nothing useful. */
static void start_more(struct bench *b)
{
	while (b->started < b->n && b->inflight < 256) {
		struct peer *p = &b->peers[b->started];
		p->b = b;
		p->idx = b->started++;
		snprintf(p->name, sizeof(p->name), "u%d", p->idx);
		if (connect_peer(b, p) < 0) {
			fprintf(stderr, "bench: connect %d: %s\n", p->idx, strerror(errno));
			event_base_loopbreak(b->base);
			return;
		}
		b->inflight++;
	}
}

static int connect_all(struct bench *b, int port, int n)
{
	memset(b, 0, sizeof(*b));
	b->base = event_base_new();
	b->server.sin_family = AF_INET;
	b->server.sin_port = htons((uint16_t)port);
	b->server.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	b->n = n;
	b->peers = calloc((size_t)n, sizeof(*b->peers));
	start_more(b);
	event_base_dispatch(b->base);
	return b->registered == n ? 0 : -1;
}

static void free_all(struct bench *b)
{
	for (int i = 0; i < b->started; i++)
		if (b->peers[i].bev)
			bufferevent_free(b->peers[i].bev);
	free(b->peers);
	event_base_free(b->base);
}

static int env_int(const char *name, int def)
{
	const char *v = getenv(name);
	return v && atoi(v) > 0 ? atoi(v) : def;
}

static void on_stop(evutil_socket_t fd, short what, void *arg) { event_base_loopbreak(arg); }

int main(void)
{
	int clients = env_int("BENCH_CLIENTS", 50000);
	/* Spread over many pairs: each connection stays within the server's
	 * per-connection line rate (50/s), as real clients do. */
	int pairs = env_int("BENCH_PAIRS", 500);
	int seconds = env_int("BENCH_SECONDS", 5);
	signal(SIGPIPE, SIG_IGN);

	struct rlimit rl = { (rlim_t)clients + 1000, (rlim_t)clients + 1000 };
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
		/* Raising the hard limit needs CAP_SYS_RESOURCE; some
		 * sandboxes withhold it. Measure what fits and say so. */
		int err = errno;
		getrlimit(RLIMIT_NOFILE, &rl);
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		int fit = (int)rl.rlim_max - 1000;
		printf("NOTE: cannot raise the descriptor limit to %d (%s): hard limit %ld here;\n"
		       "      measuring %d clients (memory per client is flat in N, see below)\n",
		       clients + 1000, strerror(err), (long)rl.rlim_max, fit);
		clients = fit;
	}

	/* 1. Idle clients */
	int port;
	pid_t srv = start_server(&port);
	if (srv < 0) {
		fprintf(stderr, "bench: server did not start\n");
		return 1;
	}
	server_pid = srv;
	usleep(200000);
	long rss0 = rss_kib(srv);
	struct bench b;
	double t0 = now_s();
	if (connect_all(&b, port, clients) < 0) {
		fprintf(stderr, "bench: only %d of %d clients registered\n", b.registered, clients);
		stop_server(srv);
		return 1;
	}
	double reg_s = now_s() - t0;
	usleep(300000);
	long rss1 = rss_kib(srv);
	printf("idle clients:        %d registered in %.2f s (%.0f registrations/s)\n", clients, reg_s,
	       clients / reg_s);
	printf("server memory:       RSS %ld KiB before, %ld KiB with clients\n", rss0, rss1);
	printf("memory per client:   %.0f bytes at %d clients, %.0f bytes at %d (goal <= 2048)\n",
	       (double)(rss_half - rss0) * 1024.0 / (clients / 2), clients / 2,
	       (double)(rss1 - rss0) * 1024.0 / clients, clients);
	free_all(&b);
	stop_server(srv);

	/* 2. Throughput */
	srv = start_server(&port);
	if (srv < 0)
		return 1;
	if (connect_all(&b, port, 2 * pairs) < 0) {
		stop_server(srv);
		return 1;
	}
	for (int i = 0; i < pairs; i++) {
		struct peer *caller = &b.peers[2 * i], *callee = &b.peers[2 * i + 1];
		caller->is_caller = 1;
		caller->partner = callee;
		callee->partner = caller;
	}
	b.throughput = 1;
	b.exchanges = b.lines_in = b.lines_out = 0;
	t0 = now_s();
	b.stop_at = t0 + seconds;
	for (int i = 0; i < pairs; i++)
		peer_send(&b.peers[2 * i], "INVITE to=%s\n", b.peers[2 * i + 1].name);
	struct event *stop = evtimer_new(b.base, on_stop, b.base);
	struct timeval tv = { seconds + 2, 0 };
	evtimer_add(stop, &tv);
	event_base_dispatch(b.base);
	double el = now_s() - t0;
	if (el > seconds)
		el = seconds;
	long msgs = b.lines_in + b.lines_out;
	printf("throughput:          %d pairs for %d s: %.0f invite/accept/hangup exchanges/s\n", pairs,
	       seconds, b.exchanges / el);
	printf("messages:            %.0f/s handled by the server (%ld in, %ld out; goal >= 20000)\n",
	       msgs / el, b.lines_in, b.lines_out);
	event_free(stop);
	free_all(&b);
	stop_server(srv);
	return 0;
}
