/* Integration-test helpers; see proc.h. */
#include "proc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

const char *test_bin(void)
{
	const char *b = getenv("P2PCALL_BIN");
	return b && *b ? b : "build/p2pcall";
}

int proc_start(struct proc *p, const char *const *argv)
{
	int out[2], err[2];
	memset(p, 0, sizeof(*p));
	p->status = -1;
	if (pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0)
		return -errno;
	const char *args[32] = { test_bin() };
	for (int i = 0; argv[i] && i < 30; i++)
		args[i + 1] = argv[i];
	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		/* A failed check ends the test process at once: take the
		 * children along rather than leak servers. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		int null = open("/dev/null", O_RDONLY);
		dup2(null, 0);
		dup2(out[1], 1);
		dup2(err[1], 2);
		execv(args[0], (char *const *)args);
		_exit(127);
	}
	close(out[1]);
	close(err[1]);
	p->pid = pid;
	p->out = out[0];
	p->err = err[0];
	fcntl(p->err, F_SETFL, O_NONBLOCK);
	return 0;
}

int proc_line(struct proc *p, char *line, size_t n, int timeout_ms)
{
	long long deadline = now_ms() + timeout_ms;
	for (;;) {
		char *lf = memchr(p->buf, '\n', p->len);
		if (lf) {
			size_t l = (size_t)(lf - p->buf);
			snprintf(line, n, "%.*s", (int)l, p->buf);
			memmove(p->buf, lf + 1, p->len - l - 1);
			p->len -= l + 1;
			return 0;
		}
		long long left = deadline - now_ms();
		if (left <= 0)
			return -ETIMEDOUT;
		struct pollfd pfd = { p->out, POLLIN, 0 };
		if (poll(&pfd, 1, (int)left) <= 0)
			continue;
		ssize_t r = read(p->out, p->buf + p->len, sizeof(p->buf) - p->len - 1);
		if (r <= 0)
			return -EPIPE;
		p->len += (size_t)r;
	}
}

int proc_event(struct proc *p, const char *name, char *line, size_t n, int timeout_ms)
{
	char want[64];
	snprintf(want, sizeof(want), "\"event\":\"%s\"", name);
	long long deadline = now_ms() + timeout_ms;
	for (;;) {
		long long left = deadline - now_ms();
		int rc = proc_line(p, line, n, left > 0 ? (int)left : 0);
		if (rc < 0)
			return rc;
		if (strstr(line, want))
			return 0;
	}
}

int proc_wait(struct proc *p, int timeout_ms)
{
	if (p->status >= 0 || p->pid <= 0)
		return p->status;
	long long deadline = now_ms() + timeout_ms;
	for (;;) {
		int st;
		pid_t r = waitpid(p->pid, &st, WNOHANG);
		if (r == p->pid) {
			p->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
			return p->status;
		}
		if (now_ms() >= deadline) {
			kill(p->pid, SIGKILL);
			waitpid(p->pid, &st, 0);
			p->status = 128 + SIGKILL;
			return -1;
		}
		usleep(10000);
	}
}

void proc_signal(struct proc *p, int sig)
{
	if (p->pid > 0 && p->status < 0)
		kill(p->pid, sig);
}

void proc_stop(struct proc *p)
{
	if (p->pid > 0 && p->status < 0) {
		kill(p->pid, SIGKILL);
		proc_wait(p, 5000);
	}
	if (p->out > 0)
		close(p->out);
	if (p->err > 0)
		close(p->err);
	p->out = p->err = -1;
}

size_t proc_stderr(struct proc *p, char *buf, size_t n)
{
	size_t len = 0;
	ssize_t r;
	while (len + 1 < n && (r = read(p->err, buf + len, n - len - 1)) > 0)
		len += (size_t)r;
	buf[len] = '\0';
	return len;
}

int server_start_on(struct test_server *s, int port, const char *const *extra)
{
	char listen[32];
	snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
	const char *argv[24] = { "--serve", "--listen", listen };
	int i = 3;
	for (int j = 0; extra && extra[j] && i < 22; j++)
		argv[i++] = extra[j];
	argv[i] = NULL;
	if (proc_start(&s->p, argv) < 0)
		return -1;
	/* The server logs its address on stderr once it listens. */
	size_t len = 0;
	long long deadline = now_ms() + 5000;
	while (now_ms() < deadline) {
		struct pollfd pfd = { s->p.err, POLLIN, 0 };
		poll(&pfd, 1, 50);
		ssize_t r = read(s->p.err, s->log + len, sizeof(s->log) - len - 1);
		if (r > 0)
			len += (size_t)r;
		s->log[len] = '\0';
		const char *at = strstr(s->log, "listening on 127.0.0.1:");
		if (at) {
			s->port = atoi(at + strlen("listening on 127.0.0.1:"));
			return 0;
		}
		if (r == 0)
			break;
	}
	proc_stop(&s->p);
	return -1;
}

int server_start(struct test_server *s, const char *const *extra)
{
	return server_start_on(s, 0, extra);
}

void server_stop(struct test_server *s) { proc_stop(&s->p); }

int tcp_connect_port(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

int tcp_send(int fd, const char *text)
{
	size_t n = strlen(text);
	return send(fd, text, n, MSG_NOSIGNAL) == (ssize_t)n ? 0 : -EPIPE;
}

int tcp_line(int fd, char *line, size_t n, int timeout_ms)
{
	/* Byte at a time: simple, and these tests exchange little. */
	size_t len = 0;
	long long deadline = now_ms() + timeout_ms;
	for (;;) {
		long long left = deadline - now_ms();
		if (left <= 0)
			return -ETIMEDOUT;
		struct pollfd pfd = { fd, POLLIN, 0 };
		if (poll(&pfd, 1, (int)left) <= 0)
			continue;
		char c;
		ssize_t r = recv(fd, &c, 1, 0);
		if (r <= 0)
			return -EPIPE;
		if (c == '\n') {
			line[len] = '\0';
			return 0;
		}
		if (len + 1 < n)
			line[len++] = c;
	}
}

int tcp_expect(int fd, const char *prefix, char *line, size_t n, int timeout_ms)
{
	long long deadline = now_ms() + timeout_ms;
	for (;;) {
		long long left = deadline - now_ms();
		int rc = tcp_line(fd, line, n, left > 0 ? (int)left : 0);
		if (rc < 0)
			return rc;
		if (strncmp(line, prefix, strlen(prefix)) == 0)
			return 0;
	}
}

int tcp_register(int port, const char *name)
{
	char line[1100], reg[128];
	int fd = tcp_connect_port(port);
	if (fd < 0)
		return -1;
	snprintf(reg, sizeof(reg), "HELLO version=1\nREGISTER name=%s\n", name);
	if (tcp_expect(fd, "HELLO ", line, sizeof(line), 3000) < 0 || tcp_send(fd, reg) < 0 ||
	    tcp_expect(fd, "OK re=REGISTER", line, sizeof(line), 3000) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

const char *json_field(const char *line, const char *key, char *out, size_t n)
{
	char pat[64];
	snprintf(pat, sizeof(pat), "\"%s\":", key);
	const char *at = strstr(line, pat);
	out[0] = '\0';
	if (!at)
		return out;
	at += strlen(pat);
	if (*at == '"') {
		const char *end = strchr(at + 1, '"');
		if (end)
			snprintf(out, n, "%.*s", (int)(end - at - 1), at + 1);
	} else {
		size_t l = strcspn(at, ",}");
		snprintf(out, n, "%.*s", (int)l, at);
	}
	return out;
}
