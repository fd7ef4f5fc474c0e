/* Bad input against the real server: while garbage senders, overlong
 * lines, binary noise, out-of-order commands and a flood of half-open and
 * silent connections hit it, a legitimate pair registers and completes a
 * call, and the server keeps running and answering. */
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <sodium.h>
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
#include "p2pcall/regproof.h"
#include "p2pcall/relay.h"
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

/* Connects (as HELLO'd), returning the challenge of the server's HELLO. */
static int hello_challenge(int port, uint8_t chal[32])
{
	char line[512];
	int fd = tcp_connect_port(port);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(tcp_expect(fd, "HELLO ", line, sizeof(line), T), 0);
	const char *c = strstr(line, " challenge=");
	ck_assert_msg(c != NULL, "no challenge in: %s", line);
	ck_assert_int_eq(b64url_decode(chal, 32, c + 11), 0);
	tcp_send(fd, "HELLO version=1\n");
	ck_assert_int_eq(tcp_expect(fd, "OK re=HELLO", line, sizeof(line), T), 0);
	return fd;
}

static void send_keyed_register(int fd, const char *name, const uint8_t *pk, const uint8_t *sk, const uint8_t *chal)
{
	uint8_t sig[64];
	char k[64], sg[100], line[400];
	ck_assert_int_eq(regproof_sign(sk, chal, name, sig), 0);
	b64url_encode(k, sizeof(k), pk, 32);
	b64url_encode(sg, sizeof(sg), sig, 64);
	snprintf(line, sizeof(line), "REGISTER name=%s key=%s sig=%s\n", name, k, sg);
	tcp_send(fd, line);
}

START_TEST(names_bound_to_keys)
{
	char line[1100], want[256], k1[64];
	uint8_t pk1[32], sk1[64], pk2[32], sk2[64], c0[32], c1[32], c2[32];
	ck_assert_int_ge(sodium_init(), 0);
	crypto_sign_keypair(pk1, sk1);
	crypto_sign_keypair(pk2, sk2);
	b64url_encode(k1, sizeof(k1), pk1, 32);
	ck_assert_int_eq(server_start(&S, NULL), 0);

	int a = hello_challenge(S.port, c0);
	int m = hello_challenge(S.port, c1);
	ck_assert_mem_ne(c0, c1, 32); /* fresh for each connection */
	send_keyed_register(a, "alice", pk1, sk1, c0);
	ck_assert_int_eq(tcp_expect(a, "OK re=REGISTER", line, sizeof(line), T), 0);
	ck_assert_ptr_nonnull(strstr(line, " key=bound"));
	/* Someone else's key for alice, or alice's signature replayed. */
	send_keyed_register(m, "alice", pk2, sk2, c1);
	ck_assert_int_eq(tcp_expect(m, "ERR re=REGISTER", line, sizeof(line), T), 0);
	ck_assert_str_eq(line, "ERR re=REGISTER code=403 reason=key-mismatch "
			       "msg=this%20name%20is%20bound%20to%20another%20key");
	send_keyed_register(m, "alice", pk1, sk1, c0);
	ck_assert_int_eq(tcp_expect(m, "ERR re=REGISTER", line, sizeof(line), T), 0);
	ck_assert_str_eq(line, "ERR re=REGISTER code=401 reason=bad-signature");
	tcp_send(m, "REGISTER name=alice\n");
	ck_assert_int_eq(tcp_expect(m, "ERR re=REGISTER", line, sizeof(line), T), 0);
	ck_assert_str_eq(line, "ERR re=REGISTER code=401 reason=key-required");

	/* Alice comes back on a new connection: verified. */
	close(a);
	for (int tries = 0;; tries++) { /* until the server has seen the close */
		a = hello_challenge(S.port, c2);
		send_keyed_register(a, "alice", pk1, sk1, c2);
		ck_assert_int_eq(tcp_expect(a, "", line, sizeof(line), T), 0);
		if (strstr(line, "name-taken") == NULL || tries == 50)
			break;
		close(a);
		usleep(100000);
	}
	ck_assert_msg(strncmp(line, "OK re=REGISTER", 14) == 0 && strstr(line, " key=verified"), "%s", line);

	/* The server attests who calls: idkey= is alice's, whatever she says. */
	int b = tcp_register(S.port, "bob");
	ck_assert_int_ge(b, 0);
	tcp_send(a, "INVITE to=bob idkey=forged\n");
	ck_assert_int_eq(tcp_expect(b, "INCOMING", line, sizeof(line), T), 0);
	snprintf(want, sizeof(want), " idkey=%s", k1);
	ck_assert_msg(strstr(line, want) && !strstr(line, "forged"), "%s", line);
	close(a);
	close(b);
	close(m);
}
END_TEST

START_TEST(require_keys_and_closed)
{
	char line[512];
	uint8_t pk[32], sk[64], chal[32];
	ck_assert_int_ge(sodium_init(), 0);
	crypto_sign_keypair(pk, sk);
	ck_assert_int_eq(server_start(&S, (const char *[]){ "--require-keys", NULL }), 0);
	int fd = hello_challenge(S.port, chal);
	tcp_send(fd, "REGISTER name=carol\n");
	ck_assert_int_eq(tcp_expect(fd, "ERR re=REGISTER", line, sizeof(line), T), 0);
	ck_assert_str_eq(line, "ERR re=REGISTER code=401 reason=key-required");
	send_keyed_register(fd, "carol", pk, sk, chal);
	ck_assert_int_eq(tcp_expect(fd, "OK re=REGISTER name=carol", line, sizeof(line), T), 0);
	close(fd);
	server_stop(&S);

	/* Closed, with no bindings given: nobody may register. */
	ck_assert_int_eq(server_start(&S, (const char *[]){ "--closed", NULL }), 0);
	fd = hello_challenge(S.port, chal);
	send_keyed_register(fd, "carol", pk, sk, chal);
	ck_assert_int_eq(tcp_expect(fd, "ERR re=REGISTER", line, sizeof(line), T), 0);
	ck_assert_str_eq(line, "ERR re=REGISTER code=403 reason=not-listed");
	close(fd);
}
END_TEST

static int udp_from(const char *src)
{
	int u = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = { .sin_family = AF_INET };
	inet_pton(AF_INET, src, &a.sin_addr);
	ck_assert_int_eq(bind(u, (struct sockaddr *)&a, sizeof(a)), 0);
	return u;
}

static void udp_to_server(int u, const void *buf, size_t n)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)S.port) };
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(sendto(u, buf, n, 0, (struct sockaddr *)&sa, sizeof(sa)), (ssize_t)n);
}

/* A datagram within TIMEOUT_MS: its length, or -1. */
static ssize_t udp_recv(int u, uint8_t *buf, size_t n, int timeout_ms)
{
	struct pollfd p = { u, POLLIN, 0 };
	if (poll(&p, 1, timeout_ms) <= 0)
		return -1;
	return recv(u, buf, n, 0);
}

static void hex_token(const char *line, uint8_t tok[8])
{
	const char *r = strstr(line, " relay=");
	ck_assert_msg(r != NULL, "no relay token in: %s", line);
	for (int i = 0; i < 8; i++) {
		unsigned v;
		ck_assert_int_eq(sscanf(r + 7 + 2 * i, "%2x", &v), 1);
		tok[i] = (uint8_t)v;
	}
}

static size_t relay_frame(uint8_t *buf, uint8_t first, const uint8_t tok[8], const char *payload)
{
	buf[0] = first;
	buf[1] = buf[2] = buf[3] = 0;
	memcpy(buf + 4, tok, 8);
	memcpy(buf + 12, payload, strlen(payload));
	return 12 + strlen(payload);
}

/* The relay has no way to name a destination: it sends only to the two
 * parties of a live call, at the addresses their own token-bearing frames
 * came from. A third address with a token-shaped guess, or a party whose
 * payload names another address, makes it send nowhere else. */
START_TEST(relay_sends_only_to_the_parties)
{
	char line[1100];
	uint8_t ta[8], tb[8], buf[256], in[256];
	ck_assert_int_eq(server_start(&S, NULL), 0);
	int a = tcp_register(S.port, "alice"), b = tcp_register(S.port, "bob");
	tcp_send(a, "INVITE to=bob\n");
	ck_assert_int_eq(tcp_expect(b, "INCOMING call=1", line, sizeof(line), T), 0);
	tcp_send(b, "ACCEPT call=1\n");
	ck_assert_int_eq(tcp_expect(b, "OK re=ACCEPT call=1", line, sizeof(line), T), 0);
	hex_token(line, tb);
	ck_assert_int_eq(tcp_expect(a, "ACCEPTED call=1", line, sizeof(line), T), 0);
	hex_token(line, ta);

	int ua = udp_from("127.0.0.1"), ub = udp_from("127.0.0.1"), uc = udp_from("127.0.0.3");
	struct sockaddr_in cs;
	socklen_t cl = sizeof(cs);
	getsockname(uc, (struct sockaddr *)&cs, &cl);
	/* Both parties bind. */
	udp_to_server(ua, buf, relay_frame(buf, RELAY_TO_SERVER, ta, ""));
	ck_assert_int_eq(udp_recv(ua, in, sizeof(in), T), 12);
	ck_assert_int_eq(in[0], RELAY_BOUND);
	udp_to_server(ub, buf, relay_frame(buf, RELAY_TO_SERVER, tb, ""));
	ck_assert_int_eq(udp_recv(ub, in, sizeof(in), T), 12);

	/* The stranger: alice's token with one bit changed, the
	 * server-to-client layouts with her real token, a bare header. */
	uint8_t forged[8];
	memcpy(forged, ta, 8);
	forged[7] ^= 1;
	udp_to_server(uc, buf, relay_frame(buf, RELAY_TO_SERVER, forged, "to bob"));
	udp_to_server(uc, buf, relay_frame(buf, RELAY_FROM_PEER, ta, "to bob"));
	udp_to_server(uc, buf, relay_frame(buf, RELAY_BOUND, ta, ""));
	udp_to_server(uc, buf, 4);
	/* Alice's payload names the stranger's address: it goes to bob. */
	char payload[64];
	snprintf(payload, sizeof(payload), "send to 127.0.0.3:%d", ntohs(cs.sin_port));
	udp_to_server(ua, buf, relay_frame(buf, RELAY_TO_SERVER, ta, payload));
	ssize_t n = udp_recv(ub, in, sizeof(in), T);
	ck_assert_int_eq(n, 4 + (ssize_t)strlen(payload));
	ck_assert_int_eq(in[0], RELAY_FROM_PEER);
	ck_assert_mem_eq(in + 4, payload, strlen(payload));
	/* Nothing went to the stranger, and nothing more to the parties. */
	ck_assert_int_lt(udp_recv(uc, in, sizeof(in), 300), 0);
	ck_assert_int_lt(udp_recv(ub, in, sizeof(in), 50), 0);
	ck_assert_int_lt(udp_recv(ua, in, sizeof(in), 50), 0);

	/* Once the call is over the tokens are dead. */
	tcp_send(a, "HANGUP call=1\n");
	ck_assert_int_eq(tcp_expect(b, "ENDED call=1", line, sizeof(line), T), 0);
	udp_to_server(ua, buf, relay_frame(buf, RELAY_TO_SERVER, ta, "late"));
	ck_assert_int_lt(udp_recv(ub, in, sizeof(in), 300), 0);
	close(ua);
	close(ub);
	close(uc);
	close(a);
	close(b);
}
END_TEST

START_TEST(stun_answers_rate_limited_per_address)
{
	ck_assert_int_eq(server_start(&S, (const char *[]){ "--stun-rate", "5", NULL }), 0);
	int u = udp_from("127.0.0.1"), v = udp_from("127.0.0.5");
	uint8_t req[20] = { 0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42 }, in[256];
	for (int i = 0; i < 40; i++) {
		req[8] = (uint8_t)i; /* transaction id */
		udp_to_server(u, req, sizeof(req));
	}
	int answered = 0;
	while (udp_recv(u, in, sizeof(in), 300) > 0)
		answered++;
	/* A burst of 10 (twice the rate), and what refilled meanwhile. */
	ck_assert_int_ge(answered, 10);
	ck_assert_int_le(answered, 14);
	/* Another address is answered. */
	udp_to_server(v, req, sizeof(req));
	ck_assert_int_ge(udp_recv(v, in, sizeof(in), T), 32);
	close(u);
	close(v);
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
	tcase_add_test(c, names_bound_to_keys);
	tcase_add_test(c, require_keys_and_closed);
	tcase_add_test(c, relay_sends_only_to_the_parties);
	tcase_add_test(c, stun_answers_rate_limited_per_address);
	suite_add_tcase(s, c);
	return s;
}
