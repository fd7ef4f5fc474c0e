/* audio_file: files generated with libsndfile in a temp dir, read back as
 * 48 kHz mono (duration, tone frequency, level), error cases quoted with the
 * file name, writer round trip and a writer killed before close. */
#define _XOPEN_SOURCE 700
#include <check.h>
#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <sndfile.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "p2pcall/audio_file.h"

static char tmpdir[64];

static void tmp_setup(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/p2pcall-audiofile-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	return remove(p);
}

static void tmp_teardown(void)
{
	nftw(tmpdir, rm_cb, 8, FTW_DEPTH | FTW_PHYS);
}

static const char *tmp_path(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", tmpdir, name);
	return buf;
}

/* Writes `onset' seconds of silence then a tone of freq Hz up to secs in
 * total, to path with libsndfile, every channel c at amplitude amp/(c+1)
 * (so the downmix is a known level). */
static void write_tone(const char *path, int format, int rate, int channels, double freq,
		       double secs, double amp, double onset)
{
	sf_count_t first = (sf_count_t)lrint(onset * rate);
	SF_INFO info = { .samplerate = rate, .channels = channels, .format = format };
	SNDFILE *sf = sf_open(path, SFM_WRITE, &info);
	sf_count_t frames = (sf_count_t)lrint(secs * rate);
	float *buf = malloc(sizeof(float) * (size_t)(frames * channels));

	ck_assert_msg(sf != NULL, "sf_open %s: %s", path, sf_strerror(NULL));
	for (sf_count_t i = 0; i < frames; i++)
		for (int c = 0; c < channels; c++)
			buf[i * channels + c] =
				i < first ? 0.0f
					  : (float)(amp / (c + 1) *
						    sin(2 * M_PI * freq * (double)(i - first) / rate));
	ck_assert_int_eq(sf_writef_float(sf, buf, frames), frames);
	ck_assert_int_eq(sf_close(sf), 0);
	free(buf);
}

/* Goertzel power of frequency f in x[0..n). */
static double goertzel(const int16_t *x, size_t n, double f, double rate)
{
	double w = 2 * M_PI * f / rate, c = 2 * cos(w), s1 = 0, s2 = 0;

	for (size_t i = 0; i < n; i++) {
		double s = x[i] + c * s1 - s2;

		s2 = s1;
		s1 = s;
	}
	return s1 * s1 + s2 * s2 - c * s1 * s2;
}

/* Reads the whole file through the reader in frames of `frame` samples. */
static int16_t *read_all(const char *path, size_t frame, size_t *total)
{
	struct audio_file_reader *r = NULL;
	char err[256];
	size_t cap = 48000 * 10, n = 0;
	int16_t *all = malloc(cap * sizeof(*all));
	long got;

	ck_assert_msg(audio_file_reader_open(&r, path, err, sizeof(err)) == 0, "%s", err);
	do {
		ck_assert_uint_le(n + frame, cap);
		got = audio_file_read(r, all + n, frame, err, sizeof(err));
		ck_assert_msg(got >= 0, "%s", err);
		ck_assert_int_le(got, (long)frame);
		/* Only the last frame may be short, and then the rest is 0. */
		for (size_t i = (size_t)got; i < frame; i++)
			ck_assert_int_eq(all[n + i], 0);
		n += (size_t)got;
	} while (got == (long)frame);
	/* After the end, reads keep returning 0. */
	ck_assert_int_eq(audio_file_read(r, all + n, frame, err, sizeof(err)), 0);
	audio_file_reader_free(r);
	*total = n;
	return all;
}

struct conv_case {
	const char *name;
	int format, rate, channels;
	size_t frame; /* samples per read: 10-60 ms */
};

static const struct conv_case conv_cases[] = {
	{ "stereo44k.wav", SF_FORMAT_WAV | SF_FORMAT_PCM_16, 44100, 2, 960 },
	{ "mono16k.flac", SF_FORMAT_FLAC | SF_FORMAT_PCM_16, 16000, 1, 480 },
	{ "stereo32k.ogg", SF_FORMAT_OGG | SF_FORMAT_VORBIS, 32000, 2, 2880 },
	{ "mono48k.wav", SF_FORMAT_WAV | SF_FORMAT_FLOAT, 48000, 1, 1920 },
	{ "6ch22k.aiff", SF_FORMAT_AIFF | SF_FORMAT_PCM_24, 22050, 6, 960 },
};

/* Any rate/channels/format comes out 48 kHz mono, right duration (within
 * one frame), the tone's frequency preserved, level = channel average. */
START_TEST(test_convert_to_48k_mono)
{
	const struct conv_case *cc = &conv_cases[_i];
	struct audio_file_reader *r = NULL;
	struct audio_file_info info;
	char path[256], err[256];
	const double secs = 1.5, freq = 1000, amp = 0.5;
	size_t n;

	tmp_path(path, sizeof(path), cc->name);
	write_tone(path, cc->format, cc->rate, cc->channels, freq, secs, amp, 0.25);

	ck_assert_msg(audio_file_reader_open(&r, path, err, sizeof(err)) == 0, "%s", err);
	audio_file_reader_info(r, &info);
	ck_assert_int_eq(info.src_rate, cc->rate);
	ck_assert_int_eq(info.src_channels, cc->channels);
	ck_assert_int_eq(info.samples, (int64_t)lrint(secs * 48000));
	audio_file_reader_free(r);

	int16_t *pcm = read_all(path, cc->frame, &n);
	ck_assert_msg(labs((long)n - 72000) <= (long)cc->frame, "%s: %zu samples", cc->name, n);

	/* Frequency by zero crossings over one second of tone. */
	size_t start = 18000, len = 48000, crossings = 0;
	for (size_t i = start + 1; i < start + len; i++)
		if ((pcm[i - 1] < 0) != (pcm[i] < 0))
			crossings++;
	double est = crossings / 2.0;
	ck_assert_msg(fabs(est - freq) <= 3, "%s: %.1f Hz", cc->name, est);
	/* And by Goertzel: the tone dominates its neighbours by far. */
	double p = goertzel(pcm + start, len, freq, 48000);
	ck_assert(p > 1000 * goertzel(pcm + start, len, freq * 1.1, 48000));
	ck_assert(p > 1000 * goertzel(pcm + start, len, freq * 0.9, 48000));

	/* Level: mean of amp/(c+1) over the channels, as 16-bit peak. */
	double level = 0, peak = 0;
	for (int c = 0; c < cc->channels; c++)
		level += amp / (c + 1);
	level = level / cc->channels * 32768;
	for (size_t i = start; i < start + len; i++)
		if (fabs((double)pcm[i]) > peak)
			peak = fabs((double)pcm[i]);
	ck_assert_msg(fabs(peak - level) < 0.03 * level, "%s: peak %.0f want %.0f", cc->name,
		      peak, level);
	/* Timing: the tone starts at 0.25 s = sample 12000, not later by the
	 * resampler's filter delay. */
	size_t onset = 0;
	while (onset < n && fabs((double)pcm[onset]) < 0.1 * level)
		onset++;
	ck_assert_msg(labs((long)onset - 12000) <= 3, "%s: onset at %zu", cc->name, onset);
	free(pcm);
}
END_TEST

/* A 48 kHz mono PCM16 file passes through bit-exact, including a last
 * partial frame. */
START_TEST(test_48k_pcm16_exact)
{
	SF_INFO info = { .samplerate = 48000, .channels = 1,
			 .format = SF_FORMAT_WAV | SF_FORMAT_PCM_16 };
	char path[256];
	enum { N = 48000 + 123 };
	static int16_t src[N];
	size_t n;

	for (int i = 0; i < N; i++)
		src[i] = (int16_t)((i * 7919) % 65536 - 32768);
	tmp_path(path, sizeof(path), "exact.wav");
	SNDFILE *sf = sf_open(path, SFM_WRITE, &info);
	ck_assert_ptr_nonnull(sf);
	ck_assert_int_eq(sf_write_short(sf, src, N), N);
	sf_close(sf);
	int16_t *pcm = read_all(path, 960, &n);
	ck_assert_uint_eq(n, N);
	ck_assert_int_eq(memcmp(pcm, src, sizeof(src)), 0);
	free(pcm);
}
END_TEST

START_TEST(test_reader_errors)
{
	struct audio_file_reader *r = NULL;
	char path[256], err[512];
	FILE *f;

	/* Missing file: -ENOENT, the name and the reason. */
	tmp_path(path, sizeof(path), "missing.wav");
	ck_assert_int_eq(audio_file_reader_open(&r, path, err, sizeof(err)), -ENOENT);
	ck_assert_ptr_nonnull(strstr(err, path));
	ck_assert_ptr_nonnull(strstr(err, "No such file"));
	ck_assert_ptr_null(r);

	/* A directory. */
	ck_assert_int_eq(audio_file_reader_open(&r, tmpdir, err, sizeof(err)), -EISDIR);
	ck_assert_ptr_nonnull(strstr(err, tmpdir));

	/* Garbage bytes: libsndfile's reason is quoted. */
	tmp_path(path, sizeof(path), "garbage.wav");
	f = fopen(path, "wb");
	for (int i = 0; i < 5000; i++)
		fputc((i * 131 + 7) & 0xff, f);
	fclose(f);
	ck_assert_int_eq(audio_file_reader_open(&r, path, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, path));
	ck_assert_ptr_nonnull(strstr(err, "libsndfile"));
	ck_assert_msg(strlen(strstr(err, "read: ")) > strlen("read: "), "no reason in: %s", err);
	ck_assert_ptr_null(r);

	/* A text file pretending to be audio, and an empty file. */
	tmp_path(path, sizeof(path), "notes.ogg");
	f = fopen(path, "w");
	fputs("these are not the samples you are looking for\n", f);
	fclose(f);
	ck_assert_int_eq(audio_file_reader_open(&r, path, err, sizeof(err)), -EINVAL);
	tmp_path(path, sizeof(path), "empty.wav");
	fclose(fopen(path, "w"));
	ck_assert_int_eq(audio_file_reader_open(&r, path, err, sizeof(err)), -EINVAL);

	/* A valid WAV header with no samples. */
	SF_INFO info = { .samplerate = 8000, .channels = 1,
			 .format = SF_FORMAT_WAV | SF_FORMAT_PCM_16 };
	tmp_path(path, sizeof(path), "silent.wav");
	sf_close(sf_open(path, SFM_WRITE, &info));
	ck_assert_int_eq(audio_file_reader_open(&r, path, err, sizeof(err)), -ENODATA);
	ck_assert_ptr_nonnull(strstr(err, "no audio"));

	/* NULL err buffer is allowed. */
	ck_assert_int_eq(audio_file_reader_open(&r, "/nonexistent/x.wav", NULL, 0), -ENOENT);
	audio_file_reader_free(NULL);
}
END_TEST

static void check_wav(const char *path, sf_count_t frames, const int16_t *expect)
{
	SF_INFO info = { 0 };
	SNDFILE *sf = sf_open(path, SFM_READ, &info);

	ck_assert_msg(sf != NULL, "%s: %s", path, sf_strerror(NULL));
	ck_assert_int_eq(info.samplerate, 48000);
	ck_assert_int_eq(info.channels, 1);
	ck_assert_int_eq(info.format, SF_FORMAT_WAV | SF_FORMAT_PCM_16);
	ck_assert_int_eq(info.frames, frames);
	if (expect) {
		int16_t *buf = malloc(sizeof(int16_t) * (size_t)frames);

		ck_assert_int_eq(sf_read_short(sf, buf, frames), frames);
		ck_assert_int_eq(memcmp(buf, expect, sizeof(int16_t) * (size_t)frames), 0);
		free(buf);
	}
	sf_close(sf);
}

START_TEST(test_writer_round_trip)
{
	struct audio_file_writer *w = NULL;
	char path[256], err[256];
	enum { N = 48000 * 5 / 2 };
	static int16_t src[N];

	for (int i = 0; i < N; i++)
		src[i] = (int16_t)lrint(10000 * sin(2 * M_PI * 440.0 * i / 48000));
	tmp_path(path, sizeof(path), "out.wav");
	ck_assert_msg(audio_file_writer_open(&w, path, err, sizeof(err)) == 0, "%s", err);
	for (int off = 0; off < N; off += 960)
		ck_assert_int_eq(audio_file_write(w, src + off, 960, err, sizeof(err)), 0);
	ck_assert_int_eq(audio_file_writer_samples(w), N);
	ck_assert_int_eq(audio_file_writer_close(w, err, sizeof(err)), 0);
	check_wav(path, N, src);

	/* And our own reader gets the same samples back. */
	size_t n;
	int16_t *pcm = read_all(path, 480, &n);
	ck_assert_uint_eq(n, N);
	ck_assert_int_eq(memcmp(pcm, src, sizeof(src)), 0);
	free(pcm);
	ck_assert_int_eq(audio_file_writer_close(NULL, NULL, 0), 0);
}
END_TEST

/* The process dies without closing the writer (as under SIGKILL): the
 * header written at each second still makes a valid file with at least
 * the complete seconds. */
START_TEST(test_writer_killed)
{
	char path[256];
	enum { N = 48000 * 5 / 2 };
	static int16_t src[N];
	int status;
	pid_t pid;

	for (int i = 0; i < N; i++)
		src[i] = (int16_t)(i % 1000);
	tmp_path(path, sizeof(path), "killed.wav");
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct audio_file_writer *w = NULL;

		if (audio_file_writer_open(&w, path, NULL, 0) != 0)
			_exit(1);
		for (int off = 0; off < N; off += 960)
			if (audio_file_write(w, src + off, 960, NULL, 0) != 0)
				_exit(2);
		/* Die without audio_file_writer_close. */
		raise(SIGKILL);
		_exit(3);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

	SF_INFO info = { 0 };
	SNDFILE *sf = sf_open(path, SFM_READ, &info);
	ck_assert_msg(sf != NULL, "%s", sf_strerror(NULL));
	ck_assert_int_eq(info.samplerate, 48000);
	ck_assert_int_ge(info.frames, 2 * 48000);
	ck_assert_int_le(info.frames, N);
	int16_t *buf = malloc(sizeof(int16_t) * (size_t)info.frames);
	ck_assert_int_eq(sf_read_short(sf, buf, info.frames), info.frames);
	ck_assert_int_eq(memcmp(buf, src, sizeof(int16_t) * (size_t)info.frames), 0);
	free(buf);
	sf_close(sf);
}
END_TEST

START_TEST(test_writer_errors)
{
	struct audio_file_writer *w = NULL;
	char path[256], err[256];

	/* Missing directory. */
	tmp_path(path, sizeof(path), "no/such/dir/out.wav");
	ck_assert_int_eq(audio_file_writer_open(&w, path, err, sizeof(err)), -ENOENT);
	ck_assert_ptr_nonnull(strstr(err, path));
	ck_assert_ptr_nonnull(strstr(err, "No such file"));
	ck_assert_ptr_null(w);
	/* A directory. */
	ck_assert_int_eq(audio_file_writer_open(&w, tmpdir, err, sizeof(err)), -EISDIR);
	ck_assert_ptr_nonnull(strstr(err, tmpdir));
	/* Read-only filesystem (root ignores permission bits, not EROFS):
	 * /proc refuses file creation. */
	int rc = audio_file_writer_open(&w, "/proc/p2pcall-test.wav", err, sizeof(err));
	ck_assert_msg(rc < 0, "created a file in /proc?");
	ck_assert_ptr_nonnull(strstr(err, "/proc/p2pcall-test.wav"));
	/* Full device: open works, writing fails with -EIO, not silently. */
	if (access("/dev/full", W_OK) == 0) {
		rc = audio_file_writer_open(&w, "/dev/full", err, sizeof(err));
		if (rc == 0) {
			int16_t z[960] = { 0 };
			int wrc = 0;

			for (int i = 0; i < 100 && wrc == 0; i++)
				wrc = audio_file_write(w, z, 960, err, sizeof(err));
			int crc = audio_file_writer_close(w, NULL, 0);
			ck_assert_msg(wrc == -EIO || crc == -EIO, "writes to /dev/full succeeded");
		} else {
			/* libsndfile refuses at header time: also an error. */
			ck_assert_ptr_nonnull(strstr(err, "/dev/full"));
		}
	}
}
END_TEST

Suite *audio_file_suite(void);
Suite *audio_file_suite(void)
{
	Suite *s = suite_create("audio_file");
	TCase *tc = tcase_create("file");

	tcase_add_checked_fixture(tc, tmp_setup, tmp_teardown);
	tcase_add_loop_test(tc, test_convert_to_48k_mono, 0,
			    (int)(sizeof(conv_cases) / sizeof(conv_cases[0])));
	tcase_add_test(tc, test_48k_pcm16_exact);
	tcase_add_test(tc, test_reader_errors);
	tcase_add_test(tc, test_writer_round_trip);
	tcase_add_test(tc, test_writer_killed);
	tcase_add_test(tc, test_writer_errors);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	return s;
}
