/* The files in contrib/ keep working: the bash and zsh completions load and
 * complete what p2pcall takes, the systemd unit verifies and keeps its
 * hardening, and the example configuration files parse with the real
 * parser once their settings are uncommented. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "p2pcall/config.h"
#include "proc.h"

static const char *srcdir(void)
{
	const char *d = getenv("P2PCALL_SRCDIR");
	return d && *d ? d : ".";
}

/* Runs CMD with sh, stdout and stderr into OUT; returns its exit status. */
static int run(const char *cmd, char *out, size_t cap)
{
	char full[4096];
	snprintf(full, sizeof(full), "timeout 60 sh -c '%s' 2>&1 </dev/null", cmd);
	FILE *f = popen(full, "r");
	ck_assert_ptr_nonnull(f);
	size_t n = fread(out, 1, cap - 1, f);
	out[n] = '\0';
	int st = pclose(f);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static bool have(const char *tool)
{
	char cmd[256], out[256];
	snprintf(cmd, sizeof(cmd), "command -v %s", tool);
	return run(cmd, out, sizeof(out)) == 0;
}

/* Reads FILE under contrib/ (NUL-terminated, caller frees). */
static char *slurp_contrib(const char *file, size_t *len)
{
	char path[1024];
	snprintf(path, sizeof(path), "%s/contrib/%s", srcdir(), file);
	FILE *f = fopen(path, "rb");
	ck_assert_msg(f, "cannot open %s", path);
	char *buf = malloc(1 << 16);
	ck_assert_ptr_nonnull(buf);
	*len = fread(buf, 1, (1 << 16) - 1, f);
	buf[*len] = '\0';
	fclose(f);
	return buf;
}

/* The words of OUT (one per line), sorted and joined by spaces. */
static int cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static const char *words(char *out)
{
	static char joined[4096];
	char *w[256], *save;
	size_t n = 0;
	for (char *t = strtok_r(out, " \r\n", &save); t && n < 256; t = strtok_r(NULL, " \r\n", &save))
		w[n++] = t;
	qsort(w, n, sizeof(*w), cmp);
	joined[0] = '\0';
	size_t o = 0;
	for (size_t i = 0; i < n; i++)
		if (i == 0 || strcmp(w[i], w[i - 1]) != 0)
			o += (size_t)snprintf(joined + o, sizeof(joined) - o, "%s%s", o ? " " : "", w[i]);
	return joined;
}

/* A scratch directory per test (Check forks each test), with the shell
 * drivers written into it. */
static char scratch[64];

static void scratch_file(const char *name, const char *text)
{
	char path[256];
	if (!scratch[0]) {
		snprintf(scratch, sizeof(scratch), "/tmp/p2pcall-contrib.XXXXXX");
		ck_assert_ptr_nonnull(mkdtemp(scratch));
	}
	snprintf(path, sizeof(path), "%s/%s", scratch, name);
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
}

static void scratch_remove(void)
{
	char cmd[128], out[256];
	if (!scratch[0])
		return;
	snprintf(cmd, sizeof(cmd), "rm -r %s", scratch);
	run(cmd, out, sizeof(out));
	scratch[0] = '\0';
}

/* Sources the completion ($1) and completes the words of $2, the last
 * being completed ($2 ends with a space for an empty word), as bash does
 * on TAB: COMP_WORDS, COMP_CWORD, then the function. */
static const char bash_driver[] =
	"source \"$1\" || exit 3\n"
	"read -ra COMP_WORDS <<< \"$2\"\n"
	"[[ $2 == *\" \" ]] && COMP_WORDS+=(\"\")\n"
	"COMP_CWORD=$((${#COMP_WORDS[@]} - 1))\n"
	"_p2pcall || exit 4\n"
	"printf '%s\\n' \"${COMPREPLY[@]}\"\n";

/* What the bash completion offers for LINE, sorted, space-separated. */
static const char *bash_complete(const char *line)
{
	static char out[8192];
	char cmd[2048];
	if (!scratch[0])
		scratch_file("driver.bash", bash_driver);
	snprintf(cmd, sizeof(cmd), "bash --norc --noprofile %s/driver.bash "
		 "%s/contrib/p2pcall.bash-completion \"%s\"", scratch, srcdir(), line);
	ck_assert_msg(run(cmd, out, sizeof(out)) == 0, "bash completion of `%s' failed: %s", line, out);
	return words(out);
}

START_TEST(bash_completion)
{
	char out[4096], cmd[1024];
	snprintf(cmd, sizeof(cmd), "bash -n %s/contrib/p2pcall.bash-completion", srcdir());
	ck_assert_msg(run(cmd, out, sizeof(out)) == 0, "bash -n: %s", out);
	ck_assert_str_eq(bash_complete("p2pcall --re"), "--relay");
	ck_assert_str_eq(bash_complete("p2pcall --relay "), "always auto never");
	ck_assert_str_eq(bash_complete("p2pcall --relay a"), "always auto");
	ck_assert_str_eq(bash_complete("p2pcall --relay=n"), "never");
	ck_assert_str_eq(bash_complete("p2pcall --frame-ms "), "10 20 40 60");
	ck_assert_str_eq(bash_complete("p2pcall --bitrate "), "");
	ck_assert_str_eq(bash_complete("p2pcall --serve --register-t"), "--register-timeout");
	ck_assert_str_eq(bash_complete("p2pcall --serve --lis"), "--listen");
	/* A client option rules out --serve; --serve rules out client options. */
	ck_assert_str_eq(bash_complete("p2pcall --json --se"), "");
	ck_assert_str_eq(bash_complete("p2pcall --se"), "--serve");
	ck_assert_str_eq(bash_complete("p2pcall --serve --js"), "");
	/* Files for --input, --output and --config. */
	const char *dir = scratch;
	char line[256];
	snprintf(cmd, sizeof(cmd), "touch %s/hello.wav %s/other.txt", dir, dir);
	ck_assert_int_eq(run(cmd, out, sizeof(out)), 0);
	char want[256];
	snprintf(want, sizeof(want), "%s/hello.wav", dir);
	snprintf(line, sizeof(line), "p2pcall --input %s/he", dir);
	ck_assert_str_eq(bash_complete(line), want);
	snprintf(line, sizeof(line), "p2pcall --serve --config %s/he", dir);
	ck_assert_str_eq(bash_complete(line), want);
	scratch_remove();
}
END_TEST

/* Every option `p2pcall --help' lists is completed by bash: client ones
 * at first, server ones after --serve. */
START_TEST(bash_completes_every_option_of_help)
{
	char cmd[512], help[8192];
	snprintf(cmd, sizeof(cmd), "%s --help", test_bin());
	ck_assert_int_eq(run(cmd, help, sizeof(help)), 0);
	char offered[8192];
	snprintf(offered, sizeof(offered), " %s ", bash_complete("p2pcall --"));
	size_t n = strlen(offered);
	snprintf(offered + n - 1, sizeof(offered) - n + 1, " %s ", bash_complete("p2pcall --serve --"));
	int options = 0;
	for (char *p = help; (p = strstr(p, "--")); p += 2) {
		char opt[64];
		size_t len = strspn(p + 2, "abcdefghijklmnopqrstuvwxyz-");
		if (len == 0)
			continue;
		snprintf(opt, sizeof(opt), " --%.*s ", (int)len, p + 2);
		ck_assert_msg(strstr(offered, opt), "%s is in --help but not completed by bash", opt);
		options++;
	}
	ck_assert_int_ge(options, 10);
	scratch_remove();
}
END_TEST

/* zsh's completion is driven for real: an interactive zsh on a pty (zpty)
 * loads the file through compinit, and a wrapper around compadd reports
 * the candidates of a TAB on each line given ($2...), each list ending
 * with "@@". One zsh for all lines: compinit takes seconds. KEYTIMEOUT=1
 * so that ^X (a prefix key) runs the marker widget at once. */
static const char zsh_driver[] =
	"zmodload zsh/zpty || exit 3\n"
	"zpty z zsh -f -i\n"
	"zpty -w z 'PROMPT= RPROMPT= PS2= KEYTIMEOUT=1'\n"
	"zpty -w z \"fpath=($1 \\${(M)fpath:#*/functions/(Completion|Completion/Base|"
	"Completion/Unix|Completion/Zsh|Misc)}); autoload -Uz compinit; compinit -u -D\"\n"
	"zpty -w z \"zstyle ':completion:*' list-grouped false\"\n"
	"zpty -w z 'compadd () { local -a __h; builtin compadd -O __h \"$@\"; "
	"print -rl -- \"<C\"\"AND>\"${^__h} >/dev/tty; builtin compadd \"$@\" }'\n"
	"zpty -w z 'bindkey \"^I\" complete-word; zle_done () { print -r \"<D\"\"ONE>\" >/dev/tty; "
	"BUFFER=; CURSOR=0 }; zle -N zle_done; bindkey \"^X\" zle_done'\n"
	"shift\n"
	"local l line\n"
	"for l in \"$@\"; do\n"
	"  zpty -w -n z \"$l\"$'\\t\\C-x'\n"
	"  while zpty -r z line; do\n"
	"    [[ $line == *'<DONE>'* ]] && break\n"
	"    [[ $line == *'<CAND>'* ]] && print -r -- \"${${line##*<CAND>}%%$'\\r'}\"\n"
	"  done\n"
	"  print -r -- @@\n"
	"done\n"
	"zpty -d z\n";

/* Completes each of LINES[0..N) in zsh; OUT[i] gets the sorted words. */
static void zsh_complete(const char *const *lines, size_t n, char (*out)[1024])
{
	static char buf[16384];
	char cmd[4096];
	size_t o = (size_t)snprintf(cmd, sizeof(cmd), "zsh -f %s/driver.zsh %s/contrib", scratch,
				    srcdir());
	for (size_t i = 0; i < n; i++)
		o += (size_t)snprintf(cmd + o, sizeof(cmd) - o, " \"%s\"", lines[i]);
	ck_assert_uint_lt(o, sizeof(cmd));
	ck_assert_msg(run(cmd, buf, sizeof(buf)) == 0, "zsh completion failed: %s", buf);
	char *p = buf;
	for (size_t i = 0; i < n; i++) {
		char *end = strstr(p, "@@\n");
		ck_assert_msg(end, "zsh gave no answer for `%s': %s", lines[i], buf);
		*end = '\0';
		snprintf(out[i], sizeof(out[i]), "%s", words(p));
		p = end + 3;
	}
}

START_TEST(zsh_completion)
{
	char out[4096], cmd[1024], help[8192];
	ck_assert_msg(have("zsh"), "zsh is not installed: `sh contrib/install-deps.sh --test' "
		      "(as root) installs it");
	snprintf(cmd, sizeof(cmd), "zsh -n %s/contrib/_p2pcall", srcdir());
	ck_assert_msg(run(cmd, out, sizeof(out)) == 0, "zsh -n: %s", out);
	scratch_file("driver.zsh", zsh_driver);
	snprintf(cmd, sizeof(cmd), "%s --help", test_bin());
	ck_assert_int_eq(run(cmd, help, sizeof(help)), 0);
	static const char *const lines[] = {
		"p2pcall --re", "p2pcall --relay ", "p2pcall --relay=n", "p2pcall --frame-ms ",
		"p2pcall --serve --lis", "p2pcall --serve --register-t", "p2pcall --json --se",
		"p2pcall --", "p2pcall --serve --",
	};
	enum { N = sizeof(lines) / sizeof(lines[0]) };
	static char got[N][1024];
	zsh_complete(lines, N, got);
	ck_assert_str_eq(got[0], "--relay");
	ck_assert_str_eq(got[1], "always auto never");
	ck_assert_str_eq(got[2], "never");
	ck_assert_str_eq(got[3], "10 20 40 60");
	ck_assert_str_eq(got[4], "--listen");
	ck_assert_str_eq(got[5], "--register-timeout");
	ck_assert_str_eq(got[6], "");
	/* Every option of --help, as for bash. */
	char offered[4096];
	snprintf(offered, sizeof(offered), " %s %s ", got[7], got[8]);
	for (char *p = help; (p = strstr(p, "--")); p += 2) {
		char opt[64];
		size_t len = strspn(p + 2, "abcdefghijklmnopqrstuvwxyz-");
		if (len == 0)
			continue;
		snprintf(opt, sizeof(opt), " --%.*s ", (int)len, p + 2);
		ck_assert_msg(strstr(offered, opt), "%s is in --help but not completed by zsh", opt);
	}
	/* compinit picks the file up by its #compdef line. */
	snprintf(cmd, sizeof(cmd), "zsh -f -c \"fpath=(%s/contrib \\$fpath); autoload -Uz compinit; "
		 "compinit -u -D; print -r -- \\${_comps[p2pcall]}\"", srcdir());
	ck_assert_int_eq(run(cmd, out, sizeof(out)), 0);
	ck_assert_str_eq(out, "_p2pcall\n");
	scratch_remove();
}
END_TEST

/* The value of KEY= in UNIT's text ("" if absent): the last assignment. */
static const char *unit_value(const char *unit, const char *key, char *out, size_t cap)
{
	char pat[128];
	snprintf(pat, sizeof(pat), "\n%s=", key);
	const char *last = NULL;
	for (const char *p = unit; (p = strstr(p, pat)); p++)
		last = p + strlen(pat);
	out[0] = '\0';
	if (last)
		snprintf(out, cap, "%.*s", (int)strcspn(last, "\n"), last);
	return out;
}

START_TEST(systemd_unit)
{
	size_t len;
	char *unit = slurp_contrib("p2pcall-server.service", &len);
	char v[256];
	/* The hardening, parsed from the file whatever systemd says of it. */
	static const char *const want[][2] = {
		{ "ExecStart", "/usr/local/bin/p2pcall --serve --config /etc/p2pcall/server.conf" },
		{ "Restart", "on-failure" },
		{ "DynamicUser", "yes" },
		{ "NoNewPrivileges", "yes" },
		{ "CapabilityBoundingSet", "" },
		{ "AmbientCapabilities", "" },
		{ "ProtectSystem", "strict" },
		{ "ProtectHome", "yes" },
		{ "PrivateTmp", "yes" },
		{ "PrivateDevices", "yes" },
		{ "ProtectKernelTunables", "yes" },
		{ "ProtectKernelModules", "yes" },
		{ "ProtectKernelLogs", "yes" },
		{ "ProtectControlGroups", "yes" },
		{ "ProtectClock", "yes" },
		{ "ProtectHostname", "yes" },
		{ "RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX" },
		{ "RestrictNamespaces", "yes" },
		{ "RestrictRealtime", "yes" },
		{ "RestrictSUIDSGID", "yes" },
		{ "LockPersonality", "yes" },
		{ "MemoryDenyWriteExecute", "yes" },
		{ "SystemCallArchitectures", "native" },
		{ "WantedBy", "multi-user.target" },
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		ck_assert_msg(strstr(unit, want[i][0]), "%s= is missing from the unit", want[i][0]);
		ck_assert_str_eq(unit_value(unit, want[i][0], v, sizeof(v)), want[i][1]);
	}
	ck_assert_ptr_nonnull(strstr(unit, "\nSystemCallFilter=@system-service\n"));
	ck_assert_ptr_null(strstr(unit, "\nUser="));
	if (!have("systemd-analyze")) {
		/* Said, not hidden: the checks above still ran. */
		fprintf(stderr, "contrib: systemd-analyze not installed: unit checked by parsing only\n");
		free(unit);
		return;
	}
	/* systemd checks that ExecStart's program exists: point it at the
	 * binary under test, in a copy. */
	char dir[] = "/tmp/p2pcall-unit.XXXXXX", path[256], cmd[1024], out[8192];
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/p2pcall-server.service", dir);
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	const char *exec = strstr(unit, "/usr/local/bin/p2pcall");
	fprintf(f, "%.*s%s%s", (int)(exec - unit), unit, test_bin(),
		exec + strlen("/usr/local/bin/p2pcall"));
	fclose(f);
	snprintf(cmd, sizeof(cmd), "systemd-analyze verify --man=no %s", path);
	int rc = run(cmd, out, sizeof(out));
	/* verify exits 0 on unknown keys too; it must print nothing. */
	ck_assert_msg(rc == 0 && out[0] == '\0', "systemd-analyze verify: %s", out);
	snprintf(cmd, sizeof(cmd), "systemd-analyze security --offline=true %s | "
		 "sed -n \"s/.*Overall exposure level for [^:]*: \\([0-9.]*\\).*/\\1/p\"", path);
	ck_assert_int_eq(run(cmd, out, sizeof(out)), 0);
	double exposure = strtod(out, NULL);
	ck_assert_msg(out[0] && exposure <= 2.0, "exposure level `%s' above 2.0 (OK)", out);
	snprintf(cmd, sizeof(cmd), "rm -r %s", dir);
	run(cmd, out, sizeof(out));
	free(unit);
}
END_TEST

/* Parses FILE as is (every setting commented: no entries), then with the
 * `#key' lines uncommented: every key of SCHEMA exactly once. */
static void example_parses(const char *file, const struct config_schema *schema)
{
	size_t len;
	char *text = slurp_contrib(file, &len), err[512];
	struct config *cfg;
	int rc = config_parse(schema, file, text, len, &cfg, err, sizeof(err));
	ck_assert_msg(rc == 0, "%s", err);
	ck_assert_uint_eq(config_count(cfg), 0);
	config_free(cfg);
	/* Uncomment "#key" (prose is "# ..."). */
	char *un = malloc(len + 1);
	ck_assert_ptr_nonnull(un);
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		bool bol = i == 0 || text[i - 1] == '\n';
		if (bol && text[i] == '#' && i + 1 < len && text[i + 1] >= 'a' && text[i + 1] <= 'z')
			continue;
		un[o++] = text[i];
	}
	rc = config_parse(schema, file, un, o, &cfg, err, sizeof(err));
	ck_assert_msg(rc == 0, "uncommented: %s", err);
	ck_assert_uint_eq(config_count(cfg), schema->nkeys);
	for (size_t i = 0; i < schema->nkeys; i++)
		ck_assert_msg(config_get(cfg, schema->keys[i].name), "%s does not show `%s'", file,
			      schema->keys[i].name);
	config_free(cfg);
	free(un);
	free(text);
}

START_TEST(example_configs_parse)
{
	example_parses("config.example", &config_client_schema);
	example_parses("p2pcall-server.conf.example", &config_server_schema);
}
END_TEST

Suite *contrib_suite(void)
{
	Suite *s = suite_create("contrib");
	TCase *t = tcase_create("contrib");
	tcase_set_timeout(t, 120);
	tcase_add_test(t, bash_completion);
	tcase_add_test(t, bash_completes_every_option_of_help);
	tcase_add_test(t, zsh_completion);
	tcase_add_test(t, systemd_unit);
	tcase_add_test(t, example_configs_parse);
	suite_add_tcase(s, t);
	return s;
}
