# vigil configuration written by `vigil import` from keepalived's configuration:
#   testdata/corpus/keepalived/keepalived.conf.vrrp.lvs_syncd
# read for config-id "lb1" (keepalived -i)
# Each block follows a comment naming the keepalived file:line it comes from; a comment
# "FILE:LINE: keyword: ..." says what vigil does instead of keepalived there.

# testdata/corpus/keepalived/keepalived.conf.vrrp.lvs_syncd:3
# vrrp_sync_group "VG1" has no instance: left out
#   vrrp_sync_group "VG1" {
#   # testdata/corpus/keepalived/keepalived.conf.vrrp.lvs_syncd:4: VI_2: not carried over: vigil import does not know `VI_2` in vrrp_sync_group (keepalived warns of a keyword it does not know, and ignores it)
#   # testdata/corpus/keepalived/keepalived.conf.vrrp.lvs_syncd:5: VI_3: not carried over: vigil import does not know `VI_3` in vrrp_sync_group (keepalived warns of a keyword it does not know, and ignores it)
#     instances = []
#   }

# testdata/corpus/keepalived/keepalived.conf.vrrp.lvs_syncd:8
vrrp_instance "VI_1" {
  # testdata/corpus/keepalived/keepalived.conf.vrrp.lvs_syncd:9: state: not carried over: vigil has no initial state: every instance starts as backup and the highest priority becomes master (keepalived's state MASTER only skips the first wait). Give the intended master the higher priority.
  interface         = "eth0"
  virtual_router_id = 51
  priority          = 150
  # testdata/corpus/keepalived/keepalived.conf.vrrp.lvs_syncd:17: auth_pass: the password is written as the keepalived file has it; better: password = env("VRRP_PASSWORD"), set in vigil's environment
  # keepalived's default VRRP version is 2 (vigil's is 3)
  version             = 2
  advert_interval     = "1s"
  virtual_ipaddresses = ["192.168.200.16", "192.168.200.17", "192.168.200.18"]
  # testdata/corpus/keepalived/keepalived.conf.vrrp.lvs_syncd:11
  ipvs_sync {
    interface = "eth1"
  }
  # testdata/corpus/keepalived/keepalived.conf.vrrp.lvs_syncd:15
  authentication {
    type     = "pass"
    password = "grr02"
  }
}

# testdata/corpus/keepalived/keepalived.conf.vrrp.lvs_syncd:26
vrrp_instance "VI_2" {
  interface         = "eth0"
  virtual_router_id = 52
  priority          = 100
  # keepalived's default VRRP version is 2 (vigil's is 3)
  version             = 2
  advert_interval     = "1s"
  virtual_ipaddresses = ["192.168.200.19", "192.168.200.20", "192.168.200.21"]
}

# testdata/corpus/keepalived/keepalived.conf.vrrp.lvs_syncd:38
vrrp_instance "VI_3" {
  interface         = "eth1"
  virtual_router_id = 53
  priority          = 100
  # keepalived's default VRRP version is 2 (vigil's is 3)
  version             = 2
  advert_interval     = "1s"
  virtual_ipaddresses = ["192.168.201.19", "192.168.201.20", "192.168.201.21"]
}

# testdata/corpus/keepalived/keepalived.conf.vrrp.lvs_syncd:50
virtual_server "192.168.200.19-80-tcp" {
  address    = "192.168.200.19:80"
  scheduler  = "rr"
  protocol   = "tcp"
  on_failure = "remove"
  # keepalived removes a failed real server (no inhibit_on_failure); vigil's default would quiesce it
  # keepalived without alpha puts a real server in the table before its first check; vigil waits for its first pass (rise = 1: the first probe)
  persistence {
    timeout = "50s"
  }
  # testdata/corpus/keepalived/keepalived.conf.vrrp.lvs_syncd:57
  real_server "192.168.201.100-80" {
    address = "192.168.201.100:80"
    weight  = 1
    # testdata/corpus/keepalived/keepalived.conf.vrrp.lvs_syncd:59
    check "tcp" {
      # interval = delay_loop 20s, timeout = connect_timeout 3s, fall = 1 + retry 1, rise = 1 (keepalived: one pass brings a server up)
      # keepalived retries 1s after a failure (delay_before_retry), vigil at the interval: down within about 2 x 20s = 40s instead of 20s + 1 x (1s + 3s) = 24s
      interval = "20s"
      timeout  = "3s"
      rise     = 1
      fall     = 2
    }
  }
}
