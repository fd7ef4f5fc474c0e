/* A loss step in the real NAT lab (make bench; needs root): how the
 * encoder follows 0 % -> 10 % -> 0 % random loss, against a fixed rate.
 *
 * One lab (full cone / full cone, so a direct path), 20 ms one way on the
 * WAN the whole time. Four calls run at once between real `p2pcall'
 * clients (--json, synthetic speech from a WAV file both ways, output to
 * files), so they see the same path at the same moments and the same
 * machine load:
 *   adaptive      the defaults: --bitrate 24000, floor 12000. Calls are
 *                 encrypted, so the encoder is CBR and moves between coarse
 *                 levels (24000 * 0.7^k, the last one the floor), each
 *                 held >= 8 s (rate_ctl.h, RFC 6562);
 *   adaptive-vbr  --vbr: the fine policy, a quarter down per 2 s while
 *                 congested, a tenth up every 2 s after 4 s clean;
 *   fec-only      --min-bitrate 24000 (= --bitrate): the bitrate cannot
 *                 move, the FEC tuning follows the reported loss (libopus
 *                 1.3 codes no FEC at 10 % loss below ~18 kbit/s, so the
 *                 adaptive calls' bitrate steps can starve their FEC);
 *   fixed         --bitrate 24000 --min-bitrate 24000 --fec-loss 0: a
 *                 fixed Opus at 24 kbit/s without FEC, what a tool without
 *                 adaptation runs (CBR, as the call is encrypted).
 * The impairment: 0 % loss from the start, 10 % from STEP_ON_S for LOSSY_S,
 * then 0 % again (lab_impair: a new setting replaces the old one).
 *
 * Read from each client's one-a-second `stats' event, for the caller's
 * stream (caller -> callee; the other direction adapts the same way):
 * target_kbps, fec_loss_pct and kbps_out at the caller, loss_pct,
 * concealed_pct (frames made up by PLC) and recovered_pct (frames rebuilt
 * from in-band FEC) at the callee. Printed: the per-second trajectory, how
 * long after each step the target and the FEC tuning reached their new
 * level (1 s resolution: one event a second), and per phase the means
 * side by side: what FEC rebuilt is what PLC did not have to make up.
 *
 * Changing the impairment restarts the lab's impair tool: the iptables
 * rules are flushed, the old process is stopped (it releases what it
 * holds), the new one started and the rules put back. Packets crossing
 * the WAN in that window pass unimpaired (--queue-bypass: no delay, no
 * loss), none are dropped; the window's length is printed, and the loss
 * the receivers saw in clean seconds shows whether a burst was dropped.
 * About 45 s. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "audio_cmp.h"
#include "lab.h"
#include "natcall.h"
#include "proc.h"

#define STEP_ON_S 10   /* the 10 % setting starts being made then */
#define LOSSY_S 10     /* how long it is in force */
#define AFTER_S 12     /* observed after it went */
#define CALL_S 40      /* the callers' --duration: more than the above
			* plus two impair restarts (each ~1.4 s here) */
#define DELAY_MS 20
#define LOSS_PCT 10.0
#define WARMUP_S 2     /* the first seconds: jitter buffer and rate start */
#define NCFG 4
#define BINS (CALL_S + 2)
#define PKTS_S 50      /* 20 ms frames */

struct sample {
	bool have;
	double ts;                 /* arrival, s after t0 */
	double target, fec, kbps_out; /* caller */
	double loss, conc, rec;    /* callee: loss, PLC, FEC-recovered % */
};

struct reader {
	int fd;
	size_t len;
	char buf[16384];
};

struct pair {
	const char *name;
	const char *const *extra; /* options for both sides */
	pid_t a, b;
	struct reader ra, rb;
	struct sample tx[BINS];   /* caller's events by second */
	struct sample rx[BINS];   /* callee's events by second */
	double tx_f0, rx_f0;      /* when in a second each side's events come */
	bool ended;
};

static const char *const extra_adaptive[] = { NULL };
static const char *const extra_vbr[] = { "--vbr", NULL };
static const char *const extra_fec_only[] = { "--bitrate", "24000", "--min-bitrate", "24000", NULL };
static const char *const extra_fixed[] = { "--bitrate", "24000", "--min-bitrate", "24000",
					   "--fec-loss", "0", NULL };

static struct pair pairs[NCFG] = {
	{ .name = "adaptive", .extra = extra_adaptive },
	{ .name = "adaptive-vbr", .extra = extra_vbr },
	{ .name = "fec-only", .extra = extra_fec_only },
	{ .name = "fixed", .extra = extra_fixed },
};

static char prefix[64];
static int srv_out = -1; /* kept open: the server must not get SIGPIPE */
static char dir[64];
static volatile sig_atomic_t stop;

static void on_signal(int sig) { stop = sig; }

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A numeric field of a JSON event line; NAN if absent or null. */
static double json_num(const char *line, const char *key)
{
	char pat[64];
	snprintf(pat, sizeof(pat), "\"%s\":", key);
	const char *p = strstr(line, pat);
	if (!p)
		return NAN;
	p += strlen(pat);
	char *end;
	double v = strtod(p, &end);
	return end == p ? NAN : v;
}

/* The synthetic talker, long enough for the whole call. */
static int make_wav(const char *path, uint32_t seed)
{
	char err[256];
	int rc = audio_make_synthetic_speech(path, CALL_S + 8, seed, -22, err, sizeof(err));
	if (rc < 0)
		fprintf(stderr, "bench_loss_step: %s\n", err);
	return rc;
}

/* Files of one client: its config directory (its own identity key and
 * pinned peers, not root's) and its output. */
static void client_paths(int i, char side, char *cfg, size_t ncfg, char *out, size_t nout)
{
	snprintf(cfg, ncfg, "XDG_CONFIG_HOME=%s/cfg%d%c", dir, i, side);
	snprintf(out, nout, "%s/out%d%c.wav", dir, i, side);
}

static pid_t spawn_client(int i, bool caller, const char *server, int *fd)
{
	char env[128], out[128], wav[128], id[96], dur[16], peer[32];
	client_paths(i, caller ? 'a' : 'b', env, sizeof(env), out, sizeof(out));
	snprintf(wav, sizeof(wav), "%s/%s.wav", dir, caller ? "a" : "b");
	snprintf(id, sizeof(id), "%s%d@%s", caller ? "alice" : "bob", i, server);
	snprintf(peer, sizeof(peer), "bob%d", i);
	snprintf(dur, sizeof(dur), "%d", CALL_S);
	char *argv[24] = { "env", env, (char *)test_bin(), "--json", "--input", wav, "--output", out };
	int n = 8;
	for (int k = 0; pairs[i].extra[k]; k++)
		argv[n++] = (char *)pairs[i].extra[k];
	if (caller) {
		argv[n++] = "--duration";
		argv[n++] = dur;
		argv[n++] = id;
		argv[n++] = peer;
	} else {
		argv[n++] = "--auto-answer";
		argv[n++] = "--once";
		argv[n++] = id;
	}
	argv[n] = NULL;
	return lab_spawn(prefix, caller ? "a" : "b", argv, fd);
}

/* One event line from the caller (tx) or callee (rx) of pair P. */
static void on_line(struct pair *p, bool caller, const char *line, double t)
{
	if (strstr(line, "\"event\":\"ended\"") && caller)
		p->ended = true;
	if (!strstr(line, "\"event\":\"stats\"") || t < 0)
		return;
	/* Each client says its figures once a second from its own start:
	 * its k-th second is the one whose event comes near k + f0. */
	double *f0 = caller ? &p->tx_f0 : &p->rx_f0;
	if (isnan(*f0)) {
		if (t < 0.5)
			return; /* queued while the other calls connected: late */
		*f0 = t - floor(t);
	}
	int k = (int)floor(t - *f0 + 0.5);
	if (k < 0 || k >= BINS)
		return;
	struct sample *s = caller ? &p->tx[k] : &p->rx[k];
	s->have = true;
	s->ts = t;
	if (caller) {
		s->target = json_num(line, "target_kbps");
		s->fec = json_num(line, "fec_loss_pct");
		s->kbps_out = json_num(line, "kbps_out");
	} else {
		s->loss = json_num(line, "loss_pct");
		s->conc = json_num(line, "concealed_pct");
		s->rec = json_num(line, "recovered_pct");
	}
}

/* Reads what FD has now and hands over complete lines. */
static void drain(struct pair *p, bool caller, double t)
{
	struct reader *r = caller ? &p->ra : &p->rb;
	for (;;) {
		ssize_t got = read(r->fd, r->buf + r->len, sizeof(r->buf) - 1 - r->len);
		if (got <= 0)
			return;
		r->len += (size_t)got;
		r->buf[r->len] = '\0';
		char *nl, *start = r->buf;
		while ((nl = strchr(start, '\n'))) {
			*nl = '\0';
			on_line(p, caller, start, t);
			start = nl + 1;
		}
		r->len -= (size_t)(start - r->buf);
		memmove(r->buf, start, r->len);
		if (r->len == sizeof(r->buf) - 1)
			r->len = 0; /* an absurd line: drop it */
	}
}

/* A change of the impairment runs in a child, so the events keep being
 * read (and timed) while natlab.sh restarts the impair tool. */
static pid_t impair_pid;
static int impair_status;
static double impair_start, impair_done; /* s after t0 */

static void impair_begin(double t0, double loss)
{
	impair_start = now_s() - t0;
	impair_done = NAN;
	fflush(stdout);
	impair_pid = fork();
	if (impair_pid == 0)
		_exit(lab_impair(prefix, DELAY_MS, 0, loss) == 0 ? 0 : 1);
	if (impair_pid < 0)
		impair_status = -1;
}

static void impair_check(double t0)
{
	int st;
	if (impair_pid > 0 && waitpid(impair_pid, &st, WNOHANG) == impair_pid) {
		impair_done = now_s() - t0;
		impair_status = WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
		impair_pid = 0;
	}
}

/* Polls every client until DEADLINE (absolute, now_s()), and at least
 * until a change of the impairment under way is done. */
static void pump(double t0, double deadline)
{
	while (!stop) {
		impair_check(t0);
		double left = deadline - now_s();
		if (left <= 0 && impair_pid <= 0)
			return;
		if (left < 0 || (impair_pid > 0 && left > 0.02))
			left = 0.02;
		struct pollfd pfd[2 * NCFG];
		for (int i = 0; i < NCFG; i++) {
			pfd[2 * i] = (struct pollfd){ .fd = pairs[i].ra.fd, .events = POLLIN };
			pfd[2 * i + 1] = (struct pollfd){ .fd = pairs[i].rb.fd, .events = POLLIN };
		}
		if (poll(pfd, 2 * NCFG, (int)(left * 1000) + 1) < 0 && errno != EINTR)
			return;
		double t = now_s() - t0;
		for (int i = 0; i < NCFG; i++) {
			if (pfd[2 * i].revents)
				drain(&pairs[i], true, t);
			if (pfd[2 * i + 1].revents)
				drain(&pairs[i], false, t);
		}
	}
}

/* When the impairment changed, in s after t0. natlab.sh flushes the
 * iptables rules at the start of a change and puts them back at its end:
 * in between the WAN has neither delay nor loss. So the loss starts when
 * the first change ends (on) and stops when the second one starts (off). */
struct steps {
	double on_start, on, off, off_done, end;
};

/* The phase a stats interval [ts - 1, ts] lies in: 0 clean before, 1
 * lossy, 2 clean after, -1 across a step or in the warm-up. The clean
 * phases leave out the changes: natlab.sh flushes the rules only after
 * some checks of its own, and a packet lost just before counts in the
 * next second. */
static int phase(double ts, const struct steps *st)
{
	double from = ts - 1;
	if (from < WARMUP_S)
		return -1;
	if (ts <= st->on_start)
		return 0;
	if (from >= st->on && ts <= st->off)
		return 1;
	if (from >= st->off_done)
		return 2;
	return -1;
}

/* Seconds from STEP to the first caller sample before UNTIL whose target
 * (or FEC loss) satisfies OK against REF; NAN if none. */
static double reached(const struct pair *p, double step, double until, bool (*ok)(double, double),
		      double ref, bool fec)
{
	for (int k = 0; k < BINS; k++) {
		const struct sample *s = &p->tx[k];
		if (!s->have || s->ts <= step || s->ts > until)
			continue;
		if (ok(fec ? s->fec : s->target, ref))
			return s->ts - step;
	}
	return NAN;
}

static bool at_least(double v, double ref) { return v >= ref - 0.05; }
static bool at_most(double v, double ref) { return v <= ref + 0.05; }
static bool below(double v, double ref) { return v < ref - 0.05; }

static void print_trajectory(const struct steps *st)
{
	printf("\nper second (the callers' streams; tgt = target kbit/s and fec = the loss %% FEC is tuned\n"
	       "for, at the caller; loss, plc (concealed) and rec(overed by FEC) %% at the callee; WAN =\n"
	       "the loss on the path in that second, `step' when it changed within it):\n");
	printf("   t  WAN  ");
	for (int i = 0; i < NCFG; i++)
		printf("| %-30s", pairs[i].name);
	printf("\n           ");
	for (int i = 0; i < NCFG; i++)
		printf("|  tgt  fec  loss   plc   rec    ");
	printf("\n");
	for (int k = 1; k < BINS; k++) {
		/* second k: each client's k-th event, about the second before
		 * it (the first callee's event times the WAN column) */
		double ts = pairs[0].rx[k].have ? pairs[0].rx[k].ts : k + pairs[0].rx_f0;
		if (ts > st->end)
			break;
		const char *wan = ts <= st->on || ts - 1 >= st->off ? "0 %"
				  : ts - 1 >= st->on && ts <= st->off ? "10 %" : "step";
		printf("  %2d  %-5s", k, wan);
		for (int i = 0; i < NCFG; i++) {
			const struct sample *tx = &pairs[i].tx[k], *rx = &pairs[i].rx[k];
			char a[16] = "    -", b[16] = "   -", c[16] = "    -", d[16] = "    -", e[16] = "    -";
			if (tx->have) {
				snprintf(a, sizeof(a), "%5.1f", tx->target);
				snprintf(b, sizeof(b), "%4.0f", tx->fec);
			}
			if (rx->have) {
				snprintf(c, sizeof(c), "%5.1f", isnan(rx->loss) ? 0.0 : rx->loss);
				snprintf(d, sizeof(d), "%5.1f", rx->conc);
				snprintf(e, sizeof(e), "%5.1f", rx->rec);
			}
			printf("| %s %s %s %s %s    ", a, b, c, d, e);
		}
		printf("\n");
	}
}

static void print_reactions(const struct steps *st)
{
	printf("\nreaction: s from the step to the first stats event showing it (1 s resolution: one event\n"
	       "a second, and the receiver reports loss in RTCP once a second):\n");
	printf("  %-13s %-24s %-21s %-24s %-21s\n", "", "loss on: target down", "loss on: FEC >= 5 %",
	       "loss off: target back", "loss off: FEC <= 1 %");
	for (int i = 0; i < NCFG; i++) {
		const struct pair *p = &pairs[i];
		/* the level just before the loss, and the lowest during it */
		double pre = NAN, low = INFINITY, low_t = NAN;
		for (int k = 0; k < BINS; k++) {
			const struct sample *s = &p->tx[k];
			if (!s->have)
				continue;
			if (s->ts <= st->on)
				pre = s->target;
			else if (s->ts <= st->off + 1 && s->target < low) {
				low = s->target;
				low_t = s->ts - st->on;
			}
		}
		char c1[48], c2[24], c3[48], c4[24];
		double d1 = reached(p, st->on, st->off + 1, below, pre, false);
		double d2 = reached(p, st->on, st->off + 1, at_least, 5, true);
		double d3 = reached(p, st->off, st->end, at_least, pre, false);
		double d4 = reached(p, st->off, st->end, at_most, 1, true);
		if (isnan(d1))
			snprintf(c1, sizeof(c1), "never (%.1f kbit/s)", pre);
		else
			snprintf(c1, sizeof(c1), "%.1f s (lowest %.1f @%.0f s)", d1, low, low_t);
		if (isnan(d2))
			snprintf(c2, sizeof(c2), "never");
		else
			snprintf(c2, sizeof(c2), "%.1f s", d2);
		if (isnan(d1))
			snprintf(c3, sizeof(c3), "(never left it)");
		else if (isnan(d3))
			snprintf(c3, sizeof(c3), "not within %.0f s", st->end - st->off);
		else
			snprintf(c3, sizeof(c3), "%.1f s (to %.1f)", d3, pre);
		if (isnan(d4))
			snprintf(c4, sizeof(c4), "not within %.0f s", st->end - st->off);
		else
			snprintf(c4, sizeof(c4), "%.1f s", d4);
		printf("  %-13s %-24s %-21s %-24s %-21s\n", p->name, c1, c2, c3, c4);
	}
}

static void print_phases(const struct steps *st)
{
	static const char *const phn[] = { "before (0 %)", "during (10 %)", "after (0 %)" };
	printf("\nper phase, means over the stats seconds wholly inside it (the first %d s left out):\n",
	       WARMUP_S);
	printf("  %-13s", "");
	for (int ph = 0; ph < 3; ph++)
		printf("| %-38s", phn[ph]);
	printf("\n  %-13s", "");
	for (int ph = 0; ph < 3; ph++)
		printf("|   plc   rec  loss   tgt  wire   fec  n ");
	printf("\n");
	double clean_max = 0, lossy_n = 0, ratio[NCFG], rratio[NCFG];
	for (int i = 0; i < NCFG; i++) {
		const struct pair *p = &pairs[i];
		printf("  %-13s", p->name);
		for (int ph = 0; ph < 3; ph++) {
			double conc = 0, rec = 0, loss = 0, tgt = 0, wire = 0, fec = 0;
			int n = 0, m = 0;
			for (int k = 0; k < BINS; k++) {
				const struct sample *rx = &p->rx[k], *tx = &p->tx[k];
				if (rx->have && phase(rx->ts, st) == ph && !isnan(rx->conc)) {
					double l = isnan(rx->loss) ? 0 : rx->loss;
					conc += rx->conc;
					rec += isnan(rx->rec) ? 0 : rx->rec;
					loss += l;
					n++;
					if (ph != 1 && l > clean_max)
						clean_max = l;
				}
				if (tx->have && phase(tx->ts, st) == ph) {
					tgt += tx->target;
					wire += tx->kbps_out;
					fec += tx->fec;
					m++;
				}
			}
			if (ph == 1) {
				lossy_n = n;
				ratio[i] = loss > 0 ? conc / loss : NAN;
				rratio[i] = loss > 0 ? rec / loss : NAN;
			}
			printf("| %5.1f %5.1f %5.1f %5.1f %5.1f %5.1f %2d ", n ? conc / n : NAN,
			       n ? rec / n : NAN, n ? loss / n : NAN,
			       m ? tgt / m : NAN, m ? wire / m : NAN, m ? fec / m : NAN, n);
		}
		printf("\n");
	}
	double p = LOSS_PCT / 100;
	printf("  plc: %% of frames made up by concealment, rec: %% rebuilt from in-band FEC, loss: %%, all\n"
	       "  at the callee (plc + rec follows the loss); tgt: target kbit/s, wire: RTP+RTCP kbit/s\n"
	       "  sent, fec: the loss %% FEC is tuned for, at the caller; n: seconds. The loss is random:\n"
	       "  +-%.1f %% (one standard error) over %.0f s of %d packets.\n",
	       100 * sqrt(p * (1 - p) / (lossy_n * PKTS_S)), lossy_n, PKTS_S);
	printf("  during the loss, per lost frame: made up by PLC / rebuilt from FEC:\n   ");
	for (int i = 0; i < NCFG; i++)
		printf(" %s %.2f / %.2f%s", pairs[i].name, ratio[i], rratio[i], i + 1 < NCFG ? "," : "\n");
	printf("\nimpairment changes (natlab.sh restarts the impair tool): the WAN had no delay and no loss\n"
	       "for %.2f s at the first (t = %.1f..%.1f s) and %.2f s at the second (t = %.1f..%.1f s);\n"
	       "nothing is dropped then (the old tool releases what it holds). The most a callee lost in\n"
	       "a second of a clean phase: %.1f %% (a burst lost to a restart would show there).\n",
	       st->on - st->on_start, st->on_start, st->on, st->off_done - st->off, st->off, st->off_done,
	       clean_max);
}

static void cleanup(void)
{
	if (impair_pid > 0)
		waitpid(impair_pid, NULL, 0); /* natlab.sh must be done first */
	impair_pid = 0;
	for (int i = 0; i < NCFG; i++) {
		if (pairs[i].ra.fd > 0)
			close(pairs[i].ra.fd);
		if (pairs[i].rb.fd > 0)
			close(pairs[i].rb.fd);
		pairs[i].ra.fd = pairs[i].rb.fd = -1;
	}
	if (srv_out >= 0)
		close(srv_out);
	srv_out = -1;
	if (prefix[0])
		lab_down(prefix); /* kills every client and the server */
	prefix[0] = '\0';
	if (dir[0]) {
		char cmd[128];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "bench_loss_step: could not remove %s\n", dir);
	}
	dir[0] = '\0';
}

int main(void)
{
	char why[256];
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!lab_available(why, sizeof(why))) {
		printf("SKIP: %s\n", why);
		return 0;
	}
	struct sigaction sa = { .sa_handler = on_signal };
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	for (int i = 0; i < NCFG; i++)
		pairs[i].ra.fd = pairs[i].rb.fd = -1;
	for (int i = 0; i < NCFG; i++)
		pairs[i].tx_f0 = pairs[i].rx_f0 = NAN;
	atexit(cleanup);
	lab_gc();

	snprintf(dir, sizeof(dir), "/tmp/p2pcall-bench-lossstep-XXXXXX");
	if (!mkdtemp(dir)) {
		perror("bench_loss_step: mkdtemp");
		dir[0] = '\0';
		return 1;
	}
	char wa[96], wb[96], server[64], line[2048];
	snprintf(wa, sizeof(wa), "%s/a.wav", dir);
	snprintf(wb, sizeof(wb), "%s/b.wav", dir);
	if (make_wav(wa, 3) < 0 || make_wav(wb, 4) < 0)
		return 1;

	printf("bench_loss_step: a loss step in the NAT lab (full cone / full cone, direct path, %d ms one way):\n"
	       "  0 %% loss for ~%d s, %.0f %% for %d s, then 0 %% for %d s; synthetic speech both ways in\n"
	       "  four calls at once (same path, same moments, same load): %s, %s, %s, %s\n"
	       "  adaptive:     defaults (24 kbit/s, floor 12): CBR (the call is encrypted), coarse levels\n"
	       "                24 * 0.7^k kbit/s held >= 8 s each\n"
	       "  adaptive-vbr: --vbr: a quarter down per 2 s while lossy, a tenth up per 2 s after 4 s clean\n"
	       "  fec-only:     --bitrate 24000 --min-bitrate 24000: the bitrate cannot move, FEC adapts\n"
	       "  fixed:        --bitrate 24000 --min-bitrate 24000 --fec-loss 0: a fixed 24 kbit/s Opus\n"
	       "                without FEC, what a tool without adaptation runs\n",
	       DELAY_MS, STEP_ON_S, LOSS_PCT, LOSSY_S, AFTER_S, pairs[0].name,
	       pairs[1].name, pairs[2].name, pairs[3].name);

	lab_prefix(prefix, sizeof(prefix), "lstep");
	if (lab_up(prefix, "full", "full") < 0 || lab_addr(prefix, "server", server, sizeof(server)) < 0 ||
	    lab_impair(prefix, DELAY_MS, 0, 0) < 0) {
		fprintf(stderr, "bench_loss_step: the lab could not be built\n");
		return 1;
	}
	char *bin = (char *)test_bin();
	char *argv_srv[] = { bin, "-q", "--serve", "--listen", "0.0.0.0:7878", NULL };
	if (lab_spawn(prefix, "server", argv_srv, &srv_out) < 0)
		return 1;
	usleep(300000);
	for (int i = 0; i < NCFG; i++) {
		pairs[i].b = spawn_client(i, false, server, &pairs[i].rb.fd);
		if (pairs[i].b < 0 || natcall_read_event(pairs[i].rb.fd, "registered", line, sizeof(line)) < 0) {
			fprintf(stderr, "bench_loss_step: callee %d did not register\n", i);
			return 1;
		}
	}
	for (int i = 0; i < NCFG; i++)
		pairs[i].a = spawn_client(i, true, server, &pairs[i].ra.fd);
	for (int i = 0; i < NCFG; i++) {
		char path[16];
		if (pairs[i].a < 0 || natcall_read_event(pairs[i].ra.fd, "connected", line, sizeof(line)) < 0 ||
		    natcall_read_event(pairs[i].rb.fd, "connected", line, sizeof(line)) < 0) {
			fprintf(stderr, "bench_loss_step: call %s did not connect\n", pairs[i].name);
			return 1;
		}
		if (strcmp(json_field(line, "path", path, sizeof(path)), "direct") != 0)
			printf("  (call %s took the %s path)\n", pairs[i].name, path);
	}
	for (int i = 0; i < NCFG; i++) {
		fcntl(pairs[i].ra.fd, F_SETFL, fcntl(pairs[i].ra.fd, F_GETFL) | O_NONBLOCK);
		fcntl(pairs[i].rb.fd, F_SETFL, fcntl(pairs[i].rb.fd, F_GETFL) | O_NONBLOCK);
	}

	double t0 = now_s();
	struct steps st = { 0 };
	pump(t0, t0 + STEP_ON_S);
	if (!stop) {
		impair_begin(t0, LOSS_PCT);
		pump(t0, t0 + STEP_ON_S + 0.1); /* returns once the change is made */
		st.on_start = impair_start;
		st.on = impair_done;
	}
	if (!stop && impair_status == 0) {
		pump(t0, t0 + st.on + LOSSY_S);
		if (!stop) {
			impair_begin(t0, 0);
			pump(t0, t0 + st.on + LOSSY_S + 0.1);
			st.off = impair_start;
			st.off_done = impair_done;
			st.end = st.off + AFTER_S;
			pump(t0, t0 + st.end + 0.3);
		}
	}
	if (impair_status < 0 || stop) {
		fprintf(stderr, "bench_loss_step: %s\n", stop ? "interrupted" : "changing the impairment failed");
		return 1;
	}
	print_trajectory(&st);
	print_reactions(&st);
	print_phases(&st);
	return 0; /* atexit: the lab goes, with every client in it */
}
