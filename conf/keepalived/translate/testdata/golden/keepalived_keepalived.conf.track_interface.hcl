# vigil configuration written by `vigil import` from keepalived's configuration:
#   testdata/corpus/keepalived/keepalived.conf.track_interface
# read for config-id "lb1" (keepalived -i)
# Each block follows a comment naming the keepalived file:line it comes from; a comment
# "FILE:LINE: keyword: ..." says what vigil does instead of keepalived there.

# testdata/corpus/keepalived/keepalived.conf.track_interface:3
global {
  router_id = "LVS_DEVEL"
}

# testdata/corpus/keepalived/keepalived.conf.track_interface:7: static_routes: not carried over: Configure routes with the system's network setup; vigil manages only virtual addresses.

# testdata/corpus/keepalived/keepalived.conf.track_interface:14
vrrp_instance "VI_1" {
  # testdata/corpus/keepalived/keepalived.conf.track_interface:15: state: not carried over: vigil has no initial state: every instance starts as backup and the highest priority becomes master (keepalived's state MASTER only skips the first wait). Give the intended master the higher priority.
  interface         = "eth0.1"
  virtual_router_id = 51
  priority          = 100
  # testdata/corpus/keepalived/keepalived.conf.track_interface:28: virtual_routes: not carried over: vigil import does not know `virtual_routes` in vrrp_instance. If keepalived does not either, it ignores the '{' after it, reads the block's lines as part of the enclosing block, and the block's '}' closes the enclosing block too: check what keepalived made of the lines around it
  # keepalived's default VRRP version is 2 (vigil's is 3)
  version = 2
  virtual_ipaddresses = ["192.168.200.16", {
    address = "192.168.200.17"
    dev     = "eth1"
    }, {
    address = "192.168.200.18"
    dev     = "eth2"
  }]
  # testdata/corpus/keepalived/keepalived.conf.track_interface:18
  track_interface "eth0" {
  }
  # testdata/corpus/keepalived/keepalived.conf.track_interface:19
  track_interface "eth1" {
  }
}
