/* The client in a terminal; see tui.h. */
#include "p2pcall/tui.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

/* volatile sig_atomic_t: read by the fatal signal handler. */
static volatile sig_atomic_t active, shown;
static struct termios saved;
static bool hooks_installed;

static const int FATAL[] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT };

/* Writes all of S to stderr; write(2) only, so it is async-signal-safe. */
static void put(const char *s, size_t n)
{
	while (n > 0) {
		ssize_t w = write(STDERR_FILENO, s, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		s += w;
		n -= (size_t)w;
	}
}

static void puts_err(const char *s) { put(s, strlen(s)); }

bool tui_wanted(bool json, bool quiet)
{
	const char *term = getenv("TERM");
	/* A background job (`p2pcall ... &') leaves the terminal alone: it
	 * would be stopped (SIGTTOU) for changing its settings. */
	return !json && !quiet && isatty(STDIN_FILENO) && isatty(STDERR_FILENO) &&
	       !(term && strcmp(term, "dumb") == 0) && tcgetpgrp(STDIN_FILENO) == getpgrp();
}

void tui_stop(void)
{
	if (!active)
		return;
	int saved_errno = errno;
	if (shown) {
		puts_err("\r\033[K");
		shown = 0;
	}
	/* Sent to the background meanwhile (Ctrl-Z, bg), we would be stopped
	 * here by SIGTTOU; with it blocked the settings are restored. */
	sigset_t ttou, old;
	sigemptyset(&ttou);
	sigaddset(&ttou, SIGTTOU);
	sigprocmask(SIG_BLOCK, &ttou, &old);
	tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
	sigprocmask(SIG_SETMASK, &old, NULL);
	active = 0;
	errno = saved_errno;
}

/* A crash must not leave the shell without echo: restore, then die of the
 * same signal (SA_RESETHAND put the default action back). */
static void on_fatal(int sig)
{
	tui_stop();
	raise(sig);
}

static void at_exit(void) { tui_stop(); }

int tui_start(void)
{
	if (active)
		return 0;
	if (tcgetattr(STDIN_FILENO, &saved) < 0)
		return -errno;
	if (!hooks_installed) {
		atexit(at_exit);
		struct sigaction sa;
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_fatal;
		sa.sa_flags = (int)SA_RESETHAND | SA_NODEFER;
		sigemptyset(&sa.sa_mask);
		for (size_t i = 0; i < sizeof(FATAL) / sizeof(FATAL[0]); i++)
			sigaction(FATAL[i], &sa, NULL);
		hooks_installed = true;
	}
	struct termios raw = saved;
	/* Keys without Enter and without echo; ISIG stays, so Ctrl-C is the
	 * SIGINT the client already handles (hang up, tell the peer). */
	raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
	raw.c_cc[VMIN] = 1;
	raw.c_cc[VTIME] = 0;
	active = 1;
	if (tcsetattr(STDIN_FILENO, TCSANOW, &raw) < 0) {
		int e = errno;
		active = 0;
		return -e;
	}
	return 0;
}

bool tui_active(void) { return active; }

int tui_read_keys(int fd, enum tui_key *keys, size_t max)
{
	char buf[64];
	ssize_t n = read(fd, buf, sizeof(buf));
	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -EPIPE;
	if (n == 0)
		return -EPIPE;
	size_t k = 0;
	for (ssize_t i = 0; i < n && k < max; i++) {
		switch (buf[i]) {
		case 'a': case 'A': case 'y': case 'Y':
			keys[k++] = TUI_KEY_ANSWER;
			break;
		case 'r': case 'R': case 'n': case 'N':
			keys[k++] = TUI_KEY_REJECT;
			break;
		case 'm': case 'M':
			keys[k++] = TUI_KEY_MUTE;
			break;
		case 'q': case 'Q': case 0x03:
			keys[k++] = TUI_KEY_HANGUP;
			break;
		case '?': case 'h': case 'H':
			keys[k++] = TUI_KEY_HELP;
			break;
		case 0x1b:
			/* An escape sequence (arrow keys...): skip its
			 * parameters and final byte, so `[A' is not read as
			 * keys. */
			if (i + 1 < n && (buf[i + 1] == '[' || buf[i + 1] == 'O')) {
				i += 2;
				while (i < n && (buf[i] < 0x40 || buf[i] > 0x7e))
					i++;
			}
			break;
		default:
			break;
		}
	}
	return (int)k;
}

unsigned tui_width(void)
{
	struct winsize ws;
	if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
		return ws.ws_col;
	return 80;
}

void tui_status(const char *text)
{
	if (!active)
		return;
	char line[512];
	/* \r and erase to the end: the line is redrawn in place, and a
	 * shorter one leaves nothing of the longer one behind. */
	int n = snprintf(line, sizeof(line), "\r%s\033[K", text);
	if (n < 0)
		return;
	put(line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
	shown = 1;
}

void tui_clear(void)
{
	if (active && shown) {
		puts_err("\r\033[K");
		shown = 0;
	}
}

void tui_ring(const char *peer)
{
	char line[256];
	tui_clear();
	/* Bell, then the call in reverse video, then the prompt. */
	snprintf(line, sizeof(line), "\a\033[7m p2pcall: incoming call from %s \033[0m"
		 " answer? [a]nswer / [r]eject\n", peer);
	puts_err(line);
}

void tui_note(const char *text)
{
	tui_clear();
	char line[512];
	snprintf(line, sizeof(line), "p2pcall: %s\n", text);
	puts_err(line);
}
