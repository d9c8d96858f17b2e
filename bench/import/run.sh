#!/usr/bin/env bash
# Figure of issue 17: `vigil import` of a generated keepalived.conf of 1,000 virtual
# servers x 4 real servers (HTTP_GET checks, a VRRP instance), beside `keepalived -t`
# reading the same file in the same run; then `vigil check` of the output.
#   flock /tmp/vigil-heavy.lock bench/import/run.sh [RUNS]   (as root: it makes a netns)
# VIGIL_BEFORE=/path/to/an/earlier/vigil adds that build's import of the same file in
# the same run (before/after), e.g.
#   mkdir /tmp/before && git archive COMMIT | tar -x -C /tmp/before && (cd /tmp/before && go build -o /tmp/vigil-before ./cmd/vigil)
# Prints, per command: median wall time, median CPU (user+sys), largest RSS, exit status;
# and the ratio of vigil import's wall time to keepalived -t's.
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${1:-5}
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
go build -o "$W/vigil" ./cmd/vigil
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
# keepalived -t refuses (exit 5) a VRRP instance on lo, on an interface the host lacks
# and on one without multicast (the first non-lo interface of a host may be an ifb): it
# runs in a network namespace of its own whose veth, vk0, has multicast; vigil import
# does not look at interfaces.
NS=vigil-bench-import-$$
ip netns add "$NS"
trap 'ip netns del "$NS" 2>/dev/null; rm -rf "$W"' EXIT
ip -n "$NS" link add vk0 type veth peer name vk1
ip -n "$NS" link set vk0 up
python3 - "$W/keepalived.conf" vk0 <<'PY'
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
# once FILE CMD...: run CMD once, append its "wall user sys maxrss exit" to FILE.
once() {
	/usr/bin/time -f "%e %U %S %M %x" -o "$W/t" timeout 120 "${@:2}" >/dev/null 2>&1 || true
	tail -1 "$W/t" >>"$1"
}
# summary FILE: median wall and CPU (user+sys), largest RSS, last exit status.
summary() {
	python3 -c '
import sys, statistics
rows = [l.split() for l in open(sys.argv[1]) if l.strip() and not l.startswith("Command")]
wall = statistics.median(float(r[0]) for r in rows)
cpu = statistics.median(float(r[1]) + float(r[2]) for r in rows)
rss = max(int(r[3]) for r in rows) / 1024
print(f"{wall:.3f} s wall {cpu:.3f} s cpu {rss:.1f} MB exit {rows[-1][4]}")' "$1"
}
echo "input: $(wc -l < "$W/keepalived.conf") lines, $(wc -c < "$W/keepalived.conf") bytes"
# Alternated run by run, so that a change in the machine's load falls on all of them.
for _ in $(seq "$RUNS"); do
	once "$W/imp" "$W/vigil" import "$W/keepalived.conf" -o "$W/vigil.hcl"
	[ -z "${VIGIL_BEFORE:-}" ] || once "$W/bef" "$VIGIL_BEFORE" import "$W/keepalived.conf" -o "$W/before.hcl"
	once "$W/ka" ip netns exec "$NS" keepalived -n -l -t -f "$W/keepalived.conf"
done
"$W/vigil" import "$W/keepalived.conf" -o "$W/vigil.hcl" 2>/dev/null
once "$W/chk" env -i "$W/vigil" check -f "$W/vigil.hcl"
imp=$(summary "$W/imp") ka=$(summary "$W/ka") chk=$(summary "$W/chk")
echo "vigil import (median of $RUNS):     $imp"
echo "keepalived -t (median of $RUNS):    $ka"
if [ -n "${VIGIL_BEFORE:-}" ]; then
	bef=$(summary "$W/bef")
	echo "before: $VIGIL_BEFORE import (median of $RUNS): $bef"
	echo "vigil import / before: cpu $(awk -v a="$imp" -v b="$bef" 'BEGIN {split(a, x, " "); split(b, y, " "); printf "%.2f, wall %.2f, RSS %.2f", x[4] / y[4], x[1] / y[1], x[7] / y[7]}')"
	cmp -s "$W/vigil.hcl" "$W/before.hcl" && echo "output: byte-identical to before's" || echo "output: DIFFERS from before's"
fi
echo "vigil check of the output (1 run): $chk"
echo "vigil import / keepalived -t wall: $(python3 -c "print(round(${imp%% s*} / ${ka%% s*}, 2))")"
echo "output: $(wc -l < "$W/vigil.hcl") lines; load after: $(cut -d' ' -f1-3 /proc/loadavg)"
