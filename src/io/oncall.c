/* --on-call CMD; see oncall.h. */
#include "p2pcall/oncall.h"
#include "p2pcall/log.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

struct oncall {
	const char *cmd;
	oncall_done_cb cb;
	void *ctx;
	struct event *sigchld;
	pid_t pid;
	unsigned long long call;
};

static void on_sigchld(evutil_socket_t sig, short what, void *arg)
{
	struct oncall *oc = arg;
	int st;
	if (oc->pid <= 0 || waitpid(oc->pid, &st, WNOHANG) != oc->pid)
		return;
	oc->pid = 0;
	int status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	log_debug("--on-call command for call %llu exited with %d", oc->call, status);
	oc->cb(oc->ctx, oc->call, status);
}

int oncall_new(struct oncall **out, struct event_base *base, const char *cmd, oncall_done_cb cb, void *ctx)
{
	struct oncall *oc = calloc(1, sizeof(*oc));
	if (!oc)
		return -ENOMEM;
	oc->cmd = cmd;
	oc->cb = cb;
	oc->ctx = ctx;
	oc->sigchld = evsignal_new(base, SIGCHLD, on_sigchld, oc);
	if (!oc->sigchld || event_add(oc->sigchld, NULL) < 0) {
		oncall_free(oc);
		return -ENOMEM;
	}
	*out = oc;
	return 0;
}

static void stop_child(struct oncall *oc)
{
	if (oc->pid <= 0)
		return;
	kill(oc->pid, SIGTERM);
	waitpid(oc->pid, NULL, 0);
	oc->pid = 0;
}

void oncall_free(struct oncall *oc)
{
	if (!oc)
		return;
	stop_child(oc);
	if (oc->sigchld)
		event_free(oc->sigchld);
	free(oc);
}

int oncall_start(struct oncall *oc, const char *peer, unsigned long long call, const char *name)
{
	stop_child(oc);
	char callstr[24];
	snprintf(callstr, sizeof(callstr), "%llu", call);
	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		int null = open("/dev/null", O_RDONLY);
		if (null >= 0)
			dup2(null, STDIN_FILENO);
		dup2(STDERR_FILENO, STDOUT_FILENO);
		setenv("P2PCALL_PEER", peer, 1);
		setenv("P2PCALL_CALL", callstr, 1);
		setenv("P2PCALL_NAME", name, 1);
		signal(SIGPIPE, SIG_DFL);
		execl("/bin/sh", "sh", "-c", oc->cmd, (char *)NULL);
		_exit(127);
	}
	oc->pid = pid;
	oc->call = call;
	return 0;
}
