# vigil configuration written by `vigil import` from keepalived's configuration:
#   testdata/corpus/operators/mysql-nat.conf
# read for config-id "lb1" (keepalived -i)
# Each block follows a comment naming the keepalived file:line it comes from; a comment
# "FILE:LINE: keyword: ..." says what vigil does instead of keepalived there.

# testdata/corpus/operators/mysql-nat.conf:2
global {
  router_id = "DB_LB"
  # testdata/corpus/operators/mysql-nat.conf:4
  ipvs_timeouts {
    tcp    = "7200s"
    tcpfin = "120s"
    udp    = "300s"
  }
}

# testdata/corpus/operators/mysql-nat.conf:7
vrrp_instance "VI_DB" {
  # testdata/corpus/operators/mysql-nat.conf:8: state: not carried over: vigil has no initial state: every instance starts as backup and the highest priority becomes master (keepalived's state MASTER only skips the first wait). Give the intended master the higher priority.
  interface         = "bond0"
  virtual_router_id = 71
  priority          = 100
  # testdata/corpus/operators/mysql-nat.conf:17: virtual_ipaddress_excluded: left out (172.16.10.51): vigil advertises every address it holds, so it has no excluded ones, and a keepalived peer compares the advertised list; add them to virtual_ipaddresses once both directors run vigil, or manage them from notify_master
  version             = 3
  advert_interval     = "3s"
  virtual_ipaddresses = ["172.16.10.50"]
}

# testdata/corpus/operators/mysql-nat.conf:22
virtual_server "172.16.10.50-3306-tcp" {
  address   = "172.16.10.50:3306"
  scheduler = "lc"
  quorum_up = ["/usr/local/bin/db-pool", "up"]
  # testdata/corpus/operators/mysql-nat.conf:30: quorum_up: keepalived runs scripts as the user keepalived_script when it exists, else as root; vigil runs them as its own user (root in the shipped unit) unless a user is set
  quorum_down = ["/usr/local/bin/db-pool", "down"]
  # testdata/corpus/operators/mysql-nat.conf:32: alpha: not carried over: vigil gives a new real server no traffic until its first check passes, as keepalived's alpha.
  # testdata/corpus/operators/mysql-nat.conf:33: omega: not carried over: vigil runs notify_down and quorum_down when health changes, not at shutdown.
  protocol   = "tcp"
  on_failure = "remove"
  # keepalived removes a failed real server (no inhibit_on_failure); vigil's default would quiesce it
  quorum       = 2
  hysteresis   = 1
  sorry_server = "172.16.20.99:3306"
  # keepalived without alpha puts a real server in the table before its first check; vigil waits for its first pass (rise = 1: the first probe)
  persistence {
    timeout = "360s"
  }
  # testdata/corpus/operators/mysql-nat.conf:36
  real_server "172.16.20.11-3306" {
    address     = "172.16.20.11:3306"
    weight      = 10
    notify_down = ["/usr/local/bin/db-alert", "172.16.20.11", "down"]
    # testdata/corpus/operators/mysql-nat.conf:36: inhibit_on_failure: vigil sets on_failure per virtual server: this real server is removed like the others, not quiesced
    # testdata/corpus/operators/mysql-nat.conf:40
    check "exec" {
      # testdata/corpus/operators/mysql-nat.conf:40: connect_timeout: misc_timeout 10s is longer than delay_loop 6s: keepalived waits for it, vigil bounds a probe by its interval (probes never overlap): timeout = 6s
      # interval = delay_loop 6s, timeout = misc_timeout 10s, fall = 1 + retry 0, rise = 1 (keepalived: one pass brings a server up)
      interval = "6s"
      timeout  = "6s"
      rise     = 1
      fall     = 1
      command  = ["/usr/local/bin/check_mysql_replica", "172.16.20.11"]
    }
  }
  # testdata/corpus/operators/mysql-nat.conf:45
  real_server "172.16.20.12-3306" {
    address = "172.16.20.12:3306"
    weight  = 10
    # testdata/corpus/operators/mysql-nat.conf:45: inhibit_on_failure: vigil sets on_failure per virtual server: this real server is removed like the others, not quiesced
    # testdata/corpus/operators/mysql-nat.conf:48
    check "exec" {
      # testdata/corpus/operators/mysql-nat.conf:48: connect_timeout: misc_timeout 10s is longer than delay_loop 6s: keepalived waits for it, vigil bounds a probe by its interval (probes never overlap): timeout = 6s
      # interval = delay_loop 6s, timeout = misc_timeout 10s, fall = 1 + retry 0, rise = 1 (keepalived: one pass brings a server up)
      interval       = "6s"
      timeout        = "6s"
      rise           = 1
      fall           = 1
      command        = ["/usr/local/bin/check_mysql_replica", "172.16.20.12"]
      dynamic_weight = true
    }
  }
  # testdata/corpus/operators/mysql-nat.conf:54
  real_server "172.16.20.13-3306" {
    address = "172.16.20.13:3306"
    weight  = 10
    # testdata/corpus/operators/mysql-nat.conf:56
    check "tcp" {
      # testdata/corpus/operators/mysql-nat.conf:56: connect_timeout: connect_timeout 8s is longer than delay_loop 6s: keepalived waits for it, vigil bounds a probe by its interval (probes never overlap): timeout = 6s
      # interval = delay_loop 6s, timeout = connect_timeout 8s, fall = 1 + retry 4, rise = 1 (keepalived: one pass brings a server up)
      # keepalived retries 2s after a failure (delay_before_retry), vigil at the interval: down within about 5 x 6s = 30s instead of 6s + 4 x (2s + 6s) = 38s
      # testdata/corpus/operators/mysql-nat.conf:56: delay_before_retry: vigil retries at the check's interval (6s), not 2s after a failure: a failed real server is down after about 30s, not 38s
      interval = "6s"
      timeout  = "6s"
      rise     = 1
      fall     = 5
    }
  }
}
