/* A standard STUN client (coturn's turnutils_stunclient) against our
 * server: it must decode the mapped address our server saw, over IPv4 and
 * IPv6. The server logs each answered Binding at -v; both must agree. */
#include <check.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proc.h"

static bool have_stunclient(void)
{
	return system("command -v turnutils_stunclient >/dev/null 2>&1") == 0;
}

/* Reads the server's stderr until it contains NEEDLE; returns the text. */
static const char *wait_log(struct proc *p, char *log, size_t cap, const char *needle)
{
	size_t len = strlen(log);
	for (int i = 0; i < 100 && !strstr(log, needle); i++) {
		struct pollfd pfd = { p->err, POLLIN, 0 };
		poll(&pfd, 1, 50);
		ssize_t r = read(p->err, log + len, cap - len - 1);
		if (r > 0)
			len += (size_t)r;
		log[len] = '\0';
	}
	return strstr(log, needle);
}

static void check_family(const char *listen, const char *host, const char *prefix)
{
	if (!have_stunclient()) {
		/* CI installs coturn (contrib/install-deps.sh --test). */
		ck_abort_msg("turnutils_stunclient (package coturn) is missing: run contrib/install-deps.sh --test");
	}
	struct proc srv;
	char log[16384] = "", needle[64], cmd[256], out[512] = "";
	ck_assert_int_eq(proc_start(&srv, (const char *[]){ "-v", "--serve", "--listen", listen, NULL }), 0);
	snprintf(needle, sizeof(needle), "listening on %s", prefix);
	const char *at = wait_log(&srv, log, sizeof(log), needle);
	ck_assert_msg(at, "server did not start: %s", log);
	int port = atoi(at + strlen(needle));

	snprintf(cmd, sizeof(cmd), "timeout 10 turnutils_stunclient -p %d %s 2>&1", port, host);
	FILE *f = popen(cmd, "r");
	ck_assert_ptr_nonnull(f);
	size_t n = fread(out, 1, sizeof(out) - 1, f);
	out[n] = '\0';
	pclose(f);

	/* "... UDP reflexive addr: 127.0.0.1:40000" / "::1:40000" */
	const char *refl = strstr(out, "reflexive addr: ");
	ck_assert_msg(refl, "no reflexive address from turnutils_stunclient: %s", out);
	refl += strlen("reflexive addr: ");
	char got[80];
	snprintf(got, sizeof(got), "%.*s", (int)strcspn(refl, " \r\n"), refl);

	/* What the server saw, in its own "[::1]:P" / "127.0.0.1:P" form. */
	const char *seen = wait_log(&srv, log, sizeof(log), "STUN Binding from ");
	ck_assert_msg(seen, "server logged no answered Binding: %s", log);
	seen += strlen("STUN Binding from ");
	char saw[80];
	snprintf(saw, sizeof(saw), "%.*s", (int)strcspn(seen, " "), seen);
	char saw_plain[80];
	if (saw[0] == '[') { /* [::1]:P -> ::1:P, coturn's notation */
		const char *close = strchr(saw, ']');
		snprintf(saw_plain, sizeof(saw_plain), "%.*s%s", (int)(close - saw - 1), saw + 1, close + 1);
	} else {
		snprintf(saw_plain, sizeof(saw_plain), "%s", saw);
	}
	ck_assert_str_eq(got, saw_plain);
	proc_stop(&srv);
}

START_TEST(coturn_client_ipv4) { check_family("127.0.0.1:0", "127.0.0.1", "127.0.0.1:"); }
END_TEST

START_TEST(coturn_client_ipv6)
{
	if (system("ip -6 addr show lo 2>/dev/null | grep -q '::1'") != 0) {
		fprintf(stderr, "SKIP stun_interop ipv6: no IPv6 loopback on this machine\n");
		return;
	}
	check_family("[::1]:0", "::1", "[::1]:");
}
END_TEST

/* Our client against coturn's plain STUN server (--stun): the public
 * address comes from coturn, and our server answers no STUN at all. */
START_TEST(client_uses_coturn_stun)
{
	if (system("command -v turnserver >/dev/null 2>&1") != 0)
		ck_abort_msg("turnserver (package coturn) is missing: run contrib/install-deps.sh --test");
	struct proc coturn, srv, client;
	char log[16384] = "", line[2048], field[128], cport[16], id[64], stun[64];
	/* A port for coturn: the kernel's pick for a UDP socket, released. */
	int u = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET };
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t len = sizeof(sa);
	bind(u, (struct sockaddr *)&sa, sizeof(sa));
	getsockname(u, (struct sockaddr *)&sa, &len);
	close(u);
	snprintf(cport, sizeof(cport), "%d", ntohs(sa.sin_port));
	char cmd[512];
	snprintf(cmd, sizeof(cmd),
		 "exec turnserver -n --listening-ip=127.0.0.1 --listening-port=%s --stun-only --no-cli "
		 "--no-tls --no-dtls --log-file=stdout --simple-log >/dev/null 2>&1", cport);
	memset(&coturn, 0, sizeof(coturn));
	coturn.pid = fork();
	if (coturn.pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	usleep(500000);

	ck_assert_int_eq(proc_start(&srv, (const char *[]){ "-v", "--serve", "--listen", "127.0.0.1:0", NULL }), 0);
	const char *at = wait_log(&srv, log, sizeof(log), "listening on 127.0.0.1:");
	ck_assert_ptr_nonnull(at);
	int port = atoi(at + strlen("listening on 127.0.0.1:"));
	snprintf(id, sizeof(id), "carol@127.0.0.1:%d", port);
	snprintf(stun, sizeof(stun), "127.0.0.1:%s", cport);
	ck_assert_int_eq(proc_start(&client, (const char *[]){ "--json", "--no-audio", "--stun", stun, id, NULL }), 0);
	ck_assert_int_eq(proc_event(&client, "registered", line, sizeof(line), 8000), 0);
	json_field(line, "mapped", field, sizeof(field));
	ck_assert_msg(strncmp(field, "127.0.0.1:", 10) == 0, "no mapped address from coturn: %s", line);
	usleep(200000);
	wait_log(&srv, log, sizeof(log), "STUN Binding from");
	ck_assert_msg(!strstr(log, "STUN Binding from"), "our server answered STUN: %s", log);
	proc_stop(&client);
	proc_stop(&srv);
	kill(coturn.pid, SIGKILL);
	waitpid(coturn.pid, NULL, 0);
}
END_TEST

Suite *stun_interop_suite(void)
{
	Suite *s = suite_create("stun_interop");
	TCase *c = tcase_create("coturn");
	tcase_set_timeout(c, 30);
	tcase_add_test(c, coturn_client_ipv4);
	tcase_add_test(c, coturn_client_ipv6);
	tcase_add_test(c, client_uses_coturn_stun);
	suite_add_tcase(s, c);
	return s;
}
