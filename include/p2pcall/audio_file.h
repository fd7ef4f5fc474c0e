/* Sound files for --input / --output.
 *
 * Reader: anything libsndfile reads (WAV, FLAC, OGG/Vorbis, AIFF, ...), at
 * any rate and channel count, delivered as 48 kHz mono int16 frames:
 * channels are averaged, the rate is converted with speexdsp's resampler.
 * Writer: WAV, 48 kHz, mono, 16-bit PCM, written as the call goes.
 *
 * Errors are found at open time (so a call is never placed with a file that
 * cannot be used) and come back as -errno plus a message in the caller's
 * buffer that quotes the file name and the underlying reason. */
#ifndef P2PCALL_AUDIO_FILE_H
#define P2PCALL_AUDIO_FILE_H

#include <stddef.h>
#include <stdint.h>

#define AUDIO_FILE_RATE 48000

struct audio_file_reader;
struct audio_file_writer;

struct audio_file_info {
	int src_rate;       /* the file's own sample rate */
	int src_channels;   /* the file's own channel count */
	int64_t src_frames; /* frames in the file at its own rate */
	int64_t samples;    /* samples this reader will deliver at 48 kHz, as
			     * the header says: a pipe's may claim more, or
			     * -1 if it does not say */
};

/* Opens path for reading. Returns 0 and sets *out (caller owns it), or
 * -ENOENT/-EACCES/-EISDIR/... (the open(2) error), -EINVAL for a file that
 * is not audio libsndfile understands, -ENODATA for a file without audio;
 * err (may be NULL) receives "`path': reason". */
int audio_file_reader_open(struct audio_file_reader **out, const char *path, char *err,
			   size_t errlen);
void audio_file_reader_free(struct audio_file_reader *r);

void audio_file_reader_info(const struct audio_file_reader *r, struct audio_file_info *info);

/* Reads the next nsamples samples (one 10-60 ms frame, or any length) of
 * 48 kHz mono audio into pcm. Returns the number of real samples (less
 * than nsamples only for the last frame, whose tail is then zero-filled;
 * 0 at the end), or -EIO with err set. */
long audio_file_read(struct audio_file_reader *r, int16_t *pcm, size_t nsamples, char *err,
		     size_t errlen);

/* Creates (truncates) path as a 48 kHz mono 16-bit WAV file. Returns 0 and
 * sets *out, or -errno with "`path': reason" in err. Open it before placing
 * the call so that an unwritable path is reported at once. */
int audio_file_writer_open(struct audio_file_writer **out, const char *path, char *err,
			   size_t errlen);

/* Appends n samples. The WAV header is rewritten and the file synced once
 * per second of audio, so a killed process leaves a valid file holding all
 * but the last second at most. Returns 0 or -EIO (disk full...). */
int audio_file_write(struct audio_file_writer *w, const int16_t *pcm, size_t n, char *err,
		     size_t errlen);

/* Samples written so far. */
int64_t audio_file_writer_samples(const struct audio_file_writer *w);

/* Finalises the header, closes and frees w (NULL is fine). Returns 0, or
 * -EIO if the last writes failed. */
int audio_file_writer_close(struct audio_file_writer *w, char *err, size_t errlen);

#endif
