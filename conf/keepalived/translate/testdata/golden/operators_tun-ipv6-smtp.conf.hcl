# vigil configuration written by `vigil import` from keepalived's configuration:
#   testdata/corpus/operators/tun-ipv6-smtp.conf
# read for config-id "lb1" (keepalived -i)
# Each block follows a comment naming the keepalived file:line it comes from; a comment
# "FILE:LINE: keyword: ..." says what vigil does instead of keepalived there.

# testdata/corpus/operators/tun-ipv6-smtp.conf:2
global {
  router_id = "mx-lb"
}

# testdata/corpus/operators/tun-ipv6-smtp.conf:11
virtual_server "192.0.2.25-25-tcp" {
  address    = "192.0.2.25:25"
  scheduler  = "wrr"
  protocol   = "tcp"
  forwarding = "tun"
  on_failure = "remove"
  # keepalived removes a failed real server (no inhibit_on_failure); vigil's default would quiesce it
  # keepalived without alpha puts a real server in the table before its first check; vigil waits for its first pass (rise = 1: the first probe)
  # testdata/corpus/operators/tun-ipv6-smtp.conf:17
  real_server "203.0.113.5" {
    address = "203.0.113.5"
    weight  = 5
    # testdata/corpus/operators/tun-ipv6-smtp.conf:17: real_server: port 2525 with TUN forwarding differs from the service's (25): keepalived resets it ("ports don't match - resetting"); vigil import leaves it out, so it is the service's
    # testdata/corpus/operators/tun-ipv6-smtp.conf:19
    check "smtp" {
      # interval = delay_loop 15s, timeout = connect_timeout 10s, fall = 1 + retry 1, rise = 1 (keepalived: one pass brings a server up)
      # keepalived retries 1s after a failure (delay_before_retry), vigil at the interval: down within about 2 x 15s = 30s instead of 15s + 1 x (1s + 10s) = 26s
      interval     = "15s"
      timeout      = "10s"
      rise         = 1
      fall         = 2
      connect_port = 2525
      helo_name    = "lb.example.net"
    }
  }
  # testdata/corpus/operators/tun-ipv6-smtp.conf:24
  real_server "203.0.113.6-25" {
    address = "203.0.113.6:25"
    weight  = 5
    # testdata/corpus/operators/tun-ipv6-smtp.conf:26
    check "smtp" {
      # interval = delay_loop 15s, timeout = connect_timeout 10s, fall = 1 + retry 1, rise = 1 (keepalived: one pass brings a server up)
      # keepalived retries 1s after a failure (delay_before_retry), vigil at the interval: down within about 2 x 15s = 30s instead of 15s + 1 x (1s + 10s) = 26s
      interval = "15s"
      timeout  = "10s"
      rise     = 1
      fall     = 2
    }
  }
}

# testdata/corpus/operators/tun-ipv6-smtp.conf:32
virtual_server "2001-db8--25-25-tcp" {
  address    = "[2001:db8::25]:25"
  scheduler  = "rr"
  protocol   = "tcp"
  forwarding = "dr"
  on_failure = "remove"
  # keepalived removes a failed real server (no inhibit_on_failure); vigil's default would quiesce it
  # keepalived without alpha puts a real server in the table before its first check; vigil waits for its first pass (rise = 1: the first probe)
  # testdata/corpus/operators/tun-ipv6-smtp.conf:37
  real_server "2001-db8--1-5-25" {
    address = "[2001:db8::1:5]:25"
    # testdata/corpus/operators/tun-ipv6-smtp.conf:38
    check "smtp" {
      # interval = delay_loop 15s, timeout = connect_timeout 5s, fall = 1 + retry 1, rise = 1 (keepalived: one pass brings a server up)
      # keepalived retries 1s after a failure (delay_before_retry), vigil at the interval: down within about 2 x 15s = 30s instead of 15s + 1 x (1s + 5s) = 21s
      interval = "15s"
      timeout  = "5s"
      rise     = 1
      fall     = 2
    }
  }
}

# testdata/corpus/operators/tun-ipv6-smtp.conf:43
virtual_server "192.0.2.80-443-tcp" {
  address    = "192.0.2.80:443"
  scheduler  = "rr"
  protocol   = "tcp"
  on_failure = "remove"
  # keepalived removes a failed real server (no inhibit_on_failure); vigil's default would quiesce it
  # keepalived without alpha puts a real server in the table before its first check; vigil waits for its first pass (rise = 1: the first probe)
  # testdata/corpus/operators/tun-ipv6-smtp.conf:48
  real_server "10.0.0.5-8443" {
    address = "10.0.0.5:8443"
    # testdata/corpus/operators/tun-ipv6-smtp.conf:50
    check "https" {
      # interval = delay_loop 10s, timeout = connect_timeout 4s, fall = 1 + retry 1, rise = 1 (keepalived: one pass brings a server up)
      # keepalived retries 3s after a failure (delay_before_retry), vigil at the interval: down within about 2 x 10s = 20s instead of 10s + 1 x (3s + 4s) = 17s
      interval        = "10s"
      timeout         = "4s"
      rise            = 1
      fall            = 2
      path            = "/login"
      expect_status   = [200, 302]
      host            = "webmail.example.net"
      tls_skip_verify = true
      # keepalived's SSL_GET does not verify the server's certificate: neither does this check (set tls_ca_file and remove tls_skip_verify to verify it)
      tls_cert_file = "/etc/keepalived/client.pem"
      tls_key_file  = "/etc/keepalived/client.key"
    }
  }
  # testdata/corpus/operators/tun-ipv6-smtp.conf:58
  real_server "10.0.0.6-8443" {
    address = "10.0.0.6:8443"
    # testdata/corpus/operators/tun-ipv6-smtp.conf:59
    check "ping" {
      # interval = delay_loop 10s, timeout = connect_timeout 5s, fall = 1 + retry 1, rise = 1 (keepalived: one pass brings a server up)
      # keepalived retries 1s after a failure (delay_before_retry), vigil at the interval: down within about 2 x 10s = 20s instead of 10s + 1 x (1s + 5s) = 16s
      interval = "10s"
      timeout  = "5s"
      rise     = 1
      fall     = 2
    }
  }
  # testdata/corpus/operators/tun-ipv6-smtp.conf:62
  real_server "10.0.0.7-8443" {
    address = "10.0.0.7:8443"
    # testdata/corpus/operators/tun-ipv6-smtp.conf:63
    check "udp" {
      # interval = delay_loop 10s, timeout = connect_timeout 5s, fall = 1 + retry 1, rise = 1 (keepalived: one pass brings a server up)
      # keepalived retries 1s after a failure (delay_before_retry), vigil at the interval: down within about 2 x 10s = 20s instead of 10s + 1 x (1s + 5s) = 16s
      interval     = "10s"
      timeout      = "5s"
      rise         = 1
      fall         = 2
      connect_port = 9
      payload      = "68656c6c6f"
    }
  }
}
