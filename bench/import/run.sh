#!/usr/bin/env bash
# Figure of issue 17: `vigil import` of a generated keepalived.conf of 1,000 virtual
# servers x 4 real servers (HTTP_GET checks, a VRRP instance), beside `keepalived -t`
# reading the same file in the same run; then `vigil check` of the output.
#   flock /tmp/vigil-heavy.lock bench/import/run.sh [RUNS]
# Prints, per command: median wall time, median CPU (user+sys), largest RSS, exit status;
# and the ratio of vigil import's wall time to keepalived -t's.
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${1:-5}
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
go build -o "$W/vigil" ./cmd/vigil
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
# keepalived -t refuses a VRRP instance on lo or on an interface the host lacks.
IFACE=$(ip -o link show | awk -F': ' '$2 != "lo" {print $2; exit}' | cut -d@ -f1)
python3 - "$W/keepalived.conf" "${IFACE:-eth0}" <<'PY'
import sys
out = ['global_defs {\n  router_id bench\n}\n',
       'vrrp_instance VI_1 {\n  interface ' + sys.argv[2] + '\n  virtual_router_id 51\n  priority 100\n  virtual_ipaddress {\n    198.18.0.254\n  }\n}\n']
for p in range(1000):
    out.append(f'virtual_server 198.18.0.254 {10000+p} {{\n  delay_loop 6\n  lb_algo wrr\n  lb_kind NAT\n  protocol TCP\n')
    for i in range(4):
        out.append(f'  real_server 198.18.1.{21+i} {10000+p} {{\n    weight 1\n    HTTP_GET {{\n      url {{\n        path /health\n        status_code 200\n      }}\n      connect_timeout 3\n      retry 3\n      delay_before_retry 3\n    }}\n  }}\n')
    out.append('}\n')
open(sys.argv[1], 'w').write(''.join(out))
PY
measure() {
	for _ in $(seq "$1"); do
		/usr/bin/time -f "%e %U %S %M %x" -o "$W/t" timeout 120 "${@:2}" >/dev/null 2>&1 || true
		tail -1 "$W/t"
	done | python3 -c '
import sys, statistics
rows = [l.split() for l in sys.stdin if l.strip() and not l.startswith("Command")]
wall = statistics.median(float(r[0]) for r in rows)
cpu = statistics.median(float(r[1]) + float(r[2]) for r in rows)
rss = max(int(r[3]) for r in rows) / 1024
print(f"{wall:.3f} s wall {cpu:.3f} s cpu {rss:.1f} MB exit {rows[-1][4]}")'
}
echo "input: $(wc -l < "$W/keepalived.conf") lines, $(wc -c < "$W/keepalived.conf") bytes"
imp=$(measure "$RUNS" "$W/vigil" import "$W/keepalived.conf" -o "$W/vigil.hcl")
ka=$(measure "$RUNS" keepalived -n -l -t -f "$W/keepalived.conf")
"$W/vigil" import "$W/keepalived.conf" -o "$W/vigil.hcl" 2>/dev/null
chk=$(measure 1 env -i "$W/vigil" check -f "$W/vigil.hcl")
echo "vigil import (median of $RUNS):     $imp"
echo "keepalived -t (median of $RUNS):    $ka"
echo "vigil check of the output (1 run): $chk"
echo "vigil import / keepalived -t wall: $(python3 -c "print(round(${imp%% s*} / ${ka%% s*}, 2))")"
echo "output: $(wc -l < "$W/vigil.hcl") lines; load after: $(cut -d' ' -f1-3 /proc/loadavg)"
