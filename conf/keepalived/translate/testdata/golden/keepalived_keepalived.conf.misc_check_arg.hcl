# vigil configuration written by `vigil import` from keepalived's configuration:
#   testdata/corpus/keepalived/keepalived.conf.misc_check_arg
# read for config-id "lb1" (keepalived -i)
# Each block follows a comment naming the keepalived file:line it comes from; a comment
# "FILE:LINE: keyword: ..." says what vigil does instead of keepalived there.

# testdata/corpus/keepalived/keepalived.conf.misc_check_arg:3
global {
  # testdata/corpus/keepalived/keepalived.conf.misc_check_arg:4: notification_email: not carried over: vigil sends no mail: run a command from notify_master, notify_backup or notify_fault, or alert on /metrics.
  # testdata/corpus/keepalived/keepalived.conf.misc_check_arg:7: notification_email_from: not carried over: vigil sends no mail: run a command from notify_master, notify_backup or notify_fault, or alert on /metrics.
  # testdata/corpus/keepalived/keepalived.conf.misc_check_arg:8: smtp_server: not carried over: vigil sends no mail: run a command from notify_master, notify_backup or notify_fault, or alert on /metrics.
  # testdata/corpus/keepalived/keepalived.conf.misc_check_arg:9: smtp_connect_timeout: not carried over: vigil sends no mail: run a command from notify_master, notify_backup or notify_fault, or alert on /metrics.
  router_id = "LVS_DEVEL"
}

# testdata/corpus/keepalived/keepalived.conf.misc_check_arg:13
virtual_server "10.10.10.2-1358-tcp" {
  address    = "10.10.10.2:1358"
  scheduler  = "rr"
  protocol   = "tcp"
  on_failure = "remove"
  # keepalived removes a failed real server (no inhibit_on_failure); vigil's default would quiesce it
  # keepalived without alpha puts a real server in the table before its first check; vigil waits for its first pass (rise = 1: the first probe)
  persistence {
    timeout = "50s"
  }
  # testdata/corpus/keepalived/keepalived.conf.misc_check_arg:20
  real_server "192.168.200.6-1358" {
    address = "192.168.200.6:1358"
    weight  = 1
    # testdata/corpus/keepalived/keepalived.conf.misc_check_arg:23: misc_path: keepalived runs scripts as the user keepalived_script when it exists, else as root; vigil runs them as its own user (root in the shipped unit) unless a user is set
    # testdata/corpus/keepalived/keepalived.conf.misc_check_arg:22
    check "exec" {
      # interval = delay_loop 6s, timeout = misc_timeout (default delay_loop) 6s, fall = 1 + retry 0, rise = 1 (keepalived: one pass brings a server up)
      interval = "6s"
      timeout  = "6s"
      rise     = 1
      fall     = 1
      command  = ["/usr/local/bin/script.sh", "arg1", "arg2"]
    }
  }
}
