# vigil configuration written by `vigil import` from keepalived's configuration:
#   testdata/corpus/keepalived/keepalived.conf.vrrp
# read for config-id "lb1" (keepalived -i)
# Each block follows a comment naming the keepalived file:line it comes from; a comment
# "FILE:LINE: keyword: ..." says what vigil does instead of keepalived there.

# testdata/corpus/keepalived/keepalived.conf.vrrp:3
global {
  # testdata/corpus/keepalived/keepalived.conf.vrrp:4: notification_email: not carried over: vigil sends no mail: run a command from notify_master, notify_backup or notify_fault, or alert on /metrics.
  # testdata/corpus/keepalived/keepalived.conf.vrrp:7: notification_email_from: not carried over: vigil sends no mail: run a command from notify_master, notify_backup or notify_fault, or alert on /metrics.
  # testdata/corpus/keepalived/keepalived.conf.vrrp:8: smtp_server: not carried over: vigil sends no mail: run a command from notify_master, notify_backup or notify_fault, or alert on /metrics.
  # testdata/corpus/keepalived/keepalived.conf.vrrp:9: smtp_connect_timeout: not carried over: vigil sends no mail: run a command from notify_master, notify_backup or notify_fault, or alert on /metrics.
  router_id = "LVS_DEVEL"
}

# testdata/corpus/keepalived/keepalived.conf.vrrp:13
vrrp_instance "VI_1" {
  # testdata/corpus/keepalived/keepalived.conf.vrrp:14: state: not carried over: vigil has no initial state: every instance starts as backup and the highest priority becomes master (keepalived's state MASTER only skips the first wait). Give the intended master the higher priority.
  interface         = "eth0"
  garp_master_delay = "10s"
  # testdata/corpus/keepalived/keepalived.conf.vrrp:17: smtp_alert: not carried over: vigil sends no mail: run a command from notify_master, notify_backup or notify_fault, or alert on /metrics.
  virtual_router_id = 51
  priority          = 100
  # testdata/corpus/keepalived/keepalived.conf.vrrp:23: auth_pass: the password is written as the keepalived file has it; better: password = env("VRRP_PASSWORD"), set in vigil's environment
  # testdata/corpus/keepalived/keepalived.conf.vrrp:32: virtual_ipaddress: 192.168.200.18 is listed twice: the kernel holds an address once, so vigil import lists it once (the first line's dev and label)
  # keepalived's default VRRP version is 2 (vigil's is 3)
  version             = 2
  advert_interval     = "1s"
  virtual_ipaddresses = ["192.168.200.16", "192.168.200.17", "192.168.200.18"]
  # testdata/corpus/keepalived/keepalived.conf.vrrp:21
  authentication {
    type     = "pass"
    password = "1111"
  }
}

# testdata/corpus/keepalived/keepalived.conf.vrrp:36
vrrp_instance "VI_2" {
  interface = "eth0"
  # testdata/corpus/keepalived/keepalived.conf.vrrp:38: smtp_alert: not carried over: vigil sends no mail: run a command from notify_master, notify_backup or notify_fault, or alert on /metrics.
  virtual_router_id = 50
  priority          = 50
  # keepalived's default VRRP version is 2 (vigil's is 3)
  version             = 2
  advert_interval     = "1s"
  virtual_ipaddresses = ["192.168.200.13", "192.168.200.14", "192.168.200.15"]
}

# testdata/corpus/keepalived/keepalived.conf.vrrp:49
vrrp_instance "VI_3" {
  # testdata/corpus/keepalived/keepalived.conf.vrrp:50: state: not carried over: vigil has no initial state: every instance starts as backup and the highest priority becomes master (keepalived's state MASTER only skips the first wait). Give the intended master the higher priority.
  interface = "eth1"
  # testdata/corpus/keepalived/keepalived.conf.vrrp:52: smtp_alert: not carried over: vigil sends no mail: run a command from notify_master, notify_backup or notify_fault, or alert on /metrics.
  virtual_router_id = 52
  priority          = 100
  # testdata/corpus/keepalived/keepalived.conf.vrrp:58: auth_pass: the password is written as the keepalived file has it; better: password = env("VRRP_PASSWORD"), set in vigil's environment
  # keepalived's default VRRP version is 2 (vigil's is 3)
  version             = 2
  advert_interval     = "1s"
  virtual_ipaddresses = ["192.168.201.13", "192.168.201.14", "192.168.201.15"]
  # testdata/corpus/keepalived/keepalived.conf.vrrp:56
  authentication {
    type     = "pass"
    password = "1111"
  }
}

# testdata/corpus/keepalived/keepalived.conf.vrrp:67
vrrp_instance "VI_4" {
  interface = "eth1"
  # testdata/corpus/keepalived/keepalived.conf.vrrp:69: smtp_alert: not carried over: vigil sends no mail: run a command from notify_master, notify_backup or notify_fault, or alert on /metrics.
  virtual_router_id = 53
  priority          = 50
  # keepalived's default VRRP version is 2 (vigil's is 3)
  version             = 2
  advert_interval     = "1s"
  virtual_ipaddresses = ["192.168.201.16", "192.168.201.17", "192.168.201.18"]
}
