# vigil configuration written by `vigil import` from keepalived's configuration:
#   testdata/corpus/operators/pair/keepalived.conf
#   testdata/corpus/operators/pair/conf.d/dns.conf
#   testdata/corpus/operators/pair/conf.d/web.conf
# read for config-id "lb1" (keepalived -i)
# Each block follows a comment naming the keepalived file:line it comes from; a comment
# "FILE:LINE: keyword: ..." says what vigil does instead of keepalived there.

# testdata/corpus/operators/pair/keepalived.conf:18
global {
  router_id = "lb1"
}

# testdata/corpus/operators/pair/keepalived.conf:25
vrrp_script "chk_nginx" {
  command = ["/usr/bin/pgrep", "-x", "nginx"]
  # testdata/corpus/operators/pair/keepalived.conf:26: script: keepalived runs scripts as the user keepalived_script when it exists, else as root; vigil runs them as its own user (root in the shipped unit) unless a user is set
  interval = "2s"
  timeout  = "1s"
  fall     = 2
  rise     = 2
  weight   = -30
}

# testdata/corpus/operators/pair/keepalived.conf:34
vrrp_instance "VI_1" {
  # testdata/corpus/operators/pair/keepalived.conf:35: state: not carried over: vigil has no initial state: every instance starts as backup and the highest priority becomes master (keepalived's state MASTER only skips the first wait). Give the intended master the higher priority.
  interface         = "eth0"
  virtual_router_id = 60
  priority          = 150
  unicast_src       = "10.20.0.11"
  unicast_peers     = ["10.20.0.12"]
  notify_master     = ["/etc/keepalived/notify.sh", "MASTER"]
  notify_backup     = ["/etc/keepalived/notify.sh", "BACKUP"]
  notify_fault      = ["/etc/keepalived/notify.sh", "FAULT"]
  # keepalived's default VRRP version is 2 (vigil's is 3)
  version         = 2
  advert_interval = "1s"
  # testdata/corpus/operators/pair/keepalived.conf:42: nopreempt: keepalived clears it with state MASTER ("nopreempt will not work with initial state MASTER - clearing"): vigil preempts, as keepalived then does
  virtual_ipaddresses = [{
    address = "10.20.0.100/24"
    dev     = "eth0"
    label   = "eth0:vip"
  }]
  garp_master_delay  = "2s"
  garp_master_repeat = 3
  # testdata/corpus/operators/pair/keepalived.conf:53
  track_script "chk_nginx" {
  }
}

# testdata/corpus/operators/pair/conf.d/dns.conf:2
virtual_server "10.20.0.100-53-udp" {
  address         = "10.20.0.100:53"
  scheduler       = "rr"
  scheduler_flags = ["ops"]
  protocol        = "udp"
  on_failure      = "remove"
  # keepalived removes a failed real server (no inhibit_on_failure); vigil's default would quiesce it
  # keepalived without alpha puts a real server in the table before its first check; vigil waits for its first pass (rise = 1: the first probe)
  # testdata/corpus/operators/pair/conf.d/dns.conf:9
  real_server "10.20.2.1-53" {
    address = "10.20.2.1:53"
    # testdata/corpus/operators/pair/conf.d/dns.conf:10
    check "dns" {
      # interval = delay_loop 10s, timeout = connect_timeout 2s, fall = 1 + retry 3, rise = 1 (keepalived: one pass brings a server up)
      interval   = "10s"
      timeout    = "2s"
      rise       = 1
      fall       = 4
      query_type = "A"
      query_name = "www.example.com"
    }
  }
  # testdata/corpus/operators/pair/conf.d/dns.conf:16
  real_server "10.20.2.2-53" {
    address = "10.20.2.2:53"
    # testdata/corpus/operators/pair/conf.d/dns.conf:17
    check "dns" {
      # interval = delay_loop 10s, timeout = connect_timeout 2s, fall = 1 + retry 3, rise = 1 (keepalived: one pass brings a server up)
      interval   = "10s"
      timeout    = "2s"
      rise       = 1
      fall       = 4
      query_type = "A"
      query_name = "www.example.com"
    }
  }
}

# testdata/corpus/operators/pair/conf.d/dns.conf:25
virtual_server "10.20.0.100-53-tcp" {
  address    = "10.20.0.100:53"
  scheduler  = "rr"
  protocol   = "tcp"
  on_failure = "remove"
  # keepalived removes a failed real server (no inhibit_on_failure); vigil's default would quiesce it
  # keepalived without alpha puts a real server in the table before its first check; vigil waits for its first pass (rise = 1: the first probe)
  # testdata/corpus/operators/pair/conf.d/dns.conf:31
  real_server "10.20.2.1-53" {
    address = "10.20.2.1:53"
    # testdata/corpus/operators/pair/conf.d/dns.conf:32
    check "tcp" {
      # interval = delay_loop 10s, timeout = connect_timeout 2s, fall = 1 + retry 1, rise = 1 (keepalived: one pass brings a server up)
      # keepalived retries 1s after a failure (delay_before_retry), vigil at the interval: down within about 2 x 10s = 20s instead of 10s + 1 x (1s + 2s) = 13s
      interval = "10s"
      timeout  = "2s"
      rise     = 1
      fall     = 2
    }
  }
  # testdata/corpus/operators/pair/conf.d/dns.conf:36
  real_server "10.20.2.2-53" {
    address = "10.20.2.2:53"
    # testdata/corpus/operators/pair/conf.d/dns.conf:37
    check "tcp" {
      # interval = delay_loop 10s, timeout = connect_timeout 2s, fall = 1 + retry 1, rise = 1 (keepalived: one pass brings a server up)
      # keepalived retries 1s after a failure (delay_before_retry), vigil at the interval: down within about 2 x 10s = 20s instead of 10s + 1 x (1s + 2s) = 13s
      interval = "10s"
      timeout  = "2s"
      rise     = 1
      fall     = 2
    }
  }
}

# testdata/corpus/operators/pair/conf.d/web.conf:1
virtual_server "10.20.0.100-80-tcp" {
  address    = "10.20.0.100:80"
  scheduler  = "wlc"
  protocol   = "tcp"
  on_failure = "remove"
  # keepalived removes a failed real server (no inhibit_on_failure); vigil's default would quiesce it
  sorry_server = "10.20.1.250:80"
  # keepalived without alpha puts a real server in the table before its first check; vigil waits for its first pass (rise = 1: the first probe)
  # testdata/corpus/operators/pair/conf.d/web.conf:8
  real_server "10.20.1.11-80" {
    address = "10.20.1.11:80"
    weight  = 1
    # testdata/corpus/operators/pair/conf.d/web.conf:8
    check "http" {
      # interval = delay_loop 5s, timeout = connect_timeout 2s, fall = 1 + retry 3, rise = 1 (keepalived: one pass brings a server up)
      # keepalived retries 2s after a failure (delay_before_retry), vigil at the interval: down within about 4 x 5s = 20s instead of 5s + 3 x (2s + 2s) = 17s
      # testdata/corpus/operators/pair/conf.d/web.conf:8: delay_before_retry: vigil retries at the check's interval (5s), not 2s after a failure: a failed real server is down after about 20s, not 17s
      interval      = "5s"
      timeout       = "2s"
      rise          = 1
      fall          = 4
      path          = "/healthz"
      expect_status = ["200-299"]
    }
  }
  # testdata/corpus/operators/pair/conf.d/web.conf:8
  real_server "10.20.1.12-80" {
    address = "10.20.1.12:80"
    weight  = 1
    # testdata/corpus/operators/pair/conf.d/web.conf:8
    check "http" {
      # interval = delay_loop 5s, timeout = connect_timeout 2s, fall = 1 + retry 3, rise = 1 (keepalived: one pass brings a server up)
      # keepalived retries 2s after a failure (delay_before_retry), vigil at the interval: down within about 4 x 5s = 20s instead of 5s + 3 x (2s + 2s) = 17s
      # testdata/corpus/operators/pair/conf.d/web.conf:8: delay_before_retry: vigil retries at the check's interval (5s), not 2s after a failure: a failed real server is down after about 20s, not 17s
      interval      = "5s"
      timeout       = "2s"
      rise          = 1
      fall          = 4
      path          = "/healthz"
      expect_status = ["200-299"]
    }
  }
  # testdata/corpus/operators/pair/conf.d/web.conf:8
  real_server "10.20.1.13-80" {
    address = "10.20.1.13:80"
    weight  = 1
    # testdata/corpus/operators/pair/conf.d/web.conf:8
    check "http" {
      # interval = delay_loop 5s, timeout = connect_timeout 2s, fall = 1 + retry 3, rise = 1 (keepalived: one pass brings a server up)
      # keepalived retries 2s after a failure (delay_before_retry), vigil at the interval: down within about 4 x 5s = 20s instead of 5s + 3 x (2s + 2s) = 17s
      # testdata/corpus/operators/pair/conf.d/web.conf:8: delay_before_retry: vigil retries at the check's interval (5s), not 2s after a failure: a failed real server is down after about 20s, not 17s
      interval      = "5s"
      timeout       = "2s"
      rise          = 1
      fall          = 4
      path          = "/healthz"
      expect_status = ["200-299"]
    }
  }
  # testdata/corpus/operators/pair/conf.d/web.conf:8
  real_server "10.20.1.14-80" {
    address = "10.20.1.14:80"
    weight  = 1
    # testdata/corpus/operators/pair/conf.d/web.conf:8
    check "http" {
      # interval = delay_loop 5s, timeout = connect_timeout 2s, fall = 1 + retry 3, rise = 1 (keepalived: one pass brings a server up)
      # keepalived retries 2s after a failure (delay_before_retry), vigil at the interval: down within about 4 x 5s = 20s instead of 5s + 3 x (2s + 2s) = 17s
      # testdata/corpus/operators/pair/conf.d/web.conf:8: delay_before_retry: vigil retries at the check's interval (5s), not 2s after a failure: a failed real server is down after about 20s, not 17s
      interval      = "5s"
      timeout       = "2s"
      rise          = 1
      fall          = 4
      path          = "/healthz"
      expect_status = ["200-299"]
    }
  }
}
