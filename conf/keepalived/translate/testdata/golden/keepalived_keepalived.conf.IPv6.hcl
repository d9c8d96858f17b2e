# vigil configuration written by `vigil import` from keepalived's configuration:
#   testdata/corpus/keepalived/keepalived.conf.IPv6
# read for config-id "lb1" (keepalived -i)
# Each block follows a comment naming the keepalived file:line it comes from; a comment
# "FILE:LINE: keyword: ..." says what vigil does instead of keepalived there.

# testdata/corpus/keepalived/keepalived.conf.IPv6:3
global {
  router_id = "LVS_DEVEL"
}

# testdata/corpus/keepalived/keepalived.conf.IPv6:7
virtual_server_group "IPv6_group" {
  addresses = ["[ae00::2-9]:80", "[ae00::1]:80"]
}

# testdata/corpus/keepalived/keepalived.conf.IPv6:13
virtual_server "ae00--1-80-tcp" {
  address    = "[ae00::1]:80"
  scheduler  = "rr"
  protocol   = "tcp"
  on_failure = "remove"
  # keepalived removes a failed real server (no inhibit_on_failure); vigil's default would quiesce it
  # keepalived without alpha puts a real server in the table before its first check; vigil waits for its first pass (rise = 1: the first probe)
  persistence {
    timeout = "50s"
  }
  # testdata/corpus/keepalived/keepalived.conf.IPv6:21
  real_server "ae00--10-25" {
    address = "[ae00::10]:25"
    weight  = 1
    # testdata/corpus/keepalived/keepalived.conf.IPv6:24
    check "smtp" {
      # interval = delay_loop 6s, timeout = connect_timeout 3s, fall = 1 + retry 3, rise = 1 (keepalived: one pass brings a server up)
      # keepalived retries 1s after a failure (delay_before_retry), vigil at the interval: down within about 4 x 6s = 24s instead of 6s + 3 x (1s + 3s) = 18s
      interval  = "6s"
      timeout   = "3s"
      rise      = 1
      fall      = 4
      helo_name = "foo.bar.com"
    }
  }
}
