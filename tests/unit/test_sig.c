/* Signalling codec and line framing. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "p2pcall/sig.h"
#include "p2pcall/sig_parser.h"

static int parse(const char *text, char *buf, struct sig_msg *m)
{
	strcpy(buf, text);
	return sig_msg_parse(buf, strlen(buf), m);
}

START_TEST(parses_verb_and_fields)
{
	char buf[SIG_MAX_LINE];
	struct sig_msg m;
	ck_assert_int_eq(parse("INVITE to=bob cand=host/10.0.0.1/5000 cand=srflx/203.0.113.9/6000\r", buf, &m), 0);
	ck_assert_str_eq(m.verb, "INVITE");
	ck_assert_uint_eq(m.nfields, 3);
	ck_assert_str_eq(sig_msg_get(&m, "to"), "bob");
	size_t pos = 0;
	ck_assert_str_eq(sig_msg_next(&m, "cand", &pos), "host/10.0.0.1/5000");
	ck_assert_str_eq(sig_msg_next(&m, "cand", &pos), "srflx/203.0.113.9/6000");
	ck_assert_ptr_null(sig_msg_next(&m, "cand", &pos));
	ck_assert_ptr_null(sig_msg_get(&m, "from"));
}
END_TEST

START_TEST(decodes_escapes)
{
	char buf[SIG_MAX_LINE];
	struct sig_msg m;
	ck_assert_int_eq(parse("ERR code=400 msg=bad%20name%3a%25x", buf, &m), 0);
	ck_assert_str_eq(sig_msg_get(&m, "msg"), "bad name:%x");
	ck_assert_str_eq(sig_msg_get(&m, "code"), "400");
}
END_TEST

START_TEST(rejects_malformed)
{
	static const char *const bad[] = {
		"invite to=bob",       /* lower-case verb */
		"INVITE  to=bob",      /* double space */
		"INVITE to=bob ",      /* trailing space */
		"INVITE to",           /* key without = */
		"INVITE =bob",         /* empty key */
		"INVITE To=bob",       /* upper-case key */
		"INVITE to=b%2",       /* short escape */
		"INVITE to=b%zz",      /* not hex */
		"INVITE to=a%00b",     /* NUL smuggled in */
		"INVITE to=\x01",      /* control byte */
		"INVITE to=\xc3\xa9",  /* non-ASCII */
		"1NVITE",              /* verb must start with a letter */
		" INVITE",
		"INVITE aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa=1", /* 33-byte key */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char buf[SIG_MAX_LINE];
		struct sig_msg m;
		ck_assert_msg(parse(bad[i], buf, &m) == -EBADMSG, "accepted: %s", bad[i]);
	}
}
END_TEST

START_TEST(empty_line_and_field_limit)
{
	char buf[SIG_MAX_LINE];
	struct sig_msg m;
	ck_assert_int_eq(parse("", buf, &m), -ENODATA);
	ck_assert_int_eq(parse("\r", buf, &m), -ENODATA);

	char line[SIG_MAX_LINE] = "PING";
	for (int i = 0; i < SIG_MAX_FIELDS; i++)
		strcat(line, " k=v");
	ck_assert_int_eq(parse(line, buf, &m), 0);
	ck_assert_uint_eq(m.nfields, SIG_MAX_FIELDS);
	strcat(line, " k=v");
	ck_assert_int_eq(parse(line, buf, &m), -E2BIG);
}
END_TEST

START_TEST(writer_roundtrip)
{
	struct sig_writer w;
	sig_writer_init(&w, "ERR");
	sig_writer_add(&w, "code", "409");
	sig_writer_add(&w, "msg", "name \"bob\" is 100% taken\n");
	sig_writer_add(&w, "skip", NULL);
	int n = sig_writer_finish(&w);
	ck_assert_int_gt(n, 0);
	ck_assert_int_eq(w.buf[n - 1], '\n');
	ck_assert_ptr_null(memchr(w.buf, '\n', (size_t)n - 1));

	char buf[SIG_MAX_LINE];
	memcpy(buf, w.buf, (size_t)n - 1);
	struct sig_msg m;
	ck_assert_int_eq(sig_msg_parse(buf, (size_t)n - 1, &m), 0);
	ck_assert_str_eq(m.verb, "ERR");
	ck_assert_str_eq(sig_msg_get(&m, "msg"), "name \"bob\" is 100% taken\n");
	ck_assert_uint_eq(m.nfields, 2);
}
END_TEST

START_TEST(writer_refuses_overlong)
{
	struct sig_writer w;
	char big[SIG_MAX_LINE];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	sig_writer_init(&w, "PING");
	sig_writer_add(&w, "id", big);
	ck_assert_int_eq(sig_writer_finish(&w), -EMSGSIZE);

	/* The longest value that still fits gives exactly SIG_MAX_LINE. */
	big[SIG_MAX_LINE - 1 - strlen("PING id=")] = '\0';
	sig_writer_init(&w, "PING");
	sig_writer_add(&w, "id", big);
	ck_assert_int_eq(sig_writer_finish(&w), SIG_MAX_LINE);
}
END_TEST

START_TEST(names)
{
	ck_assert(sig_name_valid("alice"));
	ck_assert(sig_name_valid("bob.smith_2-x"));
	ck_assert(sig_name_valid("9lives"));
	ck_assert(!sig_name_valid(""));
	ck_assert(!sig_name_valid("Bob"));
	ck_assert(!sig_name_valid(".hidden"));
	ck_assert(!sig_name_valid("a b"));
	ck_assert(!sig_name_valid("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")); /* 33 */
	ck_assert(sig_name_valid("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));   /* 32 */
}
END_TEST

START_TEST(u64)
{
	unsigned long long v;
	ck_assert(sig_parse_u64("0", &v) && v == 0);
	ck_assert(sig_parse_u64("18446744073", &v) && v == 18446744073ULL);
	ck_assert(!sig_parse_u64("", &v));
	ck_assert(!sig_parse_u64("-1", &v));
	ck_assert(!sig_parse_u64("12a", &v));
	ck_assert(!sig_parse_u64("99999999999999999999", &v));
}
END_TEST

/* --- framing --- */

struct lines {
	char got[16][SIG_MAX_LINE];
	size_t n;
	int stop_after;
};

static int collect(void *ctx, char *line, size_t len)
{
	struct lines *l = ctx;
	ck_assert_uint_eq(strlen(line), len);
	ck_assert_uint_lt(l->n, 16);
	strcpy(l->got[l->n++], line);
	return l->stop_after && (int)l->n == l->stop_after ? 42 : 0;
}

static const char stream[] = "HELLO version=1\nREGISTER name=alice\r\n\nPING id=7\n";

START_TEST(feed_whole)
{
	struct sig_parser p = { 0 };
	struct lines l = { 0 };
	char buf[sizeof(stream)];
	memcpy(buf, stream, sizeof(stream));
	ck_assert_int_eq(sig_parser_feed(&p, buf, strlen(buf), collect, &l), 0);
	ck_assert_uint_eq(l.n, 4);
	ck_assert_str_eq(l.got[0], "HELLO version=1");
	ck_assert_str_eq(l.got[1], "REGISTER name=alice\r");
	ck_assert_str_eq(l.got[2], "");
	ck_assert_str_eq(l.got[3], "PING id=7");
	ck_assert(!sig_parser_pending(&p));
}
END_TEST

/* Every way of cutting the stream into pieces of N bytes gives the same lines. */
START_TEST(feed_in_pieces)
{
	for (size_t piece = 1; piece < sizeof(stream); piece++) {
		struct sig_parser p = { 0 };
		struct lines l = { 0 };
		size_t total = strlen(stream);
		for (size_t off = 0; off < total; off += piece) {
			char buf[sizeof(stream)];
			size_t n = total - off < piece ? total - off : piece;
			memcpy(buf, stream + off, n);
			ck_assert_int_eq(sig_parser_feed(&p, buf, n, collect, &l), 0);
		}
		ck_assert_uint_eq(l.n, 4);
		ck_assert_str_eq(l.got[1], "REGISTER name=alice\r");
		ck_assert_str_eq(l.got[3], "PING id=7");
		ck_assert(!sig_parser_pending(&p));
	}
}
END_TEST

START_TEST(partial_is_held_then_freed)
{
	struct sig_parser p = { 0 };
	struct lines l = { 0 };
	char a[] = "REGIS", b[] = "TER name=bob\nPI";
	ck_assert_int_eq(sig_parser_feed(&p, a, strlen(a), collect, &l), 0);
	ck_assert(sig_parser_pending(&p));
	ck_assert_int_eq(sig_parser_feed(&p, b, strlen(b), collect, &l), 0);
	ck_assert_uint_eq(l.n, 1);
	ck_assert_str_eq(l.got[0], "REGISTER name=bob");
	ck_assert(sig_parser_pending(&p));
	sig_parser_reset(&p);
	ck_assert(!sig_parser_pending(&p));
}
END_TEST

START_TEST(overlong_line)
{
	struct sig_parser p = { 0 };
	struct lines l = { 0 };
	char *big = malloc(SIG_MAX_LINE + 1);
	memset(big, 'A', SIG_MAX_LINE);
	big[SIG_MAX_LINE - 1] = '\n'; /* exactly the limit: accepted */
	ck_assert_int_eq(sig_parser_feed(&p, big, SIG_MAX_LINE, collect, &l), 0);
	ck_assert_uint_eq(l.n, 1);

	memset(big, 'A', SIG_MAX_LINE + 1); /* one past it, in one piece */
	big[SIG_MAX_LINE] = '\n';
	ck_assert_int_eq(sig_parser_feed(&p, big, SIG_MAX_LINE + 1, collect, &l), -EMSGSIZE);

	/* ...and fed a byte at a time, with no LF ever coming. */
	sig_parser_reset(&p);
	int rc = 0;
	for (size_t i = 0; i < SIG_MAX_LINE + 10 && rc == 0; i++) {
		char c = 'A';
		rc = sig_parser_feed(&p, &c, 1, collect, &l);
	}
	ck_assert_int_eq(rc, -EMSGSIZE);
	sig_parser_reset(&p);
	free(big);
}
END_TEST

START_TEST(callback_stops_feeding)
{
	struct sig_parser p = { 0 };
	struct lines l = { .stop_after = 2 };
	char buf[sizeof(stream)];
	memcpy(buf, stream, sizeof(stream));
	ck_assert_int_eq(sig_parser_feed(&p, buf, strlen(buf), collect, &l), 42);
	ck_assert_uint_eq(l.n, 2);
	sig_parser_reset(&p);
}
END_TEST

Suite *sig_suite(void)
{
	Suite *s = suite_create("sig");
	TCase *c = tcase_create("codec");
	tcase_add_test(c, parses_verb_and_fields);
	tcase_add_test(c, decodes_escapes);
	tcase_add_test(c, rejects_malformed);
	tcase_add_test(c, empty_line_and_field_limit);
	tcase_add_test(c, writer_roundtrip);
	tcase_add_test(c, writer_refuses_overlong);
	tcase_add_test(c, names);
	tcase_add_test(c, u64);
	suite_add_tcase(s, c);
	c = tcase_create("framing");
	tcase_add_test(c, feed_whole);
	tcase_add_test(c, feed_in_pieces);
	tcase_add_test(c, partial_is_held_then_freed);
	tcase_add_test(c, overlong_line);
	tcase_add_test(c, callback_stops_feeding);
	suite_add_tcase(s, c);
	return s;
}
