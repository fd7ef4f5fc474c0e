/* libFuzzer: configuration files. The first byte picks the client or the
 * server schema; the rest is the file. Checks that an error is one line
 * naming the file, that accepted values are clean text, and that writing
 * the entries back (double-quoted) parses to the same entries. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "p2pcall/config.h"

static void check_entries(const struct config *cfg)
{
	size_t n = config_count(cfg);
	unsigned last = 0;
	for (size_t i = 0; i < n; i++) {
		const struct config_entry *e = config_entry(cfg, i);
		size_t len = strlen(e->value);
		if (len == 0 || len > CONFIG_LINE_MAX || e->line <= last)
			__builtin_trap();
		last = e->line;
		for (size_t j = 0; j < len; j++) {
			unsigned char c = (unsigned char)e->value[j];
			if ((c < 0x20 && c != '\t') || c == 0x7f)
				__builtin_trap();
		}
		for (size_t j = 0; j < i; j++)
			if (config_entry(cfg, j)->key == e->key)
				__builtin_trap();
		if (config_get(cfg, e->key->name) != e->value)
			__builtin_trap();
	}
}

/* Writes CFG back as `key = "value"` lines and parses that again. */
static void round_trip(const struct config_schema *s, const struct config *cfg)
{
	size_t n = config_count(cfg), cap = n * (2 * CONFIG_LINE_MAX + 64) + 1, o = 0;
	char *text = malloc(cap);
	if (!text)
		return;
	for (size_t i = 0; i < n; i++) {
		const struct config_entry *e = config_entry(cfg, i);
		o += (size_t)snprintf(text + o, cap - o, "%s = \"", e->key->name);
		for (const char *v = e->value; *v; v++) {
			if (*v == '"' || *v == '\\')
				text[o++] = '\\';
			text[o++] = *v;
		}
		text[o++] = '"';
		text[o++] = '\n';
	}
	struct config *again;
	char err[256];
	/* Escaping may push a long value past the line limit: that is the
	 * one accepted reason to fail. */
	int rc = config_parse(s, "again", text, o, &again, err, sizeof(err));
	if (rc < 0) {
		if (!strstr(err, "line longer than"))
			__builtin_trap();
		free(text);
		return;
	}
	if (config_count(again) != n)
		__builtin_trap();
	for (size_t i = 0; i < n; i++) {
		const struct config_entry *a = config_entry(cfg, i), *b = config_entry(again, i);
		if (a->key != b->key || strcmp(a->value, b->value) != 0 || b->line != i + 1)
			__builtin_trap();
	}
	config_free(again);
	free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	const struct config_schema *s = data[0] & 1 ? &config_server_schema : &config_client_schema;
	struct config *cfg;
	char err[512];
	int rc = config_parse(s, "f", (const char *)data + 1, size - 1, &cfg, err, sizeof(err));
	if (rc < 0) {
		if (strncmp(err, "f:", 2) != 0 || strchr(err, '\n') || strlen(err) >= sizeof(err))
			__builtin_trap();
		return 0;
	}
	check_entries(cfg);
	round_trip(s, cfg);
	char *argv[] = { "p2pcall", "x@y", NULL }, **m;
	int mc;
	if (config_argv(cfg, 2, argv, &m, &mc) == 0) {
		if (mc < 2 || (size_t)mc > 2 + 2 * config_count(cfg) || m[mc] || m[mc - 1] != argv[1])
			__builtin_trap();
		free(m);
	}
	config_free(cfg);
	return 0;
}
