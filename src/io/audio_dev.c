/* PortAudio capture/playback, see include/p2pcall/audio_dev.h. */
#include "p2pcall/audio_dev.h"

#include <ctype.h>
#include <dlfcn.h>
#include <errno.h>
#include <pa_linux_alsa.h>
#include <portaudio.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "p2pcall/spsc_ring.h"

struct audio_dev {
	PaStream *stream;
	struct spsc_ring *cap; /* callback -> event loop */
	struct spsc_ring *play; /* event loop -> callback */
	bool pa_ready;          /* Pa_Initialize succeeded: Pa_Terminate owed */
	bool running;
	bool alsa_rt;           /* SCHED_FIFO requested for the ALSA thread */
	/* Written only by the callback thread: before the first sample has
	 * been played, an empty playback ring is not an underrun. */
	bool played_any;
	char in_name[128];
	char out_name[128];
	/* Counters: the callback increments (relaxed: each is an independent
	 * statistic), the event loop reads. */
	atomic_uint_fast64_t callbacks;
	atomic_uint_fast64_t captured;
	atomic_uint_fast64_t capture_dropped;
	atomic_uint_fast64_t played;
	atomic_uint_fast64_t underruns;
	atomic_uint_fast64_t underrun_samples;
	atomic_uint_fast64_t input_overflows;
	atomic_uint_fast64_t output_underflows;
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

/* ALSA and JACK print their own diagnostics to stderr while PortAudio
 * probes every possible device at Pa_Initialize: dozens of lines such as
 * "ALSA lib confmisc.c:855:(parse_card) cannot find card '0'" or "jack
 * server is not running", even when everything works. Our errors come from
 * PortAudio's return codes instead, so route those libraries' messages to
 * a sink. libportaudio already links libasound and libjack, so the setters
 * are found at run time without linking them ourselves; if absent (another
 * PortAudio build), nothing happens. P2PCALL_AUDIO_DEBUG=1 keeps them. */
static void alsa_quiet(const char *file, int line, const char *fn, int err, const char *fmt,
		       ...)
{
}

static void jack_quiet(const char *msg)
{
}

typedef int (*alsa_set_handler_fn)(void (*)(const char *, int, const char *, int,
					     const char *, ...));
typedef void (*jack_set_fn)(void (*)(const char *));

static void quiet_backends(void)
{
	const char *dbg = getenv("P2PCALL_AUDIO_DEBUG");
	alsa_set_handler_fn alsa_set;
	jack_set_fn jack_err, jack_info;

	if (dbg && *dbg && strcmp(dbg, "0") != 0)
		return;
	/* dlsym returns void *; converting it to a function pointer is what
	 * POSIX requires to work. */
	*(void **)&alsa_set = dlsym(RTLD_DEFAULT, "snd_lib_error_set_handler");
	*(void **)&jack_err = dlsym(RTLD_DEFAULT, "jack_set_error_function");
	*(void **)&jack_info = dlsym(RTLD_DEFAULT, "jack_set_info_function");
	if (alsa_set)
		alsa_set(alsa_quiet);
	if (jack_err)
		jack_err(jack_quiet);
	if (jack_info)
		jack_info(jack_quiet);
}

static int pa_init(char *err, size_t errlen)
{
	PaError pe;

	quiet_backends();
	pe = Pa_Initialize();
	if (pe != paNoError) {
		set_err(err, errlen, "cannot initialise PortAudio: %s", Pa_GetErrorText(pe));
		return -EIO;
	}
	return 0;
}

void audio_dev_cfg_default(struct audio_dev_cfg *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->capture = true;
	cfg->playback = true;
	cfg->ring_samples = AUDIO_DEV_RATE;
	/* PortAudio's "low latency" default for ALSA (~9 ms) underran within
	 * seconds on a loaded machine in tests; 40 ms held, and is still well
	 * inside a call's mouth-to-ear budget next to a 20 ms frame and the
	 * jitter buffer. */
	cfg->latency_s = 0.04;
	/* 10 ms callbacks: a fixed size (PortAudio adapts the host's periods)
	 * keeps capture in whole 10 ms steps, half an Opus frame. */
	cfg->frames_per_buffer = AUDIO_DEV_RATE / 100;
	cfg->realtime = true;
}

static bool all_digits(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!isdigit((unsigned char)*s))
			return false;
	return true;
}

static int dev_channels(const PaDeviceInfo *info, bool input)
{
	return input ? info->maxInputChannels : info->maxOutputChannels;
}

/* Resolves a device spec for one direction. Returns the index, or -ENODEV
 * with a message that quotes the spec and says what to do. */
static int find_device(const char *spec, bool input, char *err, size_t errlen)
{
	const char *dir = input ? "input" : "output";
	int count = Pa_GetDeviceCount(), match = -1;

	if (!spec || !*spec) {
		PaDeviceIndex def = input ? Pa_GetDefaultInputDevice() : Pa_GetDefaultOutputDevice();

		if (def == paNoDevice) {
			set_err(err, errlen,
				"no default audio %s device (no sound card?); "
				"see --list-devices, or use a file instead",
				dir);
			return -ENODEV;
		}
		return def;
	}
	if (all_digits(spec)) {
		long idx = strtol(spec, NULL, 10);
		const PaDeviceInfo *info = idx < count ? Pa_GetDeviceInfo((PaDeviceIndex)idx) : NULL;

		if (!info) {
			set_err(err, errlen, "no audio device number %s (there are %d); see --list-devices",
				spec, count < 0 ? 0 : count);
			return -ENODEV;
		}
		if (dev_channels(info, input) < 1) {
			set_err(err, errlen, "audio device %s (`%s') has no %s channels", spec,
				info->name, dir);
			return -ENODEV;
		}
		return (int)idx;
	}
	/* An exact name wins over a substring; otherwise the first device
	 * whose name contains spec, in PortAudio's order. */
	for (int i = 0; i < count; i++) {
		const PaDeviceInfo *info = Pa_GetDeviceInfo(i);

		if (!info || dev_channels(info, input) < 1)
			continue;
		if (strcasecmp(info->name, spec) == 0)
			return i;
		if (match < 0 && strcasestr(info->name, spec))
			match = i;
	}
	if (match < 0) {
		set_err(err, errlen, "no audio %s device matching `%s'; see --list-devices", dir,
			spec);
		return -ENODEV;
	}
	return match;
}

static int dev_callback(const void *input, void *output, unsigned long frames,
			const PaStreamCallbackTimeInfo *time_info, PaStreamCallbackFlags flags,
			void *userdata)
{
	struct audio_dev *d = userdata;

	atomic_fetch_add_explicit(&d->callbacks, 1, memory_order_relaxed);
	if (flags & paInputOverflow)
		atomic_fetch_add_explicit(&d->input_overflows, 1, memory_order_relaxed);
	if (flags & paOutputUnderflow)
		atomic_fetch_add_explicit(&d->output_underflows, 1, memory_order_relaxed);
	if (input) {
		size_t n = spsc_ring_write(d->cap, input, frames);

		atomic_fetch_add_explicit(&d->captured, n, memory_order_relaxed);
		if (n < frames)
			atomic_fetch_add_explicit(&d->capture_dropped, frames - n,
						  memory_order_relaxed);
	}
	if (output) {
		int16_t *out = output;
		size_t n = spsc_ring_read(d->play, out, frames);

		if (n < frames) {
			memset(out + n, 0, (frames - n) * sizeof(*out));
			if (d->played_any) {
				atomic_fetch_add_explicit(&d->underruns, 1, memory_order_relaxed);
				atomic_fetch_add_explicit(&d->underrun_samples, frames - n,
							  memory_order_relaxed);
			}
		}
		if (n > 0) {
			d->played_any = true;
			atomic_fetch_add_explicit(&d->played, n, memory_order_relaxed);
		}
	}
	return paContinue;
}

static void fill_params(PaStreamParameters *p, int dev, bool input, double latency)
{
	const PaDeviceInfo *info = Pa_GetDeviceInfo(dev);

	memset(p, 0, sizeof(*p));
	p->device = dev;
	p->channelCount = 1;
	p->sampleFormat = paInt16;
	if (latency > 0)
		p->suggestedLatency = latency;
	else
		p->suggestedLatency = input ? info->defaultLowInputLatency
					    : info->defaultLowOutputLatency;
}

int audio_dev_new(struct audio_dev **out, const struct audio_dev_cfg *cfg, char *err,
		  size_t errlen)
{
	struct audio_dev_cfg def;
	struct audio_dev *d = NULL;
	PaStreamParameters in_p, out_p;
	int rc = 0, in_dev = -1, out_dev = -1;
	PaError pe;

	if (!out) {
		set_err(err, errlen, "audio_dev_new: no output pointer");
		return -EINVAL;
	}
	if (!cfg) {
		audio_dev_cfg_default(&def);
		cfg = &def;
	}
	if (!cfg->capture && !cfg->playback) {
		set_err(err, errlen, "audio device: neither capture nor playback requested");
		return -EINVAL;
	}
	d = calloc(1, sizeof(*d));
	if (!d) {
		set_err(err, errlen, "audio device: out of memory");
		return -ENOMEM;
	}
	/* Rings exist even for an unused direction, so read/write calls need
	 * no special case; an unused one stays empty. */
	if ((rc = spsc_ring_new(&d->cap, cfg->ring_samples ? cfg->ring_samples : AUDIO_DEV_RATE)) < 0 ||
	    (rc = spsc_ring_new(&d->play, cfg->ring_samples ? cfg->ring_samples : AUDIO_DEV_RATE)) < 0) {
		set_err(err, errlen, "audio device: cannot allocate rings of %zu samples",
			cfg->ring_samples);
		goto out;
	}
	if ((rc = pa_init(err, errlen)) < 0)
		goto out;
	d->pa_ready = true;

	if (cfg->capture) {
		if ((in_dev = find_device(cfg->input, true, err, errlen)) < 0) {
			rc = in_dev;
			goto out;
		}
		fill_params(&in_p, in_dev, true, cfg->latency_s);
		snprintf(d->in_name, sizeof(d->in_name), "%s", Pa_GetDeviceInfo(in_dev)->name);
	}
	if (cfg->playback) {
		if ((out_dev = find_device(cfg->output, false, err, errlen)) < 0) {
			rc = out_dev;
			goto out;
		}
		fill_params(&out_p, out_dev, false, cfg->latency_s);
		snprintf(d->out_name, sizeof(d->out_name), "%s", Pa_GetDeviceInfo(out_dev)->name);
	}
	/* Ask first, so an unsupported format gets its own message instead of
	 * a generic open failure. */
	pe = Pa_IsFormatSupported(cfg->capture ? &in_p : NULL, cfg->playback ? &out_p : NULL,
				  AUDIO_DEV_RATE);
	if (pe != paFormatIsSupported) {
		rc = -EINVAL;
		set_err(err, errlen, "audio device `%s' cannot do 48 kHz mono 16-bit: %s",
			cfg->capture ? d->in_name : d->out_name, Pa_GetErrorText(pe));
		goto out;
	}
	/* Clipping is pointless for int16 and dithering is only for float
	 * sources. */
	pe = Pa_OpenStream(&d->stream, cfg->capture ? &in_p : NULL, cfg->playback ? &out_p : NULL,
			   AUDIO_DEV_RATE,
			   cfg->frames_per_buffer ? cfg->frames_per_buffer
						  : paFramesPerBufferUnspecified,
			   paClipOff | paDitherOff, dev_callback, d);
	if (pe != paNoError) {
		rc = -EIO;
		d->stream = NULL;
		set_err(err, errlen, "cannot open audio device `%s': %s",
			cfg->capture ? d->in_name : d->out_name, Pa_GetErrorText(pe));
		goto out;
	}
	/* Voice must not stutter when the machine is busy: ask for SCHED_FIFO
	 * for PortAudio's ALSA thread (only ALSA has this knob). */
	if (cfg->realtime &&
	    Pa_GetHostApiInfo(Pa_GetDeviceInfo(cfg->capture ? in_dev : out_dev)->hostApi)->type ==
		    paALSA) {
		PaAlsa_EnableRealtimeScheduling(d->stream, 1);
		d->alsa_rt = true;
	}
	*out = d;
	d = NULL;
out:
	audio_dev_free(d);
	return rc;
}

void audio_dev_free(struct audio_dev *d)
{
	if (!d)
		return;
	if (d->stream) {
		if (d->running)
			Pa_AbortStream(d->stream);
		Pa_CloseStream(d->stream);
	}
	if (d->pa_ready)
		Pa_Terminate();
	spsc_ring_free(d->cap);
	spsc_ring_free(d->play);
	free(d);
}

int audio_dev_start(struct audio_dev *d, char *err, size_t errlen)
{
	PaError pe;

	if (d->running)
		return 0;
	d->played_any = false; /* the callback thread is not running now */
	pe = Pa_StartStream(d->stream);
	if (pe != paNoError && d->alsa_rt) {
		/* PortAudio 19.6 already falls back to normal priority when
		 * SCHED_FIFO is refused (checked without CAP_SYS_NICE); this
		 * covers builds that fail the start instead: better late
		 * audio than none. */
		PaAlsa_EnableRealtimeScheduling(d->stream, 0);
		d->alsa_rt = false;
		pe = Pa_StartStream(d->stream);
	}
	if (pe != paNoError) {
		set_err(err, errlen, "cannot start audio: %s", Pa_GetErrorText(pe));
		return -EIO;
	}
	d->running = true;
	return 0;
}

int audio_dev_stop(struct audio_dev *d, char *err, size_t errlen)
{
	PaError pe;

	if (!d->running)
		return 0;
	d->running = false;
	pe = Pa_StopStream(d->stream);
	if (pe != paNoError) {
		set_err(err, errlen, "cannot stop audio: %s", Pa_GetErrorText(pe));
		return -EIO;
	}
	return 0;
}

bool audio_dev_is_active(const struct audio_dev *d)
{
	return d->running && Pa_IsStreamActive(d->stream) == 1;
}

size_t audio_dev_read(struct audio_dev *d, int16_t *pcm, size_t n)
{
	return spsc_ring_read(d->cap, pcm, n);
}

bool audio_dev_read_frame(struct audio_dev *d, int16_t *pcm, size_t n)
{
	return spsc_ring_read_all(d->cap, pcm, n);
}

size_t audio_dev_capture_avail(const struct audio_dev *d)
{
	return spsc_ring_read_avail(d->cap);
}

size_t audio_dev_write(struct audio_dev *d, const int16_t *pcm, size_t n)
{
	return spsc_ring_write(d->play, pcm, n);
}

size_t audio_dev_playback_queued(const struct audio_dev *d)
{
	return spsc_ring_capacity(d->play) - spsc_ring_write_avail(d->play);
}

void audio_dev_get_stats(const struct audio_dev *d, struct audio_dev_stats *st)
{
	/* The struct is not const-qualified for atomics in C11's eyes. */
	struct audio_dev *m = (struct audio_dev *)d;

	st->callbacks = atomic_load_explicit(&m->callbacks, memory_order_relaxed);
	st->captured = atomic_load_explicit(&m->captured, memory_order_relaxed);
	st->capture_dropped = atomic_load_explicit(&m->capture_dropped, memory_order_relaxed);
	st->played = atomic_load_explicit(&m->played, memory_order_relaxed);
	st->underruns = atomic_load_explicit(&m->underruns, memory_order_relaxed);
	st->underrun_samples = atomic_load_explicit(&m->underrun_samples, memory_order_relaxed);
	st->input_overflows = atomic_load_explicit(&m->input_overflows, memory_order_relaxed);
	st->output_underflows = atomic_load_explicit(&m->output_underflows, memory_order_relaxed);
}

const char *audio_dev_input_name(const struct audio_dev *d)
{
	return d->in_name;
}

const char *audio_dev_output_name(const struct audio_dev *d)
{
	return d->out_name;
}

int audio_dev_list(FILE *out, char *err, size_t errlen)
{
	PaDeviceIndex def_in, def_out;
	int rc, count;

	if ((rc = pa_init(err, errlen)) < 0)
		return rc;
	count = Pa_GetDeviceCount();
	if (count < 0) {
		set_err(err, errlen, "cannot list audio devices: %s", Pa_GetErrorText(count));
		Pa_Terminate();
		return -EIO;
	}
	def_in = Pa_GetDefaultInputDevice();
	def_out = Pa_GetDefaultOutputDevice();
	fprintf(out, "%-5s %-40s %-8s %3s %3s\n", "index", "name", "api", "in", "out");
	for (int i = 0; i < count; i++) {
		const PaDeviceInfo *info = Pa_GetDeviceInfo(i);
		const PaHostApiInfo *api = info ? Pa_GetHostApiInfo(info->hostApi) : NULL;

		if (!info)
			continue;
		fprintf(out, "%-5d %-40s %-8s %3d %3d%s%s\n", i, info->name, api ? api->name : "?",
			info->maxInputChannels, info->maxOutputChannels,
			i == def_in ? " default-input" : "", i == def_out ? " default-output" : "");
	}
	if (count == 0)
		fprintf(out, "(no audio devices; use --input/--output files)\n");
	Pa_Terminate();
	return count;
}
