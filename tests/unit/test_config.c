/* Configuration files: what parses, the exact message (FILE:LINE: ...) for
 * every kind of bad line, the argv built for cli_parse (config file below
 * the command line), and where the client file is looked for. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "p2pcall/cli.h"
#include "p2pcall/config.h"

static char err[512];

static int parse_n(const struct config_schema *s, const char *text, size_t len, struct config **out)
{
	*out = NULL;
	memset(err, 'X', sizeof(err));
	err[sizeof(err) - 1] = '\0';
	int rc = config_parse(s, "~/.config/p2pcall/config", text, len, out, err, sizeof(err));
	if (rc == 0)
		ck_assert_ptr_nonnull(*out);
	else
		ck_assert_ptr_null(*out);
	return rc;
}

static int parse(const char *text, struct config **out)
{
	return parse_n(&config_client_schema, text, strlen(text), out);
}

/* Parses TEXT as a client file, which must fail with WANT (the file name
 * prefix included). */
static void bad(const char *text, const char *want)
{
	struct config *cfg;
	ck_assert_int_eq(parse(text, &cfg), -EINVAL);
	ck_assert_str_eq(err, want);
}

static void bad_server(const char *text, const char *want)
{
	struct config *cfg;
	ck_assert_int_eq(parse_n(&config_server_schema, text, strlen(text), &cfg), -EINVAL);
	ck_assert_str_eq(err, want);
}

START_TEST(good_client_file)
{
	struct config *cfg;
	const char *text =
		"# p2pcall client\n"
		"\n"
		"identity = Alice@example.org:9000\n"
		"relay=never\n"
		"  stun =\tstun.example.org:3478   # our own\n"
		"turn = bob:s3cr:et@[2001:db8::1]:3478\n"
		"input-device = \"USB Audio  # 2 \"\n"
		"output-device = 'Haut-parleurs intégrés'\n"
		"bitrate = 32000\n"
		"frame-ms = 40\n"
		"auto-answer = true\n"
		"json = 0\n";
	ck_assert_int_eq(parse(text, &cfg), 0);
	ck_assert_uint_eq(config_count(cfg), 10);
	const struct config_entry *e = config_entry(cfg, 0);
	ck_assert_str_eq(e->key->name, "identity");
	ck_assert_str_eq(e->value, "Alice@example.org:9000");
	ck_assert_uint_eq(e->line, 3);
	e = config_entry(cfg, 2);
	ck_assert_str_eq(e->key->name, "stun");
	ck_assert_str_eq(e->value, "stun.example.org:3478");
	ck_assert_uint_eq(e->line, 5);
	ck_assert_ptr_null(config_entry(cfg, 10));
	ck_assert_str_eq(config_get(cfg, "relay"), "never");
	ck_assert_str_eq(config_get(cfg, "turn"), "bob:s3cr:et@[2001:db8::1]:3478");
	ck_assert_str_eq(config_get(cfg, "input-device"), "USB Audio  # 2 ");
	ck_assert_str_eq(config_get(cfg, "output-device"), "Haut-parleurs intégrés");
	ck_assert_str_eq(config_get(cfg, "bitrate"), "32000");
	ck_assert_str_eq(config_get(cfg, "frame-ms"), "40");
	/* Booleans come back canonical. */
	ck_assert_str_eq(config_get(cfg, "auto-answer"), "yes");
	ck_assert_str_eq(config_get(cfg, "json"), "no");
	ck_assert_ptr_null(config_get(cfg, "listen"));
	config_free(cfg);
}
END_TEST

START_TEST(good_server_file)
{
	struct config *cfg;
	const char *text = "listen = [::]:0\nkeepalive = 15\nring-timeout = 45\n"
			   "register-timeout = 5\nmax-clients = 1000\nmax-per-ip = 8\n";
	ck_assert_int_eq(parse_n(&config_server_schema, text, strlen(text), &cfg), 0);
	ck_assert_uint_eq(config_count(cfg), 6);
	ck_assert_str_eq(config_get(cfg, "listen"), "[::]:0");
	ck_assert_str_eq(config_get(cfg, "max-per-ip"), "8");
	config_free(cfg);
	/* Client keys are unknown to the server and the other way round. */
	bad_server("relay = never\n",
		   "~/.config/p2pcall/config:1: unknown key `relay' in a server file (known: listen, "
		   "keepalive, ring-timeout, register-timeout, max-clients, max-per-ip, bindings, "
		   "require-keys, closed, max-line, line-timeout, register-rate, invite-rate, relay-kbps, "
		   "stun-rate)");
	bad("listen = 0.0.0.0\n",
	    "~/.config/p2pcall/config:1: unknown key `listen' in a client file (known: identity, "
	    "relay, stun, turn, input-device, output-device, bitrate, frame-ms, auto-answer, json)");
}
END_TEST

START_TEST(empty_and_comment_only)
{
	struct config *cfg;
	ck_assert_int_eq(parse("", &cfg), 0);
	ck_assert_uint_eq(config_count(cfg), 0);
	config_free(cfg);
	ck_assert_int_eq(parse_n(&config_client_schema, NULL, 0, &cfg), 0);
	config_free(cfg);
	ck_assert_int_eq(parse("# only\n   \n\t# comments\n\n", &cfg), 0);
	ck_assert_uint_eq(config_count(cfg), 0);
	config_free(cfg);
}
END_TEST

START_TEST(line_endings_and_bom)
{
	struct config *cfg;
	/* CRLF, a last line without a newline, and a UTF-8 BOM. */
	ck_assert_int_eq(parse("\xef\xbb\xbfrelay = always\r\n# c\r\n\r\nbitrate = 8000", &cfg), 0);
	ck_assert_uint_eq(config_count(cfg), 2);
	ck_assert_str_eq(config_get(cfg, "relay"), "always");
	ck_assert_str_eq(config_get(cfg, "bitrate"), "8000");
	ck_assert_uint_eq(config_entry(cfg, 1)->line, 4);
	config_free(cfg);
	/* A CR anywhere but before LF is a control character. */
	bad("relay = al\rways\n",
	    "~/.config/p2pcall/config:1: control character 0x0d in `relay = al\\x0dways'");
	bad("relay = always\r\r\n",
	    "~/.config/p2pcall/config:1: control character 0x0d in `relay = always\\x0d'");
}
END_TEST

START_TEST(quotes)
{
	struct config *cfg;
	ck_assert_int_eq(parse("input-device = \"a \\\"b\\\" \\\\ c\"  # x\n"
			       "output-device = '#1 \"q\"'\n"
			       "relay = \"never\"\n", &cfg), 0);
	ck_assert_str_eq(config_get(cfg, "input-device"), "a \"b\" \\ c");
	ck_assert_str_eq(config_get(cfg, "output-device"), "#1 \"q\"");
	ck_assert_str_eq(config_get(cfg, "relay"), "never");
	config_free(cfg);
	/* A # glued to a bare value is part of it. */
	ck_assert_int_eq(parse("input-device = hw#2 # card two\n", &cfg), 0);
	ck_assert_str_eq(config_get(cfg, "input-device"), "hw#2");
	config_free(cfg);
	bad("input-device = \"USB\n",
	    "~/.config/p2pcall/config:1: missing closing \" in `\"USB'");
	bad("\ninput-device = 'USB\n",
	    "~/.config/p2pcall/config:2: missing closing ' in `'USB'");
	bad("input-device = \"USB\" card\n",
	    "~/.config/p2pcall/config:1: text after the closing quote in `\"USB\" card'");
	bad("input-device = \"a\\nb\"\n",
	    "~/.config/p2pcall/config:1: unknown escape in `\"a\\nb\"': only \\\" and \\\\ are "
	    "allowed in double quotes");
	bad("input-device = \"\"\n",
	    "~/.config/p2pcall/config:1: input-device: empty value (leave the key out, or "
	    "comment it, for the default)");
	bad("input-device =   # nothing\n",
	    "~/.config/p2pcall/config:1: input-device: empty value (leave the key out, or "
	    "comment it, for the default)");
}
END_TEST

START_TEST(unknown_keys)
{
	bad("# c\n\n\n\n\nrelay = auto\nbitrat = 8000\n",
	    "~/.config/p2pcall/config:7: unknown key `bitrat' (did you mean `bitrate'?)");
	bad("Relay = auto\n",
	    "~/.config/p2pcall/config:1: unknown key `Relay' (did you mean `relay'?)");
	bad("auto_answer = yes\n",
	    "~/.config/p2pcall/config:1: unknown key `auto_answer' (did you mean `auto-answer'?)");
	bad("framems = 20\n",
	    "~/.config/p2pcall/config:1: unknown key `framems' (did you mean `frame-ms'?)");
	char longkey[200];
	memset(longkey, 'k', 100);
	snprintf(longkey + 100, sizeof(longkey) - 100, " = 1\n");
	bad(longkey, "~/.config/p2pcall/config:1: unknown key `kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk"
	    "kkkkkkkkkkkkkkk...' in a client file (known: identity, relay, stun, turn, "
	    "input-device, output-device, bitrate, frame-ms, auto-answer, json)");
	bad("volume = 11\n",
	    "~/.config/p2pcall/config:1: unknown key `volume' in a client file (known: identity, "
	    "relay, stun, turn, input-device, output-device, bitrate, frame-ms, auto-answer, json)");
}
END_TEST

START_TEST(malformed_lines)
{
	bad("relay never\n",
	    "~/.config/p2pcall/config:1: expected `key = value', got `relay never'");
	bad("relay\n", "~/.config/p2pcall/config:1: expected `key = value', got `relay'");
	bad("= never\n", "~/.config/p2pcall/config:1: expected `key = value', got `= never'");
	bad("[client]\n", "~/.config/p2pcall/config:1: expected `key = value', got `[client]'");
	bad("relay.mode = never\n",
	    "~/.config/p2pcall/config:1: expected `key = value', got `relay.mode = never'");
	bad("relay =\n",
	    "~/.config/p2pcall/config:1: relay: empty value (leave the key out, or comment it, "
	    "for the default)");
}
END_TEST

START_TEST(bad_values)
{
	const char *p = "~/.config/p2pcall/config:1: ";
	struct { const char *line, *msg; } cases[] = {
		{ "relay = sometimes", "relay: `sometimes' is not auto, never or always" },
		{ "relay = Never", "relay: `Never' is not auto, never or always" },
		{ "frame-ms = 30", "frame-ms: `30' is not 10, 20, 40 or 60" },
		{ "bitrate = 5999", "bitrate: `5999' is not a whole number from 6000 to 510000" },
		{ "bitrate = 510001", "bitrate: `510001' is not a whole number from 6000 to 510000" },
		{ "bitrate = -8000", "bitrate: `-8000' is not a whole number from 6000 to 510000" },
		{ "bitrate = 24k", "bitrate: `24k' is not a whole number from 6000 to 510000" },
		{ "bitrate = 99999999999999999999",
		  "bitrate: `99999999999999999999' is not a whole number from 6000 to 510000" },
		{ "auto-answer = maybe",
		  "auto-answer: `maybe' is not yes or no (true/false and 1/0 also work)" },
		{ "json = YES", "json: `YES' is not yes or no (true/false and 1/0 also work)" },
		{ "stun = host:port", "stun: cannot parse `host:port': expected HOST[:PORT]" },
		{ "stun = host:0", "stun: cannot parse `host:0': expected HOST[:PORT]" },
		{ "stun = [::1", "stun: cannot parse `[::1': expected HOST[:PORT]" },
		{ "stun = host:70000", "stun: cannot parse `host:70000': expected HOST[:PORT]" },
		{ "identity = alice", "identity: cannot parse `alice': expected NAME@HOST[:PORT]" },
		{ "identity = alice@", "identity: cannot parse `alice@': expected NAME@HOST[:PORT]" },
		{ "identity = @host", "identity: cannot parse `@host': expected NAME@HOST[:PORT]" },
		{ "identity = alice@host:0",
		  "identity: cannot parse `alice@host:0': expected NAME@HOST[:PORT]" },
		{ "identity = al!ce@host",
		  "identity: bad name `al!ce': use 1-32 of a-z 0-9 . _ -, starting with a letter or digit" },
		{ "identity = -alice@host",
		  "identity: bad name `-alice': use 1-32 of a-z 0-9 . _ -, starting with a letter or digit" },
		{ "turn = host:3478", "turn: cannot parse `host:3478': expected USER:PASS@HOST[:PORT]" },
		{ "turn = user@host", "turn: cannot parse `user@host': expected USER:PASS@HOST[:PORT]" },
		{ "turn = :pass@host", "turn: cannot parse `:pass@host': expected USER:PASS@HOST[:PORT]" },
		{ "turn = user:@host", "turn: cannot parse `user:@host': expected USER:PASS@HOST[:PORT]" },
		{ "turn = u:p@host:0", "turn: cannot parse `u:p@host:0': expected USER:PASS@HOST[:PORT]" },
		{ "turn = u:p@", "turn: cannot parse `u:p@': expected USER:PASS@HOST[:PORT]" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char text[256], want[512];
		snprintf(text, sizeof(text), "%s\n", cases[i].line);
		snprintf(want, sizeof(want), "%s%s", p, cases[i].msg);
		bad(text, want);
	}
	/* Server: ranges as cli.c's whole seconds, listen may use port 0. */
	bad_server("keepalive = 0\n", "~/.config/p2pcall/config:1: keepalive: `0' is not a whole "
		   "number from 1 to 86400");
	bad_server("ring-timeout = 1.5\n", "~/.config/p2pcall/config:1: ring-timeout: `1.5' is not "
		   "a whole number from 1 to 86400");
	bad_server("register-timeout = 86401\n", "~/.config/p2pcall/config:1: register-timeout: "
		   "`86401' is not a whole number from 1 to 86400");
	bad_server("max-clients = 0\n", "~/.config/p2pcall/config:1: max-clients: `0' is not a "
		   "whole number from 1 to 1000000");
	bad_server("listen = a:b:c]\n", "~/.config/p2pcall/config:1: listen: cannot parse "
		   "`a:b:c]': expected HOST[:PORT]");
	bad_server("listen = host:x\n", "~/.config/p2pcall/config:1: listen: cannot parse "
		   "`host:x': expected HOST[:PORT]");
}
END_TEST

START_TEST(duplicate_key_is_an_error)
{
	bad("relay = auto\n# later\nrelay = never\n",
	    "~/.config/p2pcall/config:3: `relay' is already set on line 1 (a key may appear once)");
	bad("json = no\njson = no\n",
	    "~/.config/p2pcall/config:2: `json' is already set on line 1 (a key may appear once)");
}
END_TEST

START_TEST(overlong_lines)
{
	struct config *cfg;
	size_t n = strlen("input-device = ");
	char *text = malloc(CONFIG_LINE_MAX + 64);
	ck_assert_ptr_nonnull(text);
	/* Exactly CONFIG_LINE_MAX bytes (plus CRLF) is fine... */
	memcpy(text, "input-device = ", n);
	memset(text + n, 'd', CONFIG_LINE_MAX - n);
	memcpy(text + CONFIG_LINE_MAX, "\r\n", 3);
	ck_assert_int_eq(parse(text, &cfg), 0);
	ck_assert_uint_eq(strlen(config_get(cfg, "input-device")), CONFIG_LINE_MAX - n);
	config_free(cfg);
	/* ...one more byte is not, with or without a newline after it. */
	memset(text, '#', CONFIG_LINE_MAX + 1);
	memcpy(text + CONFIG_LINE_MAX + 1, "\n", 2);
	char *two = malloc(CONFIG_LINE_MAX + 80);
	ck_assert_ptr_nonnull(two);
	snprintf(two, CONFIG_LINE_MAX + 80, "json = yes\n%s", text);
	bad(two, "~/.config/p2pcall/config:2: line longer than 1024 bytes");
	text[CONFIG_LINE_MAX + 1] = '\0';
	bad(text, "~/.config/p2pcall/config:1: line longer than 1024 bytes");
	free(two);
	free(text);
}
END_TEST

START_TEST(nul_and_control_characters)
{
	struct config *cfg;
	static const char nul[] = "relay = auto\nbitrate = 8\0""000\n";
	ck_assert_int_eq(parse_n(&config_client_schema, nul, sizeof(nul) - 1, &cfg), -EINVAL);
	ck_assert_str_eq(err, "~/.config/p2pcall/config:2: NUL byte in the line");
	/* Even in a comment: the file is not text. */
	static const char nul2[] = "# a\0b\n";
	ck_assert_int_eq(parse_n(&config_client_schema, nul2, sizeof(nul2) - 1, &cfg), -EINVAL);
	ck_assert_str_eq(err, "~/.config/p2pcall/config:1: NUL byte in the line");
	bad("input-device = a\x1b[31mred\n",
	    "~/.config/p2pcall/config:1: control character 0x1b in `input-device = a\\x1b[31mred'");
	bad("input-device = a\x7f\n",
	    "~/.config/p2pcall/config:1: control character 0x7f in `input-device = a\\x7f'");
	/* A tab is a blank, inside a value too. */
	ck_assert_int_eq(parse("input-device\t=\ta\tb\t\n", &cfg), 0);
	ck_assert_str_eq(config_get(cfg, "input-device"), "a\tb");
	config_free(cfg);
}
END_TEST

START_TEST(utf8)
{
	struct config *cfg;
	ck_assert_int_eq(parse("output-device = 日本語 ünïcödé 🎧\n", &cfg), 0);
	ck_assert_str_eq(config_get(cfg, "output-device"), "日本語 ünïcödé 🎧");
	config_free(cfg);
	/* Latin-1, an overlong '/', a UTF-16 surrogate, and a cut sequence. */
	bad("output-device = caf\xe9\n",
	    "~/.config/p2pcall/config:1: invalid UTF-8 (byte 0xe9) in `output-device = caf\xe9'");
	bad("output-device = \xc0\xaf\n",
	    "~/.config/p2pcall/config:1: invalid UTF-8 (byte 0xc0) in `output-device = \xc0\xaf'");
	bad("output-device = \xed\xa0\x80\n",
	    "~/.config/p2pcall/config:1: invalid UTF-8 (byte 0xed) in `output-device = \xed\xa0\x80'");
	bad("output-device = \xf0\x9f\x8e\n",
	    "~/.config/p2pcall/config:1: invalid UTF-8 (byte 0xf0) in `output-device = \xf0\x9f\x8e'");
}
END_TEST

START_TEST(long_bad_text_is_cut_in_messages)
{
	char text[300];
	snprintf(text, sizeof(text), "%0200d\n", 7);
	struct config *cfg;
	ck_assert_int_eq(parse(text, &cfg), -EINVAL);
	ck_assert_int_lt(strlen(err), 200);
	ck_assert_ptr_nonnull(strstr(err, "...'"));
	/* A message that does not fit ERR is cut, still terminated. */
	char small[16];
	ck_assert_int_eq(config_parse(&config_client_schema, "f", "bitrat = 1\n", 11, &cfg,
				      small, sizeof(small)), -EINVAL);
	ck_assert_str_eq(small, "f:1: unknown ke");
	ck_assert_int_eq(config_parse(&config_client_schema, "f", "bitrat = 1\n", 11, &cfg,
				      NULL, 0), -EINVAL);
}
END_TEST

/* Builds the argv from CFG and ARGS (without argv[0]) and parses it. */
static int cli_with(const struct config *cfg, const char *const *args, struct cli *c)
{
	char *argv[32] = { "p2pcall" }, **merged;
	int argc = 1, margc;
	for (; args[argc - 1]; argc++)
		argv[argc] = (char *)args[argc - 1];
	ck_assert_int_eq(config_argv(cfg, argc, argv, &merged, &margc), 0);
	ck_assert_ptr_null(merged[margc]);
	int rc = cli_parse(margc, merged, c, err, sizeof(err));
	free(merged);
	return rc;
}

#define CLI(cfg, c, ...) cli_with(cfg, (const char *const[]){ __VA_ARGS__, NULL }, c)

START_TEST(argv_order_and_booleans)
{
	struct config *cfg;
	ck_assert_int_eq(parse("identity = a@h\nrelay = never\njson = yes\nauto-answer = no\n"
			       "stun = s.example\n", &cfg), 0);
	char *argv[] = { "p2pcall", "--relay", "always", "a@h", NULL }, **m;
	int mc;
	ck_assert_int_eq(config_argv(cfg, 4, argv, &m, &mc), 0);
	/* identity has no option; "no" adds nothing; the real argv comes last. */
	const char *want[] = { "p2pcall", "--relay", "never", "--json", "--stun", "s.example",
			       "--relay", "always", "a@h" };
	ck_assert_int_eq(mc, 9);
	for (int i = 0; i < mc; i++)
		ck_assert_str_eq(m[i], want[i]);
	ck_assert_ptr_null(m[mc]);
	free(m);
	/* No file: the command line as it is. */
	ck_assert_int_eq(config_argv(NULL, 4, argv, &m, &mc), 0);
	ck_assert_int_eq(mc, 4);
	ck_assert_ptr_eq(m[3], argv[3]);
	free(m);
	ck_assert_int_eq(config_argv(cfg, 0, argv, &m, &mc), -EINVAL);
	config_free(cfg);
}
END_TEST

START_TEST(precedence_default_file_command_line)
{
	struct cli c;
	struct config *cfg;
	/* Built-in default. */
	ck_assert_int_eq(CLI(NULL, &c, "a@h", "b"), 0);
	ck_assert_int_eq(c.relay, RELAY_AUTO);
	ck_assert(!c.json);
	ck_assert_str_eq(c.stun.host, "");
	/* The file over the default. */
	ck_assert_int_eq(parse("relay = never\njson = yes\nauto-answer = yes\n"
			       "stun = stun.example:3479\n", &cfg), 0);
	ck_assert_int_eq(CLI(cfg, &c, "a@h", "b"), 0);
	ck_assert_int_eq(c.relay, RELAY_NEVER);
	ck_assert(c.json);
	ck_assert(c.auto_answer);
	ck_assert_str_eq(c.stun.host, "stun.example");
	ck_assert_uint_eq(c.stun.port, 3479);
	/* The command line over the file, options before or after the names. */
	ck_assert_int_eq(CLI(cfg, &c, "--relay", "always", "a@h", "b", "--stun", "other"), 0);
	ck_assert_int_eq(c.relay, RELAY_ALWAYS);
	ck_assert_str_eq(c.stun.host, "other");
	ck_assert_uint_eq(c.stun.port, 3478);
	ck_assert(c.json);
	config_free(cfg);
	/* The server file the same way. */
	const char *server = "listen = 127.0.0.1:9\nkeepalive = 5\nring-timeout = 7\n";
	ck_assert_int_eq(parse_n(&config_server_schema, server, strlen(server), &cfg), 0);
	ck_assert_int_eq(CLI(cfg, &c, "--serve", "--keepalive", "60"), 0);
	ck_assert(c.serve);
	ck_assert_str_eq(c.listen, "127.0.0.1:9");
	ck_assert_uint_eq(c.keepalive_s, 60);
	ck_assert_uint_eq(c.ring_timeout_s, 7);
	config_free(cfg);
}
END_TEST

START_TEST(client_path)
{
	char out[64];
	ck_assert_int_eq(config_client_path("/x/cfg", "/home/al", out, sizeof(out)), 0);
	ck_assert_str_eq(out, "/x/cfg/p2pcall/config");
	ck_assert_int_eq(config_client_path(NULL, "/home/al", out, sizeof(out)), 0);
	ck_assert_str_eq(out, "/home/al/.config/p2pcall/config");
	/* Empty or relative XDG_CONFIG_HOME is ignored (XDG base directory spec). */
	ck_assert_int_eq(config_client_path("", "/home/al", out, sizeof(out)), 0);
	ck_assert_str_eq(out, "/home/al/.config/p2pcall/config");
	ck_assert_int_eq(config_client_path("rel/cfg", "/home/al", out, sizeof(out)), 0);
	ck_assert_str_eq(out, "/home/al/.config/p2pcall/config");
	ck_assert_int_eq(config_client_path("/x", NULL, out, sizeof(out)), 0);
	ck_assert_str_eq(out, "/x/p2pcall/config");
	ck_assert_int_eq(config_client_path(NULL, NULL, out, sizeof(out)), -ENOENT);
	ck_assert_int_eq(config_client_path("", "", out, sizeof(out)), -ENOENT);
	ck_assert_int_eq(config_client_path("rel", "", out, sizeof(out)), -ENOENT);
	ck_assert_int_eq(config_client_path(NULL, "/home/al", out, 31), -ENOSPC);
	ck_assert_int_eq(config_client_path(NULL, "/home/al", out, 32), 0);
}
END_TEST

START_TEST(display_path)
{
	char out[64];
	ck_assert_str_eq(config_display_path("/home/al/.config/p2pcall/config", "/home/al", out,
					     sizeof(out)), "~/.config/p2pcall/config");
	ck_assert_str_eq(config_display_path("/home/al/x", "/home/al/", out, sizeof(out)), "~/x");
	ck_assert_str_eq(config_display_path("/home/alice/x", "/home/al", out, sizeof(out)),
			 "/home/alice/x");
	ck_assert_str_eq(config_display_path("/etc/p2pcall/server.conf", "/home/al", out,
					     sizeof(out)), "/etc/p2pcall/server.conf");
	ck_assert_str_eq(config_display_path("/x/y", "/", out, sizeof(out)), "/x/y");
	ck_assert_str_eq(config_display_path("/x/y", NULL, out, sizeof(out)), "/x/y");
}
END_TEST

Suite *config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *t = tcase_create("parse");
	tcase_add_test(t, good_client_file);
	tcase_add_test(t, good_server_file);
	tcase_add_test(t, empty_and_comment_only);
	tcase_add_test(t, line_endings_and_bom);
	tcase_add_test(t, quotes);
	tcase_add_test(t, unknown_keys);
	tcase_add_test(t, malformed_lines);
	tcase_add_test(t, bad_values);
	tcase_add_test(t, duplicate_key_is_an_error);
	tcase_add_test(t, overlong_lines);
	tcase_add_test(t, nul_and_control_characters);
	tcase_add_test(t, utf8);
	tcase_add_test(t, long_bad_text_is_cut_in_messages);
	suite_add_tcase(s, t);
	t = tcase_create("apply");
	tcase_add_test(t, argv_order_and_booleans);
	tcase_add_test(t, precedence_default_file_command_line);
	tcase_add_test(t, client_path);
	tcase_add_test(t, display_path);
	suite_add_tcase(s, t);
	return s;
}
