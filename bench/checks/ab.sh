#!/bin/sh
# A/B of prober builds beside HAProxy: short alternating windows, for comparing code
# changes (bench/checks/run.sh gives the figures of record). Needs root, haproxy, Go.
#
#   go build -o /tmp/prober-new ./bench/checks/prober
#   (git archive OLD | tar -x -C /tmp/old; cd /tmp/old && go build -o /tmp/prober-old ./bench/checks/prober)
#   VIGIL_BENCH=1 KIND=tcp REPS=2 bench/checks/ab.sh /tmp/prober-old /tmp/prober-new
#
# Each repetition runs HAProxy, then each prober, alone on core 0 (GOMAXPROCS=1 /
# nbthread 1; listener on core 1; both at nice -10, as in run.sh) for WARM s, then
# takes over WIN s: CPU per check (utime+stime of the whole process from /proc/PID/stat
# over the SYNs to the servers' address in an nftables counter), user CPU per check,
# and context switches per second summed over the process's threads. A window with
# failed probes, servers marked DOWN or fewer than 95 % of the checks due is INVALID.
set -eu
[ "${VIGIL_BENCH:-}" = 1 ] || { echo "set VIGIL_BENCH=1 to run the checks benchmark" >&2; exit 2; }
[ $# -ge 1 ] || { echo "usage: ab.sh PROBER..." >&2; exit 2; }
N=${N:-10000}; WARM=${WARM:-8}; WIN=${WIN:-15}; KIND=${KIND:-tcp}; REPS=${REPS:-2}
ADDR=127.0.0.2; PORT=20000
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
W=$(mktemp -d /tmp/vigil-bench-ab.XXXXXX)
(cd "$ROOT" && GOFLAGS=-mod=mod go build -o "$W/listener" ./bench/checks/listener)
HZ=$(getconf CLK_TCK)
NFT=vigil_bench_ab
. "$ROOT/bench/checks/lib.sh"
stat2() { awk '{print $14, $15}' /proc/$1/stat; }
csw() { cat /proc/$1/task/*/status 2>/dev/null | awk '/ctxt_switches/{s+=$2} END{print s}'; }
haproxy_cfg "$KIND" "$W/haproxy.cfg"
one() { # name cmd...
	name=$1; shift
	taskset -c 0 nice -n -10 "$@" >"$W/one.log" 2>&1 &
	pid=$!
	sleep "$WARM"
	kill -0 $pid 2>/dev/null || { echo "$name died:"; cat "$W/one.log"; exit 1; }
	set -- $(stat2 $pid) $(syns) $(csw $pid)
	u0=$1 s0=$2 n0=$3 c0=$4
	sleep "$WIN"
	set -- $(stat2 $pid) $(syns) $(csw $pid)
	kill $pid; wait $pid 2>/dev/null || true
	# A window with failed probes (the prober's last line) or servers marked DOWN
	# (HAProxy) measured timeouts, not health checks: its line says so.
	# So does one below 95 % of the checks due (N a second): a checker that fell behind.
	bad=$(awk '/^total checks/ && $5 > 0 {print "failures " $5} END{}' "$W/one.log"; grep -c 'is DOWN' "$W/one.log" | awk '$1 > 0 {print "DOWN " $1}'
		echo $(($3-n0)) | awk -v n="$N" -v win="$WIN" '$1 < 0.95*n*win {print "behind"}')
	bad=$(echo $bad) # one line
	awk -v bad="$bad" -v n="$name" -v k="$KIND" -v u=$(($1-u0)) -v s=$(($2-s0)) -v ds=$(($3-n0)) -v dc=$(($4-c0)) -v hz="$HZ" -v win="$WIN" 'BEGIN{
		cps=ds/win; us=(ds>0)?(u+s)/hz*1e6/ds:0; uu=(ds>0)?u/hz*1e6/ds:0
		printf "%-16s %-5s checks_per_s %5.0f cpu_per_check_us %5.1f user_us %4.1f csw_per_s %5.0f%s\n", n, k, cps, us, uu, dc/win, (bad != "") ? "  INVALID: " bad : "" }'
	sleep 2
}
start_listener
echo "N=$N $KIND warm-up ${WARM}s window ${WIN}s; $(date '+%F %T') loadavg $(cut -d' ' -f1-3 /proc/loadavg)"
r=0
while [ $r -lt "$REPS" ]; do
	one haproxy haproxy -db -f "$W/haproxy.cfg"
	for p in "$@"; do one "$(basename "$p")" env GOMAXPROCS=1 "$p" -addr $ADDR -port $PORT -n "$N" -kind "$KIND"; done
	r=$((r+1))
done
echo "loadavg at the end $(cut -d' ' -f1-3 /proc/loadavg)"
