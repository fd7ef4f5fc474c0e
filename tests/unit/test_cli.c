/* Command-line parsing: what is accepted, and that every bad value gets
 * an error naming it. */
#include <check.h>
#include <errno.h>
#include <string.h>

#include "p2pcall/cli.h"
#include "p2pcall/endpoint.h"

static struct cli c;
static char err[512];

static int parse(const char *const *args)
{
	char *argv[32] = { "p2pcall" };
	int argc = 1;
	for (; args[argc - 1]; argc++)
		argv[argc] = (char *)args[argc - 1];
	err[0] = '\0';
	return cli_parse(argc, argv, &c, err, sizeof(err));
}

#define PARSE(...) parse((const char *const[]){ __VA_ARGS__, NULL })

START_TEST(client_call)
{
	ck_assert_int_eq(PARSE("--json", "--duration", "2.5", "Alice@example.org:9000", "Bob"), 0);
	ck_assert(!c.serve);
	ck_assert(c.json);
	ck_assert_str_eq(c.name, "alice");
	ck_assert_str_eq(c.server.host, "example.org");
	ck_assert_uint_eq(c.server.port, 9000);
	ck_assert_str_eq(c.peer, "bob");
	ck_assert(c.duration_s == 2.5);
	ck_assert_int_eq(c.relay, RELAY_AUTO);
	ck_assert_int_eq(PARSE("--relay", "always", "a@h", "b"), 0);
	ck_assert_int_eq(c.relay, RELAY_ALWAYS);
	ck_assert_int_eq(PARSE("--relay", "never", "a@h", "b"), 0);
	ck_assert_int_eq(c.relay, RELAY_NEVER);
	ck_assert_int_eq(PARSE("--stun", "stun.example.org", "a@h", "b"), 0);
	ck_assert_str_eq(c.stun.host, "stun.example.org");
	ck_assert_uint_eq(c.stun.port, 3478);
}
END_TEST

START_TEST(client_wait_defaults)
{
	ck_assert_int_eq(PARSE("--auto-answer", "--once", "-v", "bob@[2001:db8::1]"), 0);
	ck_assert_str_eq(c.server.host, "2001:db8::1");
	ck_assert_uint_eq(c.server.port, 7878);
	ck_assert_str_eq(c.peer, "");
	ck_assert(c.auto_answer && c.once);
	ck_assert_int_eq(c.verbosity, 1);
}
END_TEST

START_TEST(audio_options)
{
	ck_assert_int_eq(PARSE("--input", "in.flac", "--output", "out.wav", "--frame-ms", "40", "--bitrate",
			       "16000", "a@h", "b"), 0);
	ck_assert_str_eq(c.input, "in.flac");
	ck_assert_str_eq(c.output, "out.wav");
	ck_assert_uint_eq(c.frame_ms, 40);
	ck_assert_int_eq(c.bitrate, 16000);
	ck_assert(!c.no_audio && !c.list_devices);
	ck_assert_int_eq(PARSE("--input-device", "3", "--output-device", "USB Headset", "a@h"), 0);
	ck_assert_str_eq(c.input_dev, "3");
	ck_assert_str_eq(c.output_dev, "USB Headset");
	ck_assert_ptr_null(c.input);
	ck_assert_uint_eq(c.frame_ms, 0); /* the media engine's default */
	ck_assert_int_eq(PARSE("--no-audio", "a@h", "b"), 0);
	ck_assert(c.no_audio);
	/* --list-devices stands alone */
	ck_assert_int_eq(PARSE("--list-devices"), 0);
	ck_assert(c.list_devices);
	ck_assert_int_eq(PARSE("--list-devices", "a@h"), -EINVAL);
	ck_assert_int_eq(PARSE("--frame-ms", "25", "a@h"), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "`25'"));
	ck_assert_int_eq(PARSE("--frame-ms", "20ms", "a@h"), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "`20ms'"));
	ck_assert_int_eq(PARSE("--bitrate", "5999", "a@h"), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "`5999'"));
	ck_assert_int_eq(PARSE("--bitrate", "510001", "a@h"), -EINVAL);
	ck_assert_int_eq(PARSE("--no-audio", "--output", "x.wav", "a@h"), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "--no-audio"));
	ck_assert_int_eq(PARSE("--serve", "--input", "x.wav"), -EINVAL);
	ck_assert_int_eq(PARSE("--input"), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "--input"));
}
END_TEST

START_TEST(voice_options)
{
	ck_assert_int_eq(PARSE("a@h", "b"), 0);
	ck_assert(c.aec == 0 && c.ns == 0 && c.agc == 0 && c.min_bitrate == 0);
	ck_assert_int_eq(PARSE("--no-aec", "--no-ns", "--agc", "--no-agc", "a@h", "b"), 0);
	ck_assert(c.aec < 0 && c.ns < 0 && c.agc < 0);
	ck_assert_int_eq(PARSE("--input", "x.wav", "--aec", "--ns", "--agc", "a@h", "b"), 0);
	ck_assert(c.aec > 0 && c.ns > 0 && c.agc > 0);
	ck_assert_int_eq(PARSE("--min-bitrate", "8000", "--bitrate", "16000", "a@h"), 0);
	ck_assert_int_eq(c.min_bitrate, 8000);
	ck_assert_int_eq(PARSE("--min-bitrate", "20000", "--bitrate", "16000", "a@h"), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "20000"));
	ck_assert_int_eq(PARSE("--min-bitrate", "30000", "a@h"), -EINVAL); /* above the default */
	ck_assert_int_eq(PARSE("--min-bitrate", "5000", "a@h"), -EINVAL);
	ck_assert_int_eq(PARSE("--no-audio", "--no-aec", "a@h"), -EINVAL);
	ck_assert_int_eq(PARSE("--serve", "--no-ns"), -EINVAL);
	/* --fec-loss: adaptive unless given; 0..50, 0 is "no FEC" */
	ck_assert(!c.fec_pinned);
	ck_assert_int_eq(PARSE("--fec-loss", "0", "a@h", "b"), 0);
	ck_assert(c.fec_pinned && c.fec_loss == 0);
	ck_assert_int_eq(PARSE("--fec-loss=50", "a@h", "b"), 0);
	ck_assert(c.fec_pinned && c.fec_loss == 50);
	ck_assert_int_eq(PARSE("--fec-loss", "51", "a@h"), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "--fec-loss"));
	ck_assert_int_eq(PARSE("--fec-loss", "-1", "a@h"), -EINVAL);
	ck_assert_int_eq(PARSE("--fec-loss", "5%", "a@h"), -EINVAL);
	ck_assert_int_eq(PARSE("--fec-loss", "10", "--no-audio", "a@h"), -EINVAL);
	ck_assert_int_eq(PARSE("--serve", "--fec-loss", "10"), -EINVAL);
}
END_TEST

START_TEST(serve)
{
	ck_assert_int_eq(PARSE("--serve", "--listen", "0.0.0.0:3479", "--keepalive", "5", "-q"), 0);
	ck_assert(c.serve);
	ck_assert_str_eq(c.listen, "0.0.0.0:3479");
	ck_assert_uint_eq(c.keepalive_s, 5);
	ck_assert_int_eq(c.verbosity, -1);
	/* Identities and limits. */
	ck_assert_int_eq(PARSE("--serve", "--bindings", "/var/lib/p2pcall/bindings", "--require-keys", "--closed",
			       "--max-line", "512", "--line-timeout", "3", "--register-rate", "4", "--invite-rate",
			       "7", "--relay-kbps", "64", "--stun-rate", "20"), 0);
	ck_assert_str_eq(c.bindings, "/var/lib/p2pcall/bindings");
	ck_assert(c.require_keys && c.closed);
	ck_assert_uint_eq(c.max_line, 512);
	ck_assert_uint_eq(c.line_timeout_s, 3);
	ck_assert_uint_eq(c.register_rate, 4);
	ck_assert_uint_eq(c.invite_rate, 7);
	ck_assert_uint_eq(c.relay_kbps, 64);
	ck_assert_uint_eq(c.stun_rate, 20);
	ck_assert_int_eq(PARSE("--help"), 0);
	ck_assert(c.help);
	ck_assert_int_eq(PARSE("-V"), 0);
	ck_assert(c.version);
}
END_TEST

/* Each bad command line fails and its message quotes the culprit. */
START_TEST(errors_name_the_bad_value)
{
	static const struct { const char *args[6]; const char *quoted; } bad[] = {
		{ { "--duration", "abc", "a@h", "b" }, "`abc'" },
		{ { "--duration", "-1", "a@h", "b" }, "`-1'" },
		{ { "--duration", "nan", "a@h", "b" }, "`nan'" },
		{ { "--frobnicate", "a@h" }, "--frobnicate" },
		{ { "alice" }, "`alice'" },
		{ { "@host" }, "`@host'" },
		{ { "Al ice@host" }, "`al ice'" },
		{ { "alice@host:99999" }, "`alice@host:99999'" },
		{ { "alice@host:0" }, "`alice@host:0'" },
		{ { "alice@host", "b@d" }, "`b@d'" },
		{ { "alice@host", "ALICE" }, "`alice'" },
		{ { "alice@host", "bob", "carol" }, "`carol'" },
		{ { "--serve", "alice@host" }, "`alice@host'" },
		{ { "--serve", "--keepalive", "1.5" }, "`1.5'" },
		{ { "--serve", "--json" }, "--json" },
		{ { "--listen", "x:1", "a@h" }, "--serve" },
		{ { "--once", "a@h", "bob" }, "`bob'" },
		{ { "--duration" }, "--duration" },
		{ { "--relay", "sometimes", "a@h" }, "`sometimes'" },
		{ { "--on-call", "true", "a@h", "bob" }, "`bob'" },
		{ { "--stun", "[::1", "a@h" }, "`[::1'" },
		{ { "--stun", "h:0", "a@h" }, "`h:0'" },
		{ { "--serve", "--relay", "never" }, "--relay" },
		{ { "--serve", "--max-line", "2000" }, "`2000'" },
		{ { "--serve", "--stun-rate", "0" }, "`0'" },
		{ { "--serve", "--relay-kbps", "x" }, "`x'" },
		{ { "--serve", "--line-timeout", "0.5" }, "`0.5'" },
		{ { "--closed", "a@h" }, "--serve" },
		{ { NULL }, "NAME@HOST" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(parse(bad[i].args) == -EINVAL, "case %zu accepted", i);
		ck_assert_msg(strstr(err, bad[i].quoted), "case %zu: `%s' not in: %s", i, bad[i].quoted, err);
	}
}
END_TEST

START_TEST(endpoints)
{
	struct endpoint e;
	char name[40];
	ck_assert_int_eq(endpoint_parse("host", 7, &e), 0);
	ck_assert_str_eq(e.host, "host");
	ck_assert_uint_eq(e.port, 7);
	ck_assert_int_eq(endpoint_parse("1.2.3.4:80", 7, &e), 0);
	ck_assert_uint_eq(e.port, 80);
	ck_assert_int_eq(endpoint_parse("::1", 7, &e), 0);
	ck_assert_str_eq(e.host, "::1");
	ck_assert_uint_eq(e.port, 7);
	ck_assert_int_eq(endpoint_parse("[::1]:9", 7, &e), 0);
	ck_assert_str_eq(e.host, "::1");
	ck_assert_uint_eq(e.port, 9);
	ck_assert_int_eq(endpoint_parse("[::1]", 7, &e), 0);
	ck_assert_int_eq(endpoint_parse("h:0", 7, &e), 0); /* any port, for binding */
	ck_assert_int_eq(endpoint_parse("", 7, &e), -EINVAL);
	ck_assert_int_eq(endpoint_parse("h:", 7, &e), -EINVAL);
	ck_assert_int_eq(endpoint_parse("h:x", 7, &e), -EINVAL);
	ck_assert_int_eq(endpoint_parse("h:65536", 7, &e), -EINVAL);
	ck_assert_int_eq(endpoint_parse("[::1", 7, &e), -EINVAL);
	ck_assert_int_eq(endpoint_parse("[::1]x", 7, &e), -EINVAL);
	ck_assert_int_eq(endpoint_parse("a b", 7, &e), -EINVAL);
	ck_assert_int_eq(endpoint_parse_identity("me@h@example:5", 7, name, sizeof(name), &e), 0);
	ck_assert_str_eq(name, "me@h");
	ck_assert_str_eq(e.host, "example");
	ck_assert_int_eq(endpoint_parse_identity("nohost", 7, name, sizeof(name), &e), -EINVAL);
	ck_assert_int_eq(endpoint_parse_identity("x@", 7, name, sizeof(name), &e), -EINVAL);
}
END_TEST

Suite *cli_suite(void)
{
	Suite *s = suite_create("cli");
	TCase *t = tcase_create("parse");
	tcase_add_test(t, client_call);
	tcase_add_test(t, client_wait_defaults);
	tcase_add_test(t, audio_options);
	tcase_add_test(t, voice_options);
	tcase_add_test(t, serve);
	tcase_add_test(t, errors_name_the_bad_value);
	tcase_add_test(t, endpoints);
	suite_add_tcase(s, t);
	return s;
}
