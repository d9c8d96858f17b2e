# vigil configuration written by `vigil import` from keepalived's configuration:
#   testdata/corpus/keepalived/keepalived.conf.SMTP_CHECK
# read for config-id "lb1" (keepalived -i)
# Each block follows a comment naming the keepalived file:line it comes from; a comment
# "FILE:LINE: keyword: ..." says what vigil does instead of keepalived there.

# testdata/corpus/keepalived/keepalived.conf.SMTP_CHECK:15
global {
  # testdata/corpus/keepalived/keepalived.conf.SMTP_CHECK:16: notification_email: not carried over: vigil sends no mail: run a command from notify_master, notify_backup or notify_fault, or alert on /metrics.
  # testdata/corpus/keepalived/keepalived.conf.SMTP_CHECK:19: notification_email_from: not carried over: vigil sends no mail: run a command from notify_master, notify_backup or notify_fault, or alert on /metrics.
  # testdata/corpus/keepalived/keepalived.conf.SMTP_CHECK:20: smtp_server: not carried over: vigil sends no mail: run a command from notify_master, notify_backup or notify_fault, or alert on /metrics.
  # testdata/corpus/keepalived/keepalived.conf.SMTP_CHECK:21: smtp_connect_timeout: not carried over: vigil sends no mail: run a command from notify_master, notify_backup or notify_fault, or alert on /metrics.
  router_id = "LVS_DEVEL"
}

# testdata/corpus/keepalived/keepalived.conf.SMTP_CHECK:25
virtual_server "192.168.200.100-25-tcp" {
  address    = "192.168.200.100:25"
  scheduler  = "rr"
  protocol   = "tcp"
  on_failure = "remove"
  # keepalived removes a failed real server (no inhibit_on_failure); vigil's default would quiesce it
  # keepalived without alpha puts a real server in the table before its first check; vigil waits for its first pass (rise = 1: the first probe)
  # testdata/corpus/keepalived/keepalived.conf.SMTP_CHECK:37
  real_server "172.16.1.10-25" {
    address = "172.16.1.10:25"
    weight  = 1
    # testdata/corpus/keepalived/keepalived.conf.SMTP_CHECK:39
    check "smtp" {
      # interval = delay_loop 60s, timeout = connect_timeout 30s, fall = 1 + retry 2, rise = 1 (keepalived: one pass brings a server up)
      # keepalived retries 5s after a failure (delay_before_retry), vigil at the interval: down within about 3 x 60s = 180s instead of 60s + 2 x (5s + 30s) = 130s
      # testdata/corpus/keepalived/keepalived.conf.SMTP_CHECK:39: delay_before_retry: vigil retries at the check's interval (60s), not 5s after a failure: a failed real server is down after about 180s, not 130s
      interval  = "60s"
      timeout   = "30s"
      rise      = 1
      fall      = 3
      helo_name = "foo.bar.com"
    }
  }
  # testdata/corpus/keepalived/keepalived.conf.SMTP_CHECK:56
  real_server "172.16.1.11-25" {
    address = "172.16.1.11:25"
    weight  = 1
    # testdata/corpus/keepalived/keepalived.conf.SMTP_CHECK:64
    check "smtp" {
      # interval = delay_loop 60s, timeout = connect_timeout 10s, fall = 1 + retry 2, rise = 1 (keepalived: one pass brings a server up)
      # keepalived retries 5s after a failure (delay_before_retry), vigil at the interval: down within about 3 x 60s = 180s instead of 60s + 2 x (5s + 10s) = 90s
      # testdata/corpus/keepalived/keepalived.conf.SMTP_CHECK:58: delay_before_retry: vigil retries at the check's interval (60s), not 5s after a failure: a failed real server is down after about 180s, not 90s
      interval        = "60s"
      timeout         = "10s"
      rise            = 1
      fall            = 3
      helo_name       = "foo.bar.com"
      connect_address = "172.16.1.11"
    }
    # testdata/corpus/keepalived/keepalived.conf.SMTP_CHECK:68
    check "smtp" {
      # interval = delay_loop 60s, timeout = connect_timeout 10s, fall = 1 + retry 2, rise = 1 (keepalived: one pass brings a server up)
      # keepalived retries 5s after a failure (delay_before_retry), vigil at the interval: down within about 3 x 60s = 180s instead of 60s + 2 x (5s + 10s) = 90s
      # testdata/corpus/keepalived/keepalived.conf.SMTP_CHECK:58: delay_before_retry: vigil retries at the check's interval (60s), not 5s after a failure: a failed real server is down after about 180s, not 90s
      interval        = "60s"
      timeout         = "10s"
      rise            = 1
      fall            = 3
      helo_name       = "foo.bar.com"
      connect_address = "192.168.155.10"
    }
    # testdata/corpus/keepalived/keepalived.conf.SMTP_CHECK:72
    check "smtp" {
      # interval = delay_loop 60s, timeout = connect_timeout 10s, fall = 1 + retry 2, rise = 1 (keepalived: one pass brings a server up)
      # keepalived retries 5s after a failure (delay_before_retry), vigil at the interval: down within about 3 x 60s = 180s instead of 60s + 2 x (5s + 10s) = 90s
      # testdata/corpus/keepalived/keepalived.conf.SMTP_CHECK:58: delay_before_retry: vigil retries at the check's interval (60s), not 5s after a failure: a failed real server is down after about 180s, not 90s
      interval        = "60s"
      timeout         = "10s"
      rise            = 1
      fall            = 3
      helo_name       = "foo.bar.com"
      connect_address = "64.233.167.99"
    }
  }
  # testdata/corpus/keepalived/keepalived.conf.SMTP_CHECK:87
  real_server "172.16.1.12-25" {
    address = "172.16.1.12:25"
    weight  = 1
    # testdata/corpus/keepalived/keepalived.conf.SMTP_CHECK:95
    check "smtp" {
      # interval = delay_loop 60s, timeout = connect_timeout 10s, fall = 1 + retry 2, rise = 1 (keepalived: one pass brings a server up)
      # keepalived retries 5s after a failure (delay_before_retry), vigil at the interval: down within about 3 x 60s = 180s instead of 60s + 2 x (5s + 10s) = 90s
      # testdata/corpus/keepalived/keepalived.conf.SMTP_CHECK:89: delay_before_retry: vigil retries at the check's interval (60s), not 5s after a failure: a failed real server is down after about 180s, not 90s
      interval        = "60s"
      timeout         = "10s"
      rise            = 1
      fall            = 3
      helo_name       = "foo.bar.com"
      connect_address = "172.16.1.12"
      connect_port    = 25
      source_address  = "172.16.1.2"
    }
    # testdata/corpus/keepalived/keepalived.conf.SMTP_CHECK:101
    check "smtp" {
      # interval = delay_loop 60s, timeout = connect_timeout 10s, fall = 1 + retry 2, rise = 1 (keepalived: one pass brings a server up)
      # keepalived retries 5s after a failure (delay_before_retry), vigil at the interval: down within about 3 x 60s = 180s instead of 60s + 2 x (5s + 10s) = 90s
      # testdata/corpus/keepalived/keepalived.conf.SMTP_CHECK:89: delay_before_retry: vigil retries at the check's interval (60s), not 5s after a failure: a failed real server is down after about 180s, not 90s
      interval        = "60s"
      timeout         = "10s"
      rise            = 1
      fall            = 3
      helo_name       = "foo.bar.com"
      connect_address = "192.168.155.11"
      connect_port    = 25
      source_address  = "192.168.155.2"
    }
    # testdata/corpus/keepalived/keepalived.conf.SMTP_CHECK:107
    check "smtp" {
      # interval = delay_loop 60s, timeout = connect_timeout 10s, fall = 1 + retry 2, rise = 1 (keepalived: one pass brings a server up)
      # keepalived retries 5s after a failure (delay_before_retry), vigil at the interval: down within about 3 x 60s = 180s instead of 60s + 2 x (5s + 10s) = 90s
      # testdata/corpus/keepalived/keepalived.conf.SMTP_CHECK:89: delay_before_retry: vigil retries at the check's interval (60s), not 5s after a failure: a failed real server is down after about 180s, not 90s
      interval        = "60s"
      timeout         = "10s"
      rise            = 1
      fall            = 3
      helo_name       = "foo.bar.com"
      connect_address = "64.233.167.100"
      connect_port    = 587
    }
  }
}
