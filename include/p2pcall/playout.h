/* Playout of the peer's stream: the jitter buffer's decisions turned into
 * audio. Asks the jitter buffer what comes next, decodes it (frame, FEC,
 * PLC, comfort noise, silence) and applies the buffer's delay wishes by
 * time-stretching the decoded audio (tstretch.h) instead of dropping or
 * inserting whole frames:
 *   - in speech, only where the frame resembles itself well (a pitch
 *     period can go or come unheard);
 *   - on a quiet, concealed or comfort-noise frame, or once the wish is
 *     urgent (jbuf.h), whatever the resemblance.
 * One step removes or repeats up to half a frame (speech 1.5 times as
 * fast, or 2/3), so a delay spike of a few hundred ms is worked off in a
 * second or two.
 *
 * Separate from media.c so that tests can drive it on a simulated clock.
 * Borrows the jitter buffer and decoder; one thread. */
#ifndef P2PCALL_PLAYOUT_H
#define P2PCALL_PLAYOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "p2pcall/jbuf.h"
#include "p2pcall/opus_codec.h"
#include "p2pcall/tstretch.h"

/* Room a caller's buffer needs for one playout_next result. */
#define PLAYOUT_MAX_SAMPLES (OPUS_CODEC_MAX_SAMPLES + TSTRETCH_MAX_LAG)

struct playout_res {
	enum jbuf_kind kind;  /* what the jitter buffer gave */
	bool concealed;       /* made up by PLC: nothing of it arrived (also a
				 FRAME or FEC that failed to decode, or FEC
				 from a packet that carries none) */
	bool recovered;       /* rebuilt from the next packet's in-band FEC */
	bool bad;             /* a FRAME that failed to decode */
	long stretched;       /* samples removed (< 0) or added (> 0) */
	size_t samples;       /* samples written to pcm */
};

/* Plays the next piece at now_us into pcm (room for PLAYOUT_MAX_SAMPLES).
 * frame_samples is the size to conceal when the buffer does not say.
 * may_grow false forbids lengthening (the peer's stream is ending: no
 * point in delaying its last words). Returns the sample count. */
size_t playout_next(struct jbuf *jb, struct opus_codec_dec *dec, size_t frame_samples,
		    uint64_t now_us, bool may_grow, int16_t *pcm, struct playout_res *res);

#endif
