#!/usr/bin/env bash
# Figures of issue 14, on this host: `vigil check` on 1,000 virtual servers x 4 real
# servers and on hostile files (the issue's four, and the densest files that pass the
# pre-scan), each beside `keepalived -t` on the same bytes (its equivalent configuration
# for the 1,000 x 4); then `vigil run`'s RSS before and after 10 rejected reloads of
# hostile files.
#   flock /tmp/vigil-heavy.lock bench/conf/run.sh [RUNS]
# Prints one line per file: median wall time, median CPU (user+sys), largest RSS, exit
# status, for vigil and keepalived; then the daemon's RSS and its ratio.
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${1:-5}
W=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; rm -rf "$W"' EXIT
go build -o "$W/vigil" ./cmd/vigil
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"

python3 - "$W" <<'PY'
import os, random, sys
w = sys.argv[1]
def write(name, data):
    with open(os.path.join(w, name), 'wb') as f:
        f.write(data if isinstance(data, bytes) else data.encode())
# 1,000 x 4, as bench/daemon/run.sh; and keepalived's equivalent.
glob = 'global {\n  listen = "127.0.0.1:19141"\n  dataplane = "userspace"\n  resync_interval = "1h"\n}\n'
hcl, ka, daemon = [glob], [], [glob]
for p in range(1000):
    vs = f'virtual_server "vs{p}" {{\n  address = "127.0.0.254:{10000+p}"\n  protocol = "tcp"\n  scheduler = "wlc"\n  forwarding = "nat"\n'
    hcl.append(vs)
    daemon.append(vs)
    ka.append(f'virtual_server 127.0.0.254 {10000+p} {{\n  delay_loop 2\n  lb_algo wlc\n  lb_kind NAT\n  protocol TCP\n')
    for i in range(4):
        hcl.append(f'  real_server "rs{i+1}" {{\n    address = "127.0.0.{21+i}:{10000+p}"\n    check "tcp" {{\n      interval = "2s"\n      timeout = "1s"\n      rise = 1\n      fall = 2\n    }}\n  }}\n')
        # The daemon's has no checks: no probe traffic while its RSS is measured.
        daemon.append(f'  real_server "rs{i+1}" {{\n    address = "127.0.0.{21+i}:{10000+p}"\n  }}\n')
        ka.append(f'  real_server 127.0.0.{21+i} {10000+p} {{\n    weight 1\n    TCP_CHECK {{\n      connect_timeout 1\n    }}\n  }}\n')
    for l in (hcl, daemon, ka):
        l.append('}\n')
write('1000x4.hcl', ''.join(hcl))
write('1000x4.keepalived.conf', ''.join(ka))
write('daemon.hcl', ''.join(daemon))
rnd = random.Random(14)
chars = b'abcdefghijklmnopqrstuvwxyz0123456789 \n{}[]()=,."#+-*/<>!&|?:$%~'
def garbage(n):
    return bytes(rnd.choice(chars) for _ in range(n))
# The issue's hostile inputs.
write('random-50MB', os.urandom(50 << 20))
write('garbage-20MB', garbage(20 << 20))
write('nested-120KB', 'x = ' + '[' * 60000 + ']' * 60000 + '\n')
write('garbage-5MB', garbage(5 << 20))
# The worst that passes the pre-scan, just under its limits.
write('dense-500k-tokens', ''.join(f'a{i}=1\n' for i in range(124990)))
write('comments-16MiB', ('# ' + 'c' * 61 + '\n') * ((16 << 20) // 64 - 16))
write('strings-4MiB', ''.join('x%d = "%s"\n' % (i, 's' * 4000) for i in range(1040)))
PY

# measure FILE: median wall and CPU over RUNS runs, largest RSS, exit status.
measure() {
	local cmd=$1 file=$2 n=$3
	for _ in $(seq "$n"); do
		/usr/bin/time -f "%e %U %S %M %x" -o "$W/t" timeout 120 $cmd "$file" >/dev/null 2>&1 || true
		cat "$W/t" | tail -1
	done | python3 -c '
import sys, statistics
rows = [l.split() for l in sys.stdin if l.strip() and not l.startswith("Command")]
wall = statistics.median(float(r[0]) for r in rows)
cpu = statistics.median(float(r[1]) + float(r[2]) for r in rows)
rss = max(int(r[3]) for r in rows) / 1024
print(f"{wall:6.2f} s {cpu:6.2f} s cpu {rss:7.1f} MB exit {rows[-1][4]}")'
}
printf '%-24s %-44s %s\n' file "vigil check -f (median of $RUNS)" "keepalived -t -f (1 run)"
for f in 1000x4.hcl random-50MB garbage-20MB nested-120KB garbage-5MB dense-500k-tokens comments-16MiB strings-4MiB; do
	ka=$W/$f
	[ "$f" = 1000x4.hcl ] && ka=$W/1000x4.keepalived.conf
	printf '%-24s %-44s %s\n' "$f" "$(measure "$W/vigil check -f" "$W/$f" "$RUNS")" "$(measure "keepalived -n -l -t -f" "$ka" 1)"
done

# The daemon: RSS once started, then after 10 rejected reloads of hostile files.
cp "$W/daemon.hcl" "$W/vigil.hcl"
ulimit -n 20000
"$W/vigil" run -f "$W/vigil.hcl" --pid-file "$W/vigil.pid" > "$W/vigil.log" 2>&1 &
VPID=$!
until curl -sf 127.0.0.1:19141/healthz >/dev/null 2>&1; do sleep 0.2; done
# The baseline is the daemon at work: one accepted reload (of the same file) and the
# /status reads `vigil reload` makes; right after start it has served nothing yet.
"$W/vigil" reload --pid-file "$W/vigil.pid" --addr 127.0.0.1:19141 --timeout 60s >/dev/null
sleep 5
rss() { awk '/^(VmRSS|RssAnon)/ {printf "%s %.1f MB  ", $1, $2/1024}' /proc/$VPID/status; }
mb() { awk '/^VmRSS/ {printf "%.1f", $2/1024}' /proc/$VPID/status; }
before=$(rss) before_mb=$(mb)
hostile=(random-50MB garbage-20MB nested-120KB garbage-5MB dense-500k-tokens)
for i in $(seq 0 9); do
	cp "$W/${hostile[$((i % ${#hostile[@]}))]}" "$W/vigil.hcl"
	code=0
	"$W/vigil" reload --pid-file "$W/vigil.pid" --addr 127.0.0.1:19141 --timeout 60s >/dev/null 2>"$W/reload.err" || code=$?
	[ "$code" = 1 ] || { echo "reload $i: exit $code, want 1"; cat "$W/reload.err"; exit 1; }
done
sleep 5
after=$(rss) after_mb=$(mb)
kill -0 $VPID
echo "vigil run (1,000 x 4 without checks), before: $before"
echo "after 10 rejected hostile reloads: $after ($(echo "scale=3; $after_mb / $before_mb" | bc)x VmRSS); generation $(curl -s 127.0.0.1:19141/status | python3 -c 'import json,sys; c=json.load(sys.stdin)["config"]; print(c["generation"], "with", c["reloads_failed"], "reloads rejected")')"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
