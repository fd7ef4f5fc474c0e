/* Configuration files (doc/config.md): `key = value` lines checked against
 * a schema of known keys. Pure: the caller reads the file and hands over
 * its bytes; errors come back as one line "FILE:LINE: what is wrong".
 *
 * Precedence: built-in default < config file < command line. The file's
 * entries become command-line options (config_argv) placed before the
 * real arguments, so that a later option on the real command line wins. */
#ifndef P2PCALL_CONFIG_H
#define P2PCALL_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest line, without its line ending. Longer lines are an error (not
 * silently cut), so a value is never truncated. */
#define CONFIG_LINE_MAX 1024

enum config_type {
	CONFIG_STRING,   /* any non-empty UTF-8 text without control characters */
	CONFIG_INT,      /* decimal integer in [min, max] */
	CONFIG_ENUM,     /* one of choices[] */
	CONFIG_BOOL,     /* yes/no, true/false, 1/0 (canonical: yes/no) */
	CONFIG_ENDPOINT, /* HOST[:PORT] (endpoint_parse), default_port if none */
	CONFIG_IDENTITY, /* NAME@HOST[:PORT] with a valid NAME (sig_name_valid) */
	CONFIG_TURN,     /* USER:PASS@HOST[:PORT], port 3478 if none */
};

struct config_key {
	const char *name;
	enum config_type type;
	long long min, max;          /* CONFIG_INT */
	const char *const *choices;  /* CONFIG_ENUM, NULL-terminated */
	uint16_t default_port;       /* CONFIG_ENDPOINT */
	bool port_zero_ok;           /* CONFIG_ENDPOINT: port 0 ("any", to bind) */
	/* The command-line option the entry becomes ("--relay"), or NULL when
	 * the key has none and the caller reads it with config_get
	 * ("identity", which is positional on the command line). */
	const char *option;
};

struct config_schema {
	const char *what;            /* "client", "server": for messages */
	const struct config_key *keys;
	size_t nkeys;
};

/* ~/.config/p2pcall/config: identity, relay, stun, turn, input-device,
 * output-device, bitrate, frame-ms, auto-answer, json. */
extern const struct config_schema config_client_schema;
/* p2pcall --serve --config FILE: listen, keepalive, ring-timeout,
 * register-timeout, max-clients, max-per-ip, bindings, require-keys,
 * closed, max-line, line-timeout, register-rate, invite-rate, relay-kbps,
 * stun-rate. */
extern const struct config_schema config_server_schema;

struct config_entry {
	const struct config_key *key; /* points into the schema */
	const char *value;            /* unquoted, validated; owned by the config */
	unsigned line;                /* 1-based line number in the file */
};

struct config;

/* Parses LEN bytes of BUF (NUL bytes in it are an error, so BUF need not
 * be NUL-terminated) against SCHEMA. FILENAME is used in messages only.
 * A key given twice is an error naming both lines. On success *OUT holds
 * the entries in file order and the caller frees it with config_free.
 * Returns 0; -EINVAL with "FILENAME:LINE: message" in ERR for a bad file;
 * -ENOMEM. */
int config_parse(const struct config_schema *schema, const char *filename,
		 const char *buf, size_t len, struct config **out,
		 char *err, size_t errlen);

/* Accepts NULL. */
void config_free(struct config *cfg);

/* Number of entries, and entry I (I < config_count) in file order. */
size_t config_count(const struct config *cfg);
const struct config_entry *config_entry(const struct config *cfg, size_t i);

/* The value of KEY, or NULL if the file does not set it. */
const char *config_get(const struct config *cfg, const char *key);

/* Builds the argument vector to give cli_parse: ARGV[0], then for each
 * entry that has an option, in file order, "--option value" (a boolean
 * gives "--option" when yes and nothing when no, which is the built-in
 * default), then ARGV[1..ARGC-1], then NULL. CFG may be NULL (nothing
 * added). Strings are borrowed from CFG and ARGV; the caller frees only
 * the array (free(*OUT_ARGV)), after it is done with both.
 * Returns 0, -EINVAL, or -ENOMEM. */
int config_argv(const struct config *cfg, int argc, char **argv,
		char ***out_argv, int *out_argc);

/* The client file's path: $XDG_CONFIG_HOME/p2pcall/config when that is
 * set to an absolute path, else $HOME/.config/p2pcall/config. Pass the
 * environment values (getenv; NULL or "" for unset). Returns 0, -ENOENT
 * when neither gives a path, -ENOSPC when OUT is too small. */
int config_client_path(const char *xdg_config_home, const char *home,
		       char *out, size_t cap);

/* PATH for messages: "~/..." when it lies under HOME, else PATH as is.
 * Returns OUT (always NUL-terminated when CAP > 0). */
const char *config_display_path(const char *path, const char *home,
				char *out, size_t cap);

#endif
