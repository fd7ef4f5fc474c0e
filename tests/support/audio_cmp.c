/* See audio_cmp.h. */
#include "audio_cmp.h"
#include "dsp_signals.h"
#include "p2pcall/audio_file.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int audio_save(const char *path, const int16_t *pcm, size_t n, char *err, size_t errlen)
{
	struct audio_file_writer *w;
	int rc = audio_file_writer_open(&w, path, err, errlen);
	if (rc < 0)
		return rc;
	rc = audio_file_write(w, pcm, n, err, errlen);
	char err2[256];
	int rc2 = audio_file_writer_close(w, rc < 0 ? err2 : err, rc < 0 ? sizeof(err2) : errlen);
	return rc < 0 ? rc : rc2; /* the first error says most */
}

int audio_make_synthetic_speech(const char *path, double seconds, uint32_t seed, double rms_dbfs, char *err,
				size_t errlen)
{
	size_t n = (size_t)(seconds * 48000);
	double *x = calloc(n, sizeof(double));
	int16_t *pcm = calloc(n, sizeof(int16_t));
	int rc = -ENOMEM;
	if (x && pcm) {
		dsp_speech(x, n, seed, rms_dbfs);
		dsp_mix16(pcm, x, NULL, NULL, n);
		rc = audio_save(path, pcm, n, err, errlen);
	} else {
		snprintf(err, errlen, "out of memory");
	}
	free(x);
	free(pcm);
	return rc;
}

int audio_load(const char *path, int16_t **pcm, size_t *n)
{
	struct audio_file_reader *r;
	char err[512];
	int rc = audio_file_reader_open(&r, path, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "audio_load: %s\n", err);
		return rc;
	}
	size_t cap = 48000, len = 0;
	int16_t *buf = malloc(cap * sizeof(*buf));
	for (;;) {
		if (!buf) {
			audio_file_reader_free(r);
			return -ENOMEM;
		}
		if (cap - len < 4800) {
			int16_t *nb = realloc(buf, 2 * cap * sizeof(*buf));
			if (!nb) {
				free(buf);
				buf = NULL;
				continue;
			}
			buf = nb;
			cap *= 2;
		}
		long got = audio_file_read(r, buf + len, 4800, err, sizeof(err));
		if (got <= 0)
			break;
		len += (size_t)got;
	}
	audio_file_reader_free(r);
	*pcm = buf;
	*n = len;
	return 0;
}

/* RMS of 10 ms windows starting every 1 ms. */
static double *envelope(const int16_t *x, size_t n, size_t *m)
{
	size_t blocks = n / 48;
	double *e = calloc(blocks + 1, sizeof(*e)), *env;
	*m = blocks >= 10 ? blocks - 9 : 0;
	env = calloc(*m + 1, sizeof(*env));
	if (!e || !env) {
		free(e);
		free(env);
		*m = 0;
		return NULL;
	}
	for (size_t b = 0; b < blocks; b++)
		for (size_t i = 0; i < 48; i++)
			e[b] += (double)x[b * 48 + i] * x[b * 48 + i];
	for (size_t j = 0; j < *m; j++) {
		double s = 0;
		for (size_t k = 0; k < 10; k++)
			s += e[j + k];
		env[j] = sqrt(s / 480.0);
	}
	free(e);
	return env;
}

/* Pearson correlation of two series. */
static double pearson(const double *a, const double *b, size_t n)
{
	double sa = 0, sb = 0, saa = 0, sbb = 0, sab = 0, k = (double)n;
	for (size_t j = 0; j < n; j++) {
		sa += a[j], sb += b[j], saa += a[j] * a[j], sbb += b[j] * b[j], sab += a[j] * b[j];
	}
	double cov = sab - sa * sb / k, va = saa - sa * sa / k, vb = sbb - sb * sb / k;
	return va > 0 && vb > 0 ? cov / sqrt(va * vb) : 0;
}

/* The jitter buffer shifts the timeline by whole frames (it drops or
 * inserts one in quiet moments to follow its target delay), so after a
 * global alignment each 500 ms piece of ref is re-aligned within
 * +-WARP_MS of where the previous piece was found (a 60 ms frame fits); the correlation is then
 * taken over the whole re-assembled envelope. */
#define PIECE_MS 500
#define WARP_MS 65
static double warped_corr(const double *er, size_t mr, const double *es, size_t ms, long off)
{
	double *al = calloc(mr + 1, sizeof(*al));
	if (!al)
		return -2;
	long cur = off;
	for (size_t p = 0; p < mr; p += PIECE_MS) {
		size_t len = mr - p < PIECE_MS ? mr - p : PIECE_MS;
		long best = cur;
		double best_dot = -1;
		for (long d = cur - WARP_MS; d <= cur + WARP_MS; d++) {
			double dot = 0, nn = 0;
			for (size_t j = p; j < p + len; j++) {
				long k = (long)j + d;
				double v = k >= 0 && k < (long)ms ? es[k] : 0;
				dot += er[j] * v;
				nn += v * v;
			}
			double score = nn > 0 ? dot / sqrt(nn) : 0;
			/* ties (silence): stay where we were */
			if (score > best_dot + 1e-9 || (fabs(score - best_dot) <= 1e-9 && labs(d - cur) < labs(best - cur))) {
				best_dot = score;
				best = d;
			}
		}
		cur = best;
		for (size_t j = p; j < p + len; j++) {
			long k = (long)j + cur;
			al[j] = k >= 0 && k < (long)ms ? es[k] : 0;
		}
	}
	double c = pearson(er, al, mr);
	free(al);
	return c;
}

int audio_match(const int16_t *ref, size_t nref, const int16_t *sig, size_t nsig, long max_ms,
		struct audio_match *out)
{
	size_t mr, ms;
	double *er = envelope(ref, nref, &mr), *es = envelope(sig, nsig, &ms);
	int rc = -1;
	out->corr = -2;
	for (long off = -max_ms; er && es && off <= max_ms; off++) {
		/* overlap: ref index j with sig index j + off */
		long lo = off < 0 ? -off : 0, hi = (long)mr;
		if (hi + off > (long)ms)
			hi = (long)ms - off;
		if (hi - lo < (long)(0.9 * (double)mr) || hi <= lo)
			continue;
		double sa = 0, sb = 0, saa = 0, sbb = 0, sab = 0, k = (double)(hi - lo);
		for (long j = lo; j < hi; j++) {
			double a = er[j], b = es[j + off];
			sa += a, sb += b, saa += a * a, sbb += b * b, sab += a * b;
		}
		double cov = sab - sa * sb / k, va = saa - sa * sa / k, vb = sbb - sb * sb / k;
		double c = va > 0 && vb > 0 ? cov / sqrt(va * vb) : 0;
		if (c > out->corr) {
			out->corr = c;
			out->offset_ms = off;
			out->overlap = (double)(hi - lo) / (double)mr;
			rc = 0;
		}
	}
	if (rc == 0)
		out->corr_warped = warped_corr(er, mr, es, ms, out->offset_ms);
	free(er);
	free(es);
	return rc;
}

int audio_sh(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	int rc = system(cmd);
	if (rc != 0)
		fprintf(stderr, "command failed (%d): %s\n", rc, cmd);
	return rc == 0 ? 0 : -1;
}

int audio_make_speech(const char *dir, const char *name, const char *text, char *path, size_t n)
{
	snprintf(path, n, "%s/%s.wav", dir, name);
	return audio_sh("timeout 30 espeak-ng -v en-us -w '%s/%s-raw.wav' '%s' && "
			"timeout 30 sox '%s/%s-raw.wav' -r 48000 -c 1 -b 16 '%s' rate -v",
			dir, name, text, dir, name, path);
}
