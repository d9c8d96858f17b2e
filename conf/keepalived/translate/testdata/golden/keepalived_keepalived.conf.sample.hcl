# vigil configuration written by `vigil import` from keepalived's configuration:
#   testdata/corpus/keepalived/keepalived.conf.sample
# read for config-id "lb1" (keepalived -i)
# Each block follows a comment naming the keepalived file:line it comes from; a comment
# "FILE:LINE: keyword: ..." says what vigil does instead of keepalived there.

# testdata/corpus/keepalived/keepalived.conf.sample:3
global {
  # testdata/corpus/keepalived/keepalived.conf.sample:4: notification_email: not carried over: vigil sends no mail: run a command from notify_master, notify_backup or notify_fault, or alert on /metrics.
  # testdata/corpus/keepalived/keepalived.conf.sample:7: notification_email_from: not carried over: vigil sends no mail: run a command from notify_master, notify_backup or notify_fault, or alert on /metrics.
  # testdata/corpus/keepalived/keepalived.conf.sample:8: smtp_server: not carried over: vigil sends no mail: run a command from notify_master, notify_backup or notify_fault, or alert on /metrics.
  # testdata/corpus/keepalived/keepalived.conf.sample:9: smtp_connect_timeout: not carried over: vigil sends no mail: run a command from notify_master, notify_backup or notify_fault, or alert on /metrics.
  router_id = "LVS_DEVEL"
}

# testdata/corpus/keepalived/keepalived.conf.sample:13
vrrp_instance "VI_1" {
  interface         = "eth0"
  virtual_router_id = 50
  priority          = 100
  # keepalived's default VRRP version is 2 (vigil's is 3)
  version             = 2
  advert_interval     = "1s"
  preempt             = false
  virtual_ipaddresses = ["192.168.200.11", "192.168.200.12", "192.168.200.13"]
}

# testdata/corpus/keepalived/keepalived.conf.sample:26
virtual_server "10.10.10.2-1358-tcp" {
  address    = "10.10.10.2:1358"
  scheduler  = "rr"
  protocol   = "tcp"
  on_failure = "remove"
  # keepalived removes a failed real server (no inhibit_on_failure); vigil's default would quiesce it
  sorry_server = "192.168.200.200:1358"
  # keepalived without alpha puts a real server in the table before its first check; vigil waits for its first pass (rise = 1: the first probe)
  persistence {
    timeout = "50s"
  }
  # testdata/corpus/keepalived/keepalived.conf.sample:35
  real_server "192.168.200.2-1358" {
    address = "192.168.200.2:1358"
    weight  = 1
    # testdata/corpus/keepalived/keepalived.conf.sample:38
    check "http" {
      # interval = delay_loop 6s, timeout = connect_timeout 3s, fall = 1 + retry 3, rise = 1 (keepalived: one pass brings a server up)
      interval      = "6s"
      timeout       = "3s"
      rise          = 1
      fall          = 4
      path          = "/testurl3/test.jsp"
      expect_digest = "640205b7b0fc66c1ea91c463fac6334d"
      expect_status = ["100-599"]
      # a digest without status_code: keepalived checks the digest alone, whatever the status
    }
  }
}
