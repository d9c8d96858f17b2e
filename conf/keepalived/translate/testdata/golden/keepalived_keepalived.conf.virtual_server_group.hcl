# vigil configuration written by `vigil import` from keepalived's configuration:
#   testdata/corpus/keepalived/keepalived.conf.virtual_server_group
# read for config-id "lb1" (keepalived -i)
# Each block follows a comment naming the keepalived file:line it comes from; a comment
# "FILE:LINE: keyword: ..." says what vigil does instead of keepalived there.

# testdata/corpus/keepalived/keepalived.conf.virtual_server_group:3
global {
  # testdata/corpus/keepalived/keepalived.conf.virtual_server_group:4: notification_email: not carried over: vigil sends no mail: run a command from notify_master, notify_backup or notify_fault, or alert on /metrics.
  # testdata/corpus/keepalived/keepalived.conf.virtual_server_group:7: notification_email_from: not carried over: vigil sends no mail: run a command from notify_master, notify_backup or notify_fault, or alert on /metrics.
  # testdata/corpus/keepalived/keepalived.conf.virtual_server_group:8: smtp_server: not carried over: vigil sends no mail: run a command from notify_master, notify_backup or notify_fault, or alert on /metrics.
  # testdata/corpus/keepalived/keepalived.conf.virtual_server_group:9: smtp_connect_timeout: not carried over: vigil sends no mail: run a command from notify_master, notify_backup or notify_fault, or alert on /metrics.
  router_id = "LVS_DEVEL"
}

# testdata/corpus/keepalived/keepalived.conf.virtual_server_group:13
virtual_server_group "VSG_1" {
  addresses = ["10.0.0.1:8080", "10.0.0.2:80", "192.168.200.1:1358", "192.168.200.3-10:80"]
  fwmarks   = [1, 2]
}

# testdata/corpus/keepalived/keepalived.conf.virtual_server_group:22
virtual_server "VSG_1-tcp" {
  group      = "VSG_1"
  scheduler  = "rr"
  protocol   = "tcp"
  on_failure = "remove"
  # keepalived removes a failed real server (no inhibit_on_failure); vigil's default would quiesce it
  # keepalived without alpha puts a real server in the table before its first check; vigil waits for its first pass (rise = 1: the first probe)
  persistence {
    timeout = "50s"
  }
  # testdata/corpus/keepalived/keepalived.conf.virtual_server_group:29
  real_server "192.168.200.1-1358" {
    address = "192.168.200.1:1358"
    weight  = 1
    # testdata/corpus/keepalived/keepalived.conf.virtual_server_group:32
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
  # testdata/corpus/keepalived/keepalived.conf.virtual_server_group:42
  real_server "192.168.200.2-1358" {
    address = "192.168.200.2:1358"
    weight  = 1
    # testdata/corpus/keepalived/keepalived.conf.virtual_server_group:45
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
