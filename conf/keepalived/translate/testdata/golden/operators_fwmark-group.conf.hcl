# vigil configuration written by `vigil import` from keepalived's configuration:
#   testdata/corpus/operators/fwmark-group.conf
# read for config-id "lb1" (keepalived -i)
# Each block follows a comment naming the keepalived file:line it comes from; a comment
# "FILE:LINE: keyword: ..." says what vigil does instead of keepalived there.

# testdata/corpus/operators/fwmark-group.conf:5
global {
  router_id = "lb1-fwmark"
}

# testdata/corpus/operators/fwmark-group.conf:9
virtual_server "fwmark-10" {
  fwmark     = 10
  scheduler  = "sh"
  forwarding = "dr"
  on_failure = "remove"
  # keepalived removes a failed real server (no inhibit_on_failure); vigil's default would quiesce it
  # keepalived without alpha puts a real server in the table before its first check; vigil waits for its first pass (rise = 1: the first probe)
  persistence {
    timeout = "600s"
    netmask = "255.255.255.0"
  }
  # testdata/corpus/operators/fwmark-group.conf:16
  real_server "198.18.0.21" {
    address = "198.18.0.21"
    weight  = 1
    # testdata/corpus/operators/fwmark-group.conf:18
    check "tcp" {
      # interval = delay_loop 3s, timeout = connect_timeout 2s, fall = 1 + retry 1, rise = 1 (keepalived: one pass brings a server up)
      interval     = "3s"
      timeout      = "2s"
      rise         = 1
      fall         = 2
      connect_port = 80
    }
  }
  # testdata/corpus/operators/fwmark-group.conf:23
  real_server "198.18.0.22" {
    address = "198.18.0.22"
    weight  = 2
    # testdata/corpus/operators/fwmark-group.conf:25
    check "tcp" {
      # interval = delay_loop 3s, timeout = connect_timeout 2s, fall = 1 + retry 1, rise = 1 (keepalived: one pass brings a server up)
      interval     = "3s"
      timeout      = "2s"
      rise         = 1
      fall         = 2
      connect_port = 80
    }
  }
}

# testdata/corpus/operators/fwmark-group.conf:33
virtual_server "fwmark-20" {
  fwmark     = 20
  scheduler  = "wlc"
  on_failure = "quiesce"
  # inhibit_on_failure: a failed real server is kept at weight 0 (vigil's default, written out)
  # keepalived without alpha puts a real server in the table before its first check; vigil waits for its first pass (rise = 1: the first probe)
  # testdata/corpus/operators/fwmark-group.conf:39
  real_server "198.18.0.21-80" {
    address = "198.18.0.21:80"
    # testdata/corpus/operators/fwmark-group.conf:40
    check "tcp" {
      # interval = delay_loop 5s, timeout = connect_timeout 3s, fall = 1 + retry 1, rise = 1 (keepalived: one pass brings a server up)
      # keepalived retries 1s after a failure (delay_before_retry), vigil at the interval: down within about 2 x 5s = 10s instead of 5s + 1 x (1s + 3s) = 9s
      interval = "5s"
      timeout  = "3s"
      rise     = 1
      fall     = 2
    }
  }
}
