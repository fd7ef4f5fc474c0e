#!/bin/sh
# matrix.sh [--no-prflx] — measures which NAT type pairs the punch tool can
# open, in one lab whose NATs are re-typed between runs, and prints the
# matrix (rows: NAT A, columns: NAT B). Needs root. The Check suite `lab`
# asserts the expected matrix; this script is for people.
set -eu
LAB=$(cd "$(dirname "$0")" && pwd)/natlab.sh
P=p2pc-matrix-$$
opt=${1:-}
trap '"$LAB" down "$P" >/dev/null 2>&1 || true' EXIT INT TERM
"$LAB" up "$P" port port >/dev/null
punch=$("$LAB" tool punch)
"$LAB" exec "$P" server "$punch" serve --port 3478 >/dev/null &
types="none full restricted port symmetric"
printf '%-11s' "A \\ B"
for tb in $types; do printf ' %-10s' "$tb"; done
echo
n=0
for ta in $types; do
	printf '%-11s' "$ta"
	for tb in $types; do
		"$LAB" set-nat "$P" nata "$ta"
		"$LAB" set-nat "$P" natb "$tb"
		n=$((n + 1))
		# A fresh local port per run: no NAT state can carry over.
		port=$((20000 + n))
		# shellcheck disable=SC2086 # $opt is empty or one word
		"$LAB" exec "$P" a "$punch" client 203.0.113.1 3478 "m$n" --lport $port $opt >/dev/null &
		pa=$!
		rb=0
		# shellcheck disable=SC2086
		"$LAB" exec "$P" b "$punch" client 203.0.113.1 3478 "m$n" --lport $port $opt >/dev/null || rb=$?
		ra=0
		wait $pa || ra=$?
		if [ $ra -eq 0 ] && [ $rb -eq 0 ]; then r=open; else r=fail; fi
		printf ' %-10s' "$r"
	done
	echo
done
