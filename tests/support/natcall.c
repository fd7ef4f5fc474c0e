/* One call across the NAT lab; see natcall.h. */
#include "natcall.h"

#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lab.h"
#include "proc.h"

#define T 15000

static char prefix[64];

void natcall_cleanup(void)
{
	if (prefix[0])
		lab_down(prefix);
	prefix[0] = '\0';
	/* Called from a test runner after a forked test died, this process
	 * never knew the prefix: collect labs whose creator is gone. */
	lab_gc();
}

const char *natcall_expected_path(const char *a, const char *b)
{
	return strcmp(a, "symmetric") == 0 && strcmp(b, "symmetric") == 0 ? "relay" : "direct";
}

bool natcall_needs_birthday(const char *a, const char *b)
{
	bool sa = strcmp(a, "symmetric") == 0, sb = strcmp(b, "symmetric") == 0;
	return (sa && strcmp(b, "port") == 0) || (sb && strcmp(a, "port") == 0);
}

/* How many descriptors PID has open: birthday probing's extra sockets
 * must be gone once the path is chosen. */
static int count_fds(pid_t pid)
{
	char dir[64];
	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
	DIR *d = opendir(dir);
	if (!d)
		return -1;
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/* After `connected', a `path' event (relay -> direct) within the call. */
static void read_upgrade(int fd, char *method, size_t n)
{
	char line[2048], field[64];
	for (;;) {
		if (lab_read_line(fd, line, sizeof(line), T) <= 0)
			return;
		if (strstr(line, "\"event\":\"ended\""))
			return;
		if (strstr(line, "\"event\":\"path\"") &&
		    strcmp(json_field(line, "path", field, sizeof(field)), "direct") == 0) {
			json_field(line, "method", method, n);
			return;
		}
	}
}

int natcall_read_event(int fd, const char *name, char *line, size_t n)
{
	char want[64];
	snprintf(want, sizeof(want), "\"event\":\"%s\"", name);
	for (;;) {
		if (lab_read_line(fd, line, n, T) <= 0)
			return -1;
		if (strstr(line, want))
			return 0;
	}
}

int natcall_run(const char *type_a, const char *type_b, int delay_ms, const char *const *extra_a,
		struct natcall_result *r)
{
	return natcall_run_env(type_a, type_b, delay_ms, extra_a, NULL, "1", r);
}

int natcall_run_env(const char *type_a, const char *type_b, int delay_ms, const char *const *extra_a,
		    const char *env, const char *duration, struct natcall_result *r)
{
	char line[2048], field[64], server[64], id_a[96], id_b[96];
	memset(r, 0, sizeof(*r));
	snprintf(r->path_a, sizeof(r->path_a), "-");
	snprintf(r->path_b, sizeof(r->path_b), "-");
	snprintf(r->method_a, sizeof(r->method_a), "-");
	snprintf(r->method_b, sizeof(r->method_b), "-");
	r->status_a = r->status_b = -1;
	lab_prefix(prefix, sizeof(prefix), "call");
	if (lab_up(prefix, type_a, type_b) < 0 || lab_addr(prefix, "server", server, sizeof(server)) < 0) {
		natcall_cleanup();
		return -1;
	}
	if (delay_ms > 0 && lab_impair(prefix, delay_ms, 0, 0) < 0) {
		natcall_cleanup();
		return -1;
	}

	char *bin = (char *)test_bin();
	int srv_out, a_out, b_out;
	pid_t srv = lab_spawn(prefix, "server", (char *const[]){ bin, "-q", "--serve", "--listen", "0.0.0.0:7878", NULL },
			      &srv_out);
	usleep(300000);
	snprintf(id_b, sizeof(id_b), "bob@%s", server);
	/* env(1) sets ENV for the clients: the lab runs commands as given. */
	char *envp = (char *)(env ? env : "P2PCALL_NATCALL=1");
	pid_t b = lab_spawn(prefix, "b",
			    (char *const[]){ "env", envp, bin, "--json", "--no-audio", "--auto-answer", "--once", id_b, NULL },
			    &b_out);
	natcall_read_event(b_out, "registered", line, sizeof(line));
	snprintf(id_a, sizeof(id_a), "alice@%s", server);
	char *argv_a[18] = { "env", envp, bin, "--json", "--no-audio", "--duration", (char *)duration };
	int n = 7;
	for (int i = 0; extra_a && extra_a[i] && n < 15; i++)
		argv_a[n++] = (char *)extra_a[i];
	argv_a[n++] = id_a;
	argv_a[n++] = "bob";
	argv_a[n] = NULL;
	pid_t a = lab_spawn(prefix, "a", argv_a, &a_out);

	if (natcall_read_event(a_out, "connected", line, sizeof(line)) == 0) {
		json_field(line, "path", r->path_a, sizeof(r->path_a));
		r->setup_ms = atof(json_field(line, "setup_ms", field, sizeof(field)));
		r->path_ms_a = atof(json_field(line, "path_ms", field, sizeof(field)));
		json_field(line, "method", r->method_a, sizeof(r->method_a));
	}
	if (natcall_read_event(b_out, "connected", line, sizeof(line)) == 0) {
		json_field(line, "path", r->path_b, sizeof(r->path_b));
		r->path_ms_b = atof(json_field(line, "path_ms", field, sizeof(field)));
		json_field(line, "method", r->method_b, sizeof(r->method_b));
	}
	if (strcmp(r->path_a, "relay") == 0)
		read_upgrade(a_out, r->upgrade_a, sizeof(r->upgrade_a));
	if (strcmp(r->path_b, "relay") == 0)
		read_upgrade(b_out, r->upgrade_b, sizeof(r->upgrade_b));
	r->fds_a = count_fds(a);
	r->fds_b = count_fds(b);
	r->status_a = lab_wait(a, T);
	r->status_b = lab_wait(b, T);
	lab_kill(srv);
	close(srv_out);
	close(a_out);
	close(b_out);
	natcall_cleanup();
	return 0;
}
