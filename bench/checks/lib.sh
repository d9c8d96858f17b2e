# Shared by run.sh and ab.sh (sourced, POSIX sh). The caller sets N, ADDR, PORT, W (its
# work directory, removed at exit) and NFT (its nftables table name), and has built
# $W/listener. This file counts the SYNs to $ADDR in an nftables counter (one per check
# for both checkers), removes everything at exit, and provides:
#   syns                  the SYNs counted so far
#   haproxy_cfg KIND FILE HAProxy 2.6 checking the N servers (tcp or http), one thread
#   start_listener        the N real servers on core 1, waited for until ready
#                         (at SCHED_FIFO 10 with LISTENER_RT=1)
nft delete table inet $NFT 2>/dev/null || true
nft -f - <<NFTRULES
table inet $NFT {
  counter syns {}
  chain out { type filter hook output priority 0; ip daddr $ADDR tcp flags & (syn|ack) == syn counter name syns; }
}
NFTRULES
LPID=
cleanup() { [ -n "$LPID" ] && kill "$LPID" 2>/dev/null; nft delete table inet $NFT 2>/dev/null; rm -rf "$W"; }
trap cleanup EXIT

syns() { nft list counter inet $NFT syns | awk '/packets/{print $2}'; }

haproxy_cfg() { # kind file
	{
		echo "global"; echo "  nbthread 1"; echo "  maxconn 1000"
		echo "defaults"; echo "  mode tcp"; echo "  timeout connect 1s"; echo "  timeout client 5s"
		echo "  timeout server 5s"; echo "  timeout check 1s"
		echo "frontend fe"; echo "  bind 127.0.0.3:19999"; echo "  default_backend be"
		echo "backend be"
		[ "$1" = http ] && echo "  option httpchk GET /"
		i=0; while [ $i -lt "$N" ]; do echo "  server s$i $ADDR:$((PORT+i)) check inter 1s"; i=$((i+1)); done
	} > "$2"
}

start_listener() {
	# At nice -10: other engineers' builds on core 1 slowed an HTTP listener at normal
	# priority past the checkers' 1 s timeout (windows of failed probes for both
	# checkers); the real servers are the set-up, not what is measured.
	# LISTENER_RT=1 runs them at SCHED_FIFO 10 instead: at a load average of 3-9 even
	# nice -10 left answers late enough that HAProxy, which schedules a server's next
	# check an interval after its last one ended, ran 15-50 % short of the checks due.
	prio="nice -n -10"
	[ "${LISTENER_RT:-}" = 1 ] && prio="chrt -f 10"
	taskset -c 1 $prio "$W/listener" -addr $ADDR -port $PORT -n "$N" >"$W/listener.log" 2>&1 &
	LPID=$!
	# "ready" on a line of its own: a bind error ("address already in use") contains it too.
	while ! grep -qx ready "$W/listener.log"; do
		kill -0 "$LPID" 2>/dev/null || { echo "listener died:"; cat "$W/listener.log"; exit 1; }
		sleep 0.2
	done
}
