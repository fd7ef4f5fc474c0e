#!/bin/sh
# A real call on this machine (used by `make demo`): a server on loopback;
# bob waits, answers and records what he hears; alice calls him and says a
# sentence (espeak-ng speech, sent as Opus over the direct path found by
# the connectivity checks). Alice hangs up when her sample is over.
set -eu
bin=${1:-build/p2pcall}
dir=$(mktemp -d "${TMPDIR:-/tmp}/p2pcall-demo.XXXXXX")
cleanup() {
	[ -n "${srv:-}" ] && kill "$srv" 2>/dev/null || true
	[ -n "${bob:-}" ] && kill "$bob" 2>/dev/null || true
	wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

echo "== making a speech sample with espeak-ng and sox"
espeak-ng -v en-us -w "$dir/raw.wav" \
	"Hello Bob. This is Alice, calling you peer to peer. Can you hear me clearly?" 2>/dev/null
sox "$dir/raw.wav" -r 48000 -c 1 -b 16 "$dir/alice-says.wav" rate -v
echo "   $(sox --i -d "$dir/alice-says.wav") of speech in $dir/alice-says.wav"

echo "== starting a p2pcall server on 127.0.0.1 (log: $dir/server.log)"
"$bin" --serve --listen 127.0.0.1:0 2>"$dir/server.log" &
srv=$!
port=""
for _ in $(seq 50); do
	port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$dir/server.log")
	[ -n "$port" ] && break
	sleep 0.1
done
[ -n "$port" ] || { echo "demo: the server did not start:"; cat "$dir/server.log"; exit 1; }

echo "== bob waits for a call, answers it and records it"
"$bin" --auto-answer --once --output "$dir/bob-heard.wav" --input "$dir/alice-says.wav" \
	"bob@127.0.0.1:$port" >"$dir/bob.log" 2>&1 &
bob=$!
sleep 0.5

echo "== alice calls bob and talks"
# The status goes through a file: in a pipeline sh keeps only sed's.
{ "$bin" --input "$dir/alice-says.wav" --output "$dir/alice-heard.wav" "alice@127.0.0.1:$port" bob 2>&1
  echo $? >"$dir/alice.status"; } | sed 's/^/   [alice] /'
status=$(cat "$dir/alice.status")
wait "$bob" 2>/dev/null || true
bob=""
sed 's/^/   [bob]   /' "$dir/bob.log"

if [ "$status" -eq 0 ]; then
	echo "== done. What bob heard: $dir/bob-heard.wav ($(sox --i -d "$dir/bob-heard.wav" 2>/dev/null))"
	echo "   play it with: play $dir/bob-heard.wav   (or aplay)"
else
	echo "== the call failed with exit status $status (see EXIT STATUS in p2pcall(1)); files in $dir"
fi
exit "$status"
