/* The call's status line; see statusline.h. */
#include "p2pcall/statusline.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

int statusline_duration(char *buf, size_t n, double seconds)
{
	if (!isfinite(seconds) || seconds < 0)
		seconds = 0;
	if (seconds > 359999.0) /* 99:59:59 keeps the field short */
		seconds = 359999.0;
	unsigned s = (unsigned)seconds;
	if (s < 3600)
		return snprintf(buf, n, "%u:%02u", s / 60, s % 60);
	return snprintf(buf, n, "%u:%02u:%02u", s / 3600, s / 60 % 60, s % 60);
}

int statusline_meter(char *buf, size_t n, double level, unsigned cells)
{
	if (!buf || n < (size_t)cells + 1)
		return -ENOSPC;
	unsigned lit = 0;
	if (isfinite(level) && level > 0) {
		double db = level >= 1.0 ? 0.0 : 20.0 * log10(level);
		double frac = (db + STATUSLINE_FLOOR_DB) / STATUSLINE_FLOOR_DB;
		if (frac > 0)
			/* Round up: any sound above the floor lights a cell,
			 * so a quiet talker still sees the meter move. */
			lit = (unsigned)ceil(frac * cells - 1e-9);
		if (lit > cells)
			lit = cells;
	}
	memset(buf, '#', lit);
	memset(buf + lit, '-', cells - lit);
	buf[cells] = '\0';
	return (int)lit;
}

/* One field of the line, and how readily it is given up for width. */
struct field {
	char text[48];
	int drop_rank;            /* higher goes first; 0 never */
};

static void figure(char *out, size_t n, const char *label, double v, int decimals, const char *unit)
{
	if (isfinite(v))
		snprintf(out, n, "%s %.*f%s", label, decimals, v, unit);
	else
		snprintf(out, n, "%s ?%s", label, unit);
}

int statusline_format(char *buf, size_t n, const struct statusline_info *in, unsigned width)
{
	if (!buf || !in || n == 0)
		return -EINVAL;
	struct field f[10];
	size_t nf = 0;
	char t[16], mic[STATUSLINE_METER_CELLS + 1], peer[STATUSLINE_METER_CELLS + 1];

	statusline_duration(t, sizeof(t), in->call_s);
	f[nf++] = (struct field){ .drop_rank = 0 };
	snprintf(f[nf - 1].text, sizeof(f[0].text), "%s", t);
	if (in->muted) {
		f[nf++] = (struct field){ .drop_rank = 0 };
		snprintf(f[nf - 1].text, sizeof(f[0].text), "MUTED");
	}
	f[nf++] = (struct field){ .drop_rank = 1 };
	snprintf(f[nf - 1].text, sizeof(f[0].text), "%s", in->path ? in->path : "no media");
	if (in->sas) {
		/* What the two people read to each other: kept as long as the
		 * path is. */
		f[nf++] = (struct field){ .drop_rank = 1 };
		snprintf(f[nf - 1].text, sizeof(f[0].text), "code %.8s", in->sas);
	}
	if (in->no_audio) {
		f[nf++] = (struct field){ .drop_rank = 3 };
		snprintf(f[nf - 1].text, sizeof(f[0].text), "no audio");
	} else {
		f[nf++] = (struct field){ .drop_rank = 3 };
		figure(f[nf - 1].text, sizeof(f[0].text), "rtt", in->rtt_ms, 0, " ms");
		f[nf++] = (struct field){ .drop_rank = 4 };
		figure(f[nf - 1].text, sizeof(f[0].text), "loss", in->loss_pct, 1, "%");
		f[nf++] = (struct field){ .drop_rank = 6 };
		figure(f[nf - 1].text, sizeof(f[0].text), "buf", in->jb_ms, 0, " ms");
		f[nf++] = (struct field){ .drop_rank = 7 };
		if (isfinite(in->kbps_out) || isfinite(in->kbps_in)) {
			char o[16], i[16];
			snprintf(o, sizeof(o), isfinite(in->kbps_out) ? "%.0f" : "?", in->kbps_out);
			snprintf(i, sizeof(i), isfinite(in->kbps_in) ? "%.0f" : "?", in->kbps_in);
			snprintf(f[nf - 1].text, sizeof(f[0].text), "%s/%s kbit/s", o, i);
		} else {
			snprintf(f[nf - 1].text, sizeof(f[0].text), "?/? kbit/s");
		}
		statusline_meter(mic, sizeof(mic), in->muted ? 0 : in->mic_level, STATUSLINE_METER_CELLS);
		statusline_meter(peer, sizeof(peer), in->peer_level, STATUSLINE_METER_CELLS);
		f[nf++] = (struct field){ .drop_rank = 5 };
		snprintf(f[nf - 1].text, sizeof(f[0].text), "mic [%s]", mic);
		f[nf++] = (struct field){ .drop_rank = 2 };
		snprintf(f[nf - 1].text, sizeof(f[0].text), "peer [%s]", peer);
	}
	/* Give up fields, highest rank first, until the line fits. */
	bool keep[10];
	for (size_t i = 0; i < nf; i++)
		keep[i] = true;
	size_t cap = n - 1 < width ? n - 1 : width;
	for (int rank = 8; rank >= 0; rank--) {
		size_t len = 0, kept = 0;
		for (size_t i = 0; i < nf; i++)
			if (keep[i]) {
				len += strlen(f[i].text) + (kept ? 2 : 0);
				kept++;
			}
		if (len <= cap || rank == 0)
			break;
		for (size_t i = 0; i < nf; i++)
			if (f[i].drop_rank == rank)
				keep[i] = false;
	}
	size_t len = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < nf; i++) {
		if (!keep[i])
			continue;
		const char *sep = len ? "  " : "";
		for (const char *p = sep; *p && len < cap; p++)
			buf[len++] = *p;
		for (const char *p = f[i].text; *p && len < cap; p++)
			buf[len++] = *p;
	}
	buf[len] = '\0';
	return (int)len;
}
