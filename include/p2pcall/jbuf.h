/* Adaptive jitter buffer for one Opus stream (48 kHz RTP clock), a pure
 * module: time is passed in (microseconds of any monotonic clock), memory
 * is fixed at creation.
 *
 * Model. For each packet, transit = arrival - timestamp (in samples). The
 * smallest transit over the recent window is the fastest the network has
 * been; a packet's deviation is how much later than that it came. The
 * playout delay D of the frame about to be played is
 *     D = now - play_ts - min_transit
 * i.e. how long after the fastest possible arrival it is played, so a
 * packet is on time iff its deviation <= D. The target delay T is a high
 * percentile (default 97th) of the deviations over the window (default
 * 2 s) plus a margin, clamped to [min_ms, max_ms]; it rises at once when
 * jitter rises and decays with a time constant (default 1 s) when it
 * falls. D drifts when the sender's clock runs faster or slower than ours,
 * and steps when the fastest packet leaves the window.
 *
 * Playout. The playout clock calls jbuf_get() each time it needs the next
 * piece of audio (every 20 ms for 20 ms frames); the result says what to
 * decode and how many samples it covers:
 *   JBUF_FRAME    decode data (a whole packet)
 *   JBUF_FEC      the frame before data is missing: decode data with
 *                 Opus in-band FEC (decode_fec=1, frame_size = samples),
 *                 then data itself comes as a FRAME next time
 *   JBUF_CONCEAL  lost: run the decoder's PLC for samples
 *   JBUF_DTX      the sender paused (DTX / silence suppression): PLC for
 *                 samples gives Opus comfort noise; not counted as loss
 *   JBUF_SILENCE  nothing to play yet (not started, or rebuffering after
 *                 an underrun longer than max_plc_ms): play silence
 *
 * Delay changes, a design in which the caller decides. D is corrected
 * a little at a time, never by a jump, and only where it cannot be heard:
 *   - each result carries adjust, in samples: < 0 when D exceeds T by more
 *     than hyst_ms (that much less delay is wanted), > 0 when D is below T
 *     (that much more is wanted), 0 otherwise. It is a multiple of 2.5 ms
 *     (120 samples, the granularity of Opus PLC) and at most one frame.
 *     urgent = true once the wish has lasted patience_ms or D is more than
 *     three frames off target;
 *   - the caller applies it, fully or in part, where it cannot be heard:
 *     p2pcall's playout (playout.h) time-stretches the decoded audio by
 *     whole pitch periods (tstretch.h), in speech where a period is clear,
 *     anywhere in quiet, concealed or comfort-noise frames or when urgent;
 *     then it reports what it did with jbuf_adjusted(). Because
 *     D is measured from the time of each jbuf_get(), the change shows in
 *     D by itself: dropping audio makes the next jbuf_get() come sooner;
 *   - the buffer applies the wish itself on DTX results (silence by
 *     definition), and when a delayed packet arrives right after the
 *     frames concealed in its place it is played late instead of dropped
 *     ("adopted"): the concealed frames become the delay increase;
 *   - only beyond max_ms + 2 frames does the buffer drop frames at once.
 * Applying the wishes is needed for the buffer to hold its target under
 * clock drift: a caller that never applies them sees D creep.
 *
 * Stream changes. 16-bit sequence and 32-bit timestamp wraps are handled
 * by extension to 64 bits. A packet far from the stream (sequence jump
 * beyond 1000 or timestamp beyond 30 s of where it should be) is held
 * aside; if the next packet follows it, the buffer resyncs to the new
 * stream (sender restart). On a new SSRC the caller calls jbuf_reset().
 */
#ifndef P2PCALL_JBUF_H
#define P2PCALL_JBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JBUF_CLOCK 48000

struct jbuf_config {
	uint32_t capacity;    /* packets held at most (default 128) */
	uint32_t max_payload; /* bytes per packet (default 1500) */
	uint32_t min_ms;      /* target floor (default 0) */
	uint32_t max_ms;      /* target ceiling (default 500) */
	uint32_t init_ms;     /* target before jitter is known (default 60) */
	uint32_t window_ms;   /* transit history (default 2000) */
	uint32_t percentile;  /* of deviations, 50..100 (default 97) */
	uint32_t margin_ms;   /* added to the percentile (default 5) */
	uint32_t decay_ms;    /* time constant of target decrease (1000) */
	uint32_t hyst_ms;     /* dead band around the target (default 5) */
	uint32_t patience_ms; /* wish becomes urgent after this (default 2000) */
	uint32_t max_plc_ms;  /* conceal an empty buffer this long, then
			         play silence and rebuffer (default 300) */
	uint32_t frame_ms;    /* duration assumed when a payload's Opus TOC
			         is unreadable (default 20) */
	bool     fec_lookahead; /* the sender's Opus carries in-band FEC:
			         while the network loses packets (one lost
			         in the last 500), hold one more frame so that
			         the successor of a lost packet is here in
			         time to rebuild it (default true) */
};

enum jbuf_kind {
	JBUF_SILENCE = 0,
	JBUF_FRAME,
	JBUF_FEC,
	JBUF_CONCEAL,
	JBUF_DTX,
};

struct jbuf_out {
	enum jbuf_kind kind;
	const uint8_t *data;  /* FRAME/FEC: payload; NULL otherwise. Valid
			         until the next call on the buffer. */
	size_t   len;
	uint32_t samples;     /* 48 kHz samples this result covers */
	uint16_t seq;         /* FRAME/FEC: of the packet in data */
	uint32_t ts;
	int32_t  adjust;      /* samples: < 0 shrink, > 0 grow (see above) */
	bool     urgent;
};

/* Results of jbuf_put() besides 0 (stored). */
enum jbuf_put_result {
	JBUF_PUT_OK = 0,
	JBUF_PUT_DUP,         /* already received: dropped */
	JBUF_PUT_LATE,        /* its playout time has passed: dropped */
	JBUF_PUT_STRAY,       /* far from the stream: held, maybe a restart */
	JBUF_PUT_RESYNC,      /* confirmed a restart: buffer reset, stored */
	JBUF_PUT_OVERFLOW,    /* no room: a newer packet holds its slot */
};

struct jbuf_stats {
	uint32_t delay_ms;     /* current D (see above) */
	uint32_t target_ms;    /* current T */
	uint32_t buffered;     /* packets held */
	uint64_t received;     /* packets stored */
	uint64_t played;       /* FRAME results */
	uint64_t fec;          /* FEC results */
	uint64_t concealed;    /* CONCEAL results */
	uint64_t dtx;          /* DTX results (incl. reclassified PLC) */
	uint64_t silence;      /* SILENCE results */
	uint64_t late;         /* packets dropped as late */
	uint64_t duplicate;    /* packets dropped as duplicates */
	uint64_t overflow;     /* packets dropped for lack of room or delay */
	uint64_t stray;        /* packets held aside as possible restarts */
	uint64_t resyncs;
	uint64_t adopted;      /* delayed packets played late, not dropped */
	uint64_t shrinks;      /* delay decreases (caller or DTX) */
	uint64_t grows;        /* delay increases (caller, DTX or adoption) */
	uint64_t shrunk_ms;    /* total of the decreases */
	uint64_t grown_ms;     /* total of the increases */
	double   concealed_frac; /* concealed / (played + fec + concealed) */
};

struct jbuf;

/* Fills *cfg with the defaults above. */
void jbuf_config_default(struct jbuf_config *cfg);

/* Creates a buffer; cfg NULL means defaults. Memory is fixed here:
 * capacity * max_payload bytes plus small tables. Returns 0, -EINVAL on an
 * inconsistent config (capacity < 4 or > 65536, max_payload 0 or > 65535,
 * min_ms > max_ms, max_ms > 10000, window_ms 0 or > 60000, percentile
 * outside 50..100, frame_ms not 10/20/40/60), or -ENOMEM. */
int jbuf_new(struct jbuf **out, const struct jbuf_config *cfg);
void jbuf_free(struct jbuf *jb);

/* Forgets the stream (new SSRC): drops what is held, plays silence until
 * the new stream has buffered its target. Statistics and the current
 * target are kept. */
void jbuf_reset(struct jbuf *jb);

/* Offers one received packet; the payload is copied. Returns an enum
 * jbuf_put_result, -EINVAL on NULL arguments, -EMSGSIZE if len exceeds
 * max_payload (dropped, counted as overflow). */
int jbuf_put(struct jbuf *jb, uint64_t now_us, uint16_t seq, uint32_t rtp_ts,
	     const uint8_t *payload, size_t len);

/* Gives what to play next (see above). Call it when the audio it returns
 * is needed, i.e. when what the caller still holds would not cover its
 * next device period; now_us is the real time of that request (the same
 * clock as jbuf_put's). D, and so every decision, is measured from it:
 * a caller that asks late or early by a varying amount blurs the target.
 * Returns 0, or -EINVAL. */
int jbuf_get(struct jbuf *jb, uint64_t now_us, struct jbuf_out *out);

/* The caller changed the delay by samples (< 0: dropped that many decoded
 * samples; > 0: inserted that many of its own), following adjust. Counts
 * it and restarts the patience timer. */
void jbuf_adjusted(struct jbuf *jb, int32_t samples);

void jbuf_get_stats(const struct jbuf *jb, struct jbuf_stats *st);

#endif
