# Shared by run.sh and compare.sh (sourced, not run).

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
