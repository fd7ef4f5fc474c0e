/* Helpers for integration tests that run the real p2pcall binary and talk
 * to it over real loopback sockets. Every wait is bounded. */
#ifndef P2PCALL_TEST_PROC_H
#define P2PCALL_TEST_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct proc {
	pid_t pid;
	int out;          /* child's stdout */
	int err;          /* child's stderr */
	char buf[16384];  /* unread stdout bytes */
	size_t len;
	int status;       /* exit status once reaped, else -1 */
};

/* The binary under test ($P2PCALL_BIN, else build/p2pcall). */
const char *test_bin(void);

/* Starts the binary with ARGV (NULL-terminated, without argv[0]); stdin is
 * /dev/null. Returns 0 or -errno. */
int proc_start(struct proc *p, const char *const *argv);
/* Reads one stdout line within TIMEOUT_MS; 0, or -ETIMEDOUT / -EPIPE. */
int proc_line(struct proc *p, char *line, size_t n, int timeout_ms);
/* Reads stdout lines until one has "event":"NAME"; 0 or -errno. */
int proc_event(struct proc *p, const char *name, char *line, size_t n, int timeout_ms);
/* Waits for exit; returns the exit status, or -1 after killing it on timeout. */
int proc_wait(struct proc *p, int timeout_ms);
void proc_signal(struct proc *p, int sig);
/* Kills (if running) and reaps; closes pipes. */
void proc_stop(struct proc *p);
/* Reads all of stderr available now (non-blocking) into BUF. */
size_t proc_stderr(struct proc *p, char *buf, size_t n);

/* A `p2pcall --serve --listen 127.0.0.1:0 EXTRA...` with its port. */
struct test_server {
	struct proc p;
	int port;
	char log[16384];
};
int server_start(struct test_server *s, const char *const *extra);
void server_stop(struct test_server *s);
/* Restart on the same port (for reconnection tests). */
int server_start_on(struct test_server *s, int port, const char *const *extra);

/* Raw protocol client. */
int tcp_connect_port(int port);
int tcp_send(int fd, const char *text);
/* One line (without LF) within TIMEOUT_MS; 0, -ETIMEDOUT, or -EPIPE on EOF. */
int tcp_line(int fd, char *line, size_t n, int timeout_ms);
/* Connects, does HELLO and REGISTER NAME; returns fd or -1. */
int tcp_register(int port, const char *name);
/* Reads lines until one starts with PREFIX; 0 or -errno. */
int tcp_expect(int fd, const char *prefix, char *line, size_t n, int timeout_ms);

/* A string field of a JSON event line ("key":"value"), or "" if absent. */
const char *json_field(const char *line, const char *key, char *out, size_t n);

#endif
