#!/bin/sh
# Checks benchmark: vigil's check scheduler against HAProxy 2.6 health checks, the same
# N real servers, in one run. Needs root (nftables counter), haproxy, Go.
#
#   VIGIL_BENCH=1 bench/checks/run.sh            # N=10000, 20 s warm-up, 60 s window
#   VIGIL_BENCH=1 N=1000 WARM=5 WIN=10 bench/checks/run.sh
#   VIGIL_BENCH=1 PROBER=/tmp/prober-old bench/checks/run.sh   # a prebuilt prober
#
# The listener process (real servers) runs on core 1, the checker under test alone on
# core 0 with one thread (GOMAXPROCS=1 / nbthread 1), both at nice -10: at normal
# priority other engineers' builds on the shared cores starved either of them in some
# windows until the probes of both checkers timed out. CPU is utime+stime from
# /proc/PID/stat over the window; checks/s counts the SYNs to the servers' address in an
# nftables counter (both checkers open one connection per check); RSS is VmRSS at the end.
set -eu
[ "${VIGIL_BENCH:-}" = 1 ] || { echo "set VIGIL_BENCH=1 to run the checks benchmark" >&2; exit 2; }
N=${N:-10000}; WARM=${WARM:-20}; WIN=${WIN:-60}; KINDS=${KINDS:-"tcp http"}
ADDR=127.0.0.2; PORT=20000
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
W=$(mktemp -d /tmp/vigil-bench-checks.XXXXXX)
export GOFLAGS=-mod=mod
(cd "$ROOT" && go build -o "$W/listener" ./bench/checks/listener && go build -o "$W/prober" ./bench/checks/prober)
# PROBER=path measures another prober build instead (e.g. one built from an older commit,
# for a before/after in the same conditions).
[ -n "${PROBER:-}" ] && cp "$PROBER" "$W/prober"
HZ=$(getconf CLK_TCK)
NFT=vigil_bench_checks
. "$ROOT/bench/checks/lib.sh"

ticks() { awk '{print $14+$15}' /proc/$1/stat; }
rss() { awk '/^VmRSS/{print $2}' /proc/$1/status; }

measure() { # name kind cmd...
	name=$1; kind=$2; shift 2
	taskset -c 0 nice -n -10 "$@" >"$W/$name-$kind.log" 2>&1 &
	pid=$!
	sleep "$WARM"
	kill -0 $pid 2>/dev/null || { echo "$name $kind died:"; cat "$W/$name-$kind.log"; exit 1; }
	t0=$(ticks $pid); s0=$(syns)
	sleep "$WIN"
	t1=$(ticks $pid); s1=$(syns); r=$(rss $pid)
	kill $pid; wait $pid 2>/dev/null || true
	awk -v n="$name" -v k="$kind" -v dt=$((t1-t0)) -v ds=$((s1-s0)) -v hz="$HZ" -v win="$WIN" -v r="$r" 'BEGIN{
		cores=dt/hz/win; cps=ds/win; us=(cps>0)?cores*1e6/cps:0
		printf "%-8s %-5s cpu_cores %.3f checks_per_s %.0f cpu_per_check_us %.1f rss_mib %.1f\n", n, k, cores, cps, us, r/1024 }' | tee -a "$W/results"
	sleep 3 # let the last checks' sockets drain
}

start_listener
echo "N=$N warm-up ${WARM}s window ${WIN}s $(haproxy -v | head -1); loadavg $(cut -d' ' -f1-3 /proc/loadavg)"
for kind in $KINDS; do
	haproxy_cfg "$kind" "$W/haproxy-$kind.cfg"
	measure vigil "$kind" env GOMAXPROCS=1 "$W/prober" -addr $ADDR -port $PORT -n "$N" -kind "$kind"
	tail -1 "$W/vigil-$kind.log" # total checks and failed probes, warm-up included
	measure haproxy "$kind" haproxy -db -f "$W/haproxy-$kind.cfg"
	echo "haproxy: $(grep -c 'is DOWN' "$W/haproxy-$kind.log" || true) servers marked DOWN, warm-up included"
done
echo "loadavg at the end $(cut -d' ' -f1-3 /proc/loadavg)"
echo "ratios (vigil / haproxy):"
awk '{cpu[$1" "$2]=$8; rss[$1" "$2]=$10} END{for (k in cpu) if (k ~ /^vigil/) {split(k,a," "); h="haproxy "a[2]; if (cpu[h]>0) printf "%-5s cpu/check %.2f  rss %.2f\n", a[2], cpu[k]/cpu[h], rss[k]/rss[h]}}' "$W/results"
