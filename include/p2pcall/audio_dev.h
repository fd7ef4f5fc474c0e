/* Sound card capture and playback through PortAudio, 48 kHz mono int16.
 *
 * PortAudio calls our callback on its own real-time thread. The callback
 * never blocks, locks or allocates: it writes captured samples into a
 * capture spsc_ring and takes playback samples from a playback spsc_ring.
 * The event loop thread is the other end of both rings: it drains capture
 * with audio_dev_read() and feeds playback with audio_dev_write(), polling
 * on a timer (e.g. every 10 ms). When the playback ring runs dry the
 * callback plays silence and counts an underrun; when the capture ring is
 * full it drops the new samples and counts an overrun.
 *
 * All functions except the callback run on the event loop thread. */
#ifndef P2PCALL_AUDIO_DEV_H
#define P2PCALL_AUDIO_DEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define AUDIO_DEV_RATE 48000

struct audio_dev;

struct audio_dev_cfg {
	/* Device for each direction: NULL or "" = the default device, all
	 * digits = a PortAudio device index (as --list-devices prints), else
	 * a case-insensitive substring of the device name. */
	const char *input;
	const char *output;
	bool capture;              /* open the input direction */
	bool playback;             /* open the output direction */
	unsigned frames_per_buffer; /* callback size; 0 = PortAudio chooses */
	double latency_s;          /* suggested latency; 0 = device's low default */
	size_t ring_samples;       /* capacity of each ring (rounded up to 2^n) */
	bool realtime;             /* ask for SCHED_FIFO for the ALSA callback
				    * thread; falls back silently if refused.
				    * Not for clock-less (file/null) devices:
				    * the callback would spin at RT priority. */
};

struct audio_dev_stats {
	uint64_t callbacks;        /* callback invocations */
	uint64_t captured;         /* samples put into the capture ring */
	uint64_t capture_dropped;  /* samples dropped: capture ring full */
	uint64_t played;           /* samples taken from the playback ring */
	uint64_t underruns;        /* callbacks that found too few samples */
	uint64_t underrun_samples; /* silence samples played for them */
	uint64_t input_overflows;  /* PortAudio/driver-reported (paInputOverflow) */
	uint64_t output_underflows; /* PortAudio/driver-reported (paOutputUnderflow) */
};

/* Both directions, default devices, 10 ms callbacks, 40 ms suggested
 * latency, 1 s rings, realtime callback thread. */
void audio_dev_cfg_default(struct audio_dev_cfg *cfg);

/* Initialises PortAudio, finds the devices and opens (but does not start)
 * the stream. Returns 0 and sets *out (caller owns it), or -ENODEV (no
 * such device / no default device), -EINVAL (bad config, or the device
 * cannot do 48 kHz mono 16-bit), -EIO (PortAudio error), -ENOMEM, with a
 * message for people in err. */
int audio_dev_new(struct audio_dev **out, const struct audio_dev_cfg *cfg, char *err,
		  size_t errlen);

/* Stops the stream if running, closes it, frees d (NULL is fine). */
void audio_dev_free(struct audio_dev *d);

/* Starts the callbacks. 0 or -EIO with err set. */
int audio_dev_start(struct audio_dev *d, char *err, size_t errlen);

/* Stops the callbacks once the driver has played what it was given (the
 * playback ring's remaining content is not waited for). 0 or -EIO. */
int audio_dev_stop(struct audio_dev *d, char *err, size_t errlen);

/* True while the stream runs (false after stop, or if the driver died). */
bool audio_dev_is_active(const struct audio_dev *d);

/* Takes up to n captured samples; returns how many. */
size_t audio_dev_read(struct audio_dev *d, int16_t *pcm, size_t n);

/* Takes exactly n captured samples (one frame) or none; true if taken. */
bool audio_dev_read_frame(struct audio_dev *d, int16_t *pcm, size_t n);

/* Captured samples waiting to be read. */
size_t audio_dev_capture_avail(const struct audio_dev *d);

/* Queues up to n samples for playback; returns how many fitted. */
size_t audio_dev_write(struct audio_dev *d, const int16_t *pcm, size_t n);

/* Samples queued for playback and not yet taken by the callback. */
size_t audio_dev_playback_queued(const struct audio_dev *d);

/* A snapshot of the counters (each read atomically). */
void audio_dev_get_stats(const struct audio_dev *d, struct audio_dev_stats *st);

/* Names of the devices in use ("" for an unused direction). */
const char *audio_dev_input_name(const struct audio_dev *d);
const char *audio_dev_output_name(const struct audio_dev *d);

/* Prints one line per device: index, name, host API, input and output
 * channel counts, and marks the defaults (for --list-devices). Returns the
 * number of devices, or -EIO with err set. */
int audio_dev_list(FILE *out, char *err, size_t errlen);

#endif
