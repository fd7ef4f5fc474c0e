/* Switchboard: registration and every call outcome, with a fake clock and
 * fake connections that record what the server sends them. */
#include <check.h>
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "p2pcall/regproof.h"
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
	/* (with a challenge= when the fixture has a random op) */
	const char *h = next(i);
	ck_assert_msg(strncmp(h, "HELLO version=1 agent=test/1 keepalive=5", 40) == 0, "%s", h);
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


/* --- identities: registration proved by a key --- */

static int bound_calls, bound_fail;
static char bound_name[40];
static uint8_t bound_pk[32];
static uint8_t chal_seed;

/* Deterministic "randomness": each challenge differs from the last. */
static int fake_random(void *ctx, uint8_t *buf, size_t n)
{
	chal_seed++;
	for (size_t i = 0; i < n; i++)
		buf[i] = (uint8_t)(chal_seed * 31 + i);
	return 0;
}

static int fake_bound(void *ctx, const char *name, const uint8_t pk[SB_KEY_LEN])
{
	bound_calls++;
	snprintf(bound_name, sizeof(bound_name), "%s", name);
	memcpy(bound_pk, pk, 32);
	return bound_fail ? -EIO : 0;
}

static const struct sb_ops key_ops = { .send = on_send, .close = on_close,
				       .random = fake_random, .bound = fake_bound };

/* Two fixed key pairs. */
static uint8_t pk1[32], sk1[64], pk2[32], sk2[64];

static void keys_with(bool require_keys, bool closed, size_t max_bindings)
{
	memset(&F, 0, sizeof(F));
	bound_calls = bound_fail = 0;
	chal_seed = 0;
	ck_assert_int_ge(sodium_init(), 0);
	uint8_t seed[32];
	memset(seed, 1, sizeof(seed));
	crypto_sign_seed_keypair(pk1, sk1, seed);
	memset(seed, 2, sizeof(seed));
	crypto_sign_seed_keypair(pk2, sk2, seed);
	struct sb_config cfg = { .agent = "test/1", .keepalive_s = 5, .require_keys = require_keys,
				 .closed = closed, .max_bindings = max_bindings };
	ck_assert_int_eq(sb_new(&F.sb, &cfg, &key_ops, NULL), 0);
}

static void setup_keys(void) { keys_with(false, false, 0); }

static const char *b64(const uint8_t *bin, size_t n)
{
	static char out[4][100];
	static int k;
	k = (k + 1) % 4;
	ck_assert_int_gt(b64url_encode(out[k], sizeof(out[k]), bin, n), 0);
	return out[k];
}

/* Opens connection I through HELLO; returns its challenge (decoded). */
static void hello(int i, uint8_t chal[32])
{
	open_conn(i);
	const char *h = next(i);
	const char *c = strstr(h, " challenge=");
	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(strlen(c + 11), 43);
	ck_assert_int_eq(b64url_decode(chal, 32, c + 11), 0);
	say(i, "HELLO version=1\n");
	expect(i, "OK re=HELLO");
}

/* Sends REGISTER name=NAME key=PK sig=SIG(SK over CHAL). */
static void say_register(int i, const char *name, const uint8_t *pk, const uint8_t *sk, const uint8_t *chal)
{
	uint8_t sig[64];
	char line[400];
	ck_assert_int_eq(regproof_sign(sk, chal, name, sig), 0);
	snprintf(line, sizeof(line), "REGISTER name=%s key=%s sig=%s\n", name, b64(pk, 32), b64(sig, 64));
	say(i, line);
}

static void keyed(int i, const char *name, const uint8_t *pk, const uint8_t *sk, const char *how)
{
	uint8_t chal[32];
	char want[200];
	hello(i, chal);
	say_register(i, name, pk, sk, chal);
	snprintf(want, sizeof(want), "OK re=REGISTER name=%s seen=198.51.100.%d:4000%d key=%s", name, i, i, how);
	expect(i, want);
}

START_TEST(challenge_is_fresh_per_connection)
{
	uint8_t c0[32], c1[32];
	hello(0, c0);
	hello(1, c1);
	ck_assert_mem_ne(c0, c1, 32);
}
END_TEST

START_TEST(first_keyed_register_binds_then_verifies)
{
	keyed(0, "alice", pk1, sk1, "bound");
	ck_assert_int_eq(bound_calls, 1);
	ck_assert_str_eq(bound_name, "alice");
	ck_assert_mem_eq(bound_pk, pk1, 32);
	uint8_t got[32];
	ck_assert_int_eq(sb_key_of(F.sb, "alice", got), 0);
	ck_assert_mem_eq(got, pk1, 32);
	ck_assert_uint_eq(sb_stats(F.sb)->bindings, 1);
	sb_conn_close(F.sb, F.conn[0], F.now);
	/* Back on a new connection, with a new challenge: verified, and
	 * nothing new to store. */
	keyed(1, "alice", pk1, sk1, "verified");
	ck_assert_int_eq(bound_calls, 1);
	ck_assert_uint_eq(sb_stats(F.sb)->keyed, 2);
	ck_assert_int_eq(sb_key_of(F.sb, "bob", got), -ENOENT);
}
END_TEST

START_TEST(bound_name_refuses_others)
{
	uint8_t chal[32], sig[64];
	char line[400];
	keyed(0, "alice", pk1, sk1, "bound");
	sb_conn_close(F.sb, F.conn[0], F.now);
	hello(1, chal);
	/* No key for a bound name. */
	say(1, "REGISTER name=alice\n");
	expect(1, "ERR re=REGISTER code=401 reason=key-required");
	/* Another key, properly signed: the name is someone else's. */
	say_register(1, "alice", pk2, sk2, chal);
	expect(1, "ERR re=REGISTER code=403 reason=key-mismatch msg=this%20name%20is%20bound%20to%20another%20key");
	/* The right key with a signature by another key. */
	ck_assert_int_eq(regproof_sign(sk2, chal, "alice", sig), 0);
	snprintf(line, sizeof(line), "REGISTER name=alice key=%s sig=%s\n", b64(pk1, 32), b64(sig, 64));
	say(1, line);
	expect(1, "ERR re=REGISTER code=401 reason=bad-signature");
	ck_assert_uint_eq(sb_stats(F.sb)->registered, 0);
	ck_assert_uint_eq(sb_stats(F.sb)->bad_signatures, 1);
	ck_assert_uint_eq(sb_stats(F.sb)->key_refusals, 2);
	/* And at last the holder of the key. */
	say_register(1, "alice", pk1, sk1, chal);
	expect(1, "OK re=REGISTER name=alice seen=198.51.100.1:40001 key=verified");
}
END_TEST

START_TEST(signature_must_match_this_connection)
{
	uint8_t c0[32], c1[32], sig[64];
	char line[400];
	hello(0, c0);
	hello(1, c1);
	/* A signature made for connection 0's challenge, replayed on 1. */
	ck_assert_int_eq(regproof_sign(sk1, c0, "alice", sig), 0);
	snprintf(line, sizeof(line), "REGISTER name=alice key=%s sig=%s\n", b64(pk1, 32), b64(sig, 64));
	say(1, line);
	expect(1, "ERR re=REGISTER code=401 reason=bad-signature");
	/* Signed for another name. */
	ck_assert_int_eq(regproof_sign(sk1, c1, "alicf", sig), 0);
	snprintf(line, sizeof(line), "REGISTER name=alice key=%s sig=%s\n", b64(pk1, 32), b64(sig, 64));
	say(1, line);
	expect(1, "ERR re=REGISTER code=401 reason=bad-signature");
	/* A key and no signature; a signature that is not 64 bytes. */
	snprintf(line, sizeof(line), "REGISTER name=alice key=%s\n", b64(pk1, 32));
	say(1, line);
	expect(1, "ERR re=REGISTER code=401 reason=bad-signature");
	snprintf(line, sizeof(line), "REGISTER name=alice key=%s sig=%s\n", b64(pk1, 32), b64(sig, 63));
	say(1, line);
	expect(1, "ERR re=REGISTER code=401 reason=bad-signature");
	/* A key that is not 32 bytes of base64url (after a pause: REGISTER
	 * attempts are rate-limited). */
	F.now += 2000000;
	say(1, "REGISTER name=alice key=AAAA sig=AAAA\n");
	expect(1, "ERR re=REGISTER code=400 reason=bad-key");
	snprintf(line, sizeof(line), "REGISTER name=alice key=%s= sig=x\n", b64(pk1, 32));
	say(1, line);
	expect(1, "ERR re=REGISTER code=400 reason=bad-key");
	ck_assert_uint_eq(sb_stats(F.sb)->bindings, 0);
	ck_assert_int_eq(bound_calls, 0);
}
END_TEST

START_TEST(keyless_unbound_still_works)
{
	open_conn(0);
	ck_assert_ptr_nonnull(strstr(next(0), " challenge="));
	say(0, "HELLO version=1\nREGISTER name=carol sig=ignored\n");
	expect(0, "OK re=HELLO");
	expect(0, "OK re=REGISTER name=carol seen=198.51.100.0:40000");
	ck_assert_uint_eq(sb_stats(F.sb)->bindings, 0);
	ck_assert_uint_eq(sb_stats(F.sb)->keyed, 0);
}
END_TEST

START_TEST(store_failure_refuses)
{
	uint8_t chal[32];
	bound_fail = 1;
	hello(0, chal);
	say_register(0, "alice", pk1, sk1, chal);
	expect(0, "ERR re=REGISTER code=503 reason=store-failed");
	ck_assert_int_eq(bound_calls, 1);
	ck_assert_uint_eq(sb_stats(F.sb)->registered, 0);
	ck_assert_uint_eq(sb_stats(F.sb)->bindings, 0);
	ck_assert_uint_eq(sb_stats(F.sb)->store_failures, 1);
	uint8_t got[32];
	ck_assert_int_eq(sb_key_of(F.sb, "alice", got), -ENOENT);
	/* Once the store works again, the same proof binds. */
	bound_fail = 0;
	say_register(0, "alice", pk1, sk1, chal);
	expect(0, "OK re=REGISTER name=alice seen=198.51.100.0:40000 key=bound");
}
END_TEST

START_TEST(preloaded_bindings)
{
	uint8_t got[32];
	ck_assert_int_eq(sb_bind(F.sb, "alice", pk1), 0);
	ck_assert_int_eq(sb_bind(F.sb, "alice", pk1), 0); /* again: no change */
	ck_assert_int_eq(sb_bind(F.sb, "alice", pk2), -EEXIST);
	ck_assert_int_eq(sb_bind(F.sb, "Alice", pk2), -EINVAL);
	ck_assert_int_eq(sb_bind(F.sb, "", pk2), -EINVAL);
	ck_assert_int_eq(sb_key_of(F.sb, "alice", got), 0);
	ck_assert_mem_eq(got, pk1, 32);
	ck_assert_uint_eq(sb_stats(F.sb)->bindings, 1);
	keyed(0, "alice", pk1, sk1, "verified");
	ck_assert_int_eq(bound_calls, 0);
	/* A bound name that is not connected is offline, not unknown. */
	ck_assert_int_eq(sb_bind(F.sb, "dave", pk2), 0);
	say(0, "INVITE to=dave\n");
	expect(0, "ERR re=INVITE code=480 reason=offline");
}
END_TEST

START_TEST(bindings_are_bounded)
{
	sb_free(F.sb);
	keys_with(false, false, 2);
	ck_assert_int_eq(sb_bind(F.sb, "a1", pk1), 0);
	ck_assert_int_eq(sb_bind(F.sb, "a2", pk1), 0);
	ck_assert_int_eq(sb_bind(F.sb, "a3", pk1), -ENOSPC);
	uint8_t chal[32];
	hello(0, chal);
	say_register(0, "a3", pk1, sk1, chal);
	expect(0, "ERR re=REGISTER code=503 reason=bindings-full");
	ck_assert_int_eq(bound_calls, 0);
	/* Known names still register. */
	say_register(0, "a2", pk1, sk1, chal);
	expect(0, "OK re=REGISTER name=a2 seen=198.51.100.0:40000 key=verified");
}
END_TEST

START_TEST(require_keys_mode)
{
	sb_free(F.sb);
	keys_with(true, false, 0);
	uint8_t chal[32];
	hello(0, chal);
	say(0, "REGISTER name=carol\n");
	expect(0, "ERR re=REGISTER code=401 reason=key-required");
	say_register(0, "carol", pk2, sk2, chal);
	expect(0, "OK re=REGISTER name=carol seen=198.51.100.0:40000 key=bound");
}
END_TEST

START_TEST(closed_mode)
{
	sb_free(F.sb);
	keys_with(false, true, 0);
	ck_assert_int_eq(sb_bind(F.sb, "alice", pk1), 0);
	uint8_t chal[32];
	hello(0, chal);
	say(0, "REGISTER name=bob\n");
	expect(0, "ERR re=REGISTER code=403 reason=not-listed");
	say_register(0, "bob", pk2, sk2, chal);
	expect(0, "ERR re=REGISTER code=403 reason=not-listed");
	say(0, "REGISTER name=alice\n");
	expect(0, "ERR re=REGISTER code=401 reason=key-required");
	say_register(0, "alice", pk2, sk2, chal);
	expect(0, "ERR re=REGISTER code=403 reason=key-mismatch msg=this%20name%20is%20bound%20to%20another%20key");
	say_register(0, "alice", pk1, sk1, chal);
	expect(0, "OK re=REGISTER name=alice seen=198.51.100.0:40000 key=verified");
	ck_assert_int_eq(bound_calls, 0);
	ck_assert_uint_eq(sb_stats(F.sb)->bindings, 1);
}
END_TEST

START_TEST(no_random_no_keys)
{
	/* The plain fixture has no random op: no challenge, keyless only. */
	uint8_t sig[64] = { 0 };
	char line[400];
	open_conn(0);
	expect(0, "HELLO version=1 agent=test/1 keepalive=5");
	say(0, "HELLO version=1\n");
	next(0);
	snprintf(line, sizeof(line), "REGISTER name=alice key=%s sig=%s\n", b64(sig, 32), b64(sig, 64));
	say(0, line);
	expect(0, "ERR re=REGISTER code=401 reason=bad-signature");
	say(0, "REGISTER name=alice\n");
	expect(0, "OK re=REGISTER name=alice seen=198.51.100.0:40000");
}
END_TEST

START_TEST(server_attests_idkey)
{
	char want[400];
	keyed(0, "alice", pk1, sk1, "bound");
	keyed(1, "bob", pk2, sk2, "bound");
	registered(2, "carol");
	/* A forged idkey= is dropped; the server writes the real one. */
	say(0, "INVITE to=bob idkey=forged cand=host/10.0.0.1/5000\n");
	expect(0, "OK re=INVITE call=1 to=bob");
	snprintf(want, sizeof(want), "INCOMING call=1 from=alice seen=198.51.100.0:40000 idkey=%s "
		 "cand=host/10.0.0.1/5000", b64(pk1, 32));
	expect(1, want);
	say(1, "ACCEPT call=1 idkey=forged ufrag=x\n");
	expect(1, "OK re=ACCEPT call=1");
	snprintf(want, sizeof(want), "ACCEPTED call=1 seen=198.51.100.1:40001 idkey=%s ufrag=x", b64(pk2, 32));
	expect(0, want);
	say(0, "UPDATE call=1 idkey=forged cand=srflx/1.2.3.4/5\n");
	expect(1, "UPDATE call=1 cand=srflx/1.2.3.4/5");
	say(0, "HANGUP call=1\n");
	next(0);
	next(1);
	/* A keyless sender gets no idkey=, and cannot write one. */
	say(2, "INVITE to=alice idkey=forged\n");
	expect(2, "OK re=INVITE call=2 to=alice");
	expect(0, "INCOMING call=2 from=carol seen=198.51.100.2:40002");
}
END_TEST

/* --- rate limits on REGISTER and INVITE --- */

START_TEST(register_rate_limit)
{
	open_conn(0);
	next(0);
	say(0, "HELLO version=1\n");
	next(0);
	/* A burst of 5 attempts is answered... */
	for (int i = 0; i < 5; i++) {
		say(0, "REGISTER name=Bad\n");
		expect(0, "ERR re=REGISTER code=400 reason=bad-name");
	}
	/* ...the next is refused as too many, answered all the same. */
	say(0, "REGISTER name=alice\n");
	expect(0, "ERR re=REGISTER code=429 reason=too-many");
	ck_assert_uint_eq(sb_stats(F.sb)->registered, 0);
	/* Two a second refill. */
	F.now += 500000;
	say(0, "REGISTER name=alice\n");
	expect(0, "OK re=REGISTER name=alice seen=198.51.100.0:40000");
	say(0, "REGISTER name=alice\n");
	expect(0, "ERR re=REGISTER code=429 reason=too-many");
	ck_assert_uint_eq(sb_stats(F.sb)->verb_rate_limited, 2);
	/* Persistent abuse closes: 20 refusals in all. */
	for (int i = 0; i < 17; i++) {
		say(0, "REGISTER name=alice\n");
		expect(0, "ERR re=REGISTER code=429 reason=too-many");
	}
	ck_assert(!F.closed[0]);
	say(0, "REGISTER name=alice\n");
	expect(0, "ERR re=REGISTER code=429 reason=too-many");
	ck_assert(F.closed[0]);
}
END_TEST

START_TEST(invite_rate_limit)
{
	registered(0, "alice");
	for (int i = 0; i < 10; i++) {
		say(0, "INVITE to=nobody\n");
		expect(0, "ERR re=INVITE code=404 reason=unknown");
	}
	say(0, "INVITE to=nobody\n");
	expect(0, "ERR re=INVITE code=429 reason=too-many");
	/* Other commands are not held up by it. */
	say(0, "PING id=1\n");
	expect(0, "PONG id=1");
	F.now += 1000000; /* 5 a second */
	for (int i = 0; i < 5; i++) {
		say(0, "INVITE to=nobody\n");
		expect(0, "ERR re=INVITE code=404 reason=unknown");
	}
	say(0, "INVITE to=nobody\n");
	expect(0, "ERR re=INVITE code=429 reason=too-many");
	ck_assert(!F.closed[0]);
}
END_TEST

START_TEST(rate_limits_are_configurable)
{
	sb_free(F.sb);
	struct sb_config cfg = { .agent = "test/1", .keepalive_s = 5, .register_per_s = 1,
				 .register_burst = 1, .invite_per_s = 1, .invite_burst = 2, .max_refused = 2 };
	ck_assert_int_eq(sb_new(&F.sb, &cfg, &ops, NULL), 0);
	registered(0, "alice");
	say(0, "INVITE to=x\nINVITE to=x\nINVITE to=x\n");
	expect(0, "ERR re=INVITE code=404 reason=unknown");
	expect(0, "ERR re=INVITE code=404 reason=unknown");
	expect(0, "ERR re=INVITE code=429 reason=too-many");
	say(0, "REGISTER name=b\n"); /* the one REGISTER went on alice */
	expect(0, "ERR re=REGISTER code=429 reason=too-many");
	ck_assert(F.closed[0]);
}
END_TEST

START_TEST(max_line_configurable)
{
	sb_free(F.sb);
	struct sb_config cfg = { .agent = "test/1", .keepalive_s = 5, .max_line = 32 };
	ck_assert_int_eq(sb_new(&F.sb, &cfg, &ops, NULL), 0);
	registered(0, "alice");
	say(0, "PING id=0123456789abcdefghijklm\n"); /* 32 bytes with the LF */
	expect(0, "PONG id=0123456789abcdefghijklm");
	say(0, "PING id=0123456789abcdefghijklmn\n");
	expect(0, "ERR code=400 reason=line-too-long");
	ck_assert(F.closed[0]);
	/* An unfinished line over the limit is refused at once. */
	registered(1, "bob");
	say(1, "PING id=0123456789abcdefghijklm");
	expect_nothing(1); /* 31 bytes: may still end in time */
	say(1, "n");
	expect(1, "ERR code=400 reason=line-too-long");
	ck_assert(F.closed[1]);
	ck_assert_uint_eq(sb_stats(F.sb)->overlong, 2);
}
END_TEST

START_TEST(forwarded_line_too_long)
{
	/* An INVITE that fits, but would not once the server adds call=,
	 * from= and seen=: refused, and no call is made. */
	char line[SIG_MAX_LINE + 8];
	registered(0, "alice");
	registered(1, "bob");
	int n = snprintf(line, sizeof(line), "INVITE to=bob x=");
	memset(line + n, 'a', SIG_MAX_LINE - 2 - (size_t)n);
	line[SIG_MAX_LINE - 2] = '\n';
	line[SIG_MAX_LINE - 1] = '\0';
	say(0, line);
	expect(0, "ERR re=INVITE code=400 reason=too-long");
	expect_nothing(1);
	ck_assert_uint_eq(sb_stats(F.sb)->calls, 0);
	say(0, "INVITE to=bob\n");
	expect(0, "OK re=INVITE call=1 to=bob");
	next(1);
	/* Likewise an ACCEPT: the call keeps ringing. */
	memcpy(line, "ACCEPT call=1 x=", 16);
	say(1, line);
	expect(1, "ERR re=ACCEPT code=400 reason=too-long");
	expect_nothing(0);
	say(1, "ACCEPT call=1\n");
	expect(1, "OK re=ACCEPT call=1");
	expect(0, "ACCEPTED call=1 seen=198.51.100.1:40001");
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
	tcase_add_test(c, register_rate_limit);
	tcase_add_test(c, invite_rate_limit);
	tcase_add_test(c, rate_limits_are_configurable);
	tcase_add_test(c, max_line_configurable);
	tcase_add_test(c, forwarded_line_too_long);
	tcase_add_test(c, no_random_no_keys);
	suite_add_tcase(s, c);
	c = tcase_create("identities");
	tcase_add_checked_fixture(c, setup_keys, teardown);
	tcase_add_test(c, challenge_is_fresh_per_connection);
	tcase_add_test(c, first_keyed_register_binds_then_verifies);
	tcase_add_test(c, bound_name_refuses_others);
	tcase_add_test(c, signature_must_match_this_connection);
	tcase_add_test(c, keyless_unbound_still_works);
	tcase_add_test(c, store_failure_refuses);
	tcase_add_test(c, preloaded_bindings);
	tcase_add_test(c, bindings_are_bounded);
	tcase_add_test(c, require_keys_mode);
	tcase_add_test(c, closed_mode);
	tcase_add_test(c, server_attests_idkey);
	suite_add_tcase(s, c);
	return s;
}
