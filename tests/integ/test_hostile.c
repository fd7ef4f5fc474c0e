/* Bad input against the real server: while garbage senders, overlong
 * lines, binary noise, out-of-order commands and a flood of half-open and
 * silent connections hit it, a legitimate pair registers and completes a
 * call, and the server keeps running and answering. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "p2pcall/cli.h"
#include "proc.h"

#define T 8000
#define HALF_OPEN 600

static struct test_server S;

static void teardown(void) { server_stop(&S); }

START_TEST(legit_call_survives_garbage_and_flood)
{
	char line[2048], field[128];
	/* Short register timeout so the flood is also reaped during the test. */
	/* The flood comes from one address: allow it, to test survival. */
	ck_assert_int_eq(server_start(&S, (const char *[]){ "--register-timeout", "2", "--max-per-ip", "5000", NULL }), 0);

	struct rlimit rl;
	getrlimit(RLIMIT_NOFILE, &rl);
	int flood_n = rl.rlim_cur > HALF_OPEN + 100 ? HALF_OPEN : (int)rl.rlim_cur - 100;
	int *flood = calloc((size_t)flood_n, sizeof(int));
	for (int i = 0; i < flood_n; i++) {
		flood[i] = tcp_connect_port(S.port);
		ck_assert_int_ge(flood[i], 0);
		if (i % 3 == 1)
			tcp_send(flood[i], "HELLO version=1\nREGIS"); /* a line never finished */
	}

	/* Garbage of every kind, each on its own connection; the first has
	 * NUL bytes, so it is sent by its array size. */
	static const char binary[] = "\x00\x01\x02\xff\xfe binary\n";
	static const char *const garbage[] = {
		binary,
		"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
		"HELLO version=1\nINVITE to=bob\nACCEPT call=99\nHANGUP call=1\n",
		"HELLO version=1\nREGISTER name=../../etc\nREGISTER name=\n",
		"HELLO version=99\n",
		"HELLO version=1\nREGISTER name=x\nINVITE to=x\nINVITE to=%00\n",
	};
	int g[8];
	for (size_t i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++) {
		g[i] = tcp_connect_port(S.port);
		send(g[i], garbage[i], i == 0 ? sizeof(binary) - 1 : strlen(garbage[i]), MSG_NOSIGNAL);
	}
	/* An overlong line: the server must answer and close. */
	int longfd = tcp_connect_port(S.port);
	char *big = malloc(8192);
	memset(big, 'A', 8191);
	big[8191] = '\n';
	send(longfd, big, 8192, MSG_NOSIGNAL);
	free(big);
	ck_assert_int_eq(tcp_expect(longfd, "ERR code=400 reason=line-too-long", line, sizeof(line), T), 0);
	ck_assert_int_eq(tcp_expect(longfd, "never", line, sizeof(line), T), -EPIPE);
	/* Binary noise is answered as malformed, not by a crash. */
	ck_assert_int_eq(tcp_expect(g[0], "ERR code=400 reason=malformed", line, sizeof(line), T), 0);
	ck_assert_int_eq(tcp_expect(g[4], "ERR re=HELLO code=505", line, sizeof(line), T), 0);

	/* Meanwhile a real pair calls. */
	struct proc bob, alice;
	char id[64];
	snprintf(id, sizeof(id), "bob@127.0.0.1:%d", S.port);
	ck_assert_int_eq(proc_start(&bob, (const char *[]){ "--json", "--no-audio", "--auto-answer", "--once", id, NULL }), 0);
	ck_assert_int_eq(proc_event(&bob, "registered", line, sizeof(line), T), 0);
	snprintf(id, sizeof(id), "alice@127.0.0.1:%d", S.port);
	ck_assert_int_eq(proc_start(&alice, (const char *[]){ "--json", "--no-audio", "--duration", "0.3", id, "bob", NULL }), 0);
	ck_assert_int_eq(proc_event(&alice, "connected", line, sizeof(line), T), 0);
	ck_assert_int_eq(proc_event(&alice, "ended", line, sizeof(line), T), 0);
	ck_assert_str_eq(json_field(line, "reason", field, sizeof(field)), "hangup");
	ck_assert_int_eq(proc_wait(&alice, T), EXIT_OK);
	ck_assert_int_eq(proc_wait(&bob, T), EXIT_OK);

	/* The flood is reaped by the register timeout: its sockets see EOF. */
	int closed = 0;
	for (int i = 0; i < flood_n; i += 50)
		closed += tcp_expect(flood[i], "never", line, sizeof(line), T) == -EPIPE;
	ck_assert_int_eq(closed, (flood_n + 49) / 50);

	/* And the server still serves. */
	int fd = tcp_register(S.port, "carol");
	ck_assert_int_ge(fd, 0);
	tcp_send(fd, "PING id=1\n");
	ck_assert_int_eq(tcp_expect(fd, "PONG id=1", line, sizeof(line), T), 0);
	ck_assert_int_eq(waitpid(S.p.pid, NULL, WNOHANG), 0);

	close(fd);
	close(longfd);
	for (size_t i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++)
		close(g[i]);
	for (int i = 0; i < flood_n; i++)
		close(flood[i]);
	free(flood);
	proc_stop(&alice);
	proc_stop(&bob);
}
END_TEST

START_TEST(stun_port_ignores_junk)
{
	ck_assert_int_eq(server_start(&S, NULL), 0);
	int u = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)S.port) };
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	/* Junk, a truncated STUN header, and a STUN-looking packet with a bad
	 * length: none may be answered. */
	static const unsigned char junk[][24] = {
		{ 'h', 'e', 'l', 'l', 'o' },
		{ 0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42 },
		{ 0x00, 0x01, 0x00, 0x40, 0x21, 0x12, 0xa4, 0x42, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 },
	};
	static const size_t lens[] = { 5, 8, 20 };
	for (int i = 0; i < 3; i++)
		sendto(u, junk[i], lens[i], 0, (struct sockaddr *)&sa, sizeof(sa));
	struct timeval tv = { 0, 300000 };
	setsockopt(u, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	unsigned char buf[256];
	ck_assert_int_lt(recv(u, buf, sizeof(buf), 0), 0);
	/* A real Binding request is still answered. */
	static const unsigned char req[20] = { 0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42, 9, 9, 9 };
	sendto(u, req, sizeof(req), 0, (struct sockaddr *)&sa, sizeof(sa));
	ck_assert_int_ge(recv(u, buf, sizeof(buf), 0), 32);
	ck_assert_int_eq(buf[0], 0x01); /* success response */
	ck_assert_int_eq(buf[1], 0x01);
	close(u);
}
END_TEST

/* Connects from SRC (a 127.0.0.x address) to the server. */
static int connect_from(const char *src, int port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET }, d = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	inet_pton(AF_INET, src, &a.sin_addr);
	d.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || connect(fd, (struct sockaddr *)&d, sizeof(d)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

START_TEST(connection_limits)
{
	char line[512];
	int fd[8];
	ck_assert_int_eq(server_start(&S, (const char *[]){ "--max-per-ip", "3", "--max-clients", "5", NULL }), 0);
	for (int i = 0; i < 3; i++) {
		fd[i] = connect_from("127.0.0.1", S.port);
		ck_assert_int_eq(tcp_expect(fd[i], "HELLO ", line, sizeof(line), T), 0);
	}
	/* A fourth from the same address: refused, with the reason. */
	fd[3] = connect_from("127.0.0.1", S.port);
	ck_assert_int_eq(tcp_expect(fd[3], "ERR code=429 reason=too-many-connections", line, sizeof(line), T), 0);
	ck_assert_int_eq(tcp_line(fd[3], line, sizeof(line), T), -EPIPE);
	/* Others are still welcome, up to the total. */
	for (int i = 4; i < 6; i++) {
		fd[i] = connect_from("127.0.0.2", S.port);
		ck_assert_int_eq(tcp_expect(fd[i], "HELLO ", line, sizeof(line), T), 0);
	}
	fd[6] = connect_from("127.0.0.3", S.port);
	ck_assert_int_eq(tcp_expect(fd[6], "ERR code=503 reason=server-full", line, sizeof(line), T), 0);
	/* A place freed is a place taken again. */
	close(fd[0]);
	usleep(200000);
	fd[7] = connect_from("127.0.0.1", S.port);
	ck_assert_int_eq(tcp_expect(fd[7], "HELLO ", line, sizeof(line), T), 0);
	for (int i = 1; i < 8; i++)
		close(fd[i]);
}
END_TEST

Suite *hostile_suite(void)
{
	Suite *s = suite_create("hostile");
	TCase *c = tcase_create("server");
	tcase_set_timeout(c, 60);
	tcase_add_checked_fixture(c, NULL, teardown);
	tcase_add_test(c, legit_call_survives_garbage_and_flood);
	tcase_add_test(c, stun_port_ignores_junk);
	tcase_add_test(c, connection_limits);
	suite_add_tcase(s, c);
	return s;
}
