/* Test signals for voice processing; see dsp_signals.h. */
#include "dsp_signals.h"

#include <math.h>
#include <stdbool.h>
#include <string.h>

/* xorshift32: the same numbers on every machine. */
static uint32_t rnd(uint32_t *s)
{
	uint32_t x = *s;
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return *s = x;
}

static double uni(uint32_t *s) /* [0, 1) */
{
	return (rnd(s) >> 8) / 16777216.0;
}

static double gauss(uint32_t *s)
{
	double u = uni(s) + 1e-12, v = uni(s);
	return sqrt(-2 * log(u)) * cos(2 * M_PI * v);
}

static uint32_t seed_of(uint32_t seed)
{
	uint32_t s = seed * 2654435761u + 0x9e3779b9u;
	return s ? s : 1; /* xorshift stays at 0 forever */
}

static void scale_to(double *x, size_t n, double rms_dbfs)
{
	double p = dsp_power(x, n);
	if (p <= 0)
		return;
	double g = 32767.0 * pow(10, rms_dbfs / 20) / sqrt(p);
	for (size_t i = 0; i < n; i++)
		x[i] *= g;
}

/* Gain of a two-pole resonance at f (bandwidth bw) for frequency h. */
static double formant(double h, double f, double bw)
{
	double d = (h - f) / bw;
	return 1 / sqrt(1 + d * d);
}

void dsp_speech(double *x, size_t n, uint32_t seed, double rms_dbfs)
{
	uint32_t s = seed_of(seed);
	size_t i = 0;
	double ph[40] = { 0 };
	double lp = 0, hp_prev = 0;

	memset(x, 0, n * sizeof(*x));
	while (i < n) {
		size_t len = (size_t)((0.12 + 0.20 * uni(&s)) * DSP_RATE);
		size_t gap = (size_t)((0.04 + 0.21 * uni(&s)) * DSP_RATE);
		bool voiced = uni(&s) < 0.75;
		double f0a = 90 + 170 * uni(&s), f0b = 90 + 170 * uni(&s);
		double f1 = 300 + 600 * uni(&s), f2 = 900 + 1600 * uni(&s);
		double amp = 0.4 + 0.6 * uni(&s);

		for (size_t k = 0; k < len && i < n; k++, i++) {
			double t = (double)k / (double)len;
			/* Fast attack, slower decay. */
			double env = amp * (t < 0.1 ? t / 0.1 : 1) * (t > 0.6 ? (1 - t) / 0.4 : 1);
			double v = 0;
			if (voiced) {
				double f0 = f0a + (f0b - f0a) * t;
				for (int h = 1; h < 40 && h * f0 < 5000; h++) {
					ph[h] += 2 * M_PI * h * f0 / DSP_RATE;
					if (ph[h] > 2 * M_PI)
						ph[h] -= 2 * M_PI;
					double g = (formant(h * f0, f1, 120) + 0.5 * formant(h * f0, f2, 200)) / h;
					v += g * sin(ph[h]);
				}
				v += 0.02 * gauss(&s); /* breath */
			} else {
				/* Fricative: high-passed noise. */
				double w = gauss(&s);
				lp = 0.7 * lp + 0.3 * w;
				double hp = w - lp;
				v = 0.3 * (hp + 0.5 * hp_prev);
				hp_prev = hp;
			}
			x[i] = env * v;
		}
		i += gap; /* the pause stays at zero */
	}
	scale_to(x, n, rms_dbfs);
}

void dsp_white(double *x, size_t n, uint32_t seed, double rms_dbfs)
{
	uint32_t s = seed_of(seed);
	for (size_t i = 0; i < n; i++)
		x[i] = gauss(&s);
	scale_to(x, n, rms_dbfs);
}

void dsp_pink(double *x, size_t n, uint32_t seed, double rms_dbfs)
{
	uint32_t s = seed_of(seed);
	double b0 = 0, b1 = 0, b2 = 0, b3 = 0, b4 = 0, b5 = 0, b6 = 0;
	for (size_t i = 0; i < n; i++) {
		double w = gauss(&s);
		b0 = 0.99886 * b0 + w * 0.0555179;
		b1 = 0.99332 * b1 + w * 0.0750759;
		b2 = 0.96900 * b2 + w * 0.1538520;
		b3 = 0.86650 * b3 + w * 0.3104856;
		b4 = 0.55000 * b4 + w * 0.5329522;
		b5 = -0.7616 * b5 - w * 0.0168980;
		x[i] = b0 + b1 + b2 + b3 + b4 + b5 + b6 + w * 0.5362;
		b6 = w * 0.115926;
	}
	scale_to(x, n, rms_dbfs);
}

void dsp_echo_path(const double *x, double *y, size_t n, size_t delay, const double *h,
		   size_t nh, double gain)
{
	for (size_t i = 0; i < n; i++) {
		double v = 0;
		for (size_t k = 0; k < nh; k++)
			if (i >= delay + k)
				v += h[k] * x[i - delay - k];
		y[i] = gain * v;
	}
}

size_t dsp_mix16(int16_t *out, const double *x, const double *y, const double *z, size_t n)
{
	size_t clipped = 0;
	for (size_t i = 0; i < n; i++) {
		double v = x[i] + (y ? y[i] : 0) + (z ? z[i] : 0);
		long r = lrint(v);
		if (r > 32767 || r < -32768) {
			clipped++;
			r = r > 0 ? 32767 : -32768;
		}
		out[i] = (int16_t)r;
	}
	return clipped;
}

double dsp_power(const double *x, size_t n)
{
	double e = 0;
	for (size_t i = 0; i < n; i++)
		e += x[i] * x[i];
	return n ? e / (double)n : 0;
}

double dsp_power16(const int16_t *x, size_t n)
{
	double e = 0;
	for (size_t i = 0; i < n; i++)
		e += (double)x[i] * x[i];
	return n ? e / (double)n : 0;
}

double dsp_db(double ratio)
{
	return ratio > 1e-20 ? 10 * log10(ratio) : -200;
}

double dsp_dbfs16(const int16_t *x, size_t n)
{
	return dsp_db(dsp_power16(x, n) / (32767.0 * 32767.0));
}

double dsp_corr(const int16_t *a, const double *b, size_t n)
{
	double ab = 0, aa = 0, bb = 0;
	for (size_t i = 0; i < n; i++) {
		ab += a[i] * b[i];
		aa += (double)a[i] * a[i];
		bb += b[i] * b[i];
	}
	return aa > 0 && bb > 0 ? ab / sqrt(aa * bb) : 0;
}

size_t dsp_best_lag(const int16_t *out, size_t nout, const double *ref, size_t n, size_t max_lag)
{
	size_t best = 0;
	double bestc = -2;
	for (size_t lag = 0; lag <= max_lag && lag + n <= nout; lag++) {
		double c = dsp_corr(out + lag, ref, n);
		if (c > bestc) {
			bestc = c;
			best = lag;
		}
	}
	return best;
}

double dsp_snr_db(const int16_t *out, const double *ref, size_t n)
{
	double or = 0, rr = 0;
	for (size_t i = 0; i < n; i++) {
		or += out[i] * ref[i];
		rr += ref[i] * ref[i];
	}
	if (rr <= 0)
		return -200;
	double a = or / rr, err = 0;
	for (size_t i = 0; i < n; i++) {
		double e = out[i] - a * ref[i];
		err += e * e;
	}
	return dsp_db(a * a * rr / (err > 0 ? err : 1e-20));
}

#define SINC_HALF 48     /* taps each side */
#define SINC_PHASES 1024 /* table resolution, linearly interpolated */

static double bessel_i0(double x)
{
	double s = 1, t = 1;
	for (int k = 1; k < 40; k++) {
		t *= (x / (2 * k)) * (x / (2 * k));
		s += t;
	}
	return s;
}

/* sinc_tab[p][j]: the weight of sample floor(t) - SINC_HALF + 1 + j for
 * t with fraction p / SINC_PHASES; Kaiser window (beta 9). */
static double sinc_tab[SINC_PHASES + 1][2 * SINC_HALF];

static void sinc_init(void)
{
	static bool done;
	const double beta = 9, fc = 0.95;
	if (done)
		return;
	for (int p = 0; p <= SINC_PHASES; p++) {
		double frac = (double)p / SINC_PHASES;
		for (int j = 0; j < 2 * SINC_HALF; j++) {
			double x = (double)(j - SINC_HALF + 1) - frac;
			double w = x / SINC_HALF;
			double win = fabs(w) >= 1 ? 0 : bessel_i0(beta * sqrt(1 - w * w)) / bessel_i0(beta);
			double sn = x == 0 ? 1 : sin(M_PI * fc * x) / (M_PI * fc * x);
			sinc_tab[p][j] = fc * sn * win;
		}
	}
	done = true;
}

/* x (nx samples) at the fractional time t. */
static double sinc_at(const double *x, size_t nx, double t)
{
	double fl = floor(t);
	double ph = (t - fl) * SINC_PHASES;
	int p = (int)ph;
	double a = ph - p, y = 0;
	long base = (long)fl - SINC_HALF + 1;
	for (int j = 0; j < 2 * SINC_HALF; j++) {
		long i = base + j;
		if (i < 0 || (size_t)i >= nx)
			continue;
		y += x[i] * ((1 - a) * sinc_tab[p][j] + a * sinc_tab[p + 1][j]);
	}
	return y;
}

void dsp_clock_skew(const double *x, size_t nx, double *y, size_t ny, double e)
{
	sinc_init();
	for (size_t n = 0; n < ny; n++)
		y[n] = sinc_at(x, nx, (double)n / (1 + e));
}
