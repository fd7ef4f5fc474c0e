/* Leveled logging to stderr, one line per message. */
#include "p2pcall/log.h"
#include "p2pcall/tui.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

static enum log_level current = LOG_INFO;

void log_set_level(enum log_level level) { current = level; }
enum log_level log_get_level(void) { return current; }

void log_msg(enum log_level level, const char *fmt, ...)
{
	static const char *const names[] = { "error", "warning", "info", "debug" };
	if (level > current)
		return;
	char stamp[32];
	time_t now = time(NULL);
	struct tm tm;
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* Clear a live status line first (a no-op off the terminal UI). One
	 * fprintf so concurrent processes' lines do not interleave. */
	tui_clear();
	fprintf(stderr, "%s p2pcall %s: %s\n", stamp, names[level], line);
}
