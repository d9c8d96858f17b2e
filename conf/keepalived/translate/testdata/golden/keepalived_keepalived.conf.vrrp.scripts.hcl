# vigil configuration written by `vigil import` from keepalived's configuration:
#   testdata/corpus/keepalived/keepalived.conf.vrrp.scripts
# read for config-id "lb1" (keepalived -i)
# Each block follows a comment naming the keepalived file:line it comes from; a comment
# "FILE:LINE: keyword: ..." says what vigil does instead of keepalived there.

# testdata/corpus/keepalived/keepalived.conf.vrrp.scripts:6
vrrp_sync_group "G1" {
  # testdata/corpus/keepalived/keepalived.conf.vrrp.scripts:11: notify_backup: not carried over: vigil runs notify commands per instance: put them in the instances.
  # testdata/corpus/keepalived/keepalived.conf.vrrp.scripts:12: notify_master: not carried over: vigil runs notify commands per instance: put them in the instances.
  # testdata/corpus/keepalived/keepalived.conf.vrrp.scripts:13: notify_fault: not carried over: vigil runs notify commands per instance: put them in the instances.
  instances = ["VI_2", "VI_3"]
}

# testdata/corpus/keepalived/keepalived.conf.vrrp.scripts:16
vrrp_instance "VI_1" {
  # testdata/corpus/keepalived/keepalived.conf.vrrp.scripts:17: state: not carried over: vigil has no initial state: every instance starts as backup and the highest priority becomes master (keepalived's state MASTER only skips the first wait). Give the intended master the higher priority.
  interface = "eth0"
  # testdata/corpus/keepalived/keepalived.conf.vrrp.scripts:19: smtp_alert: not carried over: vigil sends no mail: run a command from notify_master, notify_backup or notify_fault, or alert on /metrics.
  virtual_router_id = 51
  priority          = 100
  # testdata/corpus/keepalived/keepalived.conf.vrrp.scripts:25: auth_pass: the password is written as the keepalived file has it; better: password = env("VRRP_PASSWORD"), set in vigil's environment
  notify_backup = ["/usr/local/bin/vrrp.sh", "BACKUP", "VI_1"]
  # testdata/corpus/keepalived/keepalived.conf.vrrp.scripts:32: notify_backup: keepalived runs scripts as the user keepalived_script when it exists, else as root; vigil runs them as its own user (root in the shipped unit) unless a user is set
  notify_master = ["/usr/local/bin/vrrp.sh", "MASTER", "VI_1"]
  notify_fault  = ["/usr/local/bin/vrrp.sh", "FAULT", "VI_1"]
  # keepalived's default VRRP version is 2 (vigil's is 3)
  version             = 2
  advert_interval     = "1s"
  virtual_ipaddresses = ["192.168.200.16", "192.168.200.17", "192.168.200.18"]
  # testdata/corpus/keepalived/keepalived.conf.vrrp.scripts:23
  authentication {
    type     = "pass"
    password = "1111"
  }
}

# testdata/corpus/keepalived/keepalived.conf.vrrp.scripts:38
vrrp_instance "VI_2" {
  interface = "eth0"
  # testdata/corpus/keepalived/keepalived.conf.vrrp.scripts:40: state: not carried over: vigil has no initial state: every instance starts as backup and the highest priority becomes master (keepalived's state MASTER only skips the first wait). Give the intended master the higher priority.
  virtual_router_id = 52
  priority          = 150
  # keepalived's default VRRP version is 2 (vigil's is 3)
  version             = 2
  virtual_ipaddresses = ["192.168.200.100/27"]
}

# testdata/corpus/keepalived/keepalived.conf.vrrp.scripts:48
vrrp_instance "VI_3" {
  interface = "eth0"
  # testdata/corpus/keepalived/keepalived.conf.vrrp.scripts:50: state: not carried over: vigil has no initial state: every instance starts as backup and the highest priority becomes master (keepalived's state MASTER only skips the first wait). Give the intended master the higher priority.
  virtual_router_id = 53
  priority          = 150
  # keepalived's default VRRP version is 2 (vigil's is 3)
  version             = 2
  virtual_ipaddresses = ["192.168.200.101/27"]
}
