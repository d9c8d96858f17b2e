# vigil configuration written by `vigil import` from keepalived's configuration:
#   testdata/corpus/keepalived/keepalived.conf.UDP_CHECK
# read for config-id "lb1" (keepalived -i)
# Each block follows a comment naming the keepalived file:line it comes from; a comment
# "FILE:LINE: keyword: ..." says what vigil does instead of keepalived there.

# testdata/corpus/keepalived/keepalived.conf.UDP_CHECK:4
global {
  # testdata/corpus/keepalived/keepalived.conf.UDP_CHECK:5: notification_email: not carried over: vigil sends no mail: run a command from notify_master, notify_backup or notify_fault, or alert on /metrics.
  # testdata/corpus/keepalived/keepalived.conf.UDP_CHECK:8: notification_email_from: not carried over: vigil sends no mail: run a command from notify_master, notify_backup or notify_fault, or alert on /metrics.
  # testdata/corpus/keepalived/keepalived.conf.UDP_CHECK:9: smtp_server: not carried over: vigil sends no mail: run a command from notify_master, notify_backup or notify_fault, or alert on /metrics.
  # testdata/corpus/keepalived/keepalived.conf.UDP_CHECK:10: smtp_connect_timeout: not carried over: vigil sends no mail: run a command from notify_master, notify_backup or notify_fault, or alert on /metrics.
  router_id = "LVS_DEVEL"
}

# testdata/corpus/keepalived/keepalived.conf.UDP_CHECK:14
virtual_server "10.10.10.2-1358-udp" {
  address    = "10.10.10.2:1358"
  scheduler  = "rr"
  protocol   = "udp"
  on_failure = "remove"
  # keepalived removes a failed real server (no inhibit_on_failure); vigil's default would quiesce it
  # keepalived without alpha puts a real server in the table before its first check; vigil waits for its first pass (rise = 1: the first probe)
  persistence {
    timeout = "50s"
  }
  # testdata/corpus/keepalived/keepalived.conf.UDP_CHECK:21
  real_server "192.168.200.6-1358" {
    address = "192.168.200.6:1358"
    weight  = 1
    # testdata/corpus/keepalived/keepalived.conf.UDP_CHECK:23
    check "udp" {
      # interval = delay_loop 6s, timeout = connect_timeout 3s, fall = 1 + retry 3, rise = 1 (keepalived: one pass brings a server up)
      interval = "6s"
      timeout  = "3s"
      rise     = 1
      fall     = 4
      # testdata/corpus/keepalived/keepalived.conf.UDP_CHECK:23: UDP_CHECK: no payload: keepalived sends a datagram of its own making, vigil an empty one
    }
  }
}
