/* Every call outcome, end to end: the real server and real clients on
 * loopback, JSON events and exit statuses checked. Where a test needs the
 * other party to do something precise (reject, ring forever, vanish), it
 * speaks the protocol itself over a raw TCP socket. */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "p2pcall/cli.h"
#include "proc.h"

#define T 8000 /* ms: generous bound for any single step */

static struct test_server S;
static char line[4096], field[256];

static void start_server(const char *const *extra)
{
	ck_assert_msg(server_start(&S, extra) == 0, "server did not start: %s", S.log);
}

static void teardown(void) { server_stop(&S); }

static void client(struct proc *p, const char *name, const char *peer, const char *const *extra)
{
	char id[128];
	snprintf(id, sizeof(id), "%s@127.0.0.1:%d", name, S.port);
	const char *argv[16] = { "--json", "--no-audio" };
	int i = 2;
	for (int j = 0; extra && extra[j]; j++)
		argv[i++] = extra[j];
	argv[i++] = id;
	if (peer)
		argv[i++] = peer;
	argv[i] = NULL;
	ck_assert_int_eq(proc_start(p, argv), 0);
}

static void expect_event(struct proc *p, const char *event)
{
	ck_assert_msg(proc_event(p, event, line, sizeof(line), T) == 0, "no `%s' event", event);
}

static void expect_ended(struct proc *p, const char *reason, int status)
{
	expect_event(p, "ended");
	ck_assert_str_eq(json_field(line, "reason", field, sizeof(field)), reason);
	ck_assert_int_eq(proc_wait(p, T), status);
}

static void waiting(struct proc *p, const char *name, const char *const *extra)
{
	client(p, name, NULL, extra);
	expect_event(p, "registered");
}

START_TEST(answered_and_hung_up)
{
	struct proc bob, alice;
	char bob_mapped[64], alice_mapped[64];
	start_server(NULL);
	waiting(&bob, "bob", (const char *[]){ "--auto-answer", "--once", NULL });
	ck_assert_str_eq(json_field(line, "name", field, sizeof(field)), "bob");
	json_field(line, "mapped", bob_mapped, sizeof(bob_mapped));
	ck_assert_msg(strncmp(bob_mapped, "127.0.0.1:", 10) == 0, "mapped address: %s", line);

	client(&alice, "alice", "bob", (const char *[]){ "--duration", "0.5", NULL });
	expect_event(&alice, "registered");
	json_field(line, "mapped", alice_mapped, sizeof(alice_mapped));
	expect_event(&alice, "calling");
	ck_assert_str_eq(json_field(line, "peer", field, sizeof(field)), "bob");
	expect_event(&alice, "ringing");
	expect_event(&alice, "connected");
	/* Checks crossed on a direct path, to bob's media socket (by one of
	 * its addresses: a host candidate may win over the public one). */
	ck_assert_str_eq(json_field(line, "path", field, sizeof(field)), "direct");
	ck_assert_str_eq(strrchr(json_field(line, "remote", field, sizeof(field)), ':'), strrchr(bob_mapped, ':'));
	expect_ended(&alice, "hangup", EXIT_OK);
	ck_assert_str_eq(json_field(line, "peer", field, sizeof(field)), "bob");

	expect_event(&bob, "incoming");
	ck_assert_str_eq(json_field(line, "peer", field, sizeof(field)), "alice");
	expect_event(&bob, "connected");
	ck_assert_str_eq(json_field(line, "path", field, sizeof(field)), "direct");
	ck_assert_str_eq(strrchr(json_field(line, "remote", field, sizeof(field)), ':'), strrchr(alice_mapped, ':'));
	expect_ended(&bob, "peer-hangup", EXIT_OK);
	proc_stop(&alice);
	proc_stop(&bob);
}
END_TEST

START_TEST(callee_hangs_up_with_ctrl_c)
{
	struct proc bob, alice;
	start_server(NULL);
	waiting(&bob, "bob", (const char *[]){ "--auto-answer", "--once", NULL });
	client(&alice, "alice", "bob", NULL);
	expect_event(&alice, "connected");
	expect_event(&bob, "connected");
	proc_signal(&bob, SIGINT);
	expect_ended(&bob, "hangup", EXIT_OK);
	expect_ended(&alice, "peer-hangup", EXIT_OK);
	proc_stop(&alice);
	proc_stop(&bob);
}
END_TEST

/* The callee is a raw protocol client that sends VERB once it is invited. */
static void callee_answers_with(const char *verb, const char *reason, int status)
{
	struct proc alice;
	char cmd[128];
	start_server(NULL);
	int bob = tcp_register(S.port, "bob");
	ck_assert_int_ge(bob, 0);
	client(&alice, "alice", "bob", NULL);
	ck_assert_int_eq(tcp_expect(bob, "INCOMING call=1 from=alice", line, sizeof(line), T), 0);
	ck_assert_msg(strstr(line, " cand=host/127.0.0.1/") && strstr(line, " cand=srflx/127.0.0.1/"),
		      "candidates missing: %s", line);
	snprintf(cmd, sizeof(cmd), "RINGING call=1\n%s call=1\n", verb);
	tcp_send(bob, cmd);
	expect_event(&alice, "ringing");
	expect_ended(&alice, reason, status);
	proc_stop(&alice);
	close(bob);
}

START_TEST(rejected) { callee_answers_with("REJECT", "rejected", EXIT_REJECTED); }
END_TEST

START_TEST(callee_says_busy) { callee_answers_with("REJECT reason=busy", "busy", EXIT_BUSY); }
END_TEST

START_TEST(callee_in_another_call_is_busy)
{
	struct proc alice;
	char l[512];
	start_server(NULL);
	int bob = tcp_register(S.port, "bob");
	int carol = tcp_register(S.port, "carol");
	tcp_send(carol, "INVITE to=bob\n");
	ck_assert_int_eq(tcp_expect(bob, "INCOMING", l, sizeof(l), T), 0);
	client(&alice, "alice", "bob", NULL);
	expect_ended(&alice, "busy", EXIT_BUSY);
	proc_stop(&alice);
	close(bob);
	close(carol);
}
END_TEST

START_TEST(no_answer)
{
	struct proc alice;
	start_server((const char *[]){ "--ring-timeout", "1", NULL });
	int bob = tcp_register(S.port, "bob");
	client(&alice, "alice", "bob", NULL);
	ck_assert_int_eq(tcp_expect(bob, "INCOMING", line, sizeof(line), T), 0);
	tcp_send(bob, "RINGING call=1\n");
	expect_event(&alice, "ringing");
	expect_ended(&alice, "no-answer", EXIT_NO_ANSWER);
	ck_assert_int_eq(tcp_expect(bob, "ENDED call=1 reason=no-answer", line, sizeof(line), T), 0);
	proc_stop(&alice);
	close(bob);
}
END_TEST

START_TEST(unknown_and_offline_peer)
{
	struct proc alice;
	start_server(NULL);
	client(&alice, "alice", "nobody", NULL);
	expect_ended(&alice, "unknown", EXIT_UNREACHABLE);
	proc_stop(&alice);

	int bob = tcp_register(S.port, "bob");
	close(bob); /* bob was here, and left */
	usleep(200000);
	client(&alice, "alice", "bob", NULL);
	expect_ended(&alice, "offline", EXIT_UNREACHABLE);
	proc_stop(&alice);
}
END_TEST

START_TEST(caller_cancels)
{
	struct proc alice, bob;
	start_server(NULL);
	waiting(&bob, "bob", (const char *[]){ "--once", NULL }); /* rings, never answers */
	client(&alice, "alice", "bob", NULL);
	expect_event(&alice, "ringing");
	expect_event(&bob, "incoming");
	proc_signal(&alice, SIGINT);
	expect_ended(&alice, "cancelled", EXIT_CANCELLED);
	expect_ended(&bob, "peer-cancelled", EXIT_CANCELLED);
	proc_stop(&alice);
	proc_stop(&bob);
}
END_TEST

START_TEST(peer_vanishes_mid_call)
{
	struct proc alice;
	start_server(NULL);
	int bob = tcp_register(S.port, "bob");
	client(&alice, "alice", "bob", NULL);
	ck_assert_int_eq(tcp_expect(bob, "INCOMING", line, sizeof(line), T), 0);
	tcp_send(bob, "ACCEPT call=1\n");
	expect_event(&alice, "connected");
	close(bob); /* no HANGUP: the connection just dies */
	expect_ended(&alice, "peer-gone", EXIT_NETWORK);
	proc_stop(&alice);
}
END_TEST

START_TEST(silent_peer_is_noticed)
{
	/* keepalive 1 s: a registered client that sends nothing for 3 s is
	 * dropped, its call ends for the other side and its name is free. */
	struct proc alice;
	start_server((const char *[]){ "--keepalive", "1", NULL });
	int bob = tcp_register(S.port, "bob");
	client(&alice, "alice", "bob", NULL);
	ck_assert_int_eq(tcp_expect(bob, "INCOMING", line, sizeof(line), T), 0);
	tcp_send(bob, "ACCEPT call=1\n");
	expect_event(&alice, "connected");
	/* bob stays connected but silent; alice keeps pinging, so only bob
	 * is dropped. */
	expect_ended(&alice, "peer-gone", EXIT_NETWORK);
	int bob2 = tcp_register(S.port, "bob");
	ck_assert_int_ge(bob2, 0);
	proc_stop(&alice);
	close(bob);
	close(bob2);
}
END_TEST

START_TEST(server_unreachable)
{
	struct proc alice;
	start_server(NULL);
	int port = S.port;
	server_stop(&S);
	S.port = port;
	client(&alice, "alice", "bob", NULL);
	expect_event(&alice, "error");
	ck_assert_int_eq(proc_wait(&alice, T), EXIT_SERVER);
	proc_stop(&alice);
}
END_TEST

START_TEST(name_taken)
{
	struct proc alice2;
	start_server(NULL);
	int alice = tcp_register(S.port, "alice");
	client(&alice2, "alice", NULL, NULL);
	expect_event(&alice2, "error");
	ck_assert_msg(strstr(line, "already registered"), "%s", line);
	ck_assert_int_eq(proc_wait(&alice2, T), EXIT_REGISTER);
	proc_stop(&alice2);
	close(alice);
}
END_TEST

START_TEST(waiting_client_reconnects)
{
	struct proc bob, alice;
	start_server((const char *[]){ "--keepalive", "1", NULL });
	int port = S.port;
	waiting(&bob, "bob", (const char *[]){ "--auto-answer", "--once", NULL });
	server_stop(&S);
	expect_event(&bob, "disconnected");
	ck_assert_msg(server_start_on(&S, port, (const char *[]){ "--keepalive", "1", NULL }) == 0,
		      "restart on port %d: %s", port, S.log);
	expect_event(&bob, "registered");
	client(&alice, "alice", "bob", (const char *[]){ "--duration", "0.2", NULL });
	expect_ended(&alice, "hangup", EXIT_OK);
	expect_ended(&bob, "peer-hangup", EXIT_OK);
	proc_stop(&alice);
	proc_stop(&bob);
}
END_TEST

START_TEST(server_stops_cleanly)
{
	start_server(NULL);
	int fd = tcp_register(S.port, "alice");
	proc_signal(&S.p, SIGTERM);
	ck_assert_int_eq(proc_wait(&S.p, T), 0);
	ck_assert_int_eq(tcp_line(fd, line, sizeof(line), T), -EPIPE);
	close(fd);
}
END_TEST

START_TEST(relay_always_hides_addresses)
{
	struct proc bob, alice;
	char server[64], bob_mapped[64], alice_mapped[64];
	start_server(NULL);
	snprintf(server, sizeof(server), "127.0.0.1:%d", S.port);
	waiting(&bob, "bob", (const char *[]){ "--auto-answer", "--once", "--relay", "always", NULL });
	json_field(line, "mapped", bob_mapped, sizeof(bob_mapped));
	client(&alice, "alice", "bob", (const char *[]){ "--relay", "always", "--duration", "0.5", NULL });
	expect_event(&alice, "registered");
	json_field(line, "mapped", alice_mapped, sizeof(alice_mapped));
	expect_event(&alice, "connected");
	ck_assert_str_eq(json_field(line, "path", field, sizeof(field)), "relay");
	ck_assert_str_eq(json_field(line, "remote", field, sizeof(field)), server);
	ck_assert_msg(!strstr(line, bob_mapped), "bob's address leaked: %s", line);
	expect_ended(&alice, "hangup", EXIT_OK);

	/* Everything bob was told, in order: no trace of alice's address. */
	for (;;) {
		ck_assert_int_eq(proc_line(&bob, line, sizeof(line), T), 0);
		ck_assert_msg(!strstr(line, alice_mapped), "alice's address leaked: %s", line);
		if (strstr(line, "\"connected\"")) {
			ck_assert_str_eq(json_field(line, "path", field, sizeof(field)), "relay");
			ck_assert_str_eq(json_field(line, "remote", field, sizeof(field)), server);
		}
		if (strstr(line, "\"ended\""))
			break;
	}
	ck_assert_int_eq(proc_wait(&bob, T), EXIT_OK);
	proc_stop(&alice);
	proc_stop(&bob);
}
END_TEST

START_TEST(relay_fallback_for_auto_peer)
{
	/* alice reveals nothing, so bob (auto) has no candidate to check:
	 * he must fall back to the relay within the fallback delay. */
	struct proc bob, alice;
	start_server(NULL);
	waiting(&bob, "bob", (const char *[]){ "--auto-answer", "--once", NULL });
	client(&alice, "alice", "bob", (const char *[]){ "--relay", "always", "--duration", "2", NULL });
	expect_event(&bob, "connected");
	ck_assert_str_eq(json_field(line, "path", field, sizeof(field)), "relay");
	double setup = atof(json_field(line, "setup_ms", field, sizeof(field)));
	ck_assert_msg(setup < 1500, "relay fallback took %.0f ms (goal <= 1500)", setup);
	expect_ended(&bob, "peer-hangup", EXIT_OK);
	ck_assert_int_eq(proc_wait(&alice, T), EXIT_OK);
	proc_stop(&alice);
	proc_stop(&bob);
}
END_TEST

/* --on-call: the command sees the caller; exit 0 answers, 1 rejects. */
START_TEST(on_call_command_decides)
{
	struct proc bob, alice, carol;
	char log[64], cmd[256], text[256] = "";
	snprintf(log, sizeof(log), "/tmp/p2pcall-oncall-%d.log", (int)getpid());
	snprintf(cmd, sizeof(cmd), "echo \"$P2PCALL_NAME got $P2PCALL_PEER\" >>%s; test \"$P2PCALL_PEER\" = alice",
		 log);
	start_server(NULL);
	waiting(&bob, "bob", (const char *[]){ "--on-call", cmd, NULL });
	client(&carol, "carol", "bob", NULL);
	expect_ended(&carol, "rejected", EXIT_REJECTED);
	client(&alice, "alice", "bob", (const char *[]){ "--duration", "0.3", NULL });
	expect_event(&alice, "connected");
	expect_ended(&alice, "hangup", EXIT_OK);
	FILE *f = fopen(log, "r");
	ck_assert_ptr_nonnull(f);
	size_t n = fread(text, 1, sizeof(text) - 1, f);
	text[n] = '\0';
	fclose(f);
	unlink(log);
	ck_assert_str_eq(text, "bob got carol\nbob got alice\n");
	proc_stop(&alice);
	proc_stop(&carol);
	proc_stop(&bob);
}
END_TEST

/* A server that answers the invitation with an error the client does not
 * know: the client says so and exits with status 1 (unexpected failure). */
START_TEST(unexpected_server_error)
{
	struct proc alice;
	char l[1024], id[64];
	int lfd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET };
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t len = sizeof(sa);
	ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(lfd, 1), 0);
	getsockname(lfd, (struct sockaddr *)&sa, &len);
	snprintf(id, sizeof(id), "alice@127.0.0.1:%d", ntohs(sa.sin_port));
	/* No STUN on this "server": the client waits out its STUN tries. */
	ck_assert_int_eq(proc_start(&alice, (const char *[]){ "--json", "--no-audio", id, "bob", NULL }), 0);
	int fd = accept(lfd, NULL, NULL);
	ck_assert_int_ge(fd, 0);
	tcp_send(fd, "HELLO version=1 agent=fake keepalive=30\n");
	ck_assert_int_eq(tcp_expect(fd, "REGISTER name=alice", l, sizeof(l), T), 0);
	tcp_send(fd, "OK re=REGISTER name=alice seen=127.0.0.1:1\n");
	ck_assert_int_eq(tcp_expect(fd, "INVITE to=bob", l, sizeof(l), 15000), 0);
	tcp_send(fd, "ERR re=INVITE code=500 reason=database-on-fire\n");
	ck_assert_int_eq(proc_event(&alice, "ended", line, sizeof(line), T), 0);
	ck_assert_str_eq(json_field(line, "reason", field, sizeof(field)), "database-on-fire");
	ck_assert_int_eq(proc_wait(&alice, T), EXIT_ERROR);
	proc_stop(&alice);
	close(fd);
	close(lfd);
}
END_TEST

Suite *calls_suite(void)
{
	Suite *s = suite_create("calls");
	TCase *c = tcase_create("outcomes");
	tcase_set_timeout(c, 60);
	tcase_add_checked_fixture(c, NULL, teardown);
	tcase_add_test(c, answered_and_hung_up);
	tcase_add_test(c, callee_hangs_up_with_ctrl_c);
	tcase_add_test(c, rejected);
	tcase_add_test(c, callee_says_busy);
	tcase_add_test(c, callee_in_another_call_is_busy);
	tcase_add_test(c, no_answer);
	tcase_add_test(c, unknown_and_offline_peer);
	tcase_add_test(c, caller_cancels);
	tcase_add_test(c, peer_vanishes_mid_call);
	tcase_add_test(c, relay_always_hides_addresses);
	tcase_add_test(c, relay_fallback_for_auto_peer);
	tcase_add_test(c, on_call_command_decides);
	suite_add_tcase(s, c);
	c = tcase_create("connection");
	tcase_set_timeout(c, 60);
	tcase_add_checked_fixture(c, NULL, teardown);
	tcase_add_test(c, silent_peer_is_noticed);
	tcase_add_test(c, server_unreachable);
	tcase_add_test(c, name_taken);
	tcase_add_test(c, waiting_client_reconnects);
	tcase_add_test(c, server_stops_cleanly);
	tcase_add_test(c, unexpected_server_error);
	suite_add_tcase(s, c);
	return s;
}
