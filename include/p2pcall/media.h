/* The media engine of a call: audio in (a sound file or the capture
 * device) -> Opus -> RTP out through the client's current route, and RTP
 * in -> jitter buffer -> Opus (FEC/PLC) -> audio out (a WAV file or the
 * playback device), with RTCP SR/RR each second both ways.
 *
 * Lifetime: media_open() once, before any call is placed, so that a bad
 * file or device is reported before the peer's phone rings; then for each
 * call media_start() when it is connected and media_stop() when it ends;
 * media_free() at exit. Everything runs on the client's libevent loop,
 * except PortAudio's callback (which only touches audio_dev's rings).
 *
 * Timing. A sound file is read in real time (one frame per frame period
 * on a libevent timer with an absolute schedule, so it does not drift);
 * the capture device is drained as it fills. Playout is pulled by the
 * output clock: the playback ring's level for the device, a real-time
 * timer for a WAV file.
 *
 * Adaptation. The encoder follows the peer's receiver reports
 * (rate_ctl.h): its bitrate between min_bitrate and bitrate, its in-band
 * FEC tuned to the reported loss (or pinned: fec_pinned). The jitter buffer's delay changes are
 * made by time-stretching the decoded audio (playout.h). The microphone
 * goes through voice_dsp (AEC/NS/AGC) before the encoder.
 *
 * The end of a file. When --input FILE has been sent, an RTCP BYE tells
 * the peer; the engine reports MEDIA_EV_DONE (the client hangs up) once
 * the peer's stream has ended too (its BYE arrived and was played out) or
 * MEDIA_DONE_TAIL_MS later at most. --output FILE holds what was played
 * from the first frame of the peer's stream to its end (or the call's).
 */
#ifndef P2PCALL_MEDIA_H
#define P2PCALL_MEDIA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct media;

#define MEDIA_DEFAULT_FRAME_MS 20
#define MEDIA_DEFAULT_BITRATE  24000
#define MEDIA_MIN_BITRATE      6000
#define MEDIA_MAX_BITRATE      510000
#define MEDIA_DEFAULT_MIN_BITRATE 12000
#define MEDIA_DONE_TAIL_MS     2000

struct media_cfg {
	const char *input_file;   /* NULL: the capture device */
	const char *output_file;  /* NULL: the playback device */
	const char *input_dev;    /* NULL/"": default; digits: index; else name part */
	const char *output_dev;
	unsigned frame_ms;        /* 10, 20, 40 or 60; 0: default */
	int bitrate;              /* bits/s, the ceiling of adaptation; 0: default */
	int min_bitrate;          /* its floor; 0: 12000 (or bitrate if lower) */
	bool cbr;                 /* constant bitrate (encrypted calls, RFC 6562):
				     adaptation moves it in coarse held steps only */
	bool fec_pinned;          /* in-band FEC tuned for fec_loss_pct (0..100;
				     0: no FEC) all along, not for the reported loss */
	int fec_loss_pct;
	/* Voice processing of the microphone (voice_dsp.h): echo
	 * cancellation, noise suppression, automatic gain. 0: the default,
	 * on for the capture device and off for --input FILE (AEC also needs
	 * the playback device: its reference is what the speaker plays);
	 * > 0 on (AEC with --output FILE takes what is written there as the
	 * reference); < 0 off. */
	int aec, ns, agc;
};

enum media_event {
	MEDIA_EV_DONE,            /* the input file was sent and the peer is done */
	MEDIA_EV_FAILED,          /* the device died or the output file failed */
};

struct media_cbs {
	/* Sends one RTP or RTCP packet to the peer by the current route
	 * (direct or relay); dropped if there is none. */
	void (*send)(void *ctx, const uint8_t *pkt, size_t len);
	void (*event)(void *ctx, enum media_event ev, const char *why);
};

/* Figures for the `stats' event (over the last interval) or for `ended'
 * (over the whole call). A figure that is not known is NAN. */
struct media_stats {
	double rtt_ms;            /* from RTCP SR/RR round trips */
	double loss_pct;          /* incoming packets lost (RFC 3550 A.3) */
	double jitter_ms;         /* incoming interarrival jitter (A.8) */
	double jb_ms;             /* jitter buffer playout delay */
	double concealed_pct;     /* played frames made up by PLC (none of it came) */
	double recovered_pct;     /* played frames rebuilt from in-band FEC */
	double kbps_out, kbps_in; /* RTP+RTCP bits on the wire (UDP payload) */
	uint64_t bad_packets;     /* garbage, wrong SSRC/PT, undecodable */
	double target_kbps;       /* the encoder's bitrate now (adapts to the path) */
	double fec_loss_pct;      /* the loss its in-band FEC is tuned for now */
};

/* Opens the input and output (files or devices) and the codec. Returns 0
 * and sets *out, or -errno with a message for people in err that quotes
 * the file or device. */
int media_open(struct media **out, struct event_base *base, const struct media_cfg *cfg,
	       const struct media_cbs *cbs, void *ctx, char *err, size_t errlen);

/* Stops a running call (as media_stop) and frees everything, finishing
 * the WAV file. NULL is fine. */
void media_free(struct media *m);

/* The call is connected: starts sending and playing with a fresh stream
 * (new SSRC, random sequence and timestamp). 0 or -errno with err set. */
int media_start(struct media *m, char *err, size_t errlen);

/* The call was answered: the peer may get its path up and start sending
 * before we do; buffer its packets (media_input) until media_start. */
void media_listen(struct media *m);

/* The call ended: plays out what the jitter buffer still holds (to a file),
 * sends an RTCP BYE, stops the timers. A sound device keeps running (its
 * output silent) until media_free: stopping a stream drains the driver,
 * which may block. Idempotent. */
void media_stop(struct media *m);

bool media_running(const struct media *m);

/* A received datagram whose first byte is 128..191 (RTP or RTCP). Bad
 * packets are dropped and counted. */
void media_input(struct media *m, const uint8_t *pkt, size_t len);

/* Figures since the last call of media_interval_stats (or the start). */
void media_interval_stats(struct media *m, struct media_stats *st);

/* Figures over the whole current (or last) call. */
void media_call_stats(const struct media *m, struct media_stats *st);

/* Muted, the engine keeps its stream and clock going but encodes silence
 * instead of the input (the peer hears nothing; the microphone level is
 * still measured). Survives media_stop/media_start. NULL is fine. */
void media_set_mute(struct media *m, bool mute);
bool media_muted(const struct media *m);

/* Levels of the last frame sent (microphone or file, before muting) and
 * the last played (peer), as fractions of full scale: peak and RMS, 0..1.
 * All 0 before any audio or when M is NULL. */
struct media_levels {
	double mic_peak, mic_rms, peer_peak, peer_rms;
};
void media_levels(const struct media *m, struct media_levels *lv);

#endif
