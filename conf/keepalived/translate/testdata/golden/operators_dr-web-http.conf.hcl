# vigil configuration written by `vigil import` from keepalived's configuration:
#   testdata/corpus/operators/dr-web-http.conf
# read for config-id "lb1" (keepalived -i)
# Each block follows a comment naming the keepalived file:line it comes from; a comment
# "FILE:LINE: keyword: ..." says what vigil does instead of keepalived there.

# testdata/corpus/operators/dr-web-http.conf:4
global {
  # testdata/corpus/operators/dr-web-http.conf:5: notification_email: not carried over: vigil sends no mail: run a command from notify_master, notify_backup or notify_fault, or alert on /metrics.
  # testdata/corpus/operators/dr-web-http.conf:8: notification_email_from: not carried over: vigil sends no mail: run a command from notify_master, notify_backup or notify_fault, or alert on /metrics.
  # testdata/corpus/operators/dr-web-http.conf:9: smtp_server: not carried over: vigil sends no mail: run a command from notify_master, notify_backup or notify_fault, or alert on /metrics.
  # testdata/corpus/operators/dr-web-http.conf:10: smtp_connect_timeout: not carried over: vigil sends no mail: run a command from notify_master, notify_backup or notify_fault, or alert on /metrics.
  router_id = "LB1"
  # testdata/corpus/operators/dr-web-http.conf:12: enable_script_security: not carried over: vigil runs commands as argv lists without a shell unless shell = true, as the user each one names.
}

# testdata/corpus/operators/dr-web-http.conf:16
vrrp_instance "VI_WEB" {
  # testdata/corpus/operators/dr-web-http.conf:17: state: not carried over: vigil has no initial state: every instance starts as backup and the highest priority becomes master (keepalived's state MASTER only skips the first wait). Give the intended master the higher priority.
  interface         = "eth0"
  virtual_router_id = 51
  priority          = 150
  # testdata/corpus/operators/dr-web-http.conf:24: auth_pass: the password is written as the keepalived file has it; better: password = env("VRRP_PASSWORD"), set in vigil's environment
  # keepalived's default VRRP version is 2 (vigil's is 3)
  version         = 2
  advert_interval = "1s"
  virtual_ipaddresses = [{
    address = "198.18.0.254"
    dev     = "eth0"
  }]
  # testdata/corpus/operators/dr-web-http.conf:22
  authentication {
    type     = "pass"
    password = "w3bVIPpw"
  }
}

# testdata/corpus/operators/dr-web-http.conf:31
virtual_server "198.18.0.254-80-tcp" {
  address    = "198.18.0.254:80"
  scheduler  = "wrr"
  protocol   = "tcp"
  forwarding = "dr"
  on_failure = "remove"
  # keepalived removes a failed real server (no inhibit_on_failure); vigil's default would quiesce it
  # keepalived without alpha puts a real server in the table before its first check; vigil waits for its first pass (rise = 1: the first probe)
  # testdata/corpus/operators/dr-web-http.conf:37
  real_server "198.18.0.21-80" {
    address = "198.18.0.21:80"
    weight  = 3
    # testdata/corpus/operators/dr-web-http.conf:40
    check "http" {
      # interval = delay_loop 2s, timeout = connect_timeout 1s, fall = 1 + retry 2, rise = 1 (keepalived: one pass brings a server up)
      interval      = "2s"
      timeout       = "1s"
      rise          = 1
      fall          = 3
      path          = "/"
      expect_status = [200]
    }
  }
  # testdata/corpus/operators/dr-web-http.conf:49
  real_server "198.18.0.22-80" {
    address = "198.18.0.22:80"
    weight  = 1
    # testdata/corpus/operators/dr-web-http.conf:52
    check "http" {
      # interval = delay_loop 2s, timeout = connect_timeout 1s, fall = 1 + retry 2, rise = 1 (keepalived: one pass brings a server up)
      interval      = "2s"
      timeout       = "1s"
      rise          = 1
      fall          = 3
      path          = "/"
      expect_status = [200]
    }
  }
}
