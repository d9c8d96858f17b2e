#!/bin/sh
# Userspace data plane vs HAProxy 2.6 (mode tcp), same two Go HTTP backends, same wrk,
# same machine, one run. Not part of go test: run it by hand.
#
#   bench/userspace/run.sh [duration] [connections] [rounds]
#   PIN=1 bench/userspace/run.sh ...   # proxies on CPU 1 (one thread each), wrk and the
#                                      # backends on CPU 0: a director with its own core
#
# Prints a markdown table of requests/s and p99 latency, keep-alive and Connection: close,
# with the vigil/HAProxy ratio. Each (proxy, mode) cell is the median of the rounds; the
# proxies alternate within a round so drift on a shared machine hits both.
set -eu
DUR=${1:-10s}
CONNS=${2:-64}
ROUNDS=${3:-3}
THREADS=2
cd "$(dirname "$0")/../.."
. bench/userspace/lib.sh
bench_setup
VIGIL=127.0.0.1:19100 HAP=127.0.0.1:19200

LOAD="" PROXY="" NBTHREAD=""
if [ -n "${PIN:-}" ]; then
	LOAD="taskset -c 0" PROXY="taskset -c 1" NBTHREAD="    nbthread 1"
	export GOMAXPROCS_PROXY=1
fi
$LOAD "$TMP/ub" backend -listen $BA & PIDS="$PIDS $!"
$LOAD "$TMP/ub" backend -listen $BB & PIDS="$PIDS $!"
env ${GOMAXPROCS_PROXY:+GOMAXPROCS=$GOMAXPROCS_PROXY} $PROXY "$TMP/ub" proxy -listen $VIGIL -backends $BA,$BB ${VIGIL_PROFILE:+-cpuprofile "$VIGIL_PROFILE"} 2>"$TMP/vigil.log" & VPID=$!; PIDS="$PIDS $VPID"
haproxy_cfg "$TMP/haproxy.cfg" $HAP "$NBTHREAD"
$PROXY haproxy -f "$TMP/haproxy.cfg" -db 2>"$TMP/haproxy.log" & PIDS="$PIDS $!"
sleep 1

run() { # name url mode round
	if [ "$3" = close ]; then
		$LOAD wrk -t$THREADS -c$CONNS -d$DUR --latency -H 'Connection: close' "$2" >"$TMP/$1.$3.$4" 2>&1
	else
		$LOAD wrk -t$THREADS -c$CONNS -d$DUR --latency "$2" >"$TMP/$1.$3.$4" 2>&1
	fi
}
for r in $(seq 1 "$ROUNDS"); do
	for mode in keepalive close; do
		run vigil "http://$VIGIL/" $mode $r
		run haproxy "http://$HAP/" $mode $r
	done
done
kill -INT $VPID; wait $VPID 2>/dev/null || true

# errs FILE -> socket errors + non-2xx
errs() { awk '/Socket errors|Non-2xx/ {e=e $0 "; "} END {print e}' "$1"; }

echo "wrk -t$THREADS -c$CONNS -d$DUR --latency, $ROUNDS rounds (median), $(nproc) cores, ${PIN:+pinned (proxies CPU 1, load CPU 0), }$(date -u +%Y-%m-%dT%H:%MZ), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| mode | vigil req/s | HAProxy req/s | ratio | vigil p99 ms | HAProxy p99 ms | p99 ratio |"
echo "| --- | --- | --- | --- | --- | --- | --- |"
for mode in keepalive close; do
	vr=$(for r in $(seq 1 "$ROUNDS"); do rps "$TMP/vigil.$mode.$r"; done | median)
	hr=$(for r in $(seq 1 "$ROUNDS"); do rps "$TMP/haproxy.$mode.$r"; done | median)
	vp=$(for r in $(seq 1 "$ROUNDS"); do p99 "$TMP/vigil.$mode.$r"; done | median)
	hp=$(for r in $(seq 1 "$ROUNDS"); do p99 "$TMP/haproxy.$mode.$r"; done | median)
	echo "| $mode | $vr | $hr | $(echo "$vr $hr" | awk '{printf "%.2f", $1/$2}') | $vp | $hp | $(echo "$vp $hp" | awk '{printf "%.2f", $1/$2}') |"
done
echo
for f in "$TMP"/vigil.* "$TMP"/haproxy.*; do
	e=$(errs "$f"); [ -n "$e" ] && echo "errors in $(basename "$f"): $e"
done
[ -n "${VERBOSE:-}" ] && for f in "$TMP"/vigil.*.1 "$TMP"/haproxy.*.1; do echo "== $f"; cat "$f"; done
exit 0
