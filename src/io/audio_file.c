/* Sound file reader/writer, see include/p2pcall/audio_file.h. */
#include "p2pcall/audio_file.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <sndfile.h>
#include <speex/speex_resampler.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Source frames read from libsndfile per refill. */
#define READ_CHUNK 1024
/* File input is not latency-critical, so use a better quality than the
 * VoIP default (3): 5 keeps aliasing ~-80 dB at negligible CPU per call. */
#define RESAMPLE_QUALITY 5
/* Rates outside this range are almost certainly a broken header. */
#define MIN_RATE 1000
#define MAX_RATE 768000

struct audio_file_reader {
	SNDFILE *sf;
	SF_INFO info;
	SpeexResamplerState *rs; /* NULL when the file is already 48 kHz */
	float *in;               /* READ_CHUNK interleaved source frames */
	float *mono;             /* READ_CHUNK downmixed frames */
	float *out;              /* pending 48 kHz samples */
	size_t out_cap, out_pos, out_len;
	int64_t in_frames;       /* source frames consumed so far */
	int64_t produced;        /* 48 kHz samples put into out so far */
	bool done;               /* source exhausted and resampler drained */
	char *path;
};

struct audio_file_writer {
	SNDFILE *sf;
	int64_t samples;
	int64_t next_update; /* sample count at which the header is rewritten */
	char *path;
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

/* Output length for n source frames: n * 48000 / rate, rounded. */
static int64_t out_samples_for(int64_t frames, int rate)
{
	return (frames * AUDIO_FILE_RATE + rate / 2) / rate;
}

int audio_file_reader_open(struct audio_file_reader **out, const char *path, char *err,
			   size_t errlen)
{
	struct audio_file_reader *r = NULL;
	struct stat st;
	int fd = -1, rc = 0, rerr = 0;

	if (!out || !path) {
		set_err(err, errlen, "no input file name");
		return -EINVAL;
	}
	/* open(2) ourselves: libsndfile folds "no such file" and "not audio"
	 * into one message and loses errno. */
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		rc = -errno;
		set_err(err, errlen, "cannot open `%s': %s", path, strerror(errno));
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		rc = -EISDIR;
		set_err(err, errlen, "cannot read `%s': %s", path, strerror(EISDIR));
		goto out;
	}
	r = calloc(1, sizeof(*r));
	if (!r || !(r->path = strdup(path))) {
		rc = -ENOMEM;
		set_err(err, errlen, "`%s': out of memory", path);
		goto out;
	}
	r->sf = sf_open_fd(fd, SFM_READ, &r->info, SF_TRUE);
	fd = -1; /* libsndfile owns (and on failure has closed) it now */
	if (!r->sf) {
		rc = -EINVAL;
		set_err(err, errlen, "`%s' is not a sound file libsndfile can read: %s", path,
			sf_strerror(NULL));
		goto out;
	}
	if (r->info.channels < 1 || r->info.frames <= 0) {
		rc = -ENODATA;
		set_err(err, errlen, "`%s' contains no audio", path);
		goto out;
	}
	if (r->info.samplerate < MIN_RATE || r->info.samplerate > MAX_RATE) {
		rc = -EINVAL;
		set_err(err, errlen, "`%s': unsupported sample rate %d Hz", path,
			r->info.samplerate);
		goto out;
	}
	r->in = malloc(sizeof(float) * READ_CHUNK * (size_t)r->info.channels);
	r->mono = malloc(sizeof(float) * READ_CHUNK);
	/* Room for one chunk's worth of output, plus the resampler's filter
	 * length for the drain at the end. */
	r->out_cap = (size_t)out_samples_for(READ_CHUNK, r->info.samplerate) + 512;
	r->out = malloc(sizeof(float) * r->out_cap);
	if (!r->in || !r->mono || !r->out) {
		rc = -ENOMEM;
		set_err(err, errlen, "`%s': out of memory", path);
		goto out;
	}
	if (r->info.samplerate != AUDIO_FILE_RATE) {
		r->rs = speex_resampler_init(1, (spx_uint32_t)r->info.samplerate, AUDIO_FILE_RATE,
					     RESAMPLE_QUALITY, &rerr);
		if (!r->rs) {
			rc = -ENOMEM;
			set_err(err, errlen, "`%s': cannot resample %d Hz: %s", path,
				r->info.samplerate, speex_resampler_strerror(rerr));
			goto out;
		}
		/* Drop the filter's leading zeros so output sample 0 is input
		 * sample 0: keeps durations exact and files aligned. */
		speex_resampler_skip_zeros(r->rs);
	}
	*out = r;
	r = NULL;
out:
	if (fd >= 0)
		close(fd);
	audio_file_reader_free(r);
	return rc;
}

void audio_file_reader_free(struct audio_file_reader *r)
{
	if (!r)
		return;
	if (r->sf)
		sf_close(r->sf);
	if (r->rs)
		speex_resampler_destroy(r->rs);
	free(r->in);
	free(r->mono);
	free(r->out);
	free(r->path);
	free(r);
}

void audio_file_reader_info(const struct audio_file_reader *r, struct audio_file_info *info)
{
	info->src_rate = r->info.samplerate;
	info->src_channels = r->info.channels;
	info->src_frames = r->info.frames;
	/* A stream (pipe) may report SF_COUNT_MAX frames: unknown length. */
	info->samples = r->info.frames > INT64_MAX / AUDIO_FILE_RATE
				? -1
				: out_samples_for(r->info.frames, r->info.samplerate);
}

/* Resamples n mono samples into the (empty) output buffer. */
static void resample_into_out(struct audio_file_reader *r, const float *src, size_t n)
{
	size_t used = 0;

	while (used < n && r->out_len < r->out_cap) {
		spx_uint32_t in_len = (spx_uint32_t)(n - used);
		spx_uint32_t out_len = (spx_uint32_t)(r->out_cap - r->out_len);

		speex_resampler_process_float(r->rs, 0, src + used, &in_len, r->out + r->out_len,
					      &out_len);
		used += in_len;
		r->out_len += out_len;
		if (in_len == 0 && out_len == 0)
			break;
	}
}

/* Refills r->out with the next block of 48 kHz samples. Returns 0 (maybe
 * with nothing added at the very end), or -EIO. */
static int reader_refill(struct audio_file_reader *r, char *err, size_t errlen)
{
	int ch = r->info.channels;
	sf_count_t n;

	r->out_pos = r->out_len = 0;
	n = sf_readf_float(r->sf, r->in, READ_CHUNK);
	if (n < 0 || (n == 0 && sf_error(r->sf) != SF_ERR_NO_ERROR)) {
		set_err(err, errlen, "cannot read `%s': %s", r->path, sf_strerror(r->sf));
		return -EIO;
	}
	if (n > 0) {
		/* Downmix by averaging: keeps a mono file's level and cannot
		 * clip. */
		for (sf_count_t i = 0; i < n; i++) {
			float s = 0;

			for (int c = 0; c < ch; c++)
				s += r->in[i * ch + c];
			r->mono[i] = s / (float)ch;
		}
		r->in_frames += n;
		if (!r->rs) {
			memcpy(r->out, r->mono, sizeof(float) * (size_t)n);
			r->out_len = (size_t)n;
		} else {
			resample_into_out(r, r->mono, (size_t)n);
		}
	} else {
		/* End of the source: push zeros through the resampler until
		 * the output reaches the exact converted length. */
		int64_t want = out_samples_for(r->in_frames, r->info.samplerate);

		if (r->rs && r->produced < want) {
			size_t zeros = (size_t)speex_resampler_get_input_latency(r->rs) + 16;

			if (zeros > READ_CHUNK)
				zeros = READ_CHUNK;
			memset(r->mono, 0, sizeof(float) * zeros);
			resample_into_out(r, r->mono, zeros);
			if ((int64_t)r->out_len > want - r->produced)
				r->out_len = (size_t)(want - r->produced);
		}
		if (r->out_len == 0)
			r->done = true;
	}
	r->produced += (int64_t)r->out_len;
	return 0;
}

long audio_file_read(struct audio_file_reader *r, int16_t *pcm, size_t nsamples, char *err,
		     size_t errlen)
{
	size_t got = 0;

	if (!r || (!pcm && nsamples > 0) || nsamples > LONG_MAX) {
		set_err(err, errlen, "audio_file_read: bad arguments");
		return -EINVAL;
	}
	while (got < nsamples && !r->done) {
		if (r->out_pos == r->out_len) {
			int rc = reader_refill(r, err, errlen);

			if (rc < 0)
				return rc;
			continue;
		}
		while (got < nsamples && r->out_pos < r->out_len) {
			/* libsndfile scales 16-bit PCM to [-1, 1) by 1/32768:
			 * the same factor back makes 48 kHz PCM16 files exact. */
			float v = r->out[r->out_pos++] * 32768.0f;

			if (v > 32767.0f)
				v = 32767.0f;
			else if (v < -32768.0f)
				v = -32768.0f;
			pcm[got++] = (int16_t)lrintf(v);
		}
	}
	if (got < nsamples)
		memset(pcm + got, 0, (nsamples - got) * sizeof(*pcm));
	return (long)got;
}

int audio_file_writer_open(struct audio_file_writer **out, const char *path, char *err,
			   size_t errlen)
{
	struct audio_file_writer *w = NULL;
	SF_INFO info = {
		.samplerate = AUDIO_FILE_RATE,
		.channels = 1,
		.format = SF_FORMAT_WAV | SF_FORMAT_PCM_16,
	};
	int fd = -1, rc = 0;

	if (!out || !path) {
		set_err(err, errlen, "no output file name");
		return -EINVAL;
	}
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
	if (fd < 0) {
		rc = -errno;
		set_err(err, errlen, "cannot create `%s': %s", path, strerror(errno));
		goto out;
	}
	w = calloc(1, sizeof(*w));
	if (!w || !(w->path = strdup(path))) {
		rc = -ENOMEM;
		set_err(err, errlen, "`%s': out of memory", path);
		goto out;
	}
	w->sf = sf_open_fd(fd, SFM_WRITE, &info, SF_TRUE);
	fd = -1;
	if (!w->sf) {
		rc = -EIO;
		set_err(err, errlen, "cannot write a WAV file to `%s': %s", path,
			sf_strerror(NULL));
		goto out;
	}
	w->next_update = AUDIO_FILE_RATE;
	*out = w;
	w = NULL;
out:
	if (fd >= 0)
		close(fd);
	if (w) {
		if (w->sf)
			sf_close(w->sf);
		free(w->path);
		free(w);
	}
	return rc;
}

int audio_file_write(struct audio_file_writer *w, const int16_t *pcm, size_t n, char *err,
		     size_t errlen)
{
	sf_count_t done;

	if (!w || (!pcm && n > 0)) {
		set_err(err, errlen, "audio_file_write: bad arguments");
		return -EINVAL;
	}
	if (n == 0)
		return 0;
	done = sf_write_short(w->sf, pcm, (sf_count_t)n);
	if (done > 0)
		w->samples += done;
	if (done != (sf_count_t)n) {
		set_err(err, errlen, "cannot write to `%s': %s", w->path, sf_strerror(w->sf));
		return -EIO;
	}
	if (w->samples >= w->next_update) {
		/* Rewrite the RIFF/data sizes so the file is valid if we are
		 * killed. No fsync: a killed process loses nothing that is in
		 * the page cache, and fsync could stall the event loop. */
		sf_command(w->sf, SFC_UPDATE_HEADER_NOW, NULL, 0);
		w->next_update = w->samples + AUDIO_FILE_RATE;
	}
	return 0;
}

int64_t audio_file_writer_samples(const struct audio_file_writer *w)
{
	return w->samples;
}

int audio_file_writer_close(struct audio_file_writer *w, char *err, size_t errlen)
{
	int rc = 0, e;

	if (!w)
		return 0;
	e = sf_close(w->sf);
	if (e != 0) {
		rc = -EIO;
		set_err(err, errlen, "cannot finish `%s': %s", w->path, sf_error_number(e));
	}
	free(w->path);
	free(w);
	return rc;
}
