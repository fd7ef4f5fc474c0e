/* Test environments for real audio devices on a machine without a sound
 * card, for tests that exercise PortAudio's real callback path.
 *
 * A jackenv is a private temp dir with an ALSA configuration file, handed
 * to ALSA through ALSA_CONFIG_PATH, whose default PCM is an asym device:
 * capture reads samples from `capture.raw' (S16_LE mono 48 kHz, no header)
 * and playback appends what is played to `playback.raw'.
 *
 *   JACKENV_FILE: the file plugins sit on a null PCM: data only, no clock,
 *     callbacks run faster than real time. Fast; needs nothing but ALSA.
 *   JACKENV_JACK: the file plugins sit on the ALSA jack plugin, talking to
 *     a jackd (dummy driver, 48 kHz, period 256) started here under a
 *     unique server name: real-time pacing like a sound card. Needs jackd2
 *     and libasound2-plugins.
 *
 * jackenv_new sets ALSA_CONFIG_PATH (and for JACK, JACK_DEFAULT_SERVER and
 * JACK_NO_START_SERVER=1) in this process's environment, so it must run
 * before PortAudio is initialised; child processes inherit it.
 * jackenv_free stops jackd, removes the dir and unsets the variables (if
 * they are still its own). To give two processes (two call peers) two
 * environments, create one, spawn the first peer, create the other, spawn
 * the second; jackenv_apply switches back. */
#ifndef P2PCALL_JACKENV_H
#define P2PCALL_JACKENV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum jackenv_mode {
	JACKENV_FILE,
	JACKENV_JACK,
};

struct jackenv;

/* Creates the environment. Returns 0, -ENOENT if jackd (or jack_wait) is
 * not installed, -ETIMEDOUT if jackd did not come up, other -errno; err
 * gets a reason fit for a skip or failure message. */
int jackenv_new(struct jackenv **out, enum jackenv_mode mode, char *err, size_t errlen);

/* Kills jackd (if any), removes the temp dir, unsets the variables. */
void jackenv_free(struct jackenv *e);

/* Points this process's environment (ALSA_CONFIG_PATH, JACK_*) at e again;
 * affects PortAudio initialised afterwards and processes spawned after. */
void jackenv_apply(const struct jackenv *e);

const char *jackenv_dir(const struct jackenv *e);
const char *jackenv_asoundrc(const struct jackenv *e);
const char *jackenv_capture_path(const struct jackenv *e);
const char *jackenv_playback_path(const struct jackenv *e);
/* JACK server name ("" in file mode). */
const char *jackenv_server(const struct jackenv *e);

/* Writes n samples as the capture source (before the device is opened). */
int jackenv_write_capture(struct jackenv *e, const int16_t *pcm, size_t n);

/* Reads everything played so far; *pcm is malloc'd (caller frees). */
int jackenv_read_playback(const struct jackenv *e, int16_t **pcm, size_t *n);

/* Offset k maximising the normalised cross-correlation of ref[0..nref)
 * with sig[k..k+nref), over k in [0, nsig - nref]; *corr gets its value.
 * Returns -1 if sig is shorter than ref. For aligning played-out audio
 * with what was sent (PortAudio and ALSA prepend silence). */
long jackenv_align(const int16_t *ref, size_t nref, const int16_t *sig, size_t nsig,
		   double *corr);

#endif
