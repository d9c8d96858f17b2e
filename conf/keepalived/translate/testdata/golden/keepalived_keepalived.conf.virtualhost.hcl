# vigil configuration written by `vigil import` from keepalived's configuration:
#   testdata/corpus/keepalived/keepalived.conf.virtualhost
# read for config-id "lb1" (keepalived -i)
# Each block follows a comment naming the keepalived file:line it comes from; a comment
# "FILE:LINE: keyword: ..." says what vigil does instead of keepalived there.

# testdata/corpus/keepalived/keepalived.conf.virtualhost:3
global {
  # testdata/corpus/keepalived/keepalived.conf.virtualhost:4: notification_email: not carried over: vigil sends no mail: run a command from notify_master, notify_backup or notify_fault, or alert on /metrics.
  # testdata/corpus/keepalived/keepalived.conf.virtualhost:7: notification_email_from: not carried over: vigil sends no mail: run a command from notify_master, notify_backup or notify_fault, or alert on /metrics.
  # testdata/corpus/keepalived/keepalived.conf.virtualhost:8: smtp_server: not carried over: vigil sends no mail: run a command from notify_master, notify_backup or notify_fault, or alert on /metrics.
  # testdata/corpus/keepalived/keepalived.conf.virtualhost:9: smtp_connect_timeout: not carried over: vigil sends no mail: run a command from notify_master, notify_backup or notify_fault, or alert on /metrics.
  router_id = "LVS_DEVEL"
}

# testdata/corpus/keepalived/keepalived.conf.virtualhost:13
virtual_server "192.168.200.100-80-tcp" {
  address    = "192.168.200.100:80"
  scheduler  = "rr"
  protocol   = "tcp"
  on_failure = "remove"
  # keepalived removes a failed real server (no inhibit_on_failure); vigil's default would quiesce it
  # keepalived without alpha puts a real server in the table before its first check; vigil waits for its first pass (rise = 1: the first probe)
  persistence {
    timeout = "50s"
  }
  # testdata/corpus/keepalived/keepalived.conf.virtualhost:22
  real_server "192.168.201.100-80" {
    address = "192.168.201.100:80"
    weight  = 1
    # testdata/corpus/keepalived/keepalived.conf.virtualhost:24: SSL_GET: 2 url blocks: keepalived checks them in turn, one per delay_loop; vigil checks each as a check of its own, every interval, and the real server is up while all pass
    # testdata/corpus/keepalived/keepalived.conf.virtualhost:25
    check "https" {
      # interval = delay_loop 6s, timeout = connect_timeout 3s, fall = 1 + retry 3, rise = 1 (keepalived: one pass brings a server up)
      interval      = "6s"
      timeout       = "3s"
      rise          = 1
      fall          = 4
      path          = "/"
      expect_digest = "ff20ad2481f97b1754ef3e12ecd3a9cc"
      expect_status = ["100-599"]
      # a digest without status_code: keepalived checks the digest alone, whatever the status
      host            = "www.firewall.loc"
      tls_skip_verify = true
      # keepalived's SSL_GET does not verify the server's certificate: neither does this check (set tls_ca_file and remove tls_skip_verify to verify it)
    }
    # testdata/corpus/keepalived/keepalived.conf.virtualhost:29
    check "https" {
      # interval = delay_loop 6s, timeout = connect_timeout 3s, fall = 1 + retry 3, rise = 1 (keepalived: one pass brings a server up)
      interval      = "6s"
      timeout       = "3s"
      rise          = 1
      fall          = 4
      path          = "/mrtg/"
      expect_digest = "9b3a0c85a887a256d6939da88aabd8cd"
      expect_status = ["100-599"]
      # a digest without status_code: keepalived checks the digest alone, whatever the status
      host            = "www.firewall.loc"
      tls_skip_verify = true
      # keepalived's SSL_GET does not verify the server's certificate: neither does this check (set tls_ca_file and remove tls_skip_verify to verify it)
    }
  }
}
