/* bench_aec_compare: speexdsp (what voice_dsp.c ships) against
 * webrtc-audio-processing on the same echo, double-talk and clock-drift
 * signals: ERLE over time, time to 25 dB, near talker kept, CPU. The
 * library is C++ only, so the comparison is a separate C++ program that
 * bench/aec_compare/run.sh builds with g++ and pkg-config and runs; this
 * wrapper lets `make bench` run it without the Makefile knowing C++.
 * run.sh prints a SKIP line (and the apt-get line) when g++ or the
 * library is missing; the choice and the figures are in doc/voice.md. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#define SCRIPT "bench/aec_compare/run.sh"

int main(void)
{
	/* make bench runs us from the top of the source tree. */
	if (access(SCRIPT, R_OK) != 0) {
		printf("SKIP aec_compare: %s not found (run from the source tree)\n", SCRIPT);
		return 0;
	}
	fflush(stdout);
	int st = system("/bin/sh " SCRIPT " 2>&1");
	if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "bench_aec_compare: %s failed (status %d)\n", SCRIPT, st);
		return 1;
	}
	return 0;
}
