/* The live status line of a call in a terminal, as a pure function of
 * numbers: call time, path, round trip, loss, jitter-buffer delay,
 * bitrate and two level meters, fitted into a given width. No escape
 * codes here: tui.c draws the result. */
#ifndef P2PCALL_STATUSLINE_H
#define P2PCALL_STATUSLINE_H

#include <stdbool.h>
#include <stddef.h>

/* Meters span -STATUSLINE_FLOOR_DB .. 0 dBFS. */
#define STATUSLINE_FLOOR_DB 60.0
#define STATUSLINE_METER_CELLS 8

struct statusline_info {
	double call_s;            /* since the call was connected */
	const char *path;         /* "direct", "relay" or NULL */
	/* Figures of the last second; NAN when not known (yet). */
	double rtt_ms, loss_pct, jb_ms, kbps_out, kbps_in;
	/* Peak levels, 0..1 of full scale; NAN: no audio. */
	double mic_level, peer_level;
	bool muted;
	bool no_audio;            /* no media engine: "no audio" replaces the figures */
	const char *sas;          /* the encrypted call's code to compare; NULL: none */
};

/* "m:ss" below an hour, else "h:mm:ss"; negative or non-finite is 0.
 * Returns the length written (snprintf rules: BUF is always terminated
 * when N > 0). */
int statusline_duration(char *buf, size_t n, double seconds);

/* A meter of CELLS characters: '#' for each lit cell, '-' for the rest,
 * on a dBFS scale (a level of 0 or NAN lights none, 1.0 all). Returns
 * the number of lit cells, or -ENOSPC if BUF cannot hold CELLS + 1. */
int statusline_meter(char *buf, size_t n, double level, unsigned cells);

/* Formats the status line into BUF, at most WIDTH characters (and N - 1
 * bytes), always printable ASCII. Fields that do not fit are left out,
 * least important first (bitrate, jitter buffer, meters, loss, RTT); the
 * call time, MUTED and the path go last. Returns the length, or -EINVAL
 * for NULL arguments or N == 0. */
int statusline_format(char *buf, size_t n, const struct statusline_info *in, unsigned width);

#endif
