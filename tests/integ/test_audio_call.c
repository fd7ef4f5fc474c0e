/* Real two-way voice through real calls: the p2pcall server and two
 * clients on loopback, each sending a different sentence of real speech
 * (espeak-ng -> sox -> 48 kHz mono WAV, made here in a temp dir) with
 * --input and writing what it hears with --output. What came out must be
 * the other side's sentence: aligned by envelope cross-correlation, the
 * 10 ms envelopes correlate above MIN_CORR and the lengths agree within
 * LEN_TOL_MS. Also: the RTP on the wire as tshark decodes it, the stats
 * events, bad files and devices refused before any call is placed, the
 * PortAudio path (jackd dummy driver) in a call, and a call across the
 * NAT lab with delay, jitter and loss (root only).
 *
 * Thresholds, from measurements on this machine (Opus 24 kbit/s, 20 ms;
 * scores after piecewise re-alignment, see audio_cmp.h): a clean loopback
 * call scores 0.97-0.99 both ways, 10/60 ms frames 0.96-0.995, through
 * PortAudio and jackd 0.95-0.97; the wrong sentence (own speech against
 * what was heard) scores about 0.50. MIN_CORR 0.85 sits between with room
 * on both sides; WRONG_MAX_CORR 0.65 proves the measure discriminates.
 * Lengths: heard files come within 1-3 frames of the sent ones (the jitter
 * buffer drops a frame or two of silence as its delay settles). */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "audio_cmp.h"
#include "jackenv.h"
#include "lab.h"
#include "p2pcall/cli.h"
#include "proc.h"

#define T 15000            /* ms: bound for any one step of a call */
#define MIN_CORR 0.85
#define LOSSY_MIN_CORR 0.75
#define WRONG_MAX_CORR 0.65
#define LEN_TOL_MS 100     /* a few frames: jitter buffer grow/shrink */

static const char TEXT_A[] = "The quick brown fox jumps over the lazy dog. Peer to peer calls work.";
static const char TEXT_B[] = "Hello Alice, this is Bob speaking from the other side of the line.";

static struct test_server S;
static char dir[64], wav_a[128], wav_b[128], out_a[128], out_b[128];
static char line[4096], field[256];

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/p2pcall-acall-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_int_eq(audio_make_speech(dir, "a", TEXT_A, wav_a, sizeof(wav_a)), 0);
	ck_assert_int_eq(audio_make_speech(dir, "b", TEXT_B, wav_b, sizeof(wav_b)), 0);
	snprintf(out_a, sizeof(out_a), "%s/heard-by-alice.wav", dir);
	snprintf(out_b, sizeof(out_b), "%s/heard-by-bob.wav", dir);
}

static void teardown(void)
{
	server_stop(&S);
	if (dir[0] && getenv("P2PCALL_KEEP_AUDIO") == NULL)
		audio_sh("rm -rf '%s'", dir);
}

static double json_num(const char *l, const char *key)
{
	char pat[64];
	snprintf(pat, sizeof(pat), "\"%s\":", key);
	const char *at = strstr(l, pat);
	if (!at || strncmp(at + strlen(pat), "null", 4) == 0)
		return NAN;
	return strtod(at + strlen(pat), NULL);
}

static void start(struct proc *p, const char *name, const char *peer, const char *const *extra)
{
	char id[128];
	snprintf(id, sizeof(id), "%s@127.0.0.1:%d", name, S.port);
	const char *argv[32] = { "--json" };
	int i = 1;
	for (int j = 0; extra && extra[j]; j++)
		argv[i++] = extra[j];
	argv[i++] = id;
	if (peer)
		argv[i++] = peer;
	argv[i] = NULL;
	ck_assert_int_eq(proc_start(p, argv), 0);
}

static void expect_event(struct proc *p, const char *event)
{
	char err[2048];
	if (proc_event(p, event, line, sizeof(line), T) != 0) {
		proc_stderr(p, err, sizeof(err));
		ck_abort_msg("no `%s' event; stderr: %s", event, err);
	}
}

/* What SENT became in HEARD: checks the match and the length. */
static void check_heard(const char *sent, const char *heard, double min_corr, const char *who)
{
	int16_t *a, *b;
	size_t na, nb;
	struct audio_match m;
	ck_assert_int_eq(audio_load(sent, &a, &na), 0);
	ck_assert_int_eq(audio_load(heard, &b, &nb), 0);
	ck_assert_msg(audio_match(a, na, b, nb, 500, &m) == 0, "%s: %s (%zu samples) does not cover %s (%zu)",
		      who, heard, nb, sent, na);
	fprintf(stderr, "audio_call: %s heard %zu of %zu samples, corr %.3f (warped %.3f) at %+ld ms\n", who,
		nb, na, m.corr, m.corr_warped, m.offset_ms);
	ck_assert_msg(m.corr_warped >= min_corr, "%s: envelope correlation %.3f < %.2f", who, m.corr_warped,
		      min_corr);
	long diff_ms = ((long)nb - (long)na) / 48;
	ck_assert_msg(labs(diff_ms) <= LEN_TOL_MS, "%s: heard %zu samples, sent %zu (%+ld ms)", who, nb, na,
		      diff_ms);
	free(a);
	free(b);
}

/* The heard file must not match the wrong sentence: the measure does
 * discriminate. */
static void check_not_heard(const char *wrong, const char *heard)
{
	int16_t *a, *b;
	size_t na, nb;
	struct audio_match m;
	ck_assert_int_eq(audio_load(wrong, &a, &na), 0);
	ck_assert_int_eq(audio_load(heard, &b, &nb), 0);
	/* Only as much of it as the heard file can cover. */
	if (na > nb * 9 / 10)
		na = nb * 9 / 10;
	ck_assert_int_eq(audio_match(a, na, b, nb, 1000, &m), 0);
	fprintf(stderr, "audio_call: wrong sentence scores %.3f (warped %.3f)\n", m.corr, m.corr_warped);
	ck_assert_msg(m.corr_warped < WRONG_MAX_CORR, "the wrong sentence matches (%.3f)", m.corr_warped);
	free(a);
	free(b);
}

/* One call, both sides sending speech; returns after both ended. */
static void speech_call(const char *const *opts_a, const char *const *opts_b, const char *path)
{
	struct proc alice, bob;
	const char *eb[24] = { "--auto-answer", "--once", "--input", wav_b, "--output", out_b };
	const char *ea[24] = { "--input", wav_a, "--output", out_a };
	for (int i = 0, k = 6; opts_b && opts_b[i]; i++)
		eb[k++] = opts_b[i];
	for (int i = 0, k = 4; opts_a && opts_a[i]; i++)
		ea[k++] = opts_a[i];
	start(&bob, "bob", NULL, eb);
	expect_event(&bob, "registered");
	start(&alice, "alice", "bob", ea);
	expect_event(&alice, "connected");
	ck_assert_str_eq(json_field(line, "path", field, sizeof(field)), path);
	/* Stats every second: audio flows both ways at about the bitrate. */
	int stats = 0;
	for (;;) {
		ck_assert_int_eq(proc_line(&alice, line, sizeof(line), T), 0);
		if (strstr(line, "\"event\":\"ended\""))
			break;
		if (!strstr(line, "\"event\":\"stats\""))
			continue;
		stats++;
		double out = json_num(line, "kbps_out"), in = json_num(line, "kbps_in");
		ck_assert_msg(out > 10 && out < 60 && in > 10 && in < 60, "rates: %s", line);
		ck_assert_msg(json_num(line, "jb_ms") >= 0 && json_num(line, "loss_pct") >= 0, "%s", line);
	}
	ck_assert_msg(stats >= 3, "%d stats events in a 5 s call", stats);
	/* ended: both files were sent and both streams ended, so both sides
	 * are done at about the same moment: whichever hangs up first says
	 * "hangup", the other "peer-hangup", or both "hangup" when they do
	 * it at once (a race the test must not depend on). */
	char reason_a[32], reason_b[32];
	json_field(line, "reason", reason_a, sizeof(reason_a));
	ck_assert_msg(json_num(line, "rtt_ms") >= 0 && json_num(line, "rtt_ms") < 500, "%s", line);
	ck_assert_msg(json_num(line, "concealed_pct") >= 0, "%s", line);
	ck_assert_int_eq(proc_wait(&alice, T), EXIT_OK);
	expect_event(&bob, "ended");
	json_field(line, "reason", reason_b, sizeof(reason_b));
	bool a_ok = !strcmp(reason_a, "hangup") || !strcmp(reason_a, "peer-hangup");
	bool b_ok = !strcmp(reason_b, "hangup") || !strcmp(reason_b, "peer-hangup");
	ck_assert_msg(a_ok && b_ok && (!strcmp(reason_a, "hangup") || !strcmp(reason_b, "hangup")),
		      "alice ended with `%s', bob with `%s'", reason_a, reason_b);
	ck_assert_int_eq(proc_wait(&bob, T), EXIT_OK);
	proc_stop(&alice);
	proc_stop(&bob);
}

START_TEST(speech_both_ways_direct)
{
	ck_assert_int_eq(server_start(&S, NULL), 0);
	speech_call(NULL, NULL, "direct");
	check_heard(wav_b, out_a, MIN_CORR, "alice");
	check_heard(wav_a, out_b, MIN_CORR, "bob");
	check_not_heard(wav_a, out_a);
}
END_TEST

START_TEST(speech_both_ways_relay)
{
	ck_assert_int_eq(server_start(&S, NULL), 0);
	speech_call((const char *[]){ "--relay", "always", NULL }, (const char *[]){ "--relay", "always", NULL },
		    "relay");
	check_heard(wav_b, out_a, MIN_CORR, "alice");
	check_heard(wav_a, out_b, MIN_CORR, "bob");
}
END_TEST

/* Other frame sizes and bitrates on each side: the receiver follows the
 * sender's packet durations. */
START_TEST(speech_frame_sizes)
{
	ck_assert_int_eq(server_start(&S, NULL), 0);
	speech_call((const char *[]){ "--frame-ms", "60", "--bitrate", "16000", NULL },
		    (const char *[]){ "--frame-ms", "10", "--bitrate", "32000", NULL }, "direct");
	check_heard(wav_b, out_a, MIN_CORR, "alice");
	check_heard(wav_a, out_b, MIN_CORR, "bob");
}
END_TEST

static int mapped_port(const char *l)
{
	char m[64];
	json_field(l, "mapped", m, sizeof(m));
	const char *colon = strrchr(m, ':');
	return colon ? atoi(colon + 1) : -1;
}

/* tshark on lo sees the RTP as RFC 3550/7587 says: PT 111, one SSRC each
 * way, sequence +1 and timestamp +960 per 20 ms packet. */
START_TEST(rtp_on_the_wire)
{
	char pcap[160], out[160];
	snprintf(pcap, sizeof(pcap), "%s/call.pcap", dir);
	snprintf(out, sizeof(out), "%s/rtp.txt", dir);
	ck_assert_int_eq(server_start(&S, NULL), 0);
	struct proc bob, alice;
	start(&bob, "bob", NULL,
	      (const char *[]){ "--auto-answer", "--once", "--input", wav_b, "--output", out_b, NULL });
	expect_event(&bob, "registered");
	int bob_port = mapped_port(line);
	ck_assert_int_gt(bob_port, 0);
	pid_t ts = fork();
	if (ts == 0) {
		char filter[64];
		snprintf(filter, sizeof(filter), "udp port %d", bob_port);
		int fd = open("/dev/null", O_WRONLY);
		dup2(fd, 1);
		dup2(fd, 2);
		execlp("tshark", "tshark", "-q", "-i", "lo", "-f", filter, "-w", pcap, (char *)NULL);
		_exit(127);
	}
	/* tshark needs a moment before it captures. */
	for (int i = 0; i < 50; i++) {
		struct stat st;
		if (stat(pcap, &st) == 0 && st.st_size > 0)
			break;
		usleep(100000);
	}
	usleep(500000);
	start(&alice, "alice", "bob", (const char *[]){ "--input", wav_a, "--output", out_a, NULL });
	expect_event(&alice, "ended");
	ck_assert_int_eq(proc_wait(&alice, T), EXIT_OK);
	ck_assert_int_eq(proc_wait(&bob, T), EXIT_OK);
	usleep(300000);
	kill(ts, SIGINT);
	waitpid(ts, NULL, 0);
	ck_assert_msg(audio_sh("tshark -r '%s' -d udp.port==%d,rtp -Y 'rtp.p_type == 111' -T fields "
			       "-e udp.dstport -e rtp.ssrc -e rtp.seq -e rtp.timestamp -e rtp.marker "
			       "> '%s' 2>/dev/null", pcap, bob_port, out) == 0, "tshark failed");
	FILE *f = fopen(out, "r");
	ck_assert_ptr_nonnull(f);
	unsigned n_to_bob = 0, n_from_bob = 0, markers = 0;
	long prev_seq = -1;
	unsigned long prev_ts = 0, ssrc_to_bob = 0;
	char l[256];
	while (fgets(l, sizeof(l), f)) {
		int port;
		unsigned long ssrc, ts_;
		long seq;
		int marker;
		ck_assert_msg(sscanf(l, "%d %lx %ld %lu %d", &port, &ssrc, &seq, &ts_, &marker) == 5 ||
			      sscanf(l, "%d 0x%lx %ld %lu %d", &port, &ssrc, &seq, &ts_, &marker) == 5,
			      "unexpected tshark line: %s", l);
		if (port != bob_port) {
			n_from_bob++;
			continue;
		}
		if (n_to_bob++ == 0)
			ssrc_to_bob = ssrc;
		ck_assert_msg(ssrc == ssrc_to_bob, "SSRC changed: %s", l);
		markers += marker != 0;
		if (prev_seq >= 0) {
			ck_assert_msg(seq == (prev_seq + 1) % 65536, "seq %ld after %ld", seq, prev_seq);
			ck_assert_msg(ts_ == (prev_ts + 960) % 4294967296UL, "ts %lu after %lu", ts_, prev_ts);
		}
		prev_seq = seq;
		prev_ts = ts_;
	}
	fclose(f);
	/* Every 20 ms of the file in one packet (the last one padded), plus
	 * one silent frame that flushes the encoder's look-ahead. */
	int16_t *pcm;
	size_t na, nb;
	ck_assert_int_eq(audio_load(wav_a, &pcm, &na), 0);
	free(pcm);
	ck_assert_int_eq(audio_load(wav_b, &pcm, &nb), 0);
	free(pcm);
	ck_assert_uint_eq(n_to_bob, (na + 959) / 960 + 1);
	ck_assert_uint_eq(n_from_bob, (nb + 959) / 960 + 1);
	ck_assert_uint_eq(markers, 1);
	proc_stop(&alice);
	proc_stop(&bob);
}
END_TEST

/* A client whose audio cannot work exits at once with EXIT_AUDIO, saying
 * what and why, and never registers (so no call is ever placed). */
static void refused(const char *const *opts, const char *needle)
{
	struct proc p;
	char err[4096];
	start(&p, "alice", "bob", opts);
	ck_assert_int_eq(proc_wait(&p, T), EXIT_AUDIO);
	proc_stderr(&p, err, sizeof(err));
	ck_assert_msg(strstr(err, needle), "error does not mention `%s': %s", needle, err);
	ck_assert_int_ne(proc_line(&p, line, sizeof(line), 200) == 0 && strstr(line, "registered"), 1);
	proc_stop(&p);
}

START_TEST(bad_files_and_devices)
{
	char text[160], outdir[160], noconf[160];
	ck_assert_int_eq(server_start(&S, NULL), 0);
	snprintf(text, sizeof(text), "%s/notes.txt", dir);
	ck_assert_int_eq(audio_sh("echo 'not a sound' > '%s'", text), 0);
	refused((const char *[]){ "--input", "/nonexistent/speech.wav", "--output", out_a, NULL },
		"/nonexistent/speech.wav");
	refused((const char *[]){ "--input", text, "--output", out_a, NULL }, text);
	refused((const char *[]){ "--input", dir, "--output", out_a, NULL }, dir);
	snprintf(outdir, sizeof(outdir), "%s/no/such/dir/out.wav", dir);
	refused((const char *[]){ "--input", wav_a, "--output", outdir, NULL }, outdir);
	/* Devices: ALSA with a default card that does not exist (see
	 * test_audio_dev.c for why not an empty configuration). */
	snprintf(noconf, sizeof(noconf), "%s/asound.conf", dir);
	ck_assert_int_eq(audio_sh("echo 'pcm.!default { type hw; card 99 }' > '%s'", noconf), 0);
	setenv("ALSA_CONFIG_PATH", noconf, 1);
	setenv("JACK_NO_START_SERVER", "1", 1);
	refused((const char *[]){ "--output", out_a, NULL }, "capture");
	refused((const char *[]){ "--input", wav_a, NULL }, "playback");
	refused((const char *[]){ NULL }, "--input FILE");
	refused((const char *[]){ "--input", wav_a, "--output-device", "no-such-card-xyz", NULL },
		"no-such-card-xyz");
	unsetenv("ALSA_CONFIG_PATH");
}
END_TEST

START_TEST(bad_options)
{
	struct proc p;
	const char *const bad[][5] = { /* NULL-terminated rows */
		{ "--frame-ms", "25", "a@127.0.0.1:1", NULL },
		{ "--bitrate", "100", "a@127.0.0.1:1", NULL },
		{ "--no-audio", "--input", "x.wav", "a@127.0.0.1:1", NULL },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_int_eq(proc_start(&p, bad[i]), 0);
		ck_assert_int_eq(proc_wait(&p, T), EXIT_USAGE);
		proc_stop(&p);
	}
}
END_TEST

/* The PortAudio path in a call: alice talks through real ALSA devices
 * clocked by a jackd dummy driver (capture file -> PortAudio callback ->
 * ring -> Opus -> ...; ... -> ring -> callback -> playback file); bob
 * uses files. Both directions must come through. */
static struct jackenv *env;

/* A failed assertion exits the test process: jackd must not outlive it. */
static void env_cleanup(void)
{
	jackenv_free(env);
	env = NULL;
}

/* XRuns jackd logged so far: the dummy driver missed its deadlines (a
 * loaded machine), so the "sound card" clock was not real time. */
static int xruns(void)
{
	char path[256], l[256];
	snprintf(path, sizeof(path), "%s/jackd.log", jackenv_dir(env));
	FILE *f = fopen(path, "r");
	int n = 0;
	while (f && fgets(l, sizeof(l), f))
		n += strstr(l, "XRun") != NULL;
	if (f)
		fclose(f);
	return n;
}

/* Fraction of ref's active 10 ms windows (speech) whose time, shifted by
 * off_ms, is active in sig too. */
static double active_overlap(const int16_t *ref, size_t nref, const int16_t *sig, size_t nsig, long off_ms)
{
	size_t active = 0, both = 0;
	for (size_t w = 0; (w + 1) * 480 <= nref; w++) {
		double e = 0, f = 0;
		long k0 = (long)(w * 480) + off_ms * 48;
		for (size_t i = 0; i < 480; i++) {
			long k = k0 + (long)i;
			e += (double)ref[w * 480 + i] * ref[w * 480 + i];
			if (k >= 0 && k < (long)nsig)
				f += (double)sig[k] * sig[k];
		}
		if (e / 480 < 300.0 * 300.0)
			continue;
		active++;
		both += f / 480 >= 100.0 * 100.0;
	}
	return active ? (double)both / (double)active : 0;
}

START_TEST(speech_through_portaudio)
{
	char err[512];
	int rc = jackenv_new(&env, JACKENV_JACK, err, sizeof(err));
	ck_assert_msg(rc == 0, "jack test environment: %s", err);
	atexit(env_cleanup);
	int16_t *a, *b, *played;
	size_t na, nb, nplayed;
	ck_assert_int_eq(audio_load(wav_a, &a, &na), 0);
	ck_assert_int_eq(audio_load(wav_b, &b, &nb), 0);
	/* Half a second of silence first: the call is set up while the
	 * capture already runs. */
	int16_t *cap = calloc(na + 24000 + 96000, sizeof(*cap));
	memcpy(cap + 24000, a, na * sizeof(*a));
	ck_assert_int_eq(jackenv_write_capture(env, cap, na + 24000 + 96000), 0);
	ck_assert_int_eq(server_start(&S, NULL), 0);

	struct proc alice, bob;
	start(&bob, "bob", NULL,
	      (const char *[]){ "--auto-answer", "--once", "--input", wav_b, "--output", out_b, NULL });
	expect_event(&bob, "registered");
	start(&alice, "alice", "bob", (const char *[]){ "--duration", "6", NULL });
	expect_event(&alice, "connected");
	int xruns_before = xruns();
	expect_event(&alice, "ended");
	int xruns_during = xruns() - xruns_before;
	int st = proc_wait(&alice, T);
	proc_stderr(&alice, err, sizeof(err));
	ck_assert_msg(st == EXIT_OK, "alice: %d %s", st, err);
	ck_assert_int_eq(proc_wait(&bob, T), EXIT_OK);
	ck_assert_int_eq(jackenv_read_playback(env, &played, &nplayed), 0);
	/* Bob's sentence came out of alice's speaker. */
	struct audio_match m;
	ck_assert_msg(audio_match(b, nb, played, nplayed, 3000, &m) == 0, "played %zu samples", nplayed);
	fprintf(stderr, "audio_call: portaudio playback corr %.3f (warped %.3f) at %+ld ms\n", m.corr,
		m.corr_warped, m.offset_ms);
	if (xruns_during < 100)
		ck_assert_msg(m.corr_warped >= MIN_CORR, "playback correlation %.3f", m.corr_warped);
	else /* see below */
		ck_assert_msg(active_overlap(b, nb, played, nplayed, m.offset_ms) >= 0.7, "playback: speech lost");
	/* And alice's microphone reached bob. */
	int16_t *heard;
	size_t nheard;
	ck_assert_int_eq(audio_load(out_b, &heard, &nheard), 0);
	ck_assert_msg(audio_match(a, na, heard, nheard, 3000, &m) == 0, "bob heard %zu samples", nheard);
	fprintf(stderr, "audio_call: portaudio capture corr %.3f (warped %.3f) at %+ld ms, %d jackd xruns\n",
		m.corr, m.corr_warped, m.offset_ms, xruns_during);
	if (xruns_during < 100) {
		ck_assert_msg(m.corr_warped >= MIN_CORR, "capture correlation %.3f", m.corr_warped);
	} else {
		/* jackd fell behind real time: the capture clock was slower than
		 * the receiver's, the jitter buffer concealed the gaps, and the
		 * timeline stretches beyond what the envelope measure follows.
		 * Weaker, still real: the speech came through. */
		double ov = active_overlap(a, na, heard, nheard, m.offset_ms);
		fprintf(stderr, "audio_call: jackd was not real time (%d xruns): speech overlap %.2f\n",
			xruns_during, ov);
		ck_assert_msg(ov >= 0.7, "capture: only %.2f of the speech came through", ov);
	}
	free(a);
	free(b);
	free(cap);
	free(played);
	free(heard);
	proc_stop(&alice);
	proc_stop(&bob);
	env_cleanup();
}
END_TEST

/* --- across the NAT lab, with delay, jitter and loss --- */

static char lab_pfx[64];

static void lab_teardown(void)
{
	if (lab_pfx[0])
		lab_down(lab_pfx);
}

static int read_event(int fd, const char *name, char *l, size_t n, int timeout_ms)
{
	char want[64];
	snprintf(want, sizeof(want), "\"event\":\"%s\"", name);
	for (;;) {
		if (lab_read_line(fd, l, n, timeout_ms) <= 0)
			return -1;
		if (strstr(l, want))
			return 0;
	}
}

/* A call with speech both ways across the lab (both behind port-
 * restricted NATs: a direct path is punched; bob without NAT when
 * rebinding). IMPAIR: the WAN router
 * holds every packet 40 +- 10 ms and drops 5 %. REBIND: 2 s into the
 * call NAT A forgets its mappings and moves to its other public address;
 * bob sees alice's media come from a new address, the path follows it,
 * and so does the audio, with no help from the media engine. */
static void lab_call(bool impair, bool rebind, char *la, char *lb, size_t n)
{
	char server[64], id_a[96], id_b[96], f[64];
	/* Bob's NAT must let alice's new address in: a port-restricted one
	 * would filter it (bob never sent there), so bob has none then. */
	ck_assert_msg(lab_up(lab_pfx, "port", rebind ? "none" : "port") == 0, "the lab did not come up");
	ck_assert_int_eq(lab_addr(lab_pfx, "server", server, sizeof(server)), 0);
	const char *bin = test_bin();
	int srv_out, a_out, b_out;
	pid_t srv = lab_spawn(lab_pfx, "server",
			      (char *const[]){ (char *)bin, "-q", "--serve", "--listen", "0.0.0.0:7878", NULL },
			      &srv_out);
	ck_assert_int_gt(srv, 0);
	usleep(300000);
	if (impair)
		ck_assert_int_eq(lab_impair(lab_pfx, 40, 10, 5), 0);
	snprintf(id_b, sizeof(id_b), "bob@%s", server);
	pid_t b = lab_spawn(lab_pfx, "b",
			    (char *const[]){ (char *)bin, "--json", "--auto-answer", "--once", "--input", wav_b,
					     "--output", out_b, id_b, NULL }, &b_out);
	ck_assert_msg(read_event(b_out, "registered", lb, n, T) == 0, "bob did not register");
	snprintf(id_a, sizeof(id_a), "alice@%s", server);
	pid_t a = lab_spawn(lab_pfx, "a",
			    (char *const[]){ (char *)bin, "--json", "--input", wav_a, "--output", out_a, id_a, "bob",
					     NULL }, &a_out);
	ck_assert_msg(read_event(a_out, "connected", la, n, T) == 0, "alice did not connect");
	ck_assert_str_eq(json_field(la, "path", f, sizeof(f)), "direct");
	if (rebind) {
		char ip[64];
		usleep(2000000);
		ck_assert_int_eq(lab_rebind(lab_pfx, "nata", ip, sizeof(ip)), 0);
		ck_assert_msg(read_event(b_out, "path", lb, n, T) == 0, "bob did not follow the rebinding");
		fprintf(stderr, "audio_call: lab: NAT A now %s; bob: %s\n", ip, lb);
		ck_assert_ptr_nonnull(strstr(json_field(lb, "remote", f, sizeof(f)), ip));
	}
	ck_assert_msg(read_event(a_out, "ended", la, n, T) == 0, "alice's call did not end");
	ck_assert_msg(read_event(b_out, "ended", lb, n, T) == 0, "bob's call did not end");
	ck_assert_int_eq(lab_wait(a, T), EXIT_OK);
	ck_assert_int_eq(lab_wait(b, T), EXIT_OK);
	fprintf(stderr, "audio_call: lab: %s\naudio_call: lab: %s\n", la, lb);
	lab_kill(srv);
	close(srv_out);
	close(a_out);
	close(b_out);
	lab_down(lab_pfx);
}

/* FEC, PLC and the jitter buffer must still deliver the speech, and the
 * figures must show the impairment. */
START_TEST(speech_across_impaired_lab)
{
	if (lab_skip())
		return;
	char la[4096], lb[4096];
	lab_call(true, false, la, lb, sizeof(la));
	/* One crossing of the router each way: RTT ~80 ms; ~5 % loss. */
	double rtt = json_num(la, "rtt_ms"), loss = json_num(la, "loss_pct");
	ck_assert_msg(rtt >= 60 && rtt <= 200, "rtt %.1f ms", rtt);
	ck_assert_msg(loss >= 1 && loss <= 12, "loss %.1f %%", loss);
	ck_assert_msg(json_num(la, "jb_ms") >= 10, "jitter buffer %.0f ms", json_num(la, "jb_ms"));
	/* Each lost frame is rebuilt from FEC or made up by PLC. */
	ck_assert_msg(json_num(la, "concealed_pct") + json_num(la, "recovered_pct") > 0,
		      "nothing concealed or recovered with 5 %% loss");
	check_heard(wav_b, out_a, LOSSY_MIN_CORR, "alice (lab)");
	check_heard(wav_a, out_b, LOSSY_MIN_CORR, "bob (lab)");
}
END_TEST

static void lab_setup(void)
{
	lab_prefix(lab_pfx, sizeof(lab_pfx), "audio");
}

Suite *audio_call_suite(void)
{
	Suite *s = suite_create("audio_call");
	TCase *c = tcase_create("loopback");
	tcase_set_timeout(c, 60);
	tcase_add_checked_fixture(c, setup, teardown);
	tcase_add_test(c, speech_both_ways_direct);
	tcase_add_test(c, speech_both_ways_relay);
	tcase_add_test(c, speech_frame_sizes);
	tcase_add_test(c, rtp_on_the_wire);
	tcase_add_test(c, bad_files_and_devices);
	tcase_add_test(c, bad_options);
	tcase_add_test(c, speech_through_portaudio);
	suite_add_tcase(s, c);
	c = tcase_create("lab");
	tcase_set_timeout(c, 120);
	tcase_add_unchecked_fixture(c, lab_setup, lab_teardown);
	tcase_add_checked_fixture(c, setup, teardown);
	tcase_add_test(c, speech_across_impaired_lab);
	suite_add_tcase(s, c);
	return s;
}
