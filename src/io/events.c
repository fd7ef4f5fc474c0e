/* Client events as JSON lines or prose; see events.h. */
#include "p2pcall/events.h"
#include "p2pcall/clock.h"
#include "p2pcall/jsonw.h"
#include "p2pcall/tui.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static bool as_json, quiet, verbose;
static uint64_t start_us;

void events_init(bool json, bool q)
{
	as_json = json;
	quiet = q;
	start_us = clock_now_us();
}

void events_set_verbose(bool v) { verbose = v; }

static void begin(struct jsonw *w, const char *event)
{
	jsonw_begin(w);
	jsonw_str(w, "event", event);
	jsonw_num(w, "t", (double)(clock_now_us() - start_us) / 1e6, 3);
}

static void emit(struct jsonw *w)
{
	const char *text = jsonw_end(w);
	if (text) {
		/* One write per event, flushed: a script reading our stdout
		 * through a pipe sees each event as it happens. */
		fprintf(stdout, "%s\n", text);
		fflush(stdout);
	}
}

__attribute__((format(printf, 1, 2)))
static void say(const char *fmt, ...)
{
	if (quiet)
		return;
	va_list ap;
	va_start(ap, fmt);
	char line[512];
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	tui_clear(); /* a live status line gives way, and is redrawn below */
	fprintf(stderr, "p2pcall: %s\n", line);
}

void ev_registered(const char *name, const char *server, const char *mapped)
{
	if (!as_json) {
		say("registered as %s at %s%s%s%s", name, server, mapped ? " (public address " : "",
		    mapped ? mapped : "", mapped ? ")" : "; public address unknown (no STUN answer)");
		return;
	}
	struct jsonw w;
	begin(&w, "registered");
	jsonw_str(&w, "name", name);
	jsonw_str(&w, "server", server);
	jsonw_str(&w, "mapped", mapped);
	emit(&w);
}

void ev_calling(const char *peer)
{
	if (!as_json)
		return say("calling %s ...", peer);
	struct jsonw w;
	begin(&w, "calling");
	jsonw_str(&w, "peer", peer);
	emit(&w);
}

void ev_incoming(const char *peer, unsigned long long call, bool will_answer)
{
	if (!as_json && !quiet && !will_answer && tui_active())
		return tui_ring(peer);
	if (!as_json)
		return say("incoming call from %s%s", peer,
			   will_answer ? ", answering" : " - press a then Enter to answer, r to reject");
	struct jsonw w;
	begin(&w, "incoming");
	jsonw_str(&w, "peer", peer);
	jsonw_int(&w, "call", (long long)call);
	emit(&w);
}

void ev_ringing(const char *peer)
{
	if (!as_json)
		return say("%s is ringing", peer);
	struct jsonw w;
	begin(&w, "ringing");
	jsonw_str(&w, "peer", peer);
	emit(&w);
}

void ev_secured(const char *peer, const char *sas, const char *peer_key, const char *key_status)
{
	if (!as_json)
		return say("the call with %s is end-to-end encrypted; compare the code \"%s\" with them%s", peer,
			   sas, strcmp(key_status, "new") == 0 ? " (their key is new to us: pinned now)" : "");
	struct jsonw w;
	begin(&w, "secured");
	jsonw_str(&w, "peer", peer);
	jsonw_str(&w, "sas", sas);
	jsonw_str(&w, "peer_key", peer_key);
	jsonw_str(&w, "key", key_status);
	emit(&w);
}

void ev_connected(const char *peer, const char *path, const char *remote, double setup_ms, double path_ms,
		  const char *method, const char *sas)
{
	if (!as_json)
		return say("connected to %s (%s%s%s) after %.0f ms%s%s%s", peer, remote,
			   path ? ", " : "", path ? path : "", setup_ms,
			   sas ? ", encrypted, code \"" : path ? ", NOT encrypted" : "", sas ? sas : "",
			   sas ? "\"" : "");
	struct jsonw w;
	begin(&w, "connected");
	jsonw_str(&w, "peer", peer);
	jsonw_str(&w, "path", path);
	jsonw_str(&w, "remote", remote);
	jsonw_num(&w, "setup_ms", setup_ms, 1);
	jsonw_num(&w, "path_ms", path_ms, 1);
	jsonw_str(&w, "method", method);
	jsonw_bool(&w, "encrypted", sas != NULL);
	jsonw_str(&w, "sas", sas);
	emit(&w);
}

void ev_path(const char *path, const char *remote, const char *method)
{
	if (!as_json)
		return say("now %s (%s)", path, remote);
	struct jsonw w;
	begin(&w, "path");
	jsonw_str(&w, "path", path);
	jsonw_str(&w, "remote", remote);
	jsonw_str(&w, "method", method);
	emit(&w);
}

static void media_fields(struct jsonw *w, const struct media_stats *st)
{
	jsonw_num(w, "rtt_ms", st->rtt_ms, 1);
	jsonw_num(w, "loss_pct", st->loss_pct, 1);
	jsonw_num(w, "jitter_ms", st->jitter_ms, 1);
	jsonw_num(w, "jb_ms", st->jb_ms, 0);
	jsonw_num(w, "concealed_pct", st->concealed_pct, 1);
	jsonw_num(w, "recovered_pct", st->recovered_pct, 1);
	jsonw_num(w, "kbps_out", st->kbps_out, 1);
	jsonw_num(w, "kbps_in", st->kbps_in, 1);
	jsonw_num(w, "target_kbps", st->target_kbps, 1);
	jsonw_num(w, "fec_loss_pct", st->fec_loss_pct, 1);
	jsonw_int(w, "bad_packets", (long long)st->bad_packets);
}

/* "12.3" or "?" for a figure that is not known (NAN). */
static const char *fig(char *buf, size_t n, double v, int decimals)
{
	if (isfinite(v))
		snprintf(buf, n, "%.*f", decimals, v);
	else
		snprintf(buf, n, "?");
	return buf;
}

static void say_media(const char *what, const struct media_stats *st)
{
	char a[32], b[32], c[32], d[32], e[32], f[32], g[32], h[32];
	say("%s: rtt %s ms, loss %s %%, jitter %s ms, buffer %s ms, concealed %s %%, "
	    "recovered %s %%, %s kbit/s out, %s kbit/s in", what,
	    fig(a, sizeof(a), st->rtt_ms, 0), fig(b, sizeof(b), st->loss_pct, 1),
	    fig(c, sizeof(c), st->jitter_ms, 1), fig(d, sizeof(d), st->jb_ms, 0),
	    fig(e, sizeof(e), st->concealed_pct, 1), fig(h, sizeof(h), st->recovered_pct, 1),
	    fig(f, sizeof(f), st->kbps_out, 1),
	    fig(g, sizeof(g), st->kbps_in, 1));
}

void ev_ended(const char *peer, const char *reason, double duration_s, int status,
	      const struct media_stats *media)
{
	if (!as_json) {
		say("call with %s ended: %s after %.1f s", peer, reason, duration_s);
		if (media)
			say_media("audio", media);
		return;
	}
	struct jsonw w;
	begin(&w, "ended");
	jsonw_str(&w, "peer", peer);
	jsonw_str(&w, "reason", reason);
	jsonw_num(&w, "duration_s", duration_s, 3);
	jsonw_int(&w, "status", status);
	if (media)
		media_fields(&w, media);
	emit(&w);
}

void ev_stats(const struct media_stats *st)
{
	if (!as_json) {
		/* Prose is for people: every second is too chatty unless asked. */
		if (verbose)
			say_media("stats", st);
		return;
	}
	struct jsonw w;
	begin(&w, "stats");
	media_fields(&w, st);
	emit(&w);
}

void ev_disconnected(const char *why, double retry_in_s)
{
	if (!as_json)
		return say("lost the server (%s); reconnecting in %.1f s", why, retry_in_s);
	struct jsonw w;
	begin(&w, "disconnected");
	jsonw_str(&w, "reason", why);
	jsonw_num(&w, "retry_in_s", retry_in_s, 1);
	emit(&w);
}

void ev_error(const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* Errors always reach stderr, even with --json or -q. */
	tui_clear();
	fprintf(stderr, "p2pcall: error: %s\n", msg);
	if (!as_json)
		return;
	struct jsonw w;
	begin(&w, "error");
	jsonw_str(&w, "message", msg);
	emit(&w);
}
