#!/bin/sh
# A real call on this machine: a server on loopback, bob waiting and
# answering, alice calling him for a few seconds. Used by `make demo`.
set -eu
bin=${1:-build/p2pcall}
dir=$(mktemp -d "${TMPDIR:-/tmp}/p2pcall-demo.XXXXXX")
cleanup() {
	[ -n "${srv:-}" ] && kill "$srv" 2>/dev/null || true
	[ -n "${bob:-}" ] && kill "$bob" 2>/dev/null || true
	wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

echo "== starting a p2pcall server on 127.0.0.1 (logs: $dir/server.log)"
"$bin" --serve --listen 127.0.0.1:0 2>"$dir/server.log" &
srv=$!
port=""
for _ in $(seq 50); do
	port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$dir/server.log")
	[ -n "$port" ] && break
	sleep 0.1
done
[ -n "$port" ] || { echo "demo: the server did not start:"; cat "$dir/server.log"; exit 1; }

echo "== bob waits for a call and answers it"
"$bin" --auto-answer --once "bob@127.0.0.1:$port" 2>&1 | sed 's/^/   [bob]   /' &
bob=$!
sleep 0.5

echo "== alice calls bob for 3 seconds"
# The status goes through a file: in a pipeline sh keeps only sed's.
{ "$bin" --duration 3 "alice@127.0.0.1:$port" bob 2>&1; echo $? >"$dir/alice.status"; } |
	sed 's/^/   [alice] /'
status=$(cat "$dir/alice.status")
wait "$bob" 2>/dev/null || true
bob=""
if [ "$status" -eq 0 ]; then
	echo "== done: the call was answered and hung up (see p2pcall(1) for more)"
else
	echo "== the call failed with exit status $status (see EXIT STATUS in p2pcall(1))"
fi
rm -rf "$dir"
exit "$status"
