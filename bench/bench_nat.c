/* NAT traversal benchmark (make bench; needs root for the NAT lab):
 *  - set-up time from the answer to the media path being up, on each side,
 *    for a direct path (port-restricted cones) with 0 and 50 ms one-way WAN
 *    delay (goal: <= 1 RTT + 50 ms), and for the relay fallback
 *    (symmetric NATs; goal: <= 1.5 s);
 *  - for the direct path that birthday probing opens between a symmetric
 *    NAT and a port-restricted cone (300 ms head start for the normal
 *    checks, then ~250 probes at 1000/s expected: goal <= 1 s, the relay
 *    fallback's bound), both ways round and with 50 ms one-way delay;
 *  - the matrix of NAT pairs with the path, the method and the set-up time.
 * "Path up" is the first authenticated round trip on the selected pair, or
 * the peer's probe heard through the relay. Median of RUNS runs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lab.h"
#include "natcall.h"

#define RUNS 3

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void measure(const char *label, const char *ta, const char *tb, int delay_ms, double goal_ms)
{
	double a[RUNS], b[RUNS];
	char path[16] = "-", method[16] = "-";
	int ok = 0;
	for (int i = 0; i < RUNS; i++) {
		struct natcall_result r;
		if (natcall_run(ta, tb, delay_ms, NULL, &r) < 0 || r.path_a[0] == '-') {
			a[i] = b[i] = 1e9;
			continue;
		}
		snprintf(path, sizeof(path), "%s", r.path_a);
		snprintf(method, sizeof(method), "%s", r.method_a);
		a[i] = r.path_ms_a;
		b[i] = r.path_ms_b;
		ok++;
	}
	qsort(a, RUNS, sizeof(double), cmp);
	qsort(b, RUNS, sizeof(double), cmp);
	printf("%-34s %-7s %-8s caller %6.0f ms  callee %6.0f ms  (goal <= %.0f ms; %d/%d runs connected)\n",
	       label, path, method, a[RUNS / 2], b[RUNS / 2], goal_ms, ok, RUNS);
}

int main(void)
{
	char why[256];
	if (!lab_available(why, sizeof(why))) {
		printf("SKIP bench_nat: %s\n", why);
		return 0;
	}
	printf("answer -> path up (median of %d):\n", RUNS);
	measure("direct, port/port, 0 ms delay", "port", "port", 0, 50);
	measure("direct, port/port, 50 ms one-way", "port", "port", 50, 150);
	measure("relay, symmetric/symmetric", "symmetric", "symmetric", 0, 1500);
	measure("birthday, symmetric/port, 0 ms", "symmetric", "port", 0, 1000);
	measure("birthday, port/symmetric, 0 ms", "port", "symmetric", 0, 1000);
	measure("birthday, symmetric/port, 50 ms", "symmetric", "port", 50, 1200);

	static const char *const types[] = { "none", "full", "restricted", "port", "symmetric" };
	printf("\nNAT matrix (A calls B): path, method at A, answer -> path up at A\n%-11s", "A \\ B");
	for (int j = 0; j < 5; j++)
		printf(" %-26s", types[j]);
	for (int i = 0; i < 5; i++) {
		printf("\n%-11s", types[i]);
		for (int j = 0; j < 5; j++) {
			struct natcall_result r;
			char cell[48] = "(mirror)";
			if (j >= i && natcall_run(types[i], types[j], 0, NULL, &r) == 0)
				snprintf(cell, sizeof(cell), "%s %s %.0f ms", r.path_a, r.method_a, r.path_ms_a);
			printf(" %-26s", cell);
			fflush(stdout);
		}
	}
	printf("\n");
	natcall_cleanup();
	return 0;
}
