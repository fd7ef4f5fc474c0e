/* Configuration files; see config.h and doc/config.md. */
#include "p2pcall/config.h"
#include "p2pcall/endpoint.h"
#include "p2pcall/sig.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The default ports repeat server.h and cli.c's: server.h is an I/O
 * module's header and this file stays pure. */
#define SIGNAL_PORT 7878
#define STUN_PORT 3478

static const char *const relay_modes[] = { "auto", "never", "always", NULL };
static const char *const frame_sizes[] = { "10", "20", "40", "60", NULL };

/* The client's keys, with the options cli.c has for them. */
static const struct config_key client_keys[] = {
	{ .name = "identity", .type = CONFIG_IDENTITY },
	{ .name = "relay", .type = CONFIG_ENUM, .choices = relay_modes, .option = "--relay" },
	{ .name = "stun", .type = CONFIG_ENDPOINT, .default_port = STUN_PORT, .option = "--stun" },
	{ .name = "turn", .type = CONFIG_TURN, .option = "--turn" },
	{ .name = "input-device", .type = CONFIG_STRING, .option = "--input-device" },
	{ .name = "output-device", .type = CONFIG_STRING, .option = "--output-device" },
	{ .name = "bitrate", .type = CONFIG_INT, .min = 6000, .max = 510000, .option = "--bitrate" },
	{ .name = "frame-ms", .type = CONFIG_ENUM, .choices = frame_sizes, .option = "--frame-ms" },
	{ .name = "auto-answer", .type = CONFIG_BOOL, .option = "--auto-answer" },
	{ .name = "json", .type = CONFIG_BOOL, .option = "--json" },
};

/* Seconds as cli.c's whole_seconds() takes them: 1..86400. */
static const struct config_key server_keys[] = {
	{ .name = "listen", .type = CONFIG_ENDPOINT, .default_port = SIGNAL_PORT,
	  .port_zero_ok = true, .option = "--listen" },
	{ .name = "keepalive", .type = CONFIG_INT, .min = 1, .max = 86400, .option = "--keepalive" },
	{ .name = "ring-timeout", .type = CONFIG_INT, .min = 1, .max = 86400, .option = "--ring-timeout" },
	{ .name = "register-timeout", .type = CONFIG_INT, .min = 1, .max = 86400,
	  .option = "--register-timeout" },
	{ .name = "max-clients", .type = CONFIG_INT, .min = 1, .max = 1000000, .option = "--max-clients" },
	{ .name = "max-per-ip", .type = CONFIG_INT, .min = 1, .max = 1000000, .option = "--max-per-ip" },
	{ .name = "bindings", .type = CONFIG_STRING, .option = "--bindings" },
	{ .name = "require-keys", .type = CONFIG_BOOL, .option = "--require-keys" },
	{ .name = "closed", .type = CONFIG_BOOL, .option = "--closed" },
	{ .name = "max-line", .type = CONFIG_INT, .min = 256, .max = 1024, .option = "--max-line" },
	{ .name = "line-timeout", .type = CONFIG_INT, .min = 1, .max = 86400, .option = "--line-timeout" },
	{ .name = "register-rate", .type = CONFIG_INT, .min = 1, .max = 1000, .option = "--register-rate" },
	{ .name = "invite-rate", .type = CONFIG_INT, .min = 1, .max = 1000, .option = "--invite-rate" },
	{ .name = "relay-kbps", .type = CONFIG_INT, .min = 8, .max = 100000, .option = "--relay-kbps" },
	{ .name = "stun-rate", .type = CONFIG_INT, .min = 1, .max = 100000, .option = "--stun-rate" },
};

const struct config_schema config_client_schema = {
	"client", client_keys, sizeof(client_keys) / sizeof(client_keys[0]),
};
const struct config_schema config_server_schema = {
	"server", server_keys, sizeof(server_keys) / sizeof(server_keys[0]),
};

/* One entry per schema key at most (a repeated key is an error), so the
 * entry array is sized by the schema and never grows. */
struct config {
	const struct config_schema *schema;
	size_t n;
	struct config_entry *entries;
	char **values;
};

struct parse {
	const struct config_schema *schema;
	const char *file;
	unsigned line;
	char *err;
	size_t errlen;
};

__attribute__((format(printf, 2, 3)))
static int fail(struct parse *p, const char *fmt, ...)
{
	if (!p->err || p->errlen == 0)
		return -EINVAL;
	int n = snprintf(p->err, p->errlen, "%s:%u: ", p->file, p->line);
	if (n >= 0 && (size_t)n < p->errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

/* S (N bytes) for a message: printable ASCII and UTF-8 as is, anything
 * else as \xNN, cut at 60 bytes, so an error line stays one short line. */
static const char *quote(const char *s, size_t n, char *out, size_t cap)
{
	size_t o = 0;
	for (size_t i = 0; i < n && o + 8 < cap; i++) {
		unsigned char c = (unsigned char)s[i];
		if (i == 60) {
			memcpy(out + o, "...", 3);
			o += 3;
			break;
		}
		if (c < 0x20 || c == 0x7f)
			o += (size_t)snprintf(out + o, cap - o, "\\x%02x", c);
		else
			out[o++] = (char)c;
	}
	out[o] = '\0';
	return out;
}

/* Length of the valid UTF-8 sequence at S (at most N bytes), or 0. Strict:
 * no overlong forms, no surrogates, nothing above U+10FFFF. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	size_t len;
	unsigned lo = 0x80, hi = 0xbf;
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2;
	else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		if (c == 0xe0)
			lo = 0xa0;
		if (c == 0xed)
			hi = 0x9f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		if (c == 0xf0)
			lo = 0x90;
		if (c == 0xf4)
			hi = 0x8f;
	} else
		return 0;
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return len;
}

/* Rejects control characters (tab allowed as blank) and bad UTF-8. */
static int check_text(struct parse *p, const char *s, size_t n)
{
	char q[256];
	for (size_t i = 0; i < n;) {
		unsigned char c = (unsigned char)s[i];
		if (c == '\0')
			return fail(p, "NUL byte in the line");
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return fail(p, "control character 0x%02x in `%s'", c, quote(s, n, q, sizeof(q)));
		size_t l = utf8_len((const unsigned char *)s + i, n - i);
		if (l == 0)
			return fail(p, "invalid UTF-8 (byte 0x%02x) in `%s'", c, quote(s, n, q, sizeof(q)));
		i += l;
	}
	return 0;
}

static bool blank(char c)
{
	return c == ' ' || c == '\t';
}

static bool key_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
	       (c >= 'A' && c <= 'Z');
}

/* Edit distance of two short words, case-insensitive; words longer than
 * 31 bytes are never close to a key. */
static size_t distance(const char *a, const char *b)
{
	size_t na = strlen(a), nb = strlen(b);
	size_t row[32];
	if (na > 31 || nb > 31)
		return 99;
	for (size_t j = 0; j <= nb; j++)
		row[j] = j;
	for (size_t i = 1; i <= na; i++) {
		size_t diag = row[0];
		row[0] = i;
		for (size_t j = 1; j <= nb; j++) {
			size_t up = row[j];
			char ca = a[i - 1], cb = b[j - 1];
			if (ca >= 'A' && ca <= 'Z')
				ca = (char)(ca - 'A' + 'a');
			size_t best = diag + (ca != cb);
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			diag = up;
			row[j] = best;
		}
	}
	return row[nb];
}

static const struct config_key *find_key(const struct config_schema *s, const char *name)
{
	for (size_t i = 0; i < s->nkeys; i++)
		if (strcmp(s->keys[i].name, name) == 0)
			return &s->keys[i];
	return NULL;
}

static int unknown_key(struct parse *p, const char *name)
{
	const struct config_key *best = NULL;
	size_t best_d = 3; /* suggest within two edits */
	for (size_t i = 0; i < p->schema->nkeys; i++) {
		size_t d = distance(name, p->schema->keys[i].name);
		if (d < best_d) {
			best_d = d;
			best = &p->schema->keys[i];
		}
	}
	char q[256];
	name = quote(name, strlen(name), q, sizeof(q));
	if (best)
		return fail(p, "unknown key `%s' (did you mean `%s'?)", name, best->name);
	char list[512];
	size_t o = 0;
	for (size_t i = 0; i < p->schema->nkeys && o < sizeof(list); i++)
		o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%s", i ? ", " : "",
				      p->schema->keys[i].name);
	return fail(p, "unknown key `%s' in a %s file (known: %s)", name, p->schema->what, list);
}

static int check_int(struct parse *p, const struct config_key *k, const char *v)
{
	long long x = 0;
	bool ok = *v != '\0' && strlen(v) <= 12;
	for (const char *c = v; ok && *c; c++) {
		if (*c < '0' || *c > '9')
			ok = false;
		else
			x = x * 10 + (*c - '0');
	}
	if (!ok || x < k->min || x > k->max)
		return fail(p, "%s: `%s' is not a whole number from %lld to %lld",
			    k->name, v, k->min, k->max);
	return 0;
}

static int check_enum(struct parse *p, const struct config_key *k, const char *v)
{
	char list[256];
	size_t o = 0, n = 0;
	for (const char *const *c = k->choices; *c; c++, n++)
		if (strcmp(*c, v) == 0)
			return 0;
	for (size_t i = 0; i < n && o < sizeof(list); i++)
		o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%s",
				      i == 0 ? "" : i + 1 == n ? " or " : ", ", k->choices[i]);
	return fail(p, "%s: `%s' is not %s", k->name, v, list);
}

/* Booleans are stored canonically as "yes" or "no". */
static int check_bool(struct parse *p, const struct config_key *k, const char *v, const char **canon)
{
	static const char *const yes[] = { "yes", "true", "1" }, *const no[] = { "no", "false", "0" };
	for (size_t i = 0; i < 3; i++) {
		if (strcmp(v, yes[i]) == 0) {
			*canon = "yes";
			return 0;
		}
		if (strcmp(v, no[i]) == 0) {
			*canon = "no";
			return 0;
		}
	}
	return fail(p, "%s: `%s' is not yes or no (true/false and 1/0 also work)", k->name, v);
}

static int check_endpoint(struct parse *p, const struct config_key *k, const char *v)
{
	struct endpoint ep;
	if (endpoint_parse(v, k->default_port, &ep) < 0 || (ep.port == 0 && !k->port_zero_ok))
		return fail(p, "%s: cannot parse `%s': expected HOST[:PORT]", k->name, v);
	return 0;
}

/* The same checks as cli.c makes on the NAME@HOST[:PORT] argument. */
static int check_identity(struct parse *p, const struct config_key *k, const char *v)
{
	struct endpoint ep;
	char name[40];
	if (endpoint_parse_identity(v, SIGNAL_PORT, name, sizeof(name), &ep) < 0 || ep.port == 0)
		return fail(p, "%s: cannot parse `%s': expected NAME@HOST[:PORT]", k->name, v);
	if (!sig_name_valid(name))
		return fail(p, "%s: bad name `%s': use 1-32 of a-z 0-9 . _ -, starting with a letter "
			    "or digit", k->name, name);
	return 0;
}

/* USER:PASS@HOST[:PORT]: the last '@' ends the password, the first ':'
 * ends the user name (as turn's own parser reads it). */
static int check_turn(struct parse *p, const struct config_key *k, const char *v)
{
	const char *at = strrchr(v, '@');
	const char *colon = strchr(v, ':');
	struct endpoint ep;
	if (!at || !colon || colon > at || colon == v || colon + 1 == at ||
	    endpoint_parse(at + 1, STUN_PORT, &ep) < 0 || ep.port == 0)
		return fail(p, "%s: cannot parse `%s': expected USER:PASS@HOST[:PORT]", k->name, v);
	return 0;
}

static int check_value(struct parse *p, const struct config_key *k, const char *v, const char **canon)
{
	*canon = v;
	switch (k->type) {
	case CONFIG_STRING: return 0;
	case CONFIG_INT: return check_int(p, k, v);
	case CONFIG_ENUM: return check_enum(p, k, v);
	case CONFIG_BOOL: return check_bool(p, k, v, canon);
	case CONFIG_ENDPOINT: return check_endpoint(p, k, v);
	case CONFIG_IDENTITY: return check_identity(p, k, v);
	case CONFIG_TURN: return check_turn(p, k, v);
	}
	return fail(p, "%s: no check for this key's type", k->name);
}

/* Reads the value part S (N bytes, leading blanks skipped) into OUT:
 * "double quoted" with \" and \\, 'single quoted' as is, or bare up to a
 * comment (a # first or after a blank) with trailing blanks cut. */
static int read_value(struct parse *p, const char *s, size_t n, char *out)
{
	char q[256];
	size_t o = 0, i = 0;
	if (n > 0 && (s[0] == '"' || s[0] == '\'')) {
		char open = s[0];
		bool closed = false;
		for (i = 1; i < n; i++) {
			if (s[i] == open) {
				closed = true;
				i++;
				break;
			}
			if (open == '"' && s[i] == '\\') {
				if (i + 1 < n && (s[i + 1] == '"' || s[i + 1] == '\\')) {
					out[o++] = s[++i];
					continue;
				}
				return fail(p, "unknown escape in `%s': only \\\" and \\\\ are allowed "
					    "in double quotes", quote(s, n, q, sizeof(q)));
			}
			out[o++] = s[i];
		}
		if (!closed)
			return fail(p, "missing closing %c in `%s'", open, quote(s, n, q, sizeof(q)));
		while (i < n && blank(s[i]))
			i++;
		if (i < n && s[i] != '#')
			return fail(p, "text after the closing quote in `%s'", quote(s, n, q, sizeof(q)));
	} else {
		for (i = 0; i < n; i++) {
			if (s[i] == '#' && (i == 0 || blank(s[i - 1])))
				break;
			out[o++] = s[i];
		}
		while (o > 0 && blank(out[o - 1]))
			o--;
	}
	out[o] = '\0';
	return 0;
}

static int add_entry(struct config *cfg, struct parse *p, const struct config_key *k, const char *v)
{
	for (size_t i = 0; i < cfg->n; i++)
		if (cfg->entries[i].key == k)
			return fail(p, "`%s' is already set on line %u (a key may appear once)",
				    k->name, cfg->entries[i].line);
	char *copy = strdup(v);
	if (!copy)
		return -ENOMEM;
	cfg->values[cfg->n] = copy;
	cfg->entries[cfg->n] = (struct config_entry){ .key = k, .value = copy, .line = p->line };
	cfg->n++;
	return 0;
}

/* One line without its line ending. */
static int parse_line(struct config *cfg, struct parse *p, const char *s, size_t n)
{
	char q[256], key[CONFIG_LINE_MAX + 1], value[CONFIG_LINE_MAX + 1];
	int rc = check_text(p, s, n);
	if (rc < 0)
		return rc;
	size_t i = 0;
	while (i < n && blank(s[i]))
		i++;
	if (i == n || s[i] == '#')
		return 0;
	size_t k0 = i;
	while (i < n && key_char(s[i]))
		i++;
	size_t klen = i - k0;
	while (i < n && blank(s[i]))
		i++;
	if (klen == 0 || i == n || s[i] != '=')
		return fail(p, "expected `key = value', got `%s'", quote(s + k0, n - k0, q, sizeof(q)));
	memcpy(key, s + k0, klen);
	key[klen] = '\0';
	const struct config_key *k = find_key(p->schema, key);
	if (!k)
		return unknown_key(p, key);
	i++;
	while (i < n && blank(s[i]))
		i++;
	rc = read_value(p, s + i, n - i, value);
	if (rc < 0)
		return rc;
	if (value[0] == '\0')
		return fail(p, "%s: empty value (leave the key out, or comment it, for the default)",
			    key);
	const char *canon;
	rc = check_value(p, k, value, &canon);
	return rc < 0 ? rc : add_entry(cfg, p, k, canon);
}

int config_parse(const struct config_schema *schema, const char *filename,
		 const char *buf, size_t len, struct config **out,
		 char *err, size_t errlen)
{
	struct parse p = { schema, filename ? filename : "config", 0, err, errlen };
	struct config *cfg = NULL;
	int rc = -EINVAL;
	if (err && errlen)
		err[0] = '\0';
	if (!schema || !out || (!buf && len))
		goto out;
	rc = -ENOMEM;
	cfg = calloc(1, sizeof(*cfg));
	if (!cfg)
		goto out;
	cfg->schema = schema;
	cfg->entries = calloc(schema->nkeys + 1, sizeof(*cfg->entries));
	cfg->values = calloc(schema->nkeys + 1, sizeof(*cfg->values));
	if (!cfg->entries || !cfg->values)
		goto out;
	size_t pos = 0;
	/* A UTF-8 byte order mark, as some editors write, is not text. */
	if (len >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0)
		pos = 3;
	while (pos < len) {
		p.line++;
		const char *nl = memchr(buf + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - buf) : len;
		size_t n = end - pos;
		if (n > 0 && buf[pos + n - 1] == '\r') /* CRLF */
			n--;
		if (n > CONFIG_LINE_MAX) {
			rc = fail(&p, "line longer than %d bytes", CONFIG_LINE_MAX);
			goto out;
		}
		rc = parse_line(cfg, &p, buf + pos, n);
		if (rc < 0)
			goto out;
		pos = end + 1;
	}
	*out = cfg;
	cfg = NULL;
	rc = 0;
out:
	if (rc == -ENOMEM && err && errlen)
		snprintf(err, errlen, "%s: out of memory", p.file);
	config_free(cfg);
	return rc;
}

void config_free(struct config *cfg)
{
	if (!cfg)
		return;
	if (cfg->values)
		for (size_t i = 0; i < cfg->n; i++)
			free(cfg->values[i]);
	free(cfg->values);
	free(cfg->entries);
	free(cfg);
}

size_t config_count(const struct config *cfg)
{
	return cfg ? cfg->n : 0;
}

const struct config_entry *config_entry(const struct config *cfg, size_t i)
{
	return cfg && i < cfg->n ? &cfg->entries[i] : NULL;
}

const char *config_get(const struct config *cfg, const char *key)
{
	for (size_t i = 0; cfg && key && i < cfg->n; i++)
		if (strcmp(cfg->entries[i].key->name, key) == 0)
			return cfg->entries[i].value;
	return NULL;
}

int config_argv(const struct config *cfg, int argc, char **argv,
		char ***out_argv, int *out_argc)
{
	if (argc < 1 || !argv || !out_argv || !out_argc)
		return -EINVAL;
	size_t n = config_count(cfg);
	/* At most two words per entry. */
	char **v = calloc((size_t)argc + 2 * n + 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	int o = 0;
	v[o++] = argv[0];
	for (size_t i = 0; i < n; i++) {
		const struct config_entry *e = &cfg->entries[i];
		if (!e->key->option)
			continue;
		if (e->key->type == CONFIG_BOOL) {
			if (strcmp(e->value, "yes") == 0)
				v[o++] = (char *)e->key->option;
			continue;
		}
		v[o++] = (char *)e->key->option;
		v[o++] = (char *)e->value;
	}
	for (int i = 1; i < argc; i++)
		v[o++] = argv[i];
	v[o] = NULL;
	*out_argv = v;
	*out_argc = o;
	return 0;
}

int config_client_path(const char *xdg_config_home, const char *home,
		       char *out, size_t cap)
{
	int n;
	/* The XDG spec: a relative $XDG_CONFIG_HOME is invalid and ignored. */
	if (xdg_config_home && xdg_config_home[0] == '/')
		n = snprintf(out, cap, "%s/p2pcall/config", xdg_config_home);
	else if (home && home[0])
		n = snprintf(out, cap, "%s/.config/p2pcall/config", home);
	else
		return -ENOENT;
	return n < 0 || (size_t)n >= cap ? -ENOSPC : 0;
}

const char *config_display_path(const char *path, const char *home, char *out, size_t cap)
{
	if (cap == 0)
		return out;
	size_t h = home ? strlen(home) : 0;
	while (h > 1 && home[h - 1] == '/')
		h--;
	if (path && h > 1 && strncmp(path, home, h) == 0 && path[h] == '/')
		snprintf(out, cap, "~%s", path + h);
	else
		snprintf(out, cap, "%s", path ? path : "");
	return out;
}
