/* The client in a terminal: single keys without Enter, a ringing prompt,
 * and one live status line redrawn in place during a call.
 *
 * Only when stdin and stderr are both terminals and the output is for
 * people (no --json, no -q); otherwise nothing here writes anything and
 * the plain lines stay exactly as they are.
 *
 * The terminal's settings are saved by tui_start() and restored by
 * tui_stop(), which also runs at exit and on a fatal signal (SIGSEGV,
 * SIGBUS, SIGFPE, SIGILL, SIGABRT), so a crash does not leave the shell
 * without echo. The terminal is process-wide, so is this module's state. */
#ifndef P2PCALL_TUI_H
#define P2PCALL_TUI_H

#include <stdbool.h>
#include <stddef.h>

enum tui_key {
	TUI_KEY_ANSWER,           /* a (or y) */
	TUI_KEY_REJECT,           /* r (or n) */
	TUI_KEY_MUTE,             /* m: mute / unmute */
	TUI_KEY_HANGUP,           /* q, or Ctrl-C if it arrives as a byte */
	TUI_KEY_HELP,             /* ? (or h) */
};

/* True when the terminal interface should be used, by the rule above
 * (and TERM is not "dumb", and we are not a background job). */
bool tui_wanted(bool json, bool quiet);

/* Saves the terminal's settings and switches stdin to single keys without
 * echo (Ctrl-C still raises SIGINT). Returns 0, or -errno (the terminal
 * is left as it was). */
int tui_start(void);

/* Erases the status line and restores the saved settings. Idempotent,
 * async-signal-safe. */
void tui_stop(void);

/* True between tui_start() and tui_stop(). */
bool tui_active(void);

/* Reads the bytes waiting on FD and maps them to keys (unknown bytes are
 * skipped). Returns how many keys were stored in KEYS (at most MAX), 0
 * if none, or -EPIPE when FD reached its end. */
int tui_read_keys(int fd, enum tui_key *keys, size_t max);

/* The terminal's width in columns (80 if it cannot be told). */
unsigned tui_width(void);

/* Draws TEXT as the status line, in place of the previous one. */
void tui_status(const char *text);

/* Erases the status line, if one is shown, so that a line of prose can
 * be printed; the next tui_status() draws it again below. */
void tui_clear(void);

/* An incoming call: a bell and a highlighted line with the prompt. */
void tui_ring(const char *peer);

/* A line of prose for the terminal user only (help, mute). */
void tui_note(const char *text);

#endif
