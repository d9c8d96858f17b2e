# vigil configuration written by `vigil import` from keepalived's configuration:
#   testdata/corpus/keepalived/keepalived.conf.quorum
# read for config-id "lb1" (keepalived -i)
# Each block follows a comment naming the keepalived file:line it comes from; a comment
# "FILE:LINE: keyword: ..." says what vigil does instead of keepalived there.

# testdata/corpus/keepalived/keepalived.conf.quorum:23
virtual_server "10.0.1.1-80-tcp" {
  address   = "10.0.1.1:80"
  scheduler = "wrr"
  # testdata/corpus/keepalived/keepalived.conf.quorum:29: alpha: not carried over: vigil gives a new real server no traffic until its first check passes, as keepalived's alpha.
  # testdata/corpus/keepalived/keepalived.conf.quorum:30: omega: not carried over: vigil runs notify_down and quorum_down when health changes, not at shutdown.
  quorum_up = ["/usr/local/sbin/quorum-up.sh"]
  # testdata/corpus/keepalived/keepalived.conf.quorum:33: quorum_up: keepalived runs scripts as the user keepalived_script when it exists, else as root; vigil runs them as its own user (root in the shipped unit) unless a user is set
  quorum_down = ["/usr/local/sbin/quorum-down.sh"]
  protocol    = "tcp"
  on_failure  = "remove"
  # keepalived removes a failed real server (no inhibit_on_failure); vigil's default would quiesce it
  quorum     = 7
  hysteresis = 2
  # keepalived without alpha puts a real server in the table before its first check; vigil waits for its first pass (rise = 1: the first probe)
  persistence {
    timeout = "900s"
  }
  # testdata/corpus/keepalived/keepalived.conf.quorum:36
  real_server "10.0.0.1-8080" {
    address = "10.0.0.1:8080"
    weight  = 1
    # testdata/corpus/keepalived/keepalived.conf.quorum:38
    check "tcp" {
      # interval = delay_loop 6s, timeout = connect_timeout 3s, fall = 1 + retry 1, rise = 1 (keepalived: one pass brings a server up)
      # keepalived retries 1s after a failure (delay_before_retry), vigil at the interval: down within about 2 x 6s = 12s instead of 6s + 1 x (1s + 3s) = 10s
      interval     = "6s"
      timeout      = "3s"
      rise         = 1
      fall         = 2
      connect_port = 80
    }
  }
  # testdata/corpus/keepalived/keepalived.conf.quorum:43
  real_server "10.0.0.2-8080" {
    address = "10.0.0.2:8080"
    weight  = 1
    # testdata/corpus/keepalived/keepalived.conf.quorum:45
    check "tcp" {
      # interval = delay_loop 6s, timeout = connect_timeout 3s, fall = 1 + retry 1, rise = 1 (keepalived: one pass brings a server up)
      # keepalived retries 1s after a failure (delay_before_retry), vigil at the interval: down within about 2 x 6s = 12s instead of 6s + 1 x (1s + 3s) = 10s
      interval     = "6s"
      timeout      = "3s"
      rise         = 1
      fall         = 2
      connect_port = 80
    }
  }
  # testdata/corpus/keepalived/keepalived.conf.quorum:50
  real_server "10.0.0.3-8080" {
    address = "10.0.0.3:8080"
    weight  = 1
    # testdata/corpus/keepalived/keepalived.conf.quorum:52
    check "tcp" {
      # interval = delay_loop 6s, timeout = connect_timeout 3s, fall = 1 + retry 1, rise = 1 (keepalived: one pass brings a server up)
      # keepalived retries 1s after a failure (delay_before_retry), vigil at the interval: down within about 2 x 6s = 12s instead of 6s + 1 x (1s + 3s) = 10s
      interval     = "6s"
      timeout      = "3s"
      rise         = 1
      fall         = 2
      connect_port = 80
    }
  }
  # testdata/corpus/keepalived/keepalived.conf.quorum:57
  real_server "10.0.0.4-8080" {
    address = "10.0.0.4:8080"
    weight  = 1
    # testdata/corpus/keepalived/keepalived.conf.quorum:59
    check "tcp" {
      # interval = delay_loop 6s, timeout = connect_timeout 3s, fall = 1 + retry 1, rise = 1 (keepalived: one pass brings a server up)
      # keepalived retries 1s after a failure (delay_before_retry), vigil at the interval: down within about 2 x 6s = 12s instead of 6s + 1 x (1s + 3s) = 10s
      interval     = "6s"
      timeout      = "3s"
      rise         = 1
      fall         = 2
      connect_port = 80
    }
  }
  # testdata/corpus/keepalived/keepalived.conf.quorum:64
  real_server "10.0.0.5-8080" {
    address = "10.0.0.5:8080"
    weight  = 1
    # testdata/corpus/keepalived/keepalived.conf.quorum:66
    check "tcp" {
      # interval = delay_loop 6s, timeout = connect_timeout 3s, fall = 1 + retry 1, rise = 1 (keepalived: one pass brings a server up)
      # keepalived retries 1s after a failure (delay_before_retry), vigil at the interval: down within about 2 x 6s = 12s instead of 6s + 1 x (1s + 3s) = 10s
      interval     = "6s"
      timeout      = "3s"
      rise         = 1
      fall         = 2
      connect_port = 80
    }
  }
  # testdata/corpus/keepalived/keepalived.conf.quorum:71
  real_server "10.0.0.6-8080" {
    address = "10.0.0.6:8080"
    weight  = 1
    # testdata/corpus/keepalived/keepalived.conf.quorum:73
    check "tcp" {
      # interval = delay_loop 6s, timeout = connect_timeout 3s, fall = 1 + retry 1, rise = 1 (keepalived: one pass brings a server up)
      # keepalived retries 1s after a failure (delay_before_retry), vigil at the interval: down within about 2 x 6s = 12s instead of 6s + 1 x (1s + 3s) = 10s
      interval     = "6s"
      timeout      = "3s"
      rise         = 1
      fall         = 2
      connect_port = 80
    }
  }
  # testdata/corpus/keepalived/keepalived.conf.quorum:78
  real_server "10.0.0.7-8080" {
    address = "10.0.0.7:8080"
    weight  = 1
    # testdata/corpus/keepalived/keepalived.conf.quorum:80
    check "tcp" {
      # interval = delay_loop 6s, timeout = connect_timeout 3s, fall = 1 + retry 1, rise = 1 (keepalived: one pass brings a server up)
      # keepalived retries 1s after a failure (delay_before_retry), vigil at the interval: down within about 2 x 6s = 12s instead of 6s + 1 x (1s + 3s) = 10s
      interval     = "6s"
      timeout      = "3s"
      rise         = 1
      fall         = 2
      connect_port = 80
    }
  }
  # testdata/corpus/keepalived/keepalived.conf.quorum:85
  real_server "10.0.0.8-8080" {
    address = "10.0.0.8:8080"
    weight  = 1
    # testdata/corpus/keepalived/keepalived.conf.quorum:87
    check "tcp" {
      # interval = delay_loop 6s, timeout = connect_timeout 3s, fall = 1 + retry 1, rise = 1 (keepalived: one pass brings a server up)
      # keepalived retries 1s after a failure (delay_before_retry), vigil at the interval: down within about 2 x 6s = 12s instead of 6s + 1 x (1s + 3s) = 10s
      interval     = "6s"
      timeout      = "3s"
      rise         = 1
      fall         = 2
      connect_port = 80
    }
  }
  # testdata/corpus/keepalived/keepalived.conf.quorum:92
  real_server "10.0.0.9-8080" {
    address = "10.0.0.9:8080"
    weight  = 1
    # testdata/corpus/keepalived/keepalived.conf.quorum:94
    check "tcp" {
      # interval = delay_loop 6s, timeout = connect_timeout 3s, fall = 1 + retry 1, rise = 1 (keepalived: one pass brings a server up)
      # keepalived retries 1s after a failure (delay_before_retry), vigil at the interval: down within about 2 x 6s = 12s instead of 6s + 1 x (1s + 3s) = 10s
      interval     = "6s"
      timeout      = "3s"
      rise         = 1
      fall         = 2
      connect_port = 80
    }
  }
  # testdata/corpus/keepalived/keepalived.conf.quorum:99
  real_server "10.0.0.10-8080" {
    address = "10.0.0.10:8080"
    weight  = 1
    # testdata/corpus/keepalived/keepalived.conf.quorum:101
    check "tcp" {
      # interval = delay_loop 6s, timeout = connect_timeout 3s, fall = 1 + retry 1, rise = 1 (keepalived: one pass brings a server up)
      # keepalived retries 1s after a failure (delay_before_retry), vigil at the interval: down within about 2 x 6s = 12s instead of 6s + 1 x (1s + 3s) = 10s
      interval     = "6s"
      timeout      = "3s"
      rise         = 1
      fall         = 2
      connect_port = 80
    }
  }
}
