/* The server's relay: only a call's two parties, only to addresses that
 * proved their token, never larger than the input, rate-limited. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include "p2pcall/relay.h"

static const uint8_t TA[8] = { 1, 2, 3, 4, 5, 6, 7, 8 }, TB[8] = { 9, 9, 9, 9, 9, 9, 9, 9 };

static struct sockaddr_in addr(const char *ip, uint16_t port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	inet_pton(AF_INET, ip, &a.sin_addr);
	return a;
}

/* A frame to the server: header, token, payload. */
static size_t frame(uint8_t *buf, const uint8_t *tok, const char *payload)
{
	size_t n = strlen(payload);
	buf[0] = RELAY_TO_SERVER;
	buf[1] = buf[2] = buf[3] = 0;
	memcpy(buf + 4, tok, 8);
	memcpy(buf + 12, payload, n);
	return 12 + n;
}

START_TEST(forwards_between_bound_parties_only)
{
	struct relay *r;
	uint8_t in[256], out[256];
	struct sockaddr_storage dest;
	struct sockaddr_in a = addr("203.0.113.1", 4000), b = addr("198.51.100.2", 5000);
	ck_assert_int_eq(relay_new(&r, NULL), 0);
	ck_assert_int_eq(relay_alloc(r, 7, TA, TB), 0);
	ck_assert_int_eq(relay_alloc(r, 7, TB, TA), -EEXIST);

	/* A sends before B is bound: dropped. */
	size_t n = frame(in, TA, "hello");
	ck_assert_uint_eq(relay_handle(r, 0, (struct sockaddr *)&a, in, n, out, &dest), 0);
	ck_assert_uint_eq(relay_stats(r)->dropped_unbound_peer, 1);

	/* B binds (empty payload): acked to B, same size. */
	n = frame(in, TB, "");
	ck_assert_uint_eq(relay_handle(r, 1, (struct sockaddr *)&b, in, n, out, &dest), n);
	ck_assert_int_eq(out[0], RELAY_BOUND);
	ck_assert_mem_eq(&((struct sockaddr_in *)&dest)->sin_addr, &b.sin_addr, 4);

	/* Now A's payload reaches B, header swapped, no larger than sent. */
	n = frame(in, TA, "hello");
	size_t m = relay_handle(r, 2, (struct sockaddr *)&a, in, n, out, &dest);
	ck_assert_uint_eq(m, 4 + 5);
	ck_assert_uint_le(m, n);
	ck_assert_int_eq(out[0], RELAY_FROM_PEER);
	ck_assert_mem_eq(out + 4, "hello", 5);
	ck_assert_uint_eq(((struct sockaddr_in *)&dest)->sin_port, b.sin_port);
	/* And back. */
	n = frame(in, TB, "hi");
	ck_assert_uint_eq(relay_handle(r, 3, (struct sockaddr *)&b, in, n, out, &dest), 6);
	ck_assert_uint_eq(((struct sockaddr_in *)&dest)->sin_port, a.sin_port);

	/* B's NAT rebinds: its frames now come from a new port; followed. */
	struct sockaddr_in b2 = addr("198.51.100.2", 5999);
	n = frame(in, TB, "x");
	relay_handle(r, 4, (struct sockaddr *)&b2, in, n, out, &dest);
	n = frame(in, TA, "y");
	relay_handle(r, 5, (struct sockaddr *)&a, in, n, out, &dest);
	ck_assert_uint_eq(((struct sockaddr_in *)&dest)->sin_port, htons(5999));

	/* Freed at call end: the tokens stop working. */
	relay_release(r, 7);
	ck_assert_uint_eq(relay_handle(r, 6, (struct sockaddr *)&a, in, n, out, &dest), 0);
	ck_assert_uint_eq(relay_stats(r)->active, 0);
	relay_free(r);
}
END_TEST

START_TEST(strangers_and_garbage_are_dropped)
{
	struct relay *r;
	uint8_t in[256], out[256];
	struct sockaddr_storage dest;
	struct sockaddr_in x = addr("192.0.2.66", 666);
	ck_assert_int_eq(relay_new(&r, NULL), 0);
	ck_assert_int_eq(relay_alloc(r, 1, TA, TB), 0);
	static const uint8_t wrong[8] = { 1, 2, 3, 4, 5, 6, 7, 9 };
	size_t n = frame(in, wrong, "spoof");
	ck_assert_uint_eq(relay_handle(r, 0, (struct sockaddr *)&x, in, n, out, &dest), 0);
	ck_assert_uint_eq(relay_stats(r)->dropped_bad_token, 1);
	for (size_t len = 0; len < 12; len++) /* every truncation */
		ck_assert_uint_eq(relay_handle(r, 0, (struct sockaddr *)&x, in, len, out, &dest), 0);
	n = frame(in, TA, "x");
	in[2] = 1; /* reserved bytes must be zero */
	ck_assert_uint_eq(relay_handle(r, 0, (struct sockaddr *)&x, in, n, out, &dest), 0);
	ck_assert(!relay_is_frame((const uint8_t *)"\x00\x01\x00\x00", 4));
	ck_assert(relay_is_frame(in, n));
	relay_free(r);
}
END_TEST

START_TEST(rate_limited)
{
	struct relay *r;
	struct relay_config cfg = { .rate_bytes_per_s = 1000, .burst_bytes = 500 };
	uint8_t in[256], out[256];
	struct sockaddr_storage dest;
	struct sockaddr_in a = addr("203.0.113.1", 4000), b = addr("198.51.100.2", 5000);
	ck_assert_int_eq(relay_new(&r, &cfg), 0);
	ck_assert_int_eq(relay_alloc(r, 1, TA, TB), 0);
	size_t n = frame(in, TB, "");
	relay_handle(r, 0, (struct sockaddr *)&b, in, n, out, &dest);
	char payload[89];
	memset(payload, 'p', 88);
	payload[88] = '\0';
	n = frame(in, TA, payload); /* 100 bytes */
	int sent = 0;
	for (int i = 0; i < 20; i++) /* 2000 bytes at one instant: burst 500 */
		sent += relay_handle(r, 0, (struct sockaddr *)&a, in, n, out, &dest) > 0;
	ck_assert_int_eq(sent, 5);
	/* One second later, 1000 more bytes' worth (capped by the burst). */
	sent = 0;
	for (int i = 0; i < 20; i++)
		sent += relay_handle(r, 1000000, (struct sockaddr *)&a, in, n, out, &dest) > 0;
	ck_assert_int_eq(sent, 5);
	ck_assert_uint_eq(relay_stats(r)->dropped_rate, 30);
	relay_free(r);
}
END_TEST

START_TEST(capacity)
{
	struct relay *r;
	struct relay_config cfg = { .max_calls = 2 };
	uint8_t t[6][8] = { { 1 }, { 2 }, { 3 }, { 4 }, { 5 }, { 6 } };
	ck_assert_int_eq(relay_new(&r, &cfg), 0);
	ck_assert_int_eq(relay_alloc(r, 1, t[0], t[1]), 0);
	ck_assert_int_eq(relay_alloc(r, 2, t[2], t[2]), -EEXIST); /* same token twice */
	ck_assert_int_eq(relay_alloc(r, 2, t[0], t[3]), -EEXIST); /* token in use */
	ck_assert_int_eq(relay_alloc(r, 2, t[2], t[3]), 0);
	ck_assert_int_eq(relay_alloc(r, 3, t[4], t[5]), -ENOSPC);
	relay_release(r, 1);
	ck_assert_int_eq(relay_alloc(r, 3, t[4], t[5]), 0);
	relay_free(r); /* frees live allocations too (valgrind/ASan) */
}
END_TEST

Suite *relay_suite(void)
{
	Suite *s = suite_create("relay");
	TCase *c = tcase_create("table");
	tcase_add_test(c, forwards_between_bound_parties_only);
	tcase_add_test(c, strangers_and_garbage_are_dropped);
	tcase_add_test(c, rate_limited);
	tcase_add_test(c, capacity);
	suite_add_tcase(s, c);
	return s;
}
