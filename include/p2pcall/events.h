/* What the client tells its user: one JSON object per line on stdout
 * (--json), or a line of prose on stderr. Every event carries "event" and
 * "t" (seconds since start). The list is in man/p2pcall.1. */
#ifndef P2PCALL_EVENTS_H
#define P2PCALL_EVENTS_H

#include <stdbool.h>

#include "p2pcall/media.h"

void events_init(bool json, bool quiet);
/* Prose: also print the `stats' figures each second (-v). */
void events_set_verbose(bool verbose);

void ev_registered(const char *name, const char *server, const char *mapped);
void ev_calling(const char *peer);
void ev_incoming(const char *peer, unsigned long long call, bool will_answer);
void ev_ringing(const char *peer);
/* The call's keys are agreed: SAS is the code both people compare;
 * PEER_KEY the peer's identity key; KEY_STATUS "new" (pinned now), "known"
 * or "changed" (accepted with --trust-new-key). `connected' repeats SAS. */
void ev_secured(const char *peer, const char *sas, const char *peer_key, const char *key_status);
/* PATH is "direct" or "relay", or NULL for a peer without a media path.
 * SETUP_MS runs from the invitation (or the incoming call), PATH_MS from
 * the answer, to the moment the path is up. */
/* METHOD: how the path was found (host, srflx, prflx, birthday, relay),
 * NULL if there is none. SAS: the encrypted call's code (as in
 * ev_secured), NULL if the call is not encrypted. */
void ev_connected(const char *peer, const char *path, const char *remote, double setup_ms, double path_ms,
		  const char *method, const char *sas);
/* The media path changed during the call (relay -> direct, or back). */
void ev_path(const char *path, const char *remote, const char *method);
/* MEDIA: the call's audio figures (media_call_stats), or NULL if it had
 * no audio. */
void ev_ended(const char *peer, const char *reason, double duration_s, int status,
	      const struct media_stats *media);
/* Each second of a call with audio: the figures of that second. */
void ev_stats(const struct media_stats *st);
void ev_disconnected(const char *why, double retry_in_s);
void ev_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
