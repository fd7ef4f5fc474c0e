/* The command line (man/p2pcall.1). Parsing only: no I/O besides
 * writing an error message into the caller's buffer. */
#ifndef P2PCALL_CLI_H
#define P2PCALL_CLI_H

#include <stdbool.h>
#include <stddef.h>

#include "p2pcall/endpoint.h"

/* Exit statuses (documented in the man page and README). */
enum exit_status {
	EXIT_OK = 0,          /* answered call ended normally, or clean exit */
	EXIT_ERROR = 1,       /* unexpected failure */
	EXIT_USAGE = 2,       /* bad command line */
	EXIT_SERVER = 3,      /* server unreachable, or lost before registration */
	EXIT_REGISTER = 4,    /* registration refused (name taken, bad name) */
	EXIT_REJECTED = 5,    /* callee declined */
	EXIT_BUSY = 6,        /* callee busy */
	EXIT_NO_ANSWER = 7,   /* not answered in time */
	EXIT_UNREACHABLE = 8, /* peer unknown or offline */
	EXIT_NETWORK = 9,     /* connection lost during a call */
	EXIT_CANCELLED = 10,  /* we hung up before the answer */
	EXIT_AUDIO = 11,      /* --input/--output file or sound device unusable */
	EXIT_SECURITY = 12,   /* the call could not be secured, or our key files are unusable */
};

enum relay_mode { RELAY_AUTO, RELAY_NEVER, RELAY_ALWAYS };

struct cli {
	bool serve, help, version;
	int verbosity;             /* -1 quiet, 0 normal, 1+ verbose */
	/* --serve */
	const char *listen;
	const char *config;        /* --serve --config FILE */
	unsigned keepalive_s, ring_timeout_s, register_timeout_s;
	unsigned max_clients, max_per_ip; /* 0: the server's defaults */
	unsigned max_line, line_timeout_s;          /* 0: the server's defaults */
	unsigned register_rate, invite_rate, relay_kbps, stun_rate; /* likewise */
	bool require_keys, closed; /* --require-keys, --closed */
	const char *bindings;      /* --bindings FILE, or NULL */
	int stun_alt_port;         /* --stun-alt-port: 0 PORT+1, -1 none */
	/* client */
	bool json, auto_answer, once;
	double duration_s;         /* 0: until hung up */
	enum relay_mode relay;
	const char *on_call;       /* --on-call CMD, or NULL */
	const char *turn;          /* --turn USER:PASS@HOST[:PORT], or NULL */
	struct endpoint stun;      /* host empty: the signalling server */
	char name[40];
	struct endpoint server;
	char peer[40];             /* empty: wait for calls */
	/* audio (client) */
	bool list_devices;         /* --list-devices: print them and exit */
	bool no_audio;             /* signalling and path only, no media */
	const char *input, *output;           /* files; NULL: the devices */
	const char *input_dev, *output_dev;   /* NULL: the default devices */
	unsigned frame_ms;         /* 0: default (20) */
	int bitrate;               /* 0: default (24000) */
	/* security (client) */
	const char *identity_file;     /* NULL: the default place */
	const char *known_peers_file;  /* NULL: the default place */
	bool trust_new_key, insecure, vbr;
	int min_bitrate;           /* 0: default (12000, or bitrate if lower) */
	int aec, ns, agc;          /* voice processing: 0 default, 1 --aec..., -1 --no-aec... */
	bool fec_pinned;           /* --fec-loss given: FEC tuned for fec_loss % */
	int fec_loss;
};

/* Parses ARGV. Returns 0, or -EINVAL with a one-line message in ERR that
 * names the bad value. */
int cli_parse(int argc, char **argv, struct cli *out, char *err, size_t errlen);

/* The same, with the identity a configuration file gives (NULL: none):
 * it is used when the first argument is not NAME@HOST, which is then the
 * peer (or when there is no argument: wait for calls). */
int cli_parse_with_identity(int argc, char **argv, const char *identity, struct cli *out, char *err,
			    size_t errlen);

/* The full help (--help), and its first two lines for usage errors. */
extern const char cli_usage[];
extern const char cli_synopsis[];

#endif
