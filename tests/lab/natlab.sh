#!/bin/sh
# natlab.sh — a NAT lab in network namespaces, with real nftables NAT and an
# NFQUEUE impairment tool on the WAN. See tests/lab/README.md for the
# topology and the measured punching matrix. Needs root, ip, nft, conntrack;
# `impair` also needs iptables and libnetfilter-queue-dev.
#
#   natlab.sh up PREFIX TYPE_A TYPE_B   TYPE: none full restricted port symmetric
#   natlab.sh up PREFIX TYPE_A same     host b on NAT A's LAN too
#   natlab.sh down PREFIX               removes every namespace of the lab
#   natlab.sh exec PREFIX HOST CMD...   HOST: a b server nata natb
#   natlab.sh addr PREFIX HOST          prints the host's IPv4 address
#   natlab.sh flush PREFIX nata|natb    forgets all NAT mappings (conntrack -F)
#   natlab.sh set-nat PREFIX nata|natb TYPE
#   natlab.sh impair PREFIX [--delay MS] [--jitter MS] [--loss PCT] [--udp-only]
#   natlab.sh impair PREFIX off
#   natlab.sh status PREFIX             lists the lab's namespaces
#   natlab.sh tool punch|impair         builds the C tool, prints its path
#
# Every name the lab creates starts with "PREFIX-", so several labs can
# coexist; `down` is idempotent and safe to call from a trap:
#   trap 'natlab.sh down p2pc-$$' EXIT
set -eu

LAB_DIR=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$LAB_DIR/../.." && pwd)
TOOL_DIR=${P2PCALL_LAB_BUILD:-$ROOT/build/lab}
STATE_ROOT=${P2PCALL_LAB_STATE:-/run/natlab}

# Addresses (TEST-NET / benchmarking ranges; they exist only inside the lab).
SERVER_IP=203.0.113.1
SERVER_IP2=203.0.113.2
NATA_IP=203.0.113.11
NATB_IP=203.0.113.12
LANA_NET=198.18.1.0/24
LANB_NET=198.18.2.0/24
LANA_GW=198.18.1.1
LANB_GW=198.18.2.1
A_IP=198.18.1.2
B_IP=198.18.2.2
B_SAME_IP=198.18.1.3

die() {
	echo "natlab: $*" >&2
	exit 1
}

usage() {
	sed -n '5,19p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

need_root() {
	[ "$(id -u)" -eq 0 ] || die "needs root (network namespaces)"
	for t in ip nft conntrack; do
		command -v "$t" >/dev/null 2>&1 || die "\`$t' not found; run: sh contrib/install-deps.sh --test"
	done
}

check_prefix() {
	case $1 in
	'' | *[!A-Za-z0-9_.-]*) die "bad prefix \`$1': use letters, digits, . _ -" ;;
	esac
	[ ${#1} -le 40 ] || die "prefix \`$1' is longer than 40 characters"
}

ns_of() { # PREFIX HOST -> namespace name
	case $2 in
	a | b | nata | natb) echo "$1-$2" ;;
	server | wan) echo "$1-wan" ;;
	*) die "unknown host \`$2': use a, b, server, nata or natb" ;;
	esac
}

ns_exists() { [ -e "/var/run/netns/$1" ]; }

nx() { # NS CMD... : run in a namespace
	_ns=$1
	shift
	ip netns exec "$_ns" "$@"
}

check_type() {
	case $1 in
	none | full | restricted | port | symmetric) ;;
	*) die "unknown NAT type \`$1': use none, full, restricted, port or symmetric" ;;
	esac
}

# The ruleset of one NAT. Linux masquerade is endpoint-independent mapping
# with address-and-port-dependent filtering (a port-restricted cone); the
# other types add or change one thing each (testbed.md has the reasoning).
nat_ruleset() { # TYPE HOST_IP
	type=$1
	host=$2
	echo "table ip natlab {"
	if [ "$type" = none ]; then
		# A plain router: the host's own address is public.
		echo "  chain forward { type filter hook forward priority filter; policy accept; }"
		echo "}"
		return
	fi
	masq=masquerade
	[ "$type" = symmetric ] && masq="masquerade random"
	dnat_pre=""
	seen_upd=""
	if [ "$type" = restricted ]; then
		echo "  set seen { type ipv4_addr . inet_service; flags dynamic,timeout; timeout 120s; }"
		seen_upd="iifname \"lan0\" meta l4proto udp update @seen { ip daddr . udp sport }"
		dnat_pre="iifname \"wan0\" ip saddr . udp dport @seen dnat to $host"
	elif [ "$type" = full ]; then
		dnat_pre="iifname \"wan0\" meta l4proto udp dnat to $host"
	fi
	echo "  chain prerouting { type nat hook prerouting priority dstnat; policy accept; $dnat_pre; }"
	echo "  chain postrouting { type nat hook postrouting priority srcnat; policy accept; oifname \"wan0\" $masq; }"
	# Without this drop, an early punch from the peer creates a conntrack
	# entry on the NAT itself which steals the port the host's next outbound
	# flow wanted: the host then gets a random port and punching fails even
	# between two cone NATs.
	echo "  chain input { type filter hook input priority filter; policy accept; iifname \"wan0\" ct state new meta l4proto udp drop; }"
	echo "  chain forward { type filter hook forward priority filter; policy drop;"
	[ -n "$seen_upd" ] && echo "    $seen_upd;"
	echo "    ct state established,related accept;"
	echo "    iifname \"lan0\" accept;"
	[ -n "$dnat_pre" ] && echo "    iifname \"wan0\" ct status dnat accept;"
	echo "  }"
	echo "}"
}

apply_nat() { # PREFIX nata|natb TYPE
	ns=$1-$2
	if [ "$2" = nata ]; then host=$A_IP; else host=$B_IP; fi
	ns_exists "$ns" || die "no namespace $ns (is the lab up, and is it a two-NAT lab?)"
	nx "$ns" nft delete table ip natlab 2>/dev/null || true
	nat_ruleset "$3" "$host" | nx "$ns" nft -f - ||
		die "nft refused the $3 ruleset in $ns"
	echo "$3" >"$STATE_ROOT/$1/type-$2"
	# Old mappings would survive a rule change; start from a clean table.
	nx "$ns" conntrack -F >/dev/null 2>&1 || true
}

ns_base() { # NS : loopback up, no IPv6 noise, no reverse-path filter
	ip netns add "$1"
	ip -n "$1" link set lo up
	nx "$1" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
		net.ipv6.conf.default.disable_ipv6=1 \
		net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 >/dev/null
}

# A NAT namespace between a LAN and the WAN router. The WAN side is a /32
# with an on-link route to the router: no shared L2 segment, so every WAN
# packet crosses the router, where the impairment queue sits.
make_nat() { # PREFIX nata|natb WAN_IP LAN_GW WANIF_ON_ROUTER
	ns=$1-$2
	ns_base "$ns"
	nx "$ns" sysctl -qw net.ipv4.ip_forward=1 >/dev/null
	ip link add wan0 netns "$ns" type veth peer name "$5" netns "$1-wan"
	ip -n "$ns" addr add "$3/32" dev wan0
	ip -n "$ns" link set wan0 up
	ip -n "$1-wan" addr add "$SERVER_IP/32" dev "$5"
	ip -n "$1-wan" link set "$5" up
	ip -n "$1-wan" route add "$3/32" dev "$5" src "$SERVER_IP"
	ip -n "$ns" route add "$SERVER_IP/32" dev wan0 src "$3"
	ip -n "$ns" route add default via "$SERVER_IP" dev wan0 onlink src "$3"
}

make_host() { # PREFIX HOST NAT_NS LANIF IP GW
	ns=$1-$2
	ns_base "$ns"
	ip link add eth0 netns "$ns" type veth peer name "$4" netns "$3"
	ip -n "$ns" addr add "$5/24" dev eth0
	ip -n "$ns" link set eth0 up
	ip -n "$3" link set "$4" up
	ip -n "$ns" route add default via "$6"
}

cmd_up() {
	[ $# -eq 3 ] || usage
	p=$1
	check_prefix "$p"
	check_type "$2"
	[ "$3" = same ] || check_type "$3"
	if [ "$3" = same ]; then
		case $2 in full | restricted)
			die "NAT type \`$2' forwards to one host only; with \`same' use none, port or symmetric" ;;
		esac
	fi
	for h in a b nata natb wan; do
		! ns_exists "$p-$h" || die "lab $p already exists ($p-$h); run: $0 down $p"
	done
	mkdir -p "$STATE_ROOT/$p"
	# A half-built lab is worse than none.
	trap 'trap - EXIT; cmd_down "$p" >/dev/null 2>&1; echo "natlab: up $p failed" >&2' EXIT

	# The WAN router; the server lives here (two addresses, so STUN NAT
	# discovery that needs a second IP works).
	ns_base "$p-wan"
	nx "$p-wan" sysctl -qw net.ipv4.ip_forward=1 >/dev/null
	ip -n "$p-wan" addr add "$SERVER_IP2/32" dev lo

	make_nat "$p" nata "$NATA_IP" "$LANA_GW" wa
	ip -n "$p-wan" route add "$LANA_NET" via "$NATA_IP" dev wa
	if [ "$3" = same ]; then
		# One LAN bridge named lan0 (so the NAT rules are unchanged) with a
		# port per host. Bridged LAN frames must not hit the NAT's iptables.
		ip -n "$p-nata" link add lan0 type bridge
		nx "$p-nata" sysctl -qw net.bridge.bridge-nf-call-iptables=0 >/dev/null 2>&1 || true
		ip -n "$p-nata" addr add "$LANA_GW/24" dev lan0
		ip -n "$p-nata" link set lan0 up
		make_host "$p" a "$p-nata" pa "$A_IP" "$LANA_GW"
		make_host "$p" b "$p-nata" pb "$B_SAME_IP" "$LANA_GW"
		ip -n "$p-nata" link set pa master lan0
		ip -n "$p-nata" link set pb master lan0
	else
		make_host "$p" a "$p-nata" lan0 "$A_IP" "$LANA_GW"
		ip -n "$p-nata" addr add "$LANA_GW/24" dev lan0
		make_nat "$p" natb "$NATB_IP" "$LANB_GW" wb
		ip -n "$p-wan" route add "$LANB_NET" via "$NATB_IP" dev wb
		make_host "$p" b "$p-natb" lan0 "$B_IP" "$LANB_GW"
		ip -n "$p-natb" addr add "$LANB_GW/24" dev lan0
		apply_nat "$p" natb "$3"
	fi
	apply_nat "$p" nata "$2"
	# Prove the WAN is reachable before saying yes: a lab that is up but
	# cannot route would make every later test fail confusingly.
	punch=$(build_tool punch)
	ip netns exec "$p-wan" "$punch" echo --port 9 --timeout 10 >/dev/null &
	echo_pid=$!
	for h in a b; do
		ns_exists "$p-$h" || continue
		nx "$p-$h" "$punch" ping "$SERVER_IP" 9 --count 10 --interval 20 --wait 1000 >/dev/null ||
			{ kill "$echo_pid" 2>/dev/null; die "host $h cannot reach the server $SERVER_IP"; }
	done
	kill "$echo_pid" 2>/dev/null || true
	wait "$echo_pid" 2>/dev/null || true
	for h in nata natb; do
		! ns_exists "$p-$h" || nx "$p-$h" conntrack -F >/dev/null 2>&1 || true
	done
	trap - EXIT
	echo "natlab: lab $p up: A=$2 B=$3"
}

impair_stop() { # PREFIX
	d=$STATE_ROOT/$1
	if ns_exists "$1-wan" && command -v iptables >/dev/null 2>&1; then
		nx "$1-wan" iptables -t mangle -F 2>/dev/null || true
	fi
	if [ -f "$d/impair.pid" ]; then
		pid=$(cat "$d/impair.pid")
		kill "$pid" 2>/dev/null || true
		for _ in 1 2 3 4 5 6 7 8 9 10; do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -9 "$pid" 2>/dev/null || true
		rm -f "$d/impair.pid"
	fi
}

cmd_down() {
	[ $# -eq 1 ] || usage
	p=$1
	check_prefix "$p"
	impair_stop "$p"
	for h in a b nata natb wan; do
		ns=$p-$h
		ns_exists "$ns" || continue
		# Processes left inside would keep the namespace alive unnamed.
		for pid in $(ip netns pids "$ns" 2>/dev/null); do
			kill "$pid" 2>/dev/null || true
		done
	done
	for h in a b nata natb wan; do
		ns=$p-$h
		ns_exists "$ns" || continue
		for pid in $(ip netns pids "$ns" 2>/dev/null); do
			kill -9 "$pid" 2>/dev/null || true
		done
		ip netns del "$ns" 2>/dev/null || true
	done
	rm -rf "${STATE_ROOT:?}/$p"
	left=""
	for h in a b nata natb wan; do
		! ns_exists "$p-$h" || left="$left $p-$h"
	done
	[ -z "$left" ] || die "could not remove:$left"
}

cmd_addr() {
	[ $# -eq 2 ] || usage
	ns=$(ns_of "$1" "$2")
	ns_exists "$ns" || die "no namespace $ns (is lab $1 up?)"
	case $2 in
	a | b) dev=eth0 ;;
	nata | natb) dev=wan0 ;;
	*) echo "$SERVER_IP"; return ;;
	esac
	ip -n "$ns" -4 -o addr show dev "$dev" | awk '{ split($4, a, "/"); print a[1]; exit }'
}

cmd_exec() {
	[ $# -ge 3 ] || usage
	ns=$(ns_of "$1" "$2")
	ns_exists "$ns" || die "no namespace $ns (is lab $1 up?)"
	shift 2
	# exec keeps the pid: a caller that spawned us can signal the command.
	exec ip netns exec "$ns" "$@"
}

cmd_flush() {
	[ $# -eq 2 ] || usage
	case $2 in nata | natb) ;; *) die "flush takes nata or natb, not \`$2'" ;; esac
	ns_exists "$1-$2" || die "no namespace $1-$2"
	nx "$1-$2" conntrack -F >/dev/null 2>&1 || true
}

cmd_set_nat() {
	[ $# -eq 3 ] || usage
	case $2 in nata | natb) ;; *) die "set-nat takes nata or natb, not \`$2'" ;; esac
	check_type "$3"
	if [ "$2" = nata ] && ! ns_exists "$1-natb" && ns_exists "$1-b"; then
		case $3 in full | restricted) die "\`$3' on a shared NAT forwards to host a only" ;; esac
	fi
	mkdir -p "$STATE_ROOT/$1"
	apply_nat "$1" "$2" "$3"
}

# Builds a tool from tests/lab/NAME.c when missing or older than its source.
# Written to a temporary name then renamed: two tests may build at once.
build_tool() { # NAME
	src=$LAB_DIR/$1.c
	bin=$TOOL_DIR/$1
	if [ -x "$bin" ] && [ -z "$(find "$src" -newer "$bin")" ]; then
		echo "$bin"
		return
	fi
	mkdir -p "$TOOL_DIR"
	libs=""
	if [ "$1" = impair ]; then
		libs=$(pkg-config --libs libnetfilter_queue 2>/dev/null) ||
			die "libnetfilter_queue not found; run: apt-get install libnetfilter-queue-dev"
	fi
	tmp=$bin.tmp.$$
	# shellcheck disable=SC2086
	${CC:-cc} -std=c11 -D_GNU_SOURCE -O2 -g -Wall -Wextra -o "$tmp" "$src" $libs ||
		{ rm -f "$tmp"; die "could not build $src"; }
	mv -f "$tmp" "$bin"
	echo "$bin"
}

cmd_impair() {
	[ $# -ge 1 ] || usage
	p=$1
	shift
	ns_exists "$p-wan" || die "no namespace $p-wan (is lab $p up?)"
	if [ "${1:-}" = off ]; then
		impair_stop "$p"
		return
	fi
	delay=0 jitter=0 loss=0 match=""
	while [ $# -gt 0 ]; do
		case $1 in
		--delay) delay=${2:?}; shift 2 ;;
		--jitter) jitter=${2:?}; shift 2 ;;
		--loss) loss=${2:?}; shift 2 ;;
		--udp-only) match="-p udp"; shift ;;
		*) die "impair: unknown option \`$1'" ;;
		esac
	done
	command -v iptables >/dev/null 2>&1 || die "\`iptables' not found (NFQUEUE needs it): apt-get install iptables"
	bin=$(build_tool impair)
	impair_stop "$p"
	d=$STATE_ROOT/$p
	mkdir -p "$d"
	: >"$d/impair.log"
	ip netns exec "$p-wan" "$bin" --queue 0 --delay "$delay" --jitter "$jitter" --loss "$loss" \
		</dev/null >>"$d/impair.log" 2>&1 &
	echo $! >"$d/impair.pid"
	# Rules only once the queue is bound, else the first packets would
	# bypass the impairment.
	for _ in $(seq 50); do
		grep -q '^ready' "$d/impair.log" && break
		kill -0 "$(cat "$d/impair.pid")" 2>/dev/null || break
		sleep 0.05
	done
	grep -q '^ready' "$d/impair.log" || { cat "$d/impair.log" >&2; impair_stop "$p"; die "impair did not start"; }
	# Every IPv4 packet crossing the WAN router is held once: routed between
	# the NATs, or to/from the server that lives on the router.
	# shellcheck disable=SC2086
	{
		nx "$p-wan" iptables -t mangle -A FORWARD $match -j NFQUEUE --queue-num 0 --queue-bypass &&
			nx "$p-wan" iptables -t mangle -A INPUT ! -i lo $match -j NFQUEUE --queue-num 0 --queue-bypass &&
			nx "$p-wan" iptables -t mangle -A OUTPUT ! -o lo $match -j NFQUEUE --queue-num 0 --queue-bypass
	} || { impair_stop "$p"; die "iptables NFQUEUE rules failed"; }
}

cmd_status() {
	[ $# -eq 1 ] || usage
	for h in a b nata natb wan; do
		ns_exists "$1-$h" || continue
		t=""
		[ -f "$STATE_ROOT/$1/type-$h" ] && t=" $(cat "$STATE_ROOT/$1/type-$h")"
		echo "$1-$h$t"
	done
	[ -f "$STATE_ROOT/$1/impair.pid" ] && echo "impair pid $(cat "$STATE_ROOT/$1/impair.pid")"
	return 0
}

[ $# -ge 1 ] || usage
cmd=$1
shift
case $cmd in
up) need_root; cmd_up "$@" ;;
down) need_root; cmd_down "$@" ;;
exec) need_root; cmd_exec "$@" ;;
addr) need_root; cmd_addr "$@" ;;
flush) need_root; cmd_flush "$@" ;;
set-nat) need_root; cmd_set_nat "$@" ;;
impair) need_root; cmd_impair "$@" ;;
status) cmd_status "$@" ;;
tool) [ $# -eq 1 ] || usage; case $1 in punch | impair) build_tool "$1" ;; *) die "no tool \`$1'" ;; esac ;;
-h | --help | help) usage ;;
*) echo "natlab: unknown command \`$cmd'" >&2; usage ;;
esac
