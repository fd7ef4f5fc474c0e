#!/bin/sh
# Builds bench/aec_compare/aec_compare.cc (C++: webrtc-audio-processing has
# no C API) with our voice_dsp.c and the tests' signal generator, makes the
# espeak-ng speech the voice_dsp tests use, and runs the comparison.
# Prints one SKIP line and exits 0 when g++, the library, espeak-ng or sox
# is missing (CI builds everything but does not have it).
# Output directory: $AEC_COMPARE_BUILD (default build/aec_compare).
set -eu
src=$(cd "$(dirname "$0")/../.." && pwd)
out=${AEC_COMPARE_BUILD:-$src/build/aec_compare}

missing=""
command -v g++ >/dev/null 2>&1 || missing="$missing g++"
pkg-config --exists webrtc-audio-processing 2>/dev/null || missing="$missing libwebrtc-audio-processing-dev"
pkg-config --exists speexdsp 2>/dev/null || missing="$missing libspeexdsp-dev"
command -v espeak-ng >/dev/null 2>&1 || missing="$missing espeak-ng"
command -v sox >/dev/null 2>&1 || missing="$missing sox"
if [ -n "$missing" ]; then
	echo "SKIP aec_compare: missing$missing (apt-get install -y$missing)"
	exit 0
fi

mkdir -p "$out"
inc="-I$src/include"
sup="-I$src/tests/support"
# shellcheck disable=SC2046 # pkg-config's flags are meant to split
gcc -std=c11 -D_GNU_SOURCE -O2 -g "$inc" $(pkg-config --cflags speexdsp) \
	-c "$src/src/io/voice_dsp.c" -o "$out/voice_dsp.o"
gcc -std=c11 -D_GNU_SOURCE -O2 -g "$sup" -c "$src/tests/support/dsp_signals.c" -o "$out/dsp_signals.o"
# -isystem: the library's own header warns under -Wextra.
# shellcheck disable=SC2046
g++ -std=gnu++14 -O2 -g -Wall -Wextra "$inc" "$sup" \
	$(pkg-config --cflags webrtc-audio-processing | sed 's/-I/-isystem /g') \
	-o "$out/aec_compare" "$src/bench/aec_compare/aec_compare.cc" "$out/voice_dsp.o" \
	"$out/dsp_signals.o" $(pkg-config --libs webrtc-audio-processing speexdsp) -lm

# The texts and the conversion of tests/unit/test_voice_dsp.c.
speak() {
	timeout 30 espeak-ng -v en-us -w "$out/$1-raw.wav" "$2"
	timeout 30 sox "$out/$1-raw.wav" -r 48000 -c 1 -b 16 -e signed-integer -t raw "$out/$1.s16" rate -v
}
speak far "Hello Bob, can you hear me now? I am calling from the office, and the line seems good today. Let us talk about the plans for next week, the meeting on Tuesday, and the report."
speak near "Yes, I can hear you well. The weather here is cold and windy, but the train was on time this morning, so I was early for once."
exec "$out/aec_compare" "$out/far.s16" "$out/near.s16"
