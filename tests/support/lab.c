/* lab.c — C side of the NAT lab: every operation runs tests/lab/natlab.sh,
 * so the topology is defined in one place. */
#include "lab.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define LAB_SCRIPT_TIMEOUT_MS 60000

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *lab_script(void)
{
	static char path[PATH_MAX];
	const char *src = getenv("P2PCALL_SRCDIR");
	if (!src || !*src)
		src = ".";
	snprintf(path, sizeof(path), "%s/tests/lab/natlab.sh", src);
	return path;
}

static int in_path(const char *tool)
{
	const char *path = getenv("PATH");
	char dirs[4096], file[PATH_MAX];
	/* Root's usual sbin directories, even if PATH (sudo, CI) lacks them. */
	snprintf(dirs, sizeof(dirs), "%s:/usr/sbin:/sbin", path ? path : "/usr/bin:/bin");
	for (char *save = NULL, *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
		snprintf(file, sizeof(file), "%s/%s", d, tool);
		if (access(file, X_OK) == 0)
			return 1;
	}
	return 0;
}

int lab_available(char *why, size_t why_len)
{
	char dummy[8];
	if (!why) {
		why = dummy;
		why_len = sizeof(dummy);
	}
	if (geteuid() != 0) {
		snprintf(why, why_len, "needs root (network namespaces)");
		return 0;
	}
	static const char *const tools[] = {"ip", "nft", "conntrack"};
	for (size_t i = 0; i < sizeof(tools) / sizeof(tools[0]); i++) {
		if (!in_path(tools[i])) {
			snprintf(why, why_len, "needs `%s' (sh contrib/install-deps.sh --test)", tools[i]);
			return 0;
		}
	}
	if (access(lab_script(), R_OK) != 0) {
		snprintf(why, why_len, "cannot read %s (set P2PCALL_SRCDIR to the source tree)", lab_script());
		return 0;
	}
	return 1;
}

int lab_skip(void)
{
	char why[256];
	if (lab_available(why, sizeof(why)))
		return 0;
	fprintf(stderr, "SKIP lab: %s\n", why);
	return 1;
}

void lab_prefix(char *buf, size_t len, const char *tag)
{
	snprintf(buf, len, "p2pc-%ld-%s", (long)getpid(), tag);
}

/* The PATH the children get: the namespace tools live in sbin. */
static void fix_path(void)
{
	const char *path = getenv("PATH");
	if (path && strstr(path, "/usr/sbin"))
		return;
	char buf[4096];
	snprintf(buf, sizeof(buf), "%s:/usr/sbin:/sbin", path ? path : "/usr/bin:/bin");
	setenv("PATH", buf, 1);
}

/* fork + exec argv with stdin from /dev/null and stdout to a pipe (if
 * out_fd) — the one spawning path every helper shares. */
static pid_t spawn(char *const argv[], int *out_fd)
{
	int pfd[2] = {-1, -1};
	if (out_fd && pipe2(pfd, O_CLOEXEC) < 0)
		return -1;
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	if (pid < 0) {
		if (out_fd) {
			close(pfd[0]);
			close(pfd[1]);
		}
		return -1;
	}
	if (pid == 0) {
		int devnull = open("/dev/null", O_RDONLY);
		if (devnull >= 0)
			dup2(devnull, STDIN_FILENO);
		if (out_fd)
			dup2(pfd[1], STDOUT_FILENO);
		/* The Check runner may have blocked or ignored signals. */
		signal(SIGPIPE, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		fix_path();
		execvp(argv[0], argv);
		fprintf(stderr, "lab: cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	if (out_fd) {
		close(pfd[1]);
		*out_fd = pfd[0];
	}
	return pid;
}

static int exit_code(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return -1;
}

int lab_wait(pid_t pid, int timeout_ms)
{
	if (pid <= 0)
		return -1;
	long long end = now_ms() + timeout_ms;
	for (;;) {
		int status;
		pid_t r = waitpid(pid, &status, timeout_ms < 0 ? 0 : WNOHANG);
		if (r == pid)
			return exit_code(status);
		if (r < 0 && errno != EINTR)
			return -1;
		if (timeout_ms >= 0 && now_ms() >= end) {
			lab_kill(pid);
			return -1;
		}
		if (r == 0)
			usleep(5000);
	}
}

void lab_kill(pid_t pid)
{
	if (pid <= 0)
		return;
	int status;
	if (waitpid(pid, &status, WNOHANG) == pid)
		return;
	kill(pid, SIGTERM);
	for (int i = 0; i < 100; i++) {
		if (waitpid(pid, &status, WNOHANG) != 0)
			return;
		usleep(10000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
}

ssize_t lab_read_line(int fd, char *buf, size_t len, int timeout_ms)
{
	if (!buf || len == 0)
		return -1;
	size_t n = 0;
	long long end = now_ms() + timeout_ms;
	for (;;) {
		long long left = end - now_ms();
		if (left < 0)
			left = 0;
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int r = poll(&p, 1, (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		char c;
		ssize_t got = read(fd, &c, 1);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return -1;
		if (got == 0) {
			buf[n] = '\0';
			return n ? (ssize_t)n : 0;
		}
		if (c == '\n') {
			buf[n] = '\0';
			/* 0 must mean EOF, so empty lines are skipped. */
			if (n == 0)
				continue;
			return (ssize_t)n;
		}
		if (n + 1 < len)
			buf[n++] = c;
	}
}

/* Runs argv, collecting stdout into out (if not NULL). */
static int run_capture(char *const argv[], char *out, size_t len, int timeout_ms)
{
	int fd;
	pid_t pid = spawn(argv, &fd);
	if (pid < 0)
		return -1;
	size_t n = 0;
	char sink[512];
	long long end = now_ms() + timeout_ms;
	for (;;) {
		long long left = end - now_ms();
		if (left <= 0) {
			close(fd);
			lab_kill(pid);
			return -1;
		}
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int r = poll(&p, 1, (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			continue;
		ssize_t got;
		if (out && n + 1 < len)
			got = read(fd, out + n, len - 1 - n);
		else
			got = read(fd, sink, sizeof(sink)); /* keep draining: never block the child */
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		if (out && n + 1 < len)
			n += (size_t)got;
	}
	close(fd);
	if (out && len)
		out[n] = '\0';
	long long left = end - now_ms();
	return lab_wait(pid, left > 0 ? (int)left : 0);
}

static int script(const char *cmd, const char *a1, const char *a2, const char *a3, char *out, size_t len)
{
	char *argv[] = {"sh", (char *)lab_script(), (char *)cmd, (char *)a1, (char *)a2, (char *)a3, NULL};
	return run_capture(argv, out, len, LAB_SCRIPT_TIMEOUT_MS) == 0 ? 0 : -1;
}

static void chomp(char *s)
{
	size_t n = strlen(s);
	while (n && (s[n - 1] == '\n' || s[n - 1] == ' '))
		s[--n] = '\0';
}

int lab_gc(void)
{
	return script("gc", NULL, NULL, NULL, NULL, 0);
}

int lab_up(const char *prefix, const char *type_a, const char *type_b)
{
	if (!prefix || !type_a || !type_b)
		return -1;
	return script("up", prefix, type_a, type_b, NULL, 0);
}

int lab_down(const char *prefix)
{
	if (!prefix)
		return -1;
	return script("down", prefix, NULL, NULL, NULL, 0);
}

int lab_set_nat(const char *prefix, const char *nat, const char *type)
{
	if (!prefix || !nat || !type)
		return -1;
	return script("set-nat", prefix, nat, type, NULL, 0);
}

int lab_flush(const char *prefix, const char *nat)
{
	if (!prefix || !nat)
		return -1;
	return script("flush", prefix, nat, NULL, NULL, 0);
}

int lab_rebind(const char *prefix, const char *nat, char *buf, size_t len)
{
	char ip[64];
	if (!prefix || !nat)
		return -1;
	if (script("rebind", prefix, nat, NULL, ip, sizeof(ip)) < 0)
		return -1;
	chomp(ip);
	if (buf && len)
		snprintf(buf, len, "%s", ip);
	return 0;
}

int lab_impair(const char *prefix, int delay_ms, int jitter_ms, double loss_pct)
{
	if (!prefix || delay_ms < 0 || jitter_ms < 0 || loss_pct < 0 || loss_pct > 100)
		return -1;
	char d[16], j[16], l[32];
	snprintf(d, sizeof(d), "%d", delay_ms);
	snprintf(j, sizeof(j), "%d", jitter_ms);
	snprintf(l, sizeof(l), "%g", loss_pct);
	char *argv[] = {"sh", (char *)lab_script(), "impair", (char *)prefix, "--delay", d, "--jitter", j,
			"--loss", l, NULL};
	return run_capture(argv, NULL, 0, LAB_SCRIPT_TIMEOUT_MS) == 0 ? 0 : -1;
}

int lab_impair_off(const char *prefix)
{
	if (!prefix)
		return -1;
	return script("impair", prefix, "off", NULL, NULL, 0);
}

int lab_addr(const char *prefix, const char *host, char *buf, size_t len)
{
	if (!prefix || !host || !buf || len < 8)
		return -1;
	if (script("addr", prefix, host, NULL, buf, len) < 0)
		return -1;
	chomp(buf);
	return *buf ? 0 : -1;
}

int lab_tool(const char *name, char *buf, size_t len)
{
	if (!name || !buf || len < 2)
		return -1;
	if (script("tool", name, NULL, NULL, buf, len) < 0)
		return -1;
	chomp(buf);
	return *buf ? 0 : -1;
}

pid_t lab_spawn(const char *prefix, const char *host, char *const argv[], int *out_fd)
{
	if (!prefix || !host || !argv || !argv[0])
		return -1;
	size_t n = 0;
	while (argv[n])
		n++;
	char **full = calloc(n + 6, sizeof(*full));
	if (!full)
		return -1;
	/* natlab.sh exec ends in `exec ip netns exec`, and ip execs the
	 * command: the pid we return is the command itself. */
	full[0] = "sh";
	full[1] = (char *)lab_script();
	full[2] = "exec";
	full[3] = (char *)prefix;
	full[4] = (char *)host;
	for (size_t i = 0; i < n; i++)
		full[5 + i] = argv[i];
	pid_t pid = spawn(full, out_fd);
	free(full);
	return pid;
}

int lab_run(const char *prefix, const char *host, char *const argv[], char *out, size_t len,
	    int timeout_ms)
{
	if (!prefix || !host || !argv || !argv[0])
		return -1;
	size_t n = 0;
	while (argv[n])
		n++;
	char **full = calloc(n + 6, sizeof(*full));
	if (!full)
		return -1;
	full[0] = "sh";
	full[1] = (char *)lab_script();
	full[2] = "exec";
	full[3] = (char *)prefix;
	full[4] = (char *)host;
	for (size_t i = 0; i < n; i++)
		full[5 + i] = argv[i];
	int rc = run_capture(full, out, len, timeout_ms);
	free(full);
	return rc;
}
