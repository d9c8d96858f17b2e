// Package vrrp runs VRRP virtual routers (RFC 3768 v2, RFC 5798 v3) that elect a master
// among directors and move the virtual addresses to it, interoperating with keepalived.
//
// The pieces, one job each:
//
//   - vrrp/advert: the packet codec and its strict validation;
//   - vrrp/fsm: the RFC state machine as a pure step function;
//   - vrrp/transport: the raw IP protocol 112 socket on one interface (Linux);
//   - vrrp/vip: virtual addresses added and removed through netlink (Linux);
//   - vrrp/announce: gratuitous ARP and unsolicited neighbour advertisements (Linux);
//   - vrrp/link: interface up/down from netlink link updates (Linux);
//   - vrrp/procevents: process exec, fork and exit from the proc connector, and /proc
//     (Linux), for track_process;
//   - vrrp/filewatch: a file's changes through inotify (Linux), for track_file;
//   - vrrp/vrrptest: in-memory fakes of the kernel boundary; vrrptest/vrrpd and
//     vrrptest/vrrplab: a one-instance daemon and the namespace lab for wire tests;
//   - this package: Instance, which drives the state machine with real timers, the
//     transport and the address manager, applies tracking with keepalived's rules
//     (interfaces; virtual servers reported by the director; vrrp_script, track_process
//     and track_file through the trackers that Trackers runs), runs notify commands in
//     order, and moves sync groups together.
//
// The package knows nothing of configuration files, health checks or IPVS: the director
// translates its configuration into Config and the trackers' configurations, and reports
// virtual-server health through Instance.SetTracked.
package vrrp
