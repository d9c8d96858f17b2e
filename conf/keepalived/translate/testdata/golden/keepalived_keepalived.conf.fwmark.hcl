# vigil configuration written by `vigil import` from keepalived's configuration:
#   testdata/corpus/keepalived/keepalived.conf.fwmark
# read for config-id "lb1" (keepalived -i)
# Each block follows a comment naming the keepalived file:line it comes from; a comment
# "FILE:LINE: keyword: ..." says what vigil does instead of keepalived there.

# testdata/corpus/keepalived/keepalived.conf.fwmark:3
global {
  router_id = "io"
}

# testdata/corpus/keepalived/keepalived.conf.fwmark:7
virtual_server "fwmark-1" {
  fwmark    = 1
  scheduler = "rr"
  # testdata/corpus/keepalived/keepalived.conf.fwmark:7: protocol: keepalived ignores the protocol of a firewall-mark service; vigil import keeps it (vigil uses it only to allow ops)
  protocol   = "tcp"
  on_failure = "remove"
  # keepalived removes a failed real server (no inhibit_on_failure); vigil's default would quiesce it
  # keepalived without alpha puts a real server in the table before its first check; vigil waits for its first pass (rise = 1: the first probe)
  persistence {
    timeout = "900s"
  }
  # testdata/corpus/keepalived/keepalived.conf.fwmark:14
  real_server "192.168.201.100" {
    address = "192.168.201.100"
    weight  = 1
    # testdata/corpus/keepalived/keepalived.conf.fwmark:16
    check "tcp" {
      # interval = delay_loop 6s, timeout = connect_timeout 3s, fall = 1 + retry 1, rise = 1 (keepalived: one pass brings a server up)
      # keepalived retries 1s after a failure (delay_before_retry), vigil at the interval: down within about 2 x 6s = 12s instead of 6s + 1 x (1s + 3s) = 10s
      interval     = "6s"
      timeout      = "3s"
      rise         = 1
      fall         = 2
      connect_port = 80
    }
  }
  # testdata/corpus/keepalived/keepalived.conf.fwmark:22
  real_server "192.168.201.101" {
    address = "192.168.201.101"
    weight  = 1
    # testdata/corpus/keepalived/keepalived.conf.fwmark:24
    check "tcp" {
      # interval = delay_loop 6s, timeout = connect_timeout 3s, fall = 1 + retry 1, rise = 1 (keepalived: one pass brings a server up)
      # keepalived retries 1s after a failure (delay_before_retry), vigil at the interval: down within about 2 x 6s = 12s instead of 6s + 1 x (1s + 3s) = 10s
      interval     = "6s"
      timeout      = "3s"
      rise         = 1
      fall         = 2
      connect_port = 80
    }
  }
}
