# vigil configuration written by `vigil import` from keepalived's configuration:
#   testdata/corpus/operators/vsg.conf
# read for config-id "lb1" (keepalived -i)
# Each block follows a comment naming the keepalived file:line it comes from; a comment
# "FILE:LINE: keyword: ..." says what vigil does instead of keepalived there.

# testdata/corpus/operators/vsg.conf:2
global {
  router_id = "lb1-shop"
}

# testdata/corpus/operators/vsg.conf:6
virtual_server_group "SHOP" {
  addresses = ["198.18.0.254:80", "198.18.0.250-251:80"]
  fwmarks   = [30]
}

# testdata/corpus/operators/vsg.conf:12
virtual_server "SHOP-tcp" {
  group      = "SHOP"
  scheduler  = "rr"
  protocol   = "tcp"
  forwarding = "dr"
  on_failure = "remove"
  # keepalived removes a failed real server (no inhibit_on_failure); vigil's default would quiesce it
  # keepalived without alpha puts a real server in the table before its first check; vigil waits for its first pass (rise = 1: the first probe)
  # testdata/corpus/operators/vsg.conf:18
  real_server "198.18.0.21" {
    address = "198.18.0.21"
    weight  = 1
    # testdata/corpus/operators/vsg.conf:18: real_server: port 80 with DR forwarding: the packet keeps the port of each of the group's services, whatever this port says (keepalived warns "ports don't match"); vigil import leaves it out
    # testdata/corpus/operators/vsg.conf:20
    check "tcp" {
      # interval = delay_loop 2s, timeout = connect_timeout 1s, fall = 1 + retry 2, rise = 1 (keepalived: one pass brings a server up)
      interval     = "2s"
      timeout      = "1s"
      rise         = 1
      fall         = 3
      connect_port = 80
    }
  }
  # testdata/corpus/operators/vsg.conf:26
  real_server "198.18.0.22" {
    address = "198.18.0.22"
    weight  = 1
    # testdata/corpus/operators/vsg.conf:26: real_server: port 80 with DR forwarding: the packet keeps the port of each of the group's services, whatever this port says (keepalived warns "ports don't match"); vigil import leaves it out
    # testdata/corpus/operators/vsg.conf:28
    check "tcp" {
      # interval = delay_loop 2s, timeout = connect_timeout 1s, fall = 1 + retry 2, rise = 1 (keepalived: one pass brings a server up)
      interval     = "2s"
      timeout      = "1s"
      rise         = 1
      fall         = 3
      connect_port = 80
    }
  }
}
