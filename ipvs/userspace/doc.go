// Package userspace is an L4 proxy that implements the IPVS table semantics in user space.
//
// A Table listens on every TCP or UDP virtual service it holds and forwards each new
// connection (or UDP flow) to a real server chosen with the kernel's definition of the
// service's scheduler (net/netfilter/ipvs/ip_vs_*.c), its weights, upper/lower thresholds
// and persistence. It is the data plane for hosts where ip_vs cannot be loaded: the
// reconciler programs it through the same ipvs.Table interface as kernel IPVS.
//
// What to do with a TCP connection (which real server, what is counted, whether a
// failed connect is retried on another one) is decided by its service (tcpflow.go); its
// bytes are moved by a carrier (carrier.go), which decides nothing. On Linux the carrier
// is a few event loops (one per GOMAXPROCS) over sockets outside the Go poller, with a
// 16 KiB buffer per direction; every loop accepts on every listener and keeps the
// connections it accepts (handing one to a less loaded loop when they are out of
// balance). The loops run on io_uring (uloop_linux.go: each pass submits every loop's
// reads and writes and reaps their results in one system call) where the kernel allows
// it (Linux 6.1 or later, io_uring not disabled by sysctl or seccomp), and on
// edge-triggered epoll (evloop_linux.go) otherwise; the table logs which at start.
// Elsewhere a goroutine per direction copies with io.Copy (splice for bulk transfers).
// An accept that fails for want of a descriptor or memory (EMFILE, ENFILE, ENOBUFS,
// ENOMEM) pauses that listener's accepts, on that loop or goroutine, for 5 ms doubling
// to 1 s, instead of retrying at once (acceptbackoff.go); Services reports each TCP
// service's count of them and whether a pause runs (ipvs.ServiceInfo.Accepts).
// A loop whose system calls fail in a way no retry mends resets the connections it
// carried and reports it; the table logs the error and moves every TCP service to the
// next data path (io_uring, then epoll, then goroutines). UDP flows use net.UDPConn
// everywhere.
//
// Where a proxy cannot be the kernel, this package chooses as follows (see also
// docs/benchmarks.md (Userspace data plane)):
//
//   - Every forwarding method is proxied. NAT is what a proxy does; a dr or tun real server
//     is reached at its address (port 0 means the service's port) as if it were nat, and a
//     warning is logged once, so that a configuration written for kernel IPVS still balances
//     traffic on a host without it. Destinations() reports the forwarding method as
//     configured, so a reconciler sees no drift. Real servers see the director, not the
//     client, as the peer (no IP_TRANSPARENT).
//   - Firewall-mark services, SCTP services and port-0 (all ports) services are rejected:
//     they need packets, not sockets.
//   - ActiveConns counts TCP connections with both directions open (the kernel's
//     ESTABLISHED); InactiveConns counts TCP connections being connected or half closed
//     (the kernel's SYN/FIN states) and UDP flows (the kernel counts UDP connections as
//     inactive). Unlike the kernel, a closed connection does not linger as TIME_WAIT.
//   - Byte counters follow the kernel's names: InBytes is client to real server, OutBytes
//     real server to client. TCP bytes are added per read forwarded (per 128 KiB during a
//     spliced bulk transfer on the goroutine path); TCP packet counters stay 0 (a socket
//     does not see segments). UDP counts datagrams as packets. Rates come from a 2-second estimator
//     with the kernel's 1/4 smoothing.
//   - Persistence emulates kernel templates with net.ipv4.vs.expire_quiescent_template=1: a
//     client (source masked by the netmask) sticks to its real server while it has
//     connections and for the persistence timeout after its last one, unless that server
//     is deleted or its weight drops to 0.
//   - Deleting a service stops its listener at once, so its address is free for a re-add.
//     TCP connections already established keep flowing; UDP flows end with the service,
//     because their replies leave through its socket.
//   - Timeouts: the UDP timeout is the idle timeout of a UDP flow; the TCP and TCPFin
//     timeouts are stored and reported but not applied (TCP keep-alive finds dead peers).
package userspace
