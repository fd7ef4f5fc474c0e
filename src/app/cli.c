/* Command-line parsing; see cli.h. */
#include "p2pcall/cli.h"
#include "p2pcall/server.h"
#include "p2pcall/sig.h"
#include "p2pcall/turn.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char cli_synopsis[] =
	"usage: p2pcall [OPTIONS] NAME@HOST[:PORT] [PEER]   register as NAME, call PEER or wait\n"
	"       p2pcall --serve [--listen HOST[:PORT]]       run the signalling server\n";

const char cli_usage[] =
	"usage: p2pcall [OPTIONS] NAME@HOST[:PORT] [PEER]   register as NAME, call PEER or wait\n"
	"       p2pcall --serve [--listen HOST[:PORT]]       run the signalling server\n"
	"client options:\n"
	"  --auto-answer         answer incoming calls at once\n"
	"  --once                wait for one call only; exit with its status\n"
	"  --duration SECONDS    hang up after this long connected\n"
	"  --json                one JSON object per line on stdout for each event\n"
	"  --on-call CMD         run CMD for each incoming call (caller in $P2PCALL_PEER);\n"
	"                        its exit status 0 answers, 1 rejects, else it rings on\n"
	"  --relay MODE          auto (relay if no direct path), never, always\n"
	"  --turn USER:PASS@HOST[:PORT]  also offer a relay on this TURN server (RFC 8656)\n"
	"  --stun HOST[:PORT]    ask this STUN server for the public address (default:\n"
	"                        the signalling server; port 3478 if not given)\n"
	"audio options (client):\n"
	"  --input FILE          send this sound file (any rate/channels libsndfile reads)\n"
	"                        instead of the microphone; hang up when it is over\n"
	"  --output FILE         write what the peer says to this WAV file (48 kHz mono)\n"
	"                        instead of playing it\n"
	"  --input-device DEV    capture device: an index or part of a name\n"
	"  --output-device DEV   playback device: an index or part of a name\n"
	"  --list-devices        list the sound devices and exit\n"
	"  --frame-ms MS         Opus frame duration: 10, 20 (default), 40 or 60\n"
	"  --bitrate BPS         Opus bitrate in bit/s (default 24000, 6000..510000);\n"
	"                        the encoder steps down from it on loss or delay\n"
	"  --min-bitrate BPS     lowest it adapts to (default 12000)\n"
	"  --fec-loss PCT        tune Opus in-band FEC for this loss (0..50; 0: no FEC)\n"
	"                        instead of the loss the peer reports\n"
	"  --no-aec, --no-ns, --no-agc   microphone without echo cancellation, noise\n"
	"                        suppression or automatic gain (all on by default)\n"
	"  --aec, --ns, --agc    the same for --input FILE (off by default for a file)\n"
	"  --no-audio            no audio at all: signalling and media path only\n"
	"security options (client; calls are end-to-end encrypted by default):\n"
	"  --identity FILE       our identity key (default ~/.config/p2pcall/identity;\n"
	"                        created on first use)\n"
	"  --known-peers FILE    peers' pinned keys (default ~/.config/p2pcall/known_peers)\n"
	"  --trust-new-key       accept (and pin) a peer's changed key for this call\n"
	"  --insecure            allow unencrypted calls with peers that cannot encrypt\n"
	"  --vbr                 variable bitrate even when encrypted (leaks speech\n"
	"                        patterns through packet sizes; RFC 6562)\n"
	"server options:\n"
	"  --listen HOST[:PORT]  address to serve on (default: all, port 7878)\n"
	"  --config FILE         read server settings from FILE (see doc/config.md)\n"
	"  --keepalive SECONDS   keepalive interval announced to clients (default 30)\n"
	"  --ring-timeout SECONDS        unanswered calls end after this (default 30)\n"
	"  --register-timeout SECONDS    time allowed to register (default 10)\n"
	"  --max-clients N       connections at once (default 100000)\n"
	"  --max-per-ip N        connections from one address (default 256)\n"
	"  --bindings FILE       keep names bound to keys in FILE (NAME KEY lines)\n"
	"  --require-keys        every name must be registered with a key\n"
	"  --closed              only names already bound (--bindings) may register\n"
	"  --max-line BYTES      longest signalling line, 256..1024 (default 1024)\n"
	"  --line-timeout SECONDS        a line begun must end within (default 10)\n"
	"  --register-rate N     REGISTERs a second per connection (default 2)\n"
	"  --invite-rate N       INVITEs a second per connection (default 5)\n"
	"  --relay-kbps N        relayed kbit/s per party of a call (default 256)\n"
	"  --stun-rate N         STUN answers a second per source address (default 100)\n"
	"  --stun-alt-port PORT  second STUN port for NAT type detection (default\n"
	"                        PORT+1; 0: none)\n"
	"common:\n"
	"  -v, --verbose  more diagnostics    -q, --quiet  errors only\n"
	"  -h, --help     this text           -V, --version\n"
	"see p2pcall(1) for events, exit statuses and the protocol\n";

enum {
	OPT_SERVE = 256, OPT_CONFIG, OPT_LISTEN, OPT_MAX_CLIENTS, OPT_MAX_PER_IP, OPT_STUN_ALT_PORT, OPT_KEEPALIVE, OPT_RING_TIMEOUT, OPT_REGISTER_TIMEOUT,
	OPT_JSON, OPT_AUTO_ANSWER, OPT_ONCE, OPT_DURATION, OPT_RELAY, OPT_STUN, OPT_ON_CALL, OPT_TURN,
	OPT_INPUT, OPT_OUTPUT, OPT_INPUT_DEVICE, OPT_OUTPUT_DEVICE, OPT_LIST_DEVICES,
	OPT_FRAME_MS, OPT_BITRATE, OPT_NO_AUDIO,
	OPT_BINDINGS, OPT_REQUIRE_KEYS, OPT_CLOSED, OPT_MAX_LINE, OPT_LINE_TIMEOUT, OPT_REGISTER_RATE,
	OPT_INVITE_RATE, OPT_RELAY_KBPS, OPT_STUN_RATE,
	OPT_IDENTITY, OPT_KNOWN_PEERS, OPT_TRUST_NEW_KEY, OPT_INSECURE, OPT_VBR,
	OPT_MIN_BITRATE, OPT_AEC, OPT_NO_AEC, OPT_NS, OPT_NO_NS, OPT_AGC, OPT_NO_AGC,
	OPT_FEC_LOSS,
};

static const struct option options[] = {
	{ "serve", no_argument, NULL, OPT_SERVE },
	{ "listen", required_argument, NULL, OPT_LISTEN },
	{ "config", required_argument, NULL, OPT_CONFIG },
	{ "max-clients", required_argument, NULL, OPT_MAX_CLIENTS },
	{ "max-per-ip", required_argument, NULL, OPT_MAX_PER_IP },
	{ "stun-alt-port", required_argument, NULL, OPT_STUN_ALT_PORT },
	{ "keepalive", required_argument, NULL, OPT_KEEPALIVE },
	{ "ring-timeout", required_argument, NULL, OPT_RING_TIMEOUT },
	{ "register-timeout", required_argument, NULL, OPT_REGISTER_TIMEOUT },
	{ "bindings", required_argument, NULL, OPT_BINDINGS },
	{ "require-keys", no_argument, NULL, OPT_REQUIRE_KEYS },
	{ "closed", no_argument, NULL, OPT_CLOSED },
	{ "max-line", required_argument, NULL, OPT_MAX_LINE },
	{ "line-timeout", required_argument, NULL, OPT_LINE_TIMEOUT },
	{ "register-rate", required_argument, NULL, OPT_REGISTER_RATE },
	{ "invite-rate", required_argument, NULL, OPT_INVITE_RATE },
	{ "relay-kbps", required_argument, NULL, OPT_RELAY_KBPS },
	{ "stun-rate", required_argument, NULL, OPT_STUN_RATE },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "auto-answer", no_argument, NULL, OPT_AUTO_ANSWER },
	{ "once", no_argument, NULL, OPT_ONCE },
	{ "duration", required_argument, NULL, OPT_DURATION },
	{ "relay", required_argument, NULL, OPT_RELAY },
	{ "stun", required_argument, NULL, OPT_STUN },
	{ "on-call", required_argument, NULL, OPT_ON_CALL },
	{ "turn", required_argument, NULL, OPT_TURN },
	{ "input", required_argument, NULL, OPT_INPUT },
	{ "output", required_argument, NULL, OPT_OUTPUT },
	{ "input-device", required_argument, NULL, OPT_INPUT_DEVICE },
	{ "output-device", required_argument, NULL, OPT_OUTPUT_DEVICE },
	{ "list-devices", no_argument, NULL, OPT_LIST_DEVICES },
	{ "frame-ms", required_argument, NULL, OPT_FRAME_MS },
	{ "bitrate", required_argument, NULL, OPT_BITRATE },
	{ "no-audio", no_argument, NULL, OPT_NO_AUDIO },
	{ "identity", required_argument, NULL, OPT_IDENTITY },
	{ "known-peers", required_argument, NULL, OPT_KNOWN_PEERS },
	{ "trust-new-key", no_argument, NULL, OPT_TRUST_NEW_KEY },
	{ "insecure", no_argument, NULL, OPT_INSECURE },
	{ "vbr", no_argument, NULL, OPT_VBR },
	{ "min-bitrate", required_argument, NULL, OPT_MIN_BITRATE },
	{ "fec-loss", required_argument, NULL, OPT_FEC_LOSS },
	{ "aec", no_argument, NULL, OPT_AEC },
	{ "no-aec", no_argument, NULL, OPT_NO_AEC },
	{ "ns", no_argument, NULL, OPT_NS },
	{ "no-ns", no_argument, NULL, OPT_NO_NS },
	{ "agc", no_argument, NULL, OPT_AGC },
	{ "no-agc", no_argument, NULL, OPT_NO_AGC },
	{ "verbose", no_argument, NULL, 'v' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ 0 },
};

__attribute__((format(printf, 3, 4)))
static int fail(char *err, size_t n, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, n, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static int seconds(const char *opt, const char *s, double max, double *out, char *err, size_t n)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end || !isfinite(v) || v <= 0 || v > max)
		return fail(err, n, "%s: `%s' is not a number of seconds (0 < s <= 1e6)", opt, s);
	*out = v;
	return 0;
}

static int whole_seconds(const char *opt, const char *s, unsigned *out, char *err, size_t n)
{
	double v;
	if (seconds(opt, s, 86400, &v, err, n) < 0)
		return -EINVAL;
	if (v != floor(v))
		return fail(err, n, "%s: `%s' is not a whole number of seconds", opt, s);
	*out = (unsigned)v;
	return 0;
}

static bool client_only_used(const struct cli *c)
{
	return c->json || c->auto_answer || c->once || c->duration_s > 0;
}

static int whole_number(const char *opt, const char *s, long min, long max, long *out, char *err,
			size_t n)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		return fail(err, n, "%s: `%s' is not a whole number from %ld to %ld", opt, s, min, max);
	*out = v;
	return 0;
}

/* The server's limits and identity options. */
static int server_option(int opt, const char *arg, struct cli *c, char *err, size_t n)
{
	static const struct {
		int opt;
		const char *name;
		long min, max;
		size_t off;
	} nums[] = {
		{ OPT_MAX_LINE, "--max-line", 256, 1024, offsetof(struct cli, max_line) },
		{ OPT_REGISTER_RATE, "--register-rate", 1, 1000, offsetof(struct cli, register_rate) },
		{ OPT_INVITE_RATE, "--invite-rate", 1, 1000, offsetof(struct cli, invite_rate) },
		{ OPT_RELAY_KBPS, "--relay-kbps", 8, 100000, offsetof(struct cli, relay_kbps) },
		{ OPT_STUN_RATE, "--stun-rate", 1, 100000, offsetof(struct cli, stun_rate) },
	};
	switch (opt) {
	case OPT_BINDINGS: c->bindings = arg; return 0;
	case OPT_REQUIRE_KEYS: c->require_keys = true; return 0;
	case OPT_CLOSED: c->closed = true; return 0;
	case OPT_LINE_TIMEOUT: return whole_seconds("--line-timeout", arg, &c->line_timeout_s, err, n);
	}
	for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
		long v;
		if (nums[i].opt != opt)
			continue;
		if (whole_number(nums[i].name, arg, nums[i].min, nums[i].max, &v, err, n) < 0)
			return -EINVAL;
		*(unsigned *)((char *)c + nums[i].off) = (unsigned)v;
		return 0;
	}
	return fail(err, n, "internal: option %d", opt);
}

static int audio_option(int opt, const char *arg, struct cli *c, char *err, size_t n)
{
	long v;
	switch (opt) {
	case OPT_INPUT: c->input = arg; return 0;
	case OPT_OUTPUT: c->output = arg; return 0;
	case OPT_INPUT_DEVICE: c->input_dev = arg; return 0;
	case OPT_OUTPUT_DEVICE: c->output_dev = arg; return 0;
	case OPT_LIST_DEVICES: c->list_devices = true; return 0;
	case OPT_NO_AUDIO: c->no_audio = true; return 0;
	case OPT_FRAME_MS:
		if (whole_number("--frame-ms", arg, 10, 60, &v, err, n) < 0)
			return -EINVAL;
		if (v != 10 && v != 20 && v != 40 && v != 60)
			return fail(err, n, "--frame-ms: `%s' is not 10, 20, 40 or 60", arg);
		c->frame_ms = (unsigned)v;
		return 0;
	case OPT_BITRATE:
		if (whole_number("--bitrate", arg, 6000, 510000, &v, err, n) < 0)
			return -EINVAL;
		c->bitrate = (int)v;
		return 0;
	case OPT_MIN_BITRATE:
		if (whole_number("--min-bitrate", arg, 6000, 510000, &v, err, n) < 0)
			return -EINVAL;
		c->min_bitrate = (int)v;
		return 0;
	case OPT_FEC_LOSS:
		if (whole_number("--fec-loss", arg, 0, 50, &v, err, n) < 0)
			return -EINVAL;
		c->fec_pinned = true;
		c->fec_loss = (int)v;
		return 0;
	/* The last of --x / --no-x wins. */
	case OPT_AEC: c->aec = 1; return 0;
	case OPT_NO_AEC: c->aec = -1; return 0;
	case OPT_NS: c->ns = 1; return 0;
	case OPT_NO_NS: c->ns = -1; return 0;
	case OPT_AGC: c->agc = 1; return 0;
	case OPT_NO_AGC: c->agc = -1; return 0;
	}
	return fail(err, n, "internal: option %d", opt);
}


int cli_parse(int argc, char **argv, struct cli *c, char *err, size_t n)
{
	return cli_parse_with_identity(argc, argv, NULL, c, err, n);
}

int cli_parse_with_identity(int argc, char **argv, const char *identity, struct cli *c, char *err, size_t n)
{
	memset(c, 0, sizeof(*c));
	optind = 0; /* reset getopt: tests parse several command lines */
	opterr = 0;
	bool server_opt = false, client_opt = false;
	int opt;
	while ((opt = getopt_long(argc, argv, ":vqhV", options, NULL)) != -1) {
		int rc = 0;
		switch (opt) {
		case OPT_SERVE: c->serve = true; break;
		case OPT_LISTEN: c->listen = optarg; server_opt = true; break;
		case OPT_CONFIG: c->config = optarg; server_opt = true; break;
		case OPT_MAX_CLIENTS:
		case OPT_MAX_PER_IP: {
			long v;
			const char *name = opt == OPT_MAX_CLIENTS ? "--max-clients" : "--max-per-ip";
			rc = whole_number(name, optarg, 1, 1000000, &v, err, n);
			*(opt == OPT_MAX_CLIENTS ? &c->max_clients : &c->max_per_ip) = (unsigned)v;
			server_opt = true;
			break;
		}
		case OPT_STUN_ALT_PORT: {
			long v = 0;
			rc = whole_number("--stun-alt-port", optarg, 0, 65535, &v, err, n);
			c->stun_alt_port = v ? (int)v : -1;
			server_opt = true;
			break;
		}
		case OPT_KEEPALIVE:
			rc = whole_seconds("--keepalive", optarg, &c->keepalive_s, err, n);
			server_opt = true;
			break;
		case OPT_RING_TIMEOUT:
			rc = whole_seconds("--ring-timeout", optarg, &c->ring_timeout_s, err, n);
			server_opt = true;
			break;
		case OPT_REGISTER_TIMEOUT:
			rc = whole_seconds("--register-timeout", optarg, &c->register_timeout_s, err, n);
			server_opt = true;
			break;
		case OPT_BINDINGS: case OPT_REQUIRE_KEYS: case OPT_CLOSED: case OPT_MAX_LINE:
		case OPT_LINE_TIMEOUT: case OPT_REGISTER_RATE: case OPT_INVITE_RATE: case OPT_RELAY_KBPS:
		case OPT_STUN_RATE:
			rc = server_option(opt, optarg, c, err, n);
			server_opt = true;
			break;
		case OPT_JSON: c->json = true; break;
		case OPT_AUTO_ANSWER: c->auto_answer = true; break;
		case OPT_ONCE: c->once = true; break;
		case OPT_DURATION:
			rc = seconds("--duration", optarg, 1e6, &c->duration_s, err, n);
			break;
		case OPT_RELAY:
			if (strcmp(optarg, "auto") == 0)
				c->relay = RELAY_AUTO;
			else if (strcmp(optarg, "never") == 0)
				c->relay = RELAY_NEVER;
			else if (strcmp(optarg, "always") == 0)
				c->relay = RELAY_ALWAYS;
			else
				rc = fail(err, n, "--relay: `%s' is not auto, never or always", optarg);
			client_opt = true;
			break;
		case OPT_TURN: {
			char u[128], pw[128], h[256];
			uint16_t port;
			if (turn_parse_uri(optarg, u, sizeof(u), pw, sizeof(pw), h, sizeof(h), &port) < 0)
				rc = fail(err, n, "--turn: cannot parse `%s': expected USER:PASS@HOST[:PORT]", optarg);
			c->turn = optarg;
			client_opt = true;
			break;
		}
		case OPT_ON_CALL:
			c->on_call = optarg;
			client_opt = true;
			break;
		case OPT_STUN:
			if (endpoint_parse(optarg, 3478, &c->stun) < 0 || c->stun.port == 0)
				rc = fail(err, n, "--stun: cannot parse `%s': expected HOST[:PORT]", optarg);
			client_opt = true;
			break;
		case OPT_INPUT: case OPT_OUTPUT: case OPT_INPUT_DEVICE: case OPT_OUTPUT_DEVICE:
		case OPT_LIST_DEVICES: case OPT_FRAME_MS: case OPT_BITRATE: case OPT_NO_AUDIO:
		case OPT_MIN_BITRATE: case OPT_AEC: case OPT_NO_AEC: case OPT_NS: case OPT_NO_NS:
		case OPT_AGC: case OPT_NO_AGC: case OPT_FEC_LOSS:
			rc = audio_option(opt, optarg, c, err, n);
			client_opt = true;
			break;
		case OPT_IDENTITY: c->identity_file = optarg; client_opt = true; break;
		case OPT_KNOWN_PEERS: c->known_peers_file = optarg; client_opt = true; break;
		case OPT_TRUST_NEW_KEY: c->trust_new_key = true; client_opt = true; break;
		case OPT_INSECURE: c->insecure = true; client_opt = true; break;
		case OPT_VBR: c->vbr = true; client_opt = true; break;
		case 'v': c->verbosity++; break;
		case 'q': c->verbosity = -1; break;
		case 'h': c->help = true; return 0;
		case 'V': c->version = true; return 0;
		case ':':
			return fail(err, n, "option `%s' needs a value", argv[optind - 1]);
		default:
			return fail(err, n, "unknown option `%s'", argv[optind - 1]);
		}
		if (rc < 0)
			return rc;
	}
	int rest = argc - optind;
	if (c->serve) {
		if (rest > 0)
			return fail(err, n, "--serve takes no NAME@HOST or PEER (got `%s')", argv[optind]);
		if (client_only_used(c) || client_opt)
			return fail(err, n, "--json, --auto-answer, --once, --duration, --relay, --stun, "
				    "the audio and the security options are client options, not for --serve");
		return 0;
	}
	if (c->list_devices) {
		if (server_opt || rest > 0)
			return fail(err, n, "--list-devices takes no other arguments");
		return 0;
	}
	if (c->no_audio && (c->input || c->output || c->input_dev || c->output_dev || c->frame_ms ||
			    c->bitrate || c->min_bitrate || c->aec || c->ns || c->agc ||
			    c->fec_pinned))
		return fail(err, n, "--no-audio cannot be combined with other audio options");
	if (c->min_bitrate && c->min_bitrate > (c->bitrate ? c->bitrate : 24000))
		return fail(err, n, "--min-bitrate %d is above the bitrate (%d): lower it or raise --bitrate",
			    c->min_bitrate, c->bitrate ? c->bitrate : 24000);
	if (server_opt)
		return fail(err, n, "--listen, --config, --keepalive, --ring-timeout, --register-timeout, "
			    "--max-clients, --max-per-ip and the other server options need --serve");
	/* The configuration file's identity stands in for NAME@HOST when the
	 * first argument is not one (then it is the peer). */
	const char *id = rest >= 1 ? argv[optind] : NULL;
	int first_peer = optind + 1;
	if (identity && (!id || !strchr(id, '@'))) {
		id = identity;
		first_peer = optind;
		rest++;
	}
	if (!id)
		return fail(err, n, "missing NAME@HOST (or --serve)");
	if (rest > 2)
		return fail(err, n, "too many arguments: `%s'", argv[first_peer + 1]);
	if (endpoint_parse_identity(id, SERVER_DEFAULT_PORT, c->name, sizeof(c->name), &c->server) < 0)
		return fail(err, n, "cannot parse `%s': expected NAME@HOST[:PORT]", id);
	if (c->server.port == 0)
		return fail(err, n, "`%s': the server's port cannot be 0", id);
	if (!sig_name_valid(c->name))
		return fail(err, n, "bad name `%s': use 1-32 of a-z 0-9 . _ -, starting with a letter or digit",
			    c->name);
	if (rest == 2) {
		const char *peer = argv[first_peer];
		if (strlen(peer) >= sizeof(c->peer))
			return fail(err, n, "bad peer name `%s'", peer);
		for (size_t i = 0; peer[i]; i++)
			c->peer[i] = (char)tolower((unsigned char)peer[i]);
		if (!sig_name_valid(c->peer))
			return fail(err, n, "bad peer name `%s': use 1-32 of a-z 0-9 . _ -", peer);
		if (strcmp(c->peer, c->name) == 0)
			return fail(err, n, "`%s' cannot call itself", c->peer);
	}
	if (c->once && c->peer[0])
		return fail(err, n, "--once is for waiting for a call, not with PEER `%s'", c->peer);
	if (c->on_call && c->peer[0])
		return fail(err, n, "--on-call is for waiting for calls, not with PEER `%s'", c->peer);
	return 0;
}
