# vigil configuration written by `vigil import` from keepalived's configuration:
#   testdata/corpus/keepalived/keepalived.conf.vrrp.sync
# read for config-id "lb1" (keepalived -i)
# Each block follows a comment naming the keepalived file:line it comes from; a comment
# "FILE:LINE: keyword: ..." says what vigil does instead of keepalived there.

# testdata/corpus/keepalived/keepalived.conf.vrrp.sync:3
vrrp_sync_group "G1" {
  # testdata/corpus/keepalived/keepalived.conf.vrrp.sync:13: notify_backup: not carried over: vigil runs notify commands per instance: put them in the instances.
  # testdata/corpus/keepalived/keepalived.conf.vrrp.sync:14: notify_master: not carried over: vigil runs notify commands per instance: put them in the instances.
  # testdata/corpus/keepalived/keepalived.conf.vrrp.sync:15: notify_fault: not carried over: vigil runs notify commands per instance: put them in the instances.
  instances = ["VI_1", "VI_2", "VI_5", "VI_6", "VI_7", "VI_8", "VI_9"]
}

# testdata/corpus/keepalived/keepalived.conf.vrrp.sync:18
vrrp_sync_group "G2" {
  instances = ["VI_3", "VI_4"]
}

# testdata/corpus/keepalived/keepalived.conf.vrrp.sync:25
vrrp_instance "VI_1" {
  interface = "eth0"
  # testdata/corpus/keepalived/keepalived.conf.vrrp.sync:27: state: not carried over: vigil has no initial state: every instance starts as backup and the highest priority becomes master (keepalived's state MASTER only skips the first wait). Give the intended master the higher priority.
  virtual_router_id = 51
  priority          = 100
  # keepalived's default VRRP version is 2 (vigil's is 3)
  version             = 2
  virtual_ipaddresses = ["192.168.200.18/25"]
}

# testdata/corpus/keepalived/keepalived.conf.vrrp.sync:35
vrrp_instance "VI_2" {
  interface = "eth1"
  # testdata/corpus/keepalived/keepalived.conf.vrrp.sync:37: state: not carried over: vigil has no initial state: every instance starts as backup and the highest priority becomes master (keepalived's state MASTER only skips the first wait). Give the intended master the higher priority.
  virtual_router_id = 52
  priority          = 100
  # keepalived's default VRRP version is 2 (vigil's is 3)
  version             = 2
  virtual_ipaddresses = ["192.168.201.18/26"]
}

# testdata/corpus/keepalived/keepalived.conf.vrrp.sync:45
vrrp_instance "VI_3" {
  interface         = "eth0"
  virtual_router_id = 53
  priority          = 100
  # keepalived's default VRRP version is 2 (vigil's is 3)
  version             = 2
  virtual_ipaddresses = ["192.168.200.19/27"]
}

# testdata/corpus/keepalived/keepalived.conf.vrrp.sync:54
vrrp_instance "VI_4" {
  interface         = "eth1"
  virtual_router_id = 54
  priority          = 100
  # keepalived's default VRRP version is 2 (vigil's is 3)
  version             = 2
  virtual_ipaddresses = ["192.168.201.19/28"]
}

# testdata/corpus/keepalived/keepalived.conf.vrrp.sync:63
vrrp_instance "VI_5" {
  # testdata/corpus/keepalived/keepalived.conf.vrrp.sync:64: state: not carried over: vigil has no initial state: every instance starts as backup and the highest priority becomes master (keepalived's state MASTER only skips the first wait). Give the intended master the higher priority.
  interface         = "eth0"
  virtual_router_id = 55
  priority          = 100
  # keepalived's default VRRP version is 2 (vigil's is 3)
  version             = 2
  virtual_ipaddresses = ["192.168.200.20/27"]
}

# testdata/corpus/keepalived/keepalived.conf.vrrp.sync:73
vrrp_instance "VI_6" {
  # testdata/corpus/keepalived/keepalived.conf.vrrp.sync:74: state: not carried over: vigil has no initial state: every instance starts as backup and the highest priority becomes master (keepalived's state MASTER only skips the first wait). Give the intended master the higher priority.
  interface         = "eth0"
  virtual_router_id = 56
  priority          = 100
  # keepalived's default VRRP version is 2 (vigil's is 3)
  version             = 2
  virtual_ipaddresses = ["192.168.200.21/27"]
}

# testdata/corpus/keepalived/keepalived.conf.vrrp.sync:83
vrrp_instance "VI_7" {
  # testdata/corpus/keepalived/keepalived.conf.vrrp.sync:84: state: not carried over: vigil has no initial state: every instance starts as backup and the highest priority becomes master (keepalived's state MASTER only skips the first wait). Give the intended master the higher priority.
  interface         = "eth0"
  virtual_router_id = 57
  priority          = 100
  # keepalived's default VRRP version is 2 (vigil's is 3)
  version             = 2
  virtual_ipaddresses = ["192.168.200.22/27"]
}

# testdata/corpus/keepalived/keepalived.conf.vrrp.sync:93
vrrp_instance "VI_8" {
  # testdata/corpus/keepalived/keepalived.conf.vrrp.sync:94: state: not carried over: vigil has no initial state: every instance starts as backup and the highest priority becomes master (keepalived's state MASTER only skips the first wait). Give the intended master the higher priority.
  interface         = "eth0"
  virtual_router_id = 58
  priority          = 100
  # keepalived's default VRRP version is 2 (vigil's is 3)
  version             = 2
  virtual_ipaddresses = ["192.168.200.23/27"]
}

# testdata/corpus/keepalived/keepalived.conf.vrrp.sync:103
vrrp_instance "VI_9" {
  # testdata/corpus/keepalived/keepalived.conf.vrrp.sync:104: state: not carried over: vigil has no initial state: every instance starts as backup and the highest priority becomes master (keepalived's state MASTER only skips the first wait). Give the intended master the higher priority.
  interface         = "eth0"
  virtual_router_id = 59
  priority          = 100
  # keepalived's default VRRP version is 2 (vigil's is 3)
  version             = 2
  virtual_ipaddresses = ["192.168.200.24/27"]
}
