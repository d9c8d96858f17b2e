# Shared by run.sh and compare.sh (sourced, not run).

# bench_setup: a temporary directory $TMP, removed on exit together with every process
# listed in $PIDS; the userspacebench binary built as $TMP/ub; the real servers'
# addresses $BA and $BB. Run from the repository's top directory.
bench_setup() {
	TMP=$(mktemp -d)
	PIDS=""
	trap bench_cleanup EXIT INT TERM
	GOFLAGS=-mod=mod go build -o "$TMP/ub" ./bench/userspace
	BA=127.0.0.1:19101 BB=127.0.0.1:19102
}
bench_cleanup() {
	for p in $PIDS; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$TMP"
}

# haproxy_cfg FILE BIND EXTRA_GLOBAL: HAProxy 2.6 in mode tcp, round robin over $BA and $BB.
haproxy_cfg() {
	cat >"$1" <<CFG
global
    maxconn 9000
$3
defaults
    mode tcp
    timeout connect 5s
    timeout client 60s
    timeout server 60s
frontend fe
    bind $2
    default_backend be
backend be
    balance roundrobin
    server a $BA
    server b $BB
CFG
}

# rps FILE -> requests/s; req FILE -> requests; p99 FILE -> p99 in ms (wrk --latency output)
rps() { awk '/^Requests\/sec/ {print $2}' "$1"; }
req() { awk '/requests in/ {print $1}' "$1"; }
p99() { awk '$1=="99%" {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v*=1000}; print v}' "$1"; }
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
