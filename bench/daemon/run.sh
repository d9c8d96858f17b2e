#!/usr/bin/env bash
# Daemon figures of issue 6 measured natively on this host: 1,000 virtual servers x 4 real
# servers with TCP checks every 2 s (4,000 checks, 2,000 probes/s), on the userspace data
# plane (this host has no IPVS; the director, checks and reconciler are the same code).
#   bench/daemon/run.sh [IDLE_SECONDS]
# Prints: time to program and bring every real server up, reload of the unchanged file
# (apply time from vigil reload, and the writes it made), idle CPU and RSS.
set -euo pipefail
cd "$(dirname "$0")/../.."
IDLE=${1:-30}
W=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; rm -rf "$W"' EXIT
go build -o "$W/vigil" ./cmd/vigil
go build -o "$W/listeners" ./bench/daemon/listeners
python3 - "$W/vigil.hcl" <<'PY'
import sys
out=['global {\n  listen = "127.0.0.1:19119"\n  dataplane = "userspace"\n  resync_interval = "1h"\n}\n']
for p in range(1000):
    out.append(f'virtual_server "vs{p}" {{\n  address = "127.0.0.254:{10000+p}"\n  protocol = "tcp"\n  scheduler = "wlc"\n  forwarding = "nat"\n')
    for i in range(4):
        out.append(f'  real_server "rs{i+1}" {{\n    address = "127.0.0.{21+i}:{10000+p}"\n    check "tcp" {{\n      interval = "2s"\n      timeout = "1s"\n      rise = 1\n      fall = 2\n    }}\n  }}\n')
    out.append('}\n')
open(sys.argv[1],'w').write(''.join(out))
PY
"$W/listeners" > "$W/listeners.out" &
until grep -q ready "$W/listeners.out" 2>/dev/null; do sleep 0.2; done
ulimit -n 20000
start=$(date +%s.%N)
"$W/vigil" run -f "$W/vigil.hcl" --pid-file "$W/vigil.pid" > "$W/vigil.log" 2>&1 &
VPID=$!
status() { curl -s 127.0.0.1:19119/status; }
until status | python3 -c 'import json,sys; s=json.load(sys.stdin); sys.exit(0 if sum(r["applied_weight"]==1 for v in s["virtual_servers"] for r in v["real_servers_detail"])==4000 else 1)' 2>/dev/null; do sleep 1; done
up=$(echo "$(date +%s.%N) - $start" | bc)
echo "start: 1000 services x 4 programmed and all 4000 real servers up after ${up}s (checks spread over the 2 s interval)"
sleep 5
for i in 1 2 3 4 5; do
	before=$(status | python3 -c 'import json,sys; print(json.load(sys.stdin)["ipvs"]["writes"])')
	t0=$(date +%s.%N)
	out=$("$W/vigil" reload --pid-file "$W/vigil.pid" --addr 127.0.0.1:19119 --timeout 60s)
	t1=$(date +%s.%N)
	after=$(status | python3 -c 'import json,sys; print(json.load(sys.stdin)["ipvs"]["writes"])')
	echo "reload $i: $(echo "$out" | head -1); end to end (parse + validate + apply) $(echo "$t1 - $t0" | bc)s; writes $((after - before))"
done
sleep 5
read -r u0 s0 < <(awk '{print $14, $15}' /proc/$VPID/stat)
sleep "$IDLE"
read -r u1 s1 < <(awk '{print $14, $15}' /proc/$VPID/stat)
tck=$(getconf CLK_TCK)
cpu=$(echo "scale=4; ($u1 + $s1 - $u0 - $s0) / $tck / $IDLE" | bc)
rss=$(awk '/VmRSS/ {printf "%.1f", $2/1024}' /proc/$VPID/status)
echo "idle over ${IDLE}s: ${cpu} cores (2000 checks/s: $(echo "scale=1; $cpu * 1000000 / 2000" | bc) us CPU per check), RSS ${rss} MiB"
