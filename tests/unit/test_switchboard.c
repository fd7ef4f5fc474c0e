/* Switchboard: registration and every call outcome, with a fake clock and
 * fake connections that record what the server sends them. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "p2pcall/sig.h"
#include "p2pcall/switchboard.h"

#define MAXC 8
#define MAXL 512

struct fake {
	struct sb *sb;
	struct sb_conn *conn[MAXC];
	char out[MAXC][MAXL][SIG_MAX_LINE];
	int nout[MAXC], read[MAXC];
	int closed[MAXC];
	uint64_t now;
};

static struct fake F;

static void on_send(void *ctx, void *io, const char *line, size_t len)
{
	int i = (int)(intptr_t)io;
	ck_assert_int_lt(F.nout[i], MAXL);
	ck_assert_int_eq(line[len - 1], '\n');
	memcpy(F.out[i][F.nout[i]], line, len - 1);
	F.out[i][F.nout[i]++][len - 1] = '\0';
}

static void on_close(void *ctx, void *io) { F.closed[(int)(intptr_t)io] = 1; }

static int relay_allocs, relay_releases;
static unsigned long long relay_last;

static int fake_alloc(void *ctx, unsigned long long id, char a[17], char b[17])
{
	relay_allocs++;
	relay_last = id;
	memcpy(a, "aaaaaaaaaaaaaaaa", 17);
	memcpy(b, "bbbbbbbbbbbbbbbb", 17);
	return 0;
}

static void fake_release(void *ctx, unsigned long long id)
{
	ck_assert_uint_eq(id, relay_last);
	relay_releases++;
}

static const struct sb_ops ops = { .send = on_send, .close = on_close };
static const struct sb_ops relay_ops = { .send = on_send, .close = on_close,
					 .relay_alloc = fake_alloc, .relay_release = fake_release };

static void setup(void)
{
	memset(&F, 0, sizeof(F));
	struct sb_config cfg = { .agent = "test/1", .keepalive_s = 5,
				 .ring_timeout_us = 30000000, .register_timeout_us = 10000000 };
	ck_assert_int_eq(sb_new(&F.sb, &cfg, &ops, NULL), 0);
}

static void teardown(void) { sb_free(F.sb); }

static void setup_relay(void)
{
	setup();
	sb_free(F.sb);
	relay_allocs = relay_releases = 0;
	struct sb_config cfg = { .agent = "test/1", .keepalive_s = 5 };
	ck_assert_int_eq(sb_new(&F.sb, &cfg, &relay_ops, NULL), 0);
}

static void open_conn(int i)
{
	char seen[32];
	snprintf(seen, sizeof(seen), "198.51.100.%d:4000%d", i, i);
	F.conn[i] = sb_conn_open(F.sb, (void *)(intptr_t)i, seen, F.now);
	ck_assert_ptr_nonnull(F.conn[i]);
}

static void say(int i, const char *text)
{
	char buf[4096];
	snprintf(buf, sizeof(buf), "%s", text);
	sb_conn_feed(F.sb, F.conn[i], buf, strlen(buf), F.now);
}

/* Next unread line sent to connection I (asserts there is one). */
static const char *next(int i)
{
	ck_assert_msg(F.read[i] < F.nout[i], "conn %d: expected a line, got none", i);
	return F.out[i][F.read[i]++];
}

static void expect(int i, const char *line) { ck_assert_str_eq(next(i), line); }
static void expect_nothing(int i)
{
	ck_assert_msg(F.read[i] == F.nout[i], "conn %d: unexpected: %s", i, F.out[i][F.read[i]]);
}

static void registered(int i, const char *name)
{
	char line[128];
	open_conn(i);
	ck_assert_str_eq(next(i), "HELLO version=1 agent=test/1 keepalive=5");
	say(i, "HELLO version=1\n");
	expect(i, "OK re=HELLO");
	snprintf(line, sizeof(line), "REGISTER name=%s\n", name);
	say(i, line);
	snprintf(line, sizeof(line), "OK re=REGISTER name=%s seen=198.51.100.%d:4000%d", name, i, i);
	expect(i, line);
}

/* alice (0) invites bob (1); returns after bob's INCOMING. */
static void invite(void)
{
	registered(0, "alice");
	registered(1, "bob");
	say(0, "INVITE to=bob cand=host/10.0.0.1/5000 cand=srflx/203.0.113.1/6000 ufrag=ab future=x\n");
	expect(0, "OK re=INVITE call=1 to=bob");
	expect(1, "INCOMING call=1 from=alice seen=198.51.100.0:40000 cand=host/10.0.0.1/5000 "
		  "cand=srflx/203.0.113.1/6000 ufrag=ab future=x");
}

START_TEST(register_and_ping)
{
	registered(0, "alice");
	say(0, "PING id=42\n");
	expect(0, "PONG id=42");
	ck_assert_uint_eq(sb_stats(F.sb)->registered, 1);
	say(0, "REGISTER name=alice2\n");
	expect(0, "ERR re=REGISTER code=403 reason=already-registered");
}
END_TEST

START_TEST(name_taken_and_released)
{
	registered(0, "alice");
	open_conn(1);
	next(1);
	say(1, "HELLO version=2,1\nREGISTER name=alice\n");
	expect(1, "OK re=HELLO");
	expect(1, "ERR re=REGISTER code=409 reason=name-taken");
	sb_conn_close(F.sb, F.conn[0], F.now);
	say(1, "REGISTER name=alice\n");
	expect(1, "OK re=REGISTER name=alice seen=198.51.100.1:40001");
	ck_assert_uint_eq(sb_stats(F.sb)->registered, 1);
	ck_assert_uint_eq(sb_stats(F.sb)->conns, 1);
}
END_TEST

START_TEST(bad_names)
{
	open_conn(0);
	next(0);
	say(0, "HELLO version=1\n");
	next(0);
	say(0, "REGISTER\nREGISTER name=Alice\nREGISTER name=a%20b\n");
	for (int i = 0; i < 3; i++)
		expect(0, "ERR re=REGISTER code=400 reason=bad-name");
}
END_TEST

START_TEST(hello_rules)
{
	open_conn(0);
	next(0);
	say(0, "REGISTER name=alice\n");
	expect(0, "ERR re=REGISTER code=403 reason=hello-first");
	ck_assert(F.closed[0]);

	open_conn(1);
	next(1);
	say(1, "HELLO version=7\n");
	expect(1, "ERR re=HELLO code=505 reason=version-unsupported");
	ck_assert(F.closed[1]);
	say(1, "HELLO version=1\n"); /* ignored once closing */
	expect_nothing(1);

	open_conn(2);
	next(2);
	say(2, "HELLO version=1\nINVITE to=bob\n");
	expect(2, "OK re=HELLO");
	expect(2, "ERR re=INVITE code=403 reason=register-first");
	ck_assert(!F.closed[2]);
}
END_TEST

START_TEST(call_accept_hangup)
{
	invite();
	say(1, "RINGING call=1\n");
	expect(0, "RINGING call=1");
	say(1, "ACCEPT call=1 cand=host/10.0.0.2/7000 ufrag=cd\n");
	expect(1, "OK re=ACCEPT call=1");
	expect(0, "ACCEPTED call=1 seen=198.51.100.1:40001 cand=host/10.0.0.2/7000 ufrag=cd");
	ck_assert_uint_eq(sb_stats(F.sb)->calls, 1);
	/* An answered call never times out. */
	F.now += 3600 * 1000000ull;
	sb_tick(F.sb, F.now);
	expect_nothing(0);
	say(1, "HANGUP call=1\n");
	expect(1, "OK re=HANGUP call=1");
	expect(0, "ENDED call=1 reason=hangup");
	ck_assert_uint_eq(sb_stats(F.sb)->calls, 0);
	/* Both are free for a new call. */
	say(1, "INVITE to=alice\n");
	expect(1, "OK re=INVITE call=2 to=alice");
}
END_TEST

START_TEST(update_forwarded_in_answered_calls)
{
	invite();
	say(0, "UPDATE call=1 cand=srflx/203.0.113.9/4000\n");
	expect(0, "ERR re=UPDATE code=409 reason=bad-state"); /* not answered yet */
	say(1, "ACCEPT call=1\n");
	next(1);
	next(0);
	say(1, "UPDATE call=1 cand=srflx/203.0.113.9/4000 seen=forged\n");
	expect(0, "UPDATE call=1 cand=srflx/203.0.113.9/4000");
	expect_nothing(1);
	say(0, "UPDATE call=2 cand=x\n");
	expect(0, "ERR re=UPDATE code=481 reason=no-such-call");
}
END_TEST

START_TEST(call_rejected_and_busy_reply)
{
	invite();
	say(1, "REJECT call=1\n");
	expect(1, "OK re=REJECT call=1");
	expect(0, "ENDED call=1 reason=rejected");
	say(0, "INVITE to=bob\n");
	expect(0, "OK re=INVITE call=2 to=bob");
	next(1);
	say(1, "REJECT call=2 reason=busy\n");
	expect(1, "OK re=REJECT call=2");
	expect(0, "ENDED call=2 reason=busy");
}
END_TEST

START_TEST(call_cancelled)
{
	invite();
	say(0, "CANCEL call=1\n");
	expect(0, "OK re=CANCEL call=1");
	expect(1, "ENDED call=1 reason=cancelled");
	ck_assert_uint_eq(sb_stats(F.sb)->calls, 0);
}
END_TEST

START_TEST(callee_busy_unknown_offline_self)
{
	invite();
	registered(2, "carol");
	say(2, "INVITE to=bob\n");
	expect(2, "ERR re=INVITE code=486 reason=busy");
	say(2, "INVITE to=alice\n"); /* the caller is in a call too */
	expect(2, "ERR re=INVITE code=486 reason=busy");
	say(2, "INVITE to=nobody\n");
	expect(2, "ERR re=INVITE code=404 reason=unknown");
	say(2, "INVITE to=carol\n");
	expect(2, "ERR re=INVITE code=400 reason=self");
	say(0, "INVITE to=carol\n");
	expect(0, "ERR re=INVITE code=409 reason=in-call");
	registered(3, "dave");
	sb_conn_close(F.sb, F.conn[3], F.now);
	say(2, "INVITE to=dave\n");
	expect(2, "ERR re=INVITE code=480 reason=offline");
}
END_TEST

START_TEST(no_answer_timeout)
{
	F.now = 1000;
	invite();
	say(1, "RINGING call=1\n");
	next(0);
	ck_assert_uint_eq(sb_next_deadline(F.sb), 1000 + 30000000);
	sb_tick(F.sb, 1000 + 29999999);
	expect_nothing(0);
	sb_tick(F.sb, 1000 + 30000000);
	expect(0, "ENDED call=1 reason=no-answer");
	expect(1, "ENDED call=1 reason=no-answer");
	ck_assert_uint_eq(sb_stats(F.sb)->calls, 0);
	ck_assert_uint_eq(sb_next_deadline(F.sb), UINT64_MAX);
}
END_TEST

START_TEST(peer_gone_mid_call)
{
	invite();
	say(1, "ACCEPT call=1\n");
	next(1);
	next(0);
	sb_conn_close(F.sb, F.conn[1], F.now);
	expect(0, "ENDED call=1 reason=peer-gone");
	say(0, "HANGUP call=1\n");
	expect(0, "ERR re=HANGUP code=481 reason=no-such-call");
	/* The callee's name is free again; the caller can call someone new. */
	registered(2, "bob");
}
END_TEST

START_TEST(wrong_party_and_state)
{
	invite();
	say(0, "ACCEPT call=1\n");
	expect(0, "ERR re=ACCEPT code=409 reason=bad-state");
	say(1, "CANCEL call=1\n");
	expect(1, "ERR re=CANCEL code=409 reason=bad-state");
	say(0, "HANGUP call=1\n");
	expect(0, "ERR re=HANGUP code=409 reason=bad-state");
	say(1, "ACCEPT call=2\n");
	expect(1, "ERR re=ACCEPT code=481 reason=no-such-call");
	say(1, "ACCEPT call=x\n");
	expect(1, "ERR re=ACCEPT code=481 reason=no-such-call");
	registered(2, "mallory");
	say(2, "HANGUP call=1\n");
	expect(2, "ERR re=HANGUP code=481 reason=no-such-call");
	ck_assert_uint_eq(sb_stats(F.sb)->calls, 1);
}
END_TEST

START_TEST(garbage_is_answered_then_closed)
{
	registered(0, "alice");
	say(0, "what\n\x01\x02\n");
	expect(0, "ERR code=400 reason=malformed");
	expect(0, "ERR code=400 reason=malformed");
	say(0, "FROB x=1\n");
	expect(0, "ERR re=FROB code=400 reason=unknown-command");
	ck_assert(!F.closed[0]);
	for (int i = 0; i < 14; i++)
		say(0, "???\n");
	ck_assert(F.closed[0]);
	ck_assert_uint_eq(sb_stats(F.sb)->malformed, 16);
	ck_assert_uint_eq(sb_stats(F.sb)->registered, 0);
}
END_TEST

START_TEST(overlong_line_closes)
{
	registered(0, "alice");
	char big[SIG_MAX_LINE + 2];
	memset(big, 'A', sizeof(big));
	sb_conn_feed(F.sb, F.conn[0], big, sizeof(big), F.now);
	expect(0, "ERR code=400 reason=line-too-long");
	ck_assert(F.closed[0]);
	ck_assert_uint_eq(sb_stats(F.sb)->overlong, 1);
}
END_TEST

START_TEST(register_timeout)
{
	F.now = 5;
	open_conn(0);
	next(0);
	registered(1, "bob");
	ck_assert_uint_eq(sb_next_deadline(F.sb), 5 + 10000000);
	sb_tick(F.sb, 5 + 10000000);
	expect(0, "ERR code=408 reason=register-timeout");
	ck_assert(F.closed[0]);
	ck_assert(!F.closed[1]);
	sb_conn_close(F.sb, F.conn[0], F.now);
	ck_assert_uint_eq(sb_stats(F.sb)->conns, 1);
}
END_TEST

START_TEST(one_byte_at_a_time)
{
	registered(0, "alice");
	open_conn(1);
	next(1);
	const char *s = "HELLO version=1\r\nREGISTER name=bob\r\nINVITE to=alice\r\n";
	for (const char *p = s; *p; p++) {
		char c = *p;
		sb_conn_feed(F.sb, F.conn[1], &c, 1, F.now);
	}
	expect(1, "OK re=HELLO");
	expect(1, "OK re=REGISTER name=bob seen=198.51.100.1:40001");
	expect(1, "OK re=INVITE call=1 to=alice");
	expect(0, "INCOMING call=1 from=bob seen=198.51.100.1:40001");
}
END_TEST

START_TEST(slow_line_times_out)
{
	registered(0, "alice");
	registered(1, "bob");
	F.now = 1000;
	say(0, "PING id=");  /* a line begun, never finished */
	say(1, "PING id=1\n");
	expect(1, "PONG id=1");
	ck_assert_uint_eq(sb_next_deadline(F.sb), 1000 + 10000000);
	F.now += 5000000;
	say(0, "1");          /* still no LF: the clock keeps running */
	sb_tick(F.sb, 1000 + 9999999);
	ck_assert(!F.closed[0]);
	sb_tick(F.sb, 1000 + 10000000);
	expect(0, "ERR code=408 reason=line-timeout");
	ck_assert(F.closed[0]);
	ck_assert(!F.closed[1]);
	ck_assert_uint_eq(sb_stats(F.sb)->line_timeouts, 1);
	/* A line finished in time stops the clock. */
	say(1, "PING id=");
	F.now += 9000000;
	say(1, "2\n");
	expect(1, "PONG id=2");
	sb_tick(F.sb, F.now + 20000000 - 9000000);
	ck_assert(!F.closed[1]);
}
END_TEST

START_TEST(line_flood_is_limited)
{
	registered(0, "alice");
	/* The registration used 2 of the 100-line burst; 98 more pass. */
	for (int i = 0; i < 98; i++)
		say(0, "PING\n");
	for (int i = 0; i < 98; i++)
		expect(0, "PONG");
	say(0, "PING\n");
	expect(0, "ERR code=429 reason=rate-limited");
	say(0, "PING\n");
	expect_nothing(0); /* refused quietly after the first notice */
	F.now += 1000000; /* a second later, 50 more lines are allowed */
	for (int i = 0; i < 50; i++)
		say(0, "PING\n");
	for (int i = 0; i < 50; i++)
		expect(0, "PONG");
	ck_assert(!F.closed[0]);
	ck_assert_uint_eq(sb_stats(F.sb)->rate_limited, 2);
	/* A client that keeps pushing is closed. */
	for (int i = 0; i < 200 && !F.closed[0]; i++)
		say(0, "PING\n");
	ck_assert(F.closed[0]);
}
END_TEST

START_TEST(quit)
{
	registered(0, "alice");
	say(0, "QUIT\nPING\n");
	expect(0, "OK re=QUIT");
	expect_nothing(0);
	ck_assert(F.closed[0]);
}
END_TEST

START_TEST(relay_tokens_and_release)
{
	invite();
	say(1, "ACCEPT call=1 ufrag=x relay=forged\n");
	expect(1, "OK re=ACCEPT call=1 relay=bbbbbbbbbbbbbbbb");
	/* the callee's own relay= field is not forwarded: only the server's */
	expect(0, "ACCEPTED call=1 seen=198.51.100.1:40001 relay=aaaaaaaaaaaaaaaa ufrag=x");
	ck_assert_int_eq(relay_allocs, 1);
	ck_assert_int_eq(relay_releases, 0);
	say(0, "HANGUP call=1\n");
	ck_assert_int_eq(relay_releases, 1);
}
END_TEST

START_TEST(relay_released_when_party_vanishes)
{
	invite();
	say(1, "ACCEPT call=1\n");
	sb_conn_close(F.sb, F.conn[0], F.now);
	ck_assert_int_eq(relay_releases, 1);
}
END_TEST

START_TEST(private_hides_addresses)
{
	registered(0, "alice");
	registered(1, "bob");
	say(0, "INVITE to=bob private=1\n");
	next(0);
	expect(1, "INCOMING call=1 from=alice private=1");
	say(1, "ACCEPT call=1\n");
	next(1);
	expect(0, "ACCEPTED call=1 relay=aaaaaaaaaaaaaaaa");
}
END_TEST

START_TEST(private_callee)
{
	invite();
	say(1, "ACCEPT call=1 private=1\n");
	next(1);
	expect(0, "ACCEPTED call=1 relay=aaaaaaaaaaaaaaaa private=1");
}
END_TEST

Suite *switchboard_suite(void)
{
	Suite *s = suite_create("switchboard");
	TCase *c = tcase_create("registry");
	tcase_add_checked_fixture(c, setup, teardown);
	tcase_add_test(c, register_and_ping);
	tcase_add_test(c, name_taken_and_released);
	tcase_add_test(c, bad_names);
	tcase_add_test(c, hello_rules);
	tcase_add_test(c, register_timeout);
	tcase_add_test(c, quit);
	suite_add_tcase(s, c);
	c = tcase_create("calls");
	tcase_add_checked_fixture(c, setup, teardown);
	tcase_add_test(c, call_accept_hangup);
	tcase_add_test(c, call_rejected_and_busy_reply);
	tcase_add_test(c, update_forwarded_in_answered_calls);
	tcase_add_test(c, call_cancelled);
	tcase_add_test(c, callee_busy_unknown_offline_self);
	tcase_add_test(c, no_answer_timeout);
	tcase_add_test(c, peer_gone_mid_call);
	tcase_add_test(c, wrong_party_and_state);
	suite_add_tcase(s, c);
	c = tcase_create("relay");
	tcase_add_checked_fixture(c, setup_relay, teardown);
	tcase_add_test(c, relay_tokens_and_release);
	tcase_add_test(c, relay_released_when_party_vanishes);
	tcase_add_test(c, private_hides_addresses);
	tcase_add_test(c, private_callee);
	suite_add_tcase(s, c);
	c = tcase_create("bad input");
	tcase_add_checked_fixture(c, setup, teardown);
	tcase_add_test(c, garbage_is_answered_then_closed);
	tcase_add_test(c, overlong_line_closes);
	tcase_add_test(c, slow_line_times_out);
	tcase_add_test(c, line_flood_is_limited);
	tcase_add_test(c, one_byte_at_a_time);
	suite_add_tcase(s, c);
	return s;
}
