/* CPU per call-second of both ends of one Opus call, p2pcall against
 * baresip (Debian baresip-core), on loopback with sound files instead of
 * devices.
 *
 * The same call for both tools: Opus 48 kHz mono, 20 ms frames, 24 kbit/s
 * VBR, complexity 9, in-band FEC enabled, application VOIP (p2pcall's
 * defaults; baresip is configured to match). FEC costs nothing in either
 * on this loss-free path: libopus codes it only for an expected loss above
 * 0, baresip sets none, and p2pcall tunes it to the loss RTCP reports (0
 * from the first report on). both ends sending the same speech file
 * (espeak-ng, tiled; a synthetic voiced signal if espeak-ng or sox is
 * missing). p2pcall: a server, callee with --auto-answer, caller with
 * --duration, both with --input/--output. baresip: two user agents in temp
 * config dirs calling each other by SIP URI on 127.0.0.1, modules aufile
 * (source), aubridge (a player nobody pulls: decoding still runs, in the
 * RTP receive path of baresip 1.0), opus, account, menu; no sound device.
 *
 * What is counted: the CPU time (user + system, all threads, from
 * /proc/PID/task/N/schedstat, ns resolution) each end spends during a
 * window of WINDOW_S seconds that starts WARM_S seconds after the call is
 * established: steady state, without process start, registration, call
 * set-up and hang-up. p2pcall's signalling server is not counted (it has
 * no work during a direct call; baresip has no server). Printed: CPU ms
 * per second of call for each end, both ends, and the ratio (goal <= 0.5).
 *
 * The rates are each tool's own figures: p2pcall's are UDP payload with
 * RTP and RTCP headers; baresip's status line counts less (on the wire,
 * tshark saw ~30 kbit/s of UDP payload per direction for p2pcall and ~27
 * for baresip with this file).
 *
 * Without baresip it prints the p2pcall figures and a SKIP line with the
 * apt-get command. Run time ~2 x (WINDOW_S + ~6 s). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "audio_cmp.h"
#include "p2pcall/audio_file.h"
#include "p2pcall/opus_codec.h"
#include "proc.h"

extern char **environ;

#define WARM_S   2
#define WINDOW_S 20
#define FILE_S   (WARM_S + WINDOW_S + 15)
#define BITRATE  24000

static char dir[64], wav[128];

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_s(double s)
{
	double end = now_s() + s;
	for (double left; (left = end - now_s()) > 0;) {
		struct timespec ts = { (time_t)left, (long)((left - (double)(time_t)left) * 1e9) };
		nanosleep(&ts, NULL);
	}
}

/* CPU time of all live threads of PID in ms (schedstat: ns on CPU), or
 * from /proc/PID/stat (clock ticks, includes exited threads) if schedstat
 * is missing. NAN if the process is gone. */
static double cpu_ms(pid_t pid)
{
	char path[320], buf[512];
	snprintf(path, sizeof(path), "/proc/%ld/task", (long)pid);
	DIR *d = opendir(path);
	double ns = 0;
	int n = 0;
	struct dirent *de;
	while (d && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%ld/task/%s/schedstat", (long)pid, de->d_name);
		FILE *f = fopen(path, "r");
		unsigned long long t;
		if (f && fscanf(f, "%llu", &t) == 1) {
			ns += (double)t;
			n++;
		}
		if (f)
			fclose(f);
	}
	if (d)
		closedir(d);
	if (n > 0)
		return ns / 1e6;
	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return NAN;
	size_t len = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[len] = '\0';
	const char *p = strrchr(buf, ')'); /* the command name may hold spaces */
	unsigned long long ut, st;
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return NAN;
	return (double)(ut + st) * 1000.0 / (double)sysconf(_SC_CLK_TCK);
}

/* A voiced, speech-like test signal: 120 Hz harmonics with a syllable
 * envelope, for machines without espeak-ng/sox. */
static void synth_voice(int16_t *pcm, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		double t = (double)i / 48000, env = fmax(0, sin(2 * M_PI * 3.0 * t)) * (0.6 + 0.4 * sin(t));
		double v = 0;
		for (int h = 1; h <= 12; h++)
			v += sin(2 * M_PI * 120 * h * t * (1 + 0.02 * sin(2 * M_PI * 0.7 * t))) / h;
		pcm[i] = (int16_t)(5000 * env * v);
	}
}

/* wav: FILE_S seconds of speech (a sentence tiled) as 48 kHz mono S16. */
static int make_input(void)
{
	char speech[128];
	int16_t *s = NULL, *pcm = calloc((size_t)FILE_S * 48000, sizeof(*pcm));
	size_t ns = 0, n = (size_t)FILE_S * 48000;
	if (!pcm)
		return -1;
	if (audio_make_speech(dir, "speech",
			      "Peer to peer calls are measured here, one second of speech after another,"
			      " with pauses between the sentences.", speech, sizeof(speech)) == 0 &&
	    audio_load(speech, &s, &ns) == 0 && ns > 48000) {
		for (size_t i = 0; i < n; i++) /* sentence, then 300 ms pause */
			pcm[i] = i % (ns + 14400) < ns ? s[i % (ns + 14400)] : 0;
	} else {
		fprintf(stderr, "bench_cpu: no espeak-ng/sox speech, using a synthetic voice\n");
		synth_voice(pcm, n);
	}
	free(s);
	char err[256];
	int rc = audio_save(wav, pcm, n, err, sizeof(err));
	if (rc < 0)
		fprintf(stderr, "bench_cpu: %s\n", err);
	free(pcm);
	return rc;
}

/* The codec floor of one end: encoding WINDOW_S s of the input and
 * decoding it again with p2pcall's Opus settings, in this process, as CPU
 * ms per second of audio (thread CPU time, best of 3). Both tools make the
 * same libopus calls per second of call, so neither can go below this. */
static double codec_floor(void)
{
	struct opus_codec_enc_cfg ec;
	struct opus_codec_enc *enc = NULL;
	struct opus_codec_dec *dec = NULL;
	struct audio_file_reader *r = NULL;
	char err[256];
	size_t n = (size_t)WINDOW_S * 48000;
	int16_t *pcm = malloc(n * sizeof(*pcm)), out[OPUS_CODEC_MAX_SAMPLES];
	uint8_t pkt[OPUS_CODEC_MAX_PACKET];
	double best = NAN;
	opus_codec_enc_cfg_default(&ec);
	ec.bitrate = BITRATE;
	ec.loss_pct = 0; /* as in both calls once RTCP reported no loss */
	if (!pcm || audio_file_reader_open(&r, wav, err, sizeof(err)) < 0 ||
	    audio_file_read(r, pcm, n, err, sizeof(err)) != (long)n)
		goto out;
	for (int round = 0; round < 3; round++) {
		if (opus_codec_enc_new(&enc, &ec, err, sizeof(err)) < 0 ||
		    opus_codec_dec_new(&dec, err, sizeof(err)) < 0)
			goto out;
		struct timespec a, b;
		clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a);
		for (size_t i = 0; i + 960 <= n; i += 960) {
			int len = opus_codec_encode(enc, pcm + i, 960, pkt, sizeof(pkt));
			if (len < 0 || opus_codec_decode(dec, pkt, (size_t)len, out, OPUS_CODEC_MAX_SAMPLES) < 0)
				goto out;
		}
		clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b);
		double ms = ((double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6) /
			    WINDOW_S;
		if (isnan(best) || ms < best)
			best = ms;
		opus_codec_enc_free(enc);
		opus_codec_dec_free(dec);
		enc = NULL;
		dec = NULL;
	}
out:
	opus_codec_enc_free(enc);
	opus_codec_dec_free(dec);
	audio_file_reader_free(r);
	free(pcm);
	return best;
}

struct figures {
	double caller_ms, callee_ms; /* CPU ms per call-second */
	double kbps_out, kbps_in;    /* the caller's view */
};

static double json_num(const char *l, const char *key)
{
	char pat[64];
	snprintf(pat, sizeof(pat), "\"%s\":", key);
	const char *at = strstr(l, pat);
	return at ? strtod(at + strlen(pat), NULL) : NAN;
}

/* Samples both pids WARM_S after now and WINDOW_S later. */
static int window(pid_t a, pid_t b, struct figures *f)
{
	sleep_s(WARM_S);
	double a0 = cpu_ms(a), b0 = cpu_ms(b), t0 = now_s();
	sleep_s(WINDOW_S);
	double a1 = cpu_ms(a), b1 = cpu_ms(b), t1 = now_s();
	if (isnan(a0) || isnan(a1) || isnan(b0) || isnan(b1)) {
		fprintf(stderr, "bench_cpu: a call end exited during the window\n");
		return -1;
	}
	f->caller_ms = (a1 - a0) / (t1 - t0);
	f->callee_ms = (b1 - b0) / (t1 - t0);
	return 0;
}

static int run_p2pcall(struct figures *f)
{
	struct test_server S;
	struct proc alice = { .pid = 0 }, bob = { .pid = 0 };
	char id_a[96], id_b[96], out_a[128], out_b[128], dur[16], br[16], line[4096];
	int rc = -1;
	if (server_start(&S, NULL) < 0) {
		fprintf(stderr, "bench_cpu: cannot start `%s --serve'\n", test_bin());
		return -1;
	}
	snprintf(id_a, sizeof(id_a), "alice@127.0.0.1:%d", S.port);
	snprintf(id_b, sizeof(id_b), "bob@127.0.0.1:%d", S.port);
	snprintf(out_a, sizeof(out_a), "%s/p2pcall-a.wav", dir);
	snprintf(out_b, sizeof(out_b), "%s/p2pcall-b.wav", dir);
	snprintf(dur, sizeof(dur), "%d", WARM_S + WINDOW_S + 2);
	snprintf(br, sizeof(br), "%d", BITRATE);
	const char *argv_b[] = { "--json", "--auto-answer", "--once", "--frame-ms", "20", "--bitrate", br,
				 "--input", wav, "--output", out_b, id_b, NULL };
	const char *argv_a[] = { "--json", "--duration", dur, "--frame-ms", "20", "--bitrate", br,
				 "--input", wav, "--output", out_a, id_a, "bob", NULL };
	if (proc_start(&bob, argv_b) < 0 || proc_event(&bob, "registered", line, sizeof(line), 10000) < 0 ||
	    proc_start(&alice, argv_a) < 0 || proc_event(&alice, "connected", line, sizeof(line), 15000) < 0) {
		fprintf(stderr, "bench_cpu: the p2pcall call did not connect\n");
		goto out;
	}
	if (window(alice.pid, bob.pid, f) < 0)
		goto out;
	f->kbps_out = f->kbps_in = NAN;
	while (proc_line(&alice, line, sizeof(line), 15000) == 0 && !strstr(line, "\"event\":\"ended\""))
		if (strstr(line, "\"event\":\"stats\"")) {
			f->kbps_out = json_num(line, "kbps_out");
			f->kbps_in = json_num(line, "kbps_in");
		}
	rc = 0;
out:
	proc_stop(&alice);
	proc_stop(&bob);
	server_stop(&S);
	return rc;
}

/* A port P with UDP P, TCP P and TCP P + 1 (SIP over TLS) free. */
static bool port_free(int type, int port)
{
	int fd = socket(AF_INET, type, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	bool ok = fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	if (fd >= 0)
		close(fd);
	return ok;
}

static int sip_port(int from)
{
	for (int p = from; p < from + 400; p += 2)
		if (port_free(SOCK_DGRAM, p) && port_free(SOCK_STREAM, p) && port_free(SOCK_STREAM, p + 1))
			return p;
	return -1;
}

static int write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	fputs(text, f);
	return fclose(f) == 0 ? 0 : -1;
}

/* DIR/NAME/{config,accounts} for a user agent on SIP port PORT. */
static int baresip_conf(const char *name, int port, int rtp, char *cdir, size_t n)
{
	char path[256], text[2048];
	snprintf(cdir, n, "%s/%s", dir, name);
	if (mkdir(cdir, 0700) < 0 && errno != EEXIST)
		return -1;
	snprintf(text, sizeof(text),
		 "poll_method epoll\n"
		 "sip_listen 127.0.0.1:%d\n"
		 "audio_source aufile,%s\n"
		 "audio_player aubridge,%s\n"
		 "audio_alert aubridge,%s\n"
		 "ausrc_srate 48000\nausrc_channels 1\nauplay_srate 48000\nauplay_channels 1\n"
		 "rtp_ports %d-%d\n"
		 "module_path /usr/lib/baresip/modules\n"
		 "module aufile.so\nmodule aubridge.so\nmodule opus.so\n"
		 "module_tmp account.so\nmodule_app menu.so\n"
		 "opus_bitrate %d\nopus_stereo no\nopus_sprop_stereo no\n"
		 "opus_application voip\nopus_complexity 9\nopus_inbandfec yes\n"
		 "opus_cbr no\nopus_dtx no\n",
		 port, wav, name, name, rtp, rtp + 99, BITRATE);
	snprintf(path, sizeof(path), "%s/config", cdir);
	if (write_text(path, text) < 0)
		return -1;
	snprintf(text, sizeof(text),
		 "<sip:%s@127.0.0.1:%d>;regint=0;answermode=auto;audio_codecs=opus/48000/1\n", name, port);
	snprintf(path, sizeof(path), "%s/accounts", cdir);
	return write_text(path, text);
}

static pid_t spawn_logged(char *const argv[], const char *log)
{
	posix_spawn_file_actions_t fa;
	pid_t pid;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	posix_spawn_file_actions_adddup2(&fa, 1, 2);
	int rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	return rc ? -1 : pid;
}

static bool log_has(const char *log, const char *what)
{
	FILE *f = fopen(log, "r");
	bool found = false;
	if (!f)
		return false;
	/* the logs are small (tens of kB): read the whole file */
	size_t cap = 1 << 16, len = 0, k;
	char *buf = malloc(cap);
	while (buf && (k = fread(buf + len, 1, cap - len, f)) > 0) {
		len += k;
		if (len == cap) {
			char *nb = realloc(buf, cap *= 2);
			if (!nb)
				break;
			buf = nb;
		}
	}
	found = buf && memmem(buf, len, what, strlen(what)) != NULL;
	free(buf);
	fclose(f);
	return found;
}

/* The caller's last "audio=TX/RX (bit/s)" status figures, in kbit/s. */
static void baresip_rates(const char *log, double *tx, double *rx)
{
	FILE *f = fopen(log, "r");
	char buf[4096];
	*tx = *rx = NAN;
	if (!f)
		return;
	size_t len;
	while ((len = fread(buf, 1, sizeof(buf) - 1, f)) > 0) {
		buf[len] = '\0';
		for (char *p = buf; (p = strstr(p, "audio=")); p++) {
			unsigned long a, b;
			if (sscanf(p, "audio=%lu/%lu", &a, &b) == 2 && a > 0) {
				*tx = (double)a / 1000;
				*rx = (double)b / 1000;
			}
		}
	}
	fclose(f);
}

static void stop(pid_t pid)
{
	int st;
	if (pid <= 0)
		return;
	kill(pid, SIGTERM);
	for (int i = 0; i < 300; i++) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return;
		sleep_s(0.01);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
}

static int run_baresip(struct figures *f)
{
	char cdir_a[128], cdir_b[128], log_a[160], log_b[160], uri[96], dial[128], tmo[16];
	int base = 30000 + (int)(getpid() % 2000) * 10;
	int pa = sip_port(base), pb = pa > 0 ? sip_port(pa + 2) : -1;
	pid_t a = -1, b = -1;
	int rc = -1;
	if (pa < 0 || pb < 0 || baresip_conf("alice", pa, pa + 1000, cdir_a, sizeof(cdir_a)) < 0 ||
	    baresip_conf("bob", pb, pb + 1200, cdir_b, sizeof(cdir_b)) < 0) {
		fprintf(stderr, "bench_cpu: cannot set up baresip\n");
		return -1;
	}
	snprintf(log_a, sizeof(log_a), "%s/alice.log", dir);
	snprintf(log_b, sizeof(log_b), "%s/bob.log", dir);
	snprintf(uri, sizeof(uri), "sip:bob@127.0.0.1:%d", pb);
	snprintf(dial, sizeof(dial), "/dial %s", uri);
	snprintf(tmo, sizeof(tmo), "%d", WARM_S + WINDOW_S + 30); /* a safety net */
	b = spawn_logged((char *const[]){ "baresip", "-f", cdir_b, "-t", tmo, NULL }, log_b);
	for (int i = 0; i < 200 && b > 0 && !log_has(log_b, "baresip is ready"); i++)
		sleep_s(0.05);
	a = spawn_logged((char *const[]){ "baresip", "-f", cdir_a, "-t", tmo, "-e", dial, NULL }, log_a);
	bool up = false;
	for (int i = 0; i < 300 && a > 0 && b > 0 && !up; i++) {
		sleep_s(0.05);
		up = log_has(log_a, "Call established") && log_has(log_b, "Call established");
	}
	if (!up) {
		fprintf(stderr, "bench_cpu: the baresip call did not connect (logs: %s, %s)\n", log_a, log_b);
		goto out;
	}
	if (window(a, b, f) < 0)
		goto out;
	baresip_rates(log_a, &f->kbps_out, &f->kbps_in);
	rc = 0;
out:
	stop(a);
	stop(b);
	return rc;
}

static void row(const char *name, const struct figures *f)
{
	printf("%-8s | %7.1f %7.1f %7.1f | %5.1f/%-5.1f\n", name, f->caller_ms, f->callee_ms,
	       f->caller_ms + f->callee_ms, f->kbps_out, f->kbps_in);
}

int main(void)
{
	snprintf(dir, sizeof(dir), "/tmp/p2pcall-bcpu-XXXXXX");
	if (!mkdtemp(dir))
		return 1;
	snprintf(wav, sizeof(wav), "%s/speech30.wav", dir);
	int rc = 1;
	struct figures p = { 0 }, b = { 0 };
	if (make_input() < 0)
		goto out;
	printf("CPU ms per second of call (user+system, all threads), %d s window from %d s after set-up;\n"
	       "Opus 20 ms %d kbit/s VBR, complexity 9, FEC on (idle: no loss), speech files in and out,\n"
	       "loopback\n\n",
	       WINDOW_S, WARM_S, BITRATE / 1000);
	printf("%-8s | %7s %7s %7s | %s\n", "tool", "caller", "callee", "both",
	       "kbit/s out/in, as each tool counts it");
	if (run_p2pcall(&p) < 0)
		goto out;
	row("p2pcall", &p);
	if (system("command -v baresip >/dev/null 2>&1") != 0) {
		printf("SKIP baresip: not installed (apt-get install -y baresip-core, "
		       "or contrib/install-deps.sh --bench)\n");
		rc = 0;
		goto out;
	}
	if (run_baresip(&b) < 0)
		goto out;
	row("baresip", &b);
	double floor = codec_floor();
	printf("%-8s | %7.1f %7.1f %7.1f | libopus encode+decode alone, in-process\n", "codec", floor, floor,
	       2 * floor);
	double pt = p.caller_ms + p.callee_ms, bt = b.caller_ms + b.callee_ms;
	printf("\np2pcall / baresip (both ends): %.2f (goal <= 0.50)\n"
	       "beyond the codec: p2pcall %.1f, baresip %.1f ms per call-second (ratio %.2f)\n",
	       pt / bt, pt - 2 * floor, bt - 2 * floor, (pt - 2 * floor) / (bt - 2 * floor));
	rc = 0;
out:
	if (!getenv("P2PCALL_KEEP_TMP"))
		audio_sh("rm -rf '%s'", dir);
	else
		fprintf(stderr, "bench_cpu: keeping %s\n", dir);
	return rc;
}
