# vigil configuration written by `vigil import` from keepalived's configuration:
#   testdata/corpus/keepalived/keepalived.conf.conditional_conf
# read for config-id "lb1" (keepalived -i)
# Each block follows a comment naming the keepalived file:line it comes from; a comment
# "FILE:LINE: keyword: ..." says what vigil does instead of keepalived there.

# testdata/corpus/keepalived/keepalived.conf.conditional_conf:6
# vrrp_script "check_VI_0" has no script: keepalived ignores it, and so its track_script lines; vigil import leaves them out
#   vrrp_script "check_VI_0" {
#     interval = "1s"
#     timeout  = "10s"
#     rise     = 3
#     fall     = 3
#   }

# testdata/corpus/keepalived/keepalived.conf.conditional_conf:15
vrrp_instance "VI_0" {
  # testdata/corpus/keepalived/keepalived.conf.conditional_conf:16: state: not carried over: vigil has no initial state: every instance starts as backup and the highest priority becomes master (keepalived's state MASTER only skips the first wait). Give the intended master the higher priority.
  interface         = "eth0"
  virtual_router_id = 1
  # testdata/corpus/keepalived/keepalived.conf.conditional_conf:23: use_vmac: not carried over: vigil sends from the interface's own MAC, keepalived's default; gratuitous ARPs move the neighbours.
  # testdata/corpus/keepalived/keepalived.conf.conditional_conf:25: track_script: "check_VI_0" names no vrrp_script: keepalived ignores it; so does vigil import
  version             = 3
  advert_interval     = "12s"
  virtual_ipaddresses = ["10.1.0.254"]
  # testdata/corpus/keepalived/keepalived.conf.conditional_conf:28
  track_interface "eth3" {
  }
  # testdata/corpus/keepalived/keepalived.conf.conditional_conf:29
  track_interface "eth2" {
    weight = 20
  }
}
