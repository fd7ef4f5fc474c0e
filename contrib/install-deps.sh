#!/bin/sh
# Installs the Debian packages p2pcall needs, or says exactly what to run.
#   install-deps.sh          build + run (what `make` and `make demo` need)
#   install-deps.sh --test   also what `make check` needs
#   install-deps.sh --bench  also what `make bench` compares against
#                            (baresip; CI does not run the benches)
# As root it installs what is missing; otherwise it prints the apt-get line.
set -eu

build="gcc make pkg-config libevent-dev libopus-dev portaudio19-dev \
libsndfile1-dev libspeexdsp-dev libsodium-dev nettle-dev"
demo="espeak-ng sox"
test="check coturn nftables iproute2 conntrack tshark mandoc clang \
libclang-rt-14-dev valgrind jackd2 libasound2-plugins alsa-utils tmux \
libnetfilter-queue-dev iptables procps bsdextrautils zsh"
# bench_cpu's reference peer; without it the bench prints SKIP
bench="baresip-core"

want="$build $demo"
[ "${1:-}" = "--test" ] && want="$want $test"
[ "${1:-}" = "--bench" ] && want="$want $test $bench"

missing=""
for p in $want; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "p2pcall: missing packages:$missing" >&2
	echo "p2pcall: run: sudo apt-get install -y$missing" >&2
	exit 1
fi
echo "p2pcall: installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
# A fresh machine has no package lists yet; refresh once, quietly.
apt-get update -qq >/dev/null
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
