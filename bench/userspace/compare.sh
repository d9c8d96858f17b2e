#!/bin/bash
# CPU and context switches per request: HAProxy (mode tcp) and one or more builds of the
# userspace data plane side by side, same backends, same wrk. Not part of go test.
#
#   bench/userspace/compare.sh [duration] [rounds] [name=binary[:ENV=V;ENV=V]] ...
#   MODES=close bench/userspace/compare.sh 5s 5 old=/tmp/ub-old
#
# "vigil" is always the current tree; each name=binary adds a userspacebench binary built
# from another commit (go build -o BIN ./bench/userspace), optionally run with
# environment variables. Per (proxy, mode): median req/s and p99, each with the median
# over the rounds of its ratio to HAProxy's in the same round (a paired figure: drift on
# a shared machine moves both sides of a round alike),
# the proxy's utime+stime per request (us) and voluntary+involuntary context switches of
# all its threads per request, the same for the two real servers together, and the
# machine's idle time per request, from /proc around each wrk run. Proxies alternate within a
# round. Run it under the team's benchmark lock.
set -eu
DUR=${1:-5s}
ROUNDS=${2:-3}
if [ $# -ge 2 ]; then shift 2; else shift $#; fi
cd "$(dirname "$0")/../.."
. bench/userspace/lib.sh
bench_setup
"$TMP/ub" backend -listen $BA & PIDS="$PIDS $!"; BPA=$!
"$TMP/ub" backend -listen $BB & PIDS="$PIDS $!"; BPB=$!
haproxy_cfg "$TMP/haproxy.cfg" 127.0.0.1:19200 ""
haproxy -f "$TMP/haproxy.cfg" -db 2>"$TMP/haproxy.log" & PIDS="$PIDS $!"
declare -A PID URL
PID[haproxy]=$!; URL[haproxy]=http://127.0.0.1:19200/
NAMES="haproxy"
port=19110
for v in "vigil=$TMP/ub" "$@"; do
	name=${v%%=*} rest=${v#*=}
	bin=${rest%%:*} envs=""
	[ "$bin" != "$rest" ] && envs=${rest#*:}
	env ${envs//;/ } "$bin" proxy -listen 127.0.0.1:$port -backends $BA,$BB 2>"$TMP/$name.log" & PIDS="$PIDS $!"
	PID[$name]=$!; URL[$name]=http://127.0.0.1:$port/; NAMES="$NAMES $name"
	port=$((port+1))
done
sleep 1

ticks() { awk '{print $14+$15}' /proc/$1/stat; }
csw() { cat /proc/$1/task/*/status | awk '/ctxt_switches/ {s+=$2} END {print s}'; }
idle() { awk '/^cpu / {print $5+$6}' /proc/stat; } # idle+iowait ticks, all CPUs
for r in $(seq 1 "$ROUNDS"); do
	for mode in ${MODES:-keepalive close}; do
		for n in $NAMES; do
			a=$(ticks ${PID[$n]}) ca=$(csw ${PID[$n]})
			ba=$(( $(ticks $BPA) + $(ticks $BPB) )) bca=$(( $(csw $BPA) + $(csw $BPB) )) ia=$(idle)
			if [ $mode = close ]; then
				wrk -t2 -c64 -d$DUR --latency -H 'Connection: close' ${URL[$n]} >"$TMP/$n.$mode.$r" 2>&1
			else
				wrk -t2 -c64 -d$DUR --latency ${URL[$n]} >"$TMP/$n.$mode.$r" 2>&1
			fi
			b=$(ticks ${PID[$n]}) cb=$(csw ${PID[$n]})
			bb=$(( $(ticks $BPA) + $(ticks $BPB) )) bcb=$(( $(csw $BPA) + $(csw $BPB) )) ib=$(idle)
			echo "$((b - a)) $((cb - ca)) $((bb - ba)) $((bcb - bca)) $((ib - ia))" >"$TMP/$n.$mode.$r.cost"
		done
	done
done

tick_us=$((1000000 / $(getconf CLK_TCK)))
echo "wrk -t2 -c64 -d$DUR, $ROUNDS rounds (medians), $(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| mode | proxy | req/s | ratio | p99 ms | p99 ratio | CPU us / request | context switches / request | real servers' CPU us / request | real servers' context switches / request | idle us / request |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
# per EXPR FORMAT: median over the rounds of EXPR / requests, for $n and $mode. The cost
# file holds proxy ticks, proxy switches, real servers' ticks and switches, idle ticks.
per() { for r in $(seq 1 "$ROUNDS"); do echo "$(cat "$TMP/$n.$mode.$r.cost") $(req "$TMP/$n.$mode.$r")" | awk -v t=$tick_us "{printf \"$2\\n\", $1/\$6}"; done | median; }
for mode in ${MODES:-keepalive close}; do
	for n in $NAMES; do
		vr=$(for r in $(seq 1 "$ROUNDS"); do rps "$TMP/$n.$mode.$r"; done | median)
		vp=$(for r in $(seq 1 "$ROUNDS"); do p99 "$TMP/$n.$mode.$r"; done | median)
		cpu=$(per '$1*t' %.1f)
		cs=$(per '$2' %.2f)
		bcpu=$(per '$3*t' %.1f)
		bcs=$(per '$4' %.2f)
		idl=$(per '$5*t' %.1f)
		rr=$(for r in $(seq 1 "$ROUNDS"); do echo "$(rps "$TMP/$n.$mode.$r") $(rps "$TMP/haproxy.$mode.$r")" | awk '{printf "%.3f\n", $1/$2}'; done | median)
		pr=$(for r in $(seq 1 "$ROUNDS"); do echo "$(p99 "$TMP/$n.$mode.$r") $(p99 "$TMP/haproxy.$mode.$r")" | awk '{printf "%.3f\n", $1/$2}'; done | median)
		echo "| $mode | $n | $vr | $rr | $vp | $pr | $cpu | $cs | $bcpu | $bcs | $idl |"
	done
done
for f in "$TMP"/*.[0-9]*; do
	case $f in *.cost) continue ;; esac
	grep -q 'Socket errors\|Non-2xx' "$f" && echo "errors in $(basename "$f"): $(grep 'Socket errors\|Non-2xx' "$f" | tr '\n' ' ')"
done
exit 0
