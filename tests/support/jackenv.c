/* Audio test environments without a sound card, see jackenv.h. */
#define _XOPEN_SOURCE 700
#include "jackenv.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

struct jackenv {
	struct jackenv *next; /* live environments, for the exit hook */
	pid_t owner;          /* the process that created it */
	enum jackenv_mode mode;
	pid_t jackd;
	char dir[80];
	char asoundrc[128];
	char capture[128];
	char playback[128];
	char log[128];
	char server[64];
};

__attribute__((format(printf, 3, 4)))
static void set_err(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (!buf || len == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}

static bool in_path(const char *prog)
{
	const char *path = getenv("PATH");
	char buf[512];

	if (!path)
		path = "/usr/bin:/bin";
	while (*path) {
		size_t n = strcspn(path, ":");

		snprintf(buf, sizeof(buf), "%.*s/%s", (int)n, path, prog);
		if (access(buf, X_OK) == 0)
			return true;
		path += n;
		if (*path == ':')
			path++;
	}
	return false;
}

/* Runs argv (searched in PATH) with stdout/stderr appended to log; returns
 * the pid, or -errno. */
static pid_t spawn_logged(char *const argv[], const char *log)
{
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int rc;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0644);
	posix_spawn_file_actions_adddup2(&fa, 1, 2);
	rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	return rc ? -rc : pid;
}

/* Like spawn_logged, for a daemon that must not outlive the test: a failed
 * Check assertion ends the test process at once, without jackenv_free, so
 * the kernel sends jackd SIGTERM when its parent dies (PR_SET_PDEATHSIG).
 * fork+exec because posix_spawn cannot set that. */
static pid_t spawn_tethered(char *const argv[], const char *log)
{
	pid_t parent = getpid(), pid;
	int fd;

	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid > 0)
		return pid;
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 || getppid() != parent)
		_exit(127);
	fd = open("/dev/null", O_RDONLY);
	if (fd >= 0 && fd != 0) {
		dup2(fd, 0);
		close(fd);
	}
	fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
	if (fd >= 0) {
		dup2(fd, 1);
		dup2(fd, 2);
		if (fd > 2)
			close(fd);
	}
	execvp(argv[0], argv);
	_exit(127);
}

static int wait_exit(pid_t pid, int *status)
{
	while (waitpid(pid, status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return 0;
}

/* The ALSA configuration. Standalone: ALSA_CONFIG_PATH replaces alsa.conf,
 * so only built-in PCM types and plugin libraries (jack) are known, and a
 * null PCM must be written inline. */
static int write_asoundrc(struct jackenv *e)
{
	FILE *f = fopen(e->asoundrc, "w");
	const char *slave = e->mode == JACKENV_JACK ? "{ type plug; slave.pcm \"jackpcm\" }"
						    : "{ type null }";

	if (!f)
		return -errno;
	if (e->mode == JACKENV_JACK)
		fprintf(f,
			"pcm.jackpcm {\n"
			"  type jack\n"
			"  playback_ports { 0 system:playback_1 }\n"
			"  capture_ports { 0 system:capture_1 }\n"
			"}\n");
	fprintf(f,
		"pcm.!default {\n"
		"  type asym\n"
		"  playback.pcm { type file; slave.pcm %s; file \"%s\"; format raw }\n"
		"  capture.pcm { type file; slave.pcm %s; file \"/dev/null\";"
		" infile \"%s\"; format raw }\n"
		"}\n",
		slave, e->playback, slave, e->capture);
	if (fclose(f) != 0)
		return -errno;
	return 0;
}

static int start_jackd(struct jackenv *e, char *err, size_t errlen)
{
	static unsigned seq;
	char timeout[] = "10";
	int status = 0, rc;
	pid_t waiter;

	if (!in_path("jackd") || !in_path("jack_wait")) {
		set_err(err, errlen, "jackd/jack_wait not installed (Debian: jackd2)");
		return -ENOENT;
	}
	snprintf(e->server, sizeof(e->server), "p2pcall-%ld-%u", (long)getpid(), seq++);
	/* Period 256 (or 512): other sizes make the ALSA jack device vanish
	 * (testbed.md). Realtime (-R, SCHED_FIFO for jackd's and its clients'
	 * process threads): with --no-realtime the dummy clock glitched under
	 * load (xruns lost periods on a busy 2-core machine); where SCHED_FIFO
	 * is not permitted jackd says so in its log and runs without it. */
	char *jargv[] = { "jackd", "-n", e->server, "-R", "-d", "dummy", "-r", "48000",
			  "-p", "256", "-C", "1", "-P", "1", NULL };
	e->jackd = spawn_tethered(jargv, e->log);
	if (e->jackd < 0) {
		rc = e->jackd;
		e->jackd = 0;
		set_err(err, errlen, "cannot start jackd: %s", strerror(-rc));
		return rc;
	}
	char *wargv[] = { "jack_wait", "-w", "-s", e->server, "-t", timeout, NULL };
	waiter = spawn_logged(wargv, e->log);
	if (waiter < 0 || wait_exit(waiter, &status) < 0 || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0) {
		set_err(err, errlen, "jackd `%s' did not come up within %s s (log: %s)", e->server,
			timeout, e->log);
		return -ETIMEDOUT;
	}
	if (waitpid(e->jackd, &status, WNOHANG) == e->jackd) {
		e->jackd = 0;
		set_err(err, errlen, "jackd exited at start (log: %s)", e->log);
		return -ECHILD;
	}
	return 0;
}

static struct jackenv *live;

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	return remove(p);
}

/* Check ends a failed test with _exit(), so a failed test's temp dir (its
 * jackd log is useful then) stays behind; the dir name carries the pid, and
 * later runs remove the dirs of processes that no longer exist. */
static void remove_stale_dirs(void)
{
	DIR *dir = opendir("/tmp");
	struct dirent *de;

	if (!dir)
		return;
	while ((de = readdir(dir))) {
		char path[300], tail[16];
		long pid;

		if (sscanf(de->d_name, "p2pcall-audio-%ld-%15s", &pid, tail) != 2 || pid <= 0 ||
		    strlen(tail) != 6)
			continue;
		if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
			continue;
		snprintf(path, sizeof(path), "/tmp/%s", de->d_name);
		nftw(path, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	}
	closedir(dir);
}

/* A failed assertion exits the test process: stop jackd and remove the
 * temp dirs of environments that were not freed. */
static void jackenv_exit_hook(void)
{
	/* Only in the process that made them: a forked child that calls
	 * exit() must not tear down its parent's jackd. */
	while (live && live->owner == getpid())
		jackenv_free(live);
}

int jackenv_new(struct jackenv **out, enum jackenv_mode mode, char *err, size_t errlen)
{
	static bool hooked;
	struct jackenv *e = calloc(1, sizeof(*e));
	int rc = 0;
	FILE *f;

	if (!e)
		return -ENOMEM;
	if (!hooked && atexit(jackenv_exit_hook) == 0) {
		hooked = true;
		remove_stale_dirs();
	}
	e->mode = mode;
	e->owner = getpid();
	e->next = live;
	live = e;
	snprintf(e->dir, sizeof(e->dir), "/tmp/p2pcall-audio-%ld-XXXXXX", (long)getpid());
	if (!mkdtemp(e->dir)) {
		rc = -errno;
		e->dir[0] = '\0';
		set_err(err, errlen, "mkdtemp: %s", strerror(errno));
		goto out;
	}
	snprintf(e->asoundrc, sizeof(e->asoundrc), "%s/asoundrc", e->dir);
	snprintf(e->capture, sizeof(e->capture), "%s/capture.raw", e->dir);
	snprintf(e->playback, sizeof(e->playback), "%s/playback.raw", e->dir);
	snprintf(e->log, sizeof(e->log), "%s/jackd.log", e->dir);
	/* An empty capture source until the test writes one. */
	if (!(f = fopen(e->capture, "w")) || fclose(f) != 0) {
		rc = -errno;
		set_err(err, errlen, "%s: %s", e->capture, strerror(errno));
		goto out;
	}
	if ((rc = write_asoundrc(e)) < 0) {
		set_err(err, errlen, "%s: %s", e->asoundrc, strerror(-rc));
		goto out;
	}
	if (mode == JACKENV_JACK && (rc = start_jackd(e, err, errlen)) < 0)
		goto out;
	jackenv_apply(e);
	*out = e;
	e = NULL;
out:
	jackenv_free(e);
	return rc;
}


static bool owns_var(const char *name, const char *value)
{
	const char *v = getenv(name);

	return v && strcmp(v, value) == 0;
}

void jackenv_apply(const struct jackenv *e)
{
	setenv("ALSA_CONFIG_PATH", e->asoundrc, 1);
	if (e->mode == JACKENV_JACK) {
		setenv("JACK_DEFAULT_SERVER", e->server, 1);
		/* Never let libjack start a default server of its own behind
		 * our back if ours dies. */
		setenv("JACK_NO_START_SERVER", "1", 1);
	}
}

void jackenv_free(struct jackenv *e)
{
	int status;

	if (!e)
		return;
	for (struct jackenv **pp = &live; *pp; pp = &(*pp)->next) {
		if (*pp == e) {
			*pp = e->next;
			break;
		}
	}
	if (e->jackd > 0) {
		/* SIGTERM lets jackd remove its sockets and shm; give it 3 s. */
		kill(e->jackd, SIGTERM);
		for (int i = 0; i < 300; i++) {
			if (waitpid(e->jackd, &status, WNOHANG) == e->jackd) {
				e->jackd = 0;
				break;
			}
			nanosleep(&(struct timespec){ .tv_nsec = 10000000 }, NULL);
		}
		if (e->jackd > 0) {
			kill(e->jackd, SIGKILL);
			wait_exit(e->jackd, &status);
		}
		/* Another, newer environment may own the variables now. */
		if (owns_var("JACK_DEFAULT_SERVER", e->server)) {
			unsetenv("JACK_DEFAULT_SERVER");
			unsetenv("JACK_NO_START_SERVER");
		}
	}
	if (e->dir[0]) {
		const char *keep = getenv("P2PCALL_KEEP_TMP");

		if (keep && *keep)
			fprintf(stderr, "jackenv: keeping %s\n", e->dir);
		else
			nftw(e->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
		if (owns_var("ALSA_CONFIG_PATH", e->asoundrc))
			unsetenv("ALSA_CONFIG_PATH");
	}
	free(e);
}

const char *jackenv_dir(const struct jackenv *e)
{
	return e->dir;
}

const char *jackenv_asoundrc(const struct jackenv *e)
{
	return e->asoundrc;
}

const char *jackenv_capture_path(const struct jackenv *e)
{
	return e->capture;
}

const char *jackenv_playback_path(const struct jackenv *e)
{
	return e->playback;
}

const char *jackenv_server(const struct jackenv *e)
{
	return e->server;
}

int jackenv_write_capture(struct jackenv *e, const int16_t *pcm, size_t n)
{
	FILE *f = fopen(e->capture, "wb");
	int rc = 0;

	if (!f)
		return -errno;
	/* S16_LE: this test host is little-endian like the raw format. */
	if (fwrite(pcm, sizeof(*pcm), n, f) != n)
		rc = -EIO;
	if (fclose(f) != 0 && rc == 0)
		rc = -errno;
	return rc;
}

int jackenv_read_playback(const struct jackenv *e, int16_t **pcm, size_t *n)
{
	struct stat st;
	FILE *f = fopen(e->playback, "rb");
	int16_t *buf = NULL;
	size_t count;
	int rc = 0;

	*pcm = NULL;
	*n = 0;
	if (!f)
		return -errno;
	if (fstat(fileno(f), &st) < 0) {
		rc = -errno;
		goto out;
	}
	count = (size_t)st.st_size / sizeof(int16_t);
	buf = malloc((count ? count : 1) * sizeof(*buf));
	if (!buf) {
		rc = -ENOMEM;
		goto out;
	}
	if (fread(buf, sizeof(*buf), count, f) != count) {
		rc = -EIO;
		goto out;
	}
	*pcm = buf;
	*n = count;
	buf = NULL;
out:
	free(buf);
	fclose(f);
	return rc;
}

static double ncorr_at(const int16_t *a, const int16_t *b, size_t n)
{
	double ab = 0, aa = 0, bb = 0;

	for (size_t i = 0; i < n; i++) {
		ab += (double)a[i] * b[i];
		aa += (double)a[i] * a[i];
		bb += (double)b[i] * b[i];
	}
	return (aa > 0 && bb > 0) ? ab / sqrt(aa * bb) : 0;
}

/* The search correlates only the first 2048 samples of ref (a chirp or
 * speech is not self-similar over that span), so it stays O(nsig * 2048);
 * the returned correlation is then over the whole of ref. */
#define ALIGN_WINDOW 2048

long jackenv_align(const int16_t *ref, size_t nref, const int16_t *sig, size_t nsig,
		   double *corr)
{
	size_t w = nref < ALIGN_WINDOW ? nref : ALIGN_WINDOW;
	double rr = 0, ss = 0, best = -2;
	long best_k = -1;

	*corr = 0;
	if (nref == 0 || nsig < nref)
		return -1;
	for (size_t i = 0; i < w; i++) {
		rr += (double)ref[i] * ref[i];
		ss += (double)sig[i] * sig[i];
	}
	for (size_t k = 0; k + nref <= nsig; k++) {
		double rs = 0, c;

		if (k > 0) /* slide the window energy of sig */
			ss += (double)sig[k + w - 1] * sig[k + w - 1] -
			      (double)sig[k - 1] * sig[k - 1];
		if (ss <= 0.5 || rr <= 0)
			continue;
		for (size_t i = 0; i < w; i++)
			rs += (double)ref[i] * sig[k + i];
		c = rs / sqrt(rr * ss);
		if (c > best) {
			best = c;
			best_k = (long)k;
		}
	}
	if (best_k >= 0)
		*corr = ncorr_at(ref, sig + best_k, nref);
	return best_k;
}
