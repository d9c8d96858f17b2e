# A DR MySQL/MariaDB cluster behind one VIP on port 3306, round robin.
# ipvsadm equivalent:
#   ipvsadm -A -t 198.18.0.254:3306 -s rr
#   ipvsadm -a -t 198.18.0.254:3306 -r 198.18.0.21:3306 -g
#   ipvsadm -a -t 198.18.0.254:3306 -r 198.18.0.22:3306 -g
# The password comes from the environment; the default keeps this example valid without it.
# The check logs in and runs the default query (SELECT 1; any successful query passes)
# every 2 s: a real server is quiesced after 3 failures (about 7 s) and back after 2
# successes.

global {
  router_id = "lb-dr-mysql"
  # Where vigil drain, maint, ready and plan reach this daemon, and where it keeps its
  # state: the systemd unit's directories unless the environment names others (several
  # daemons on one host, as the examples' tests run them).
  control_socket = env("VIGIL_CONTROL_SOCKET", "/run/vigil/vigil.sock")
  state_dir      = env("VIGIL_STATE_DIR", "/var/lib/vigil")
}

virtual_server "mysql" {
  address    = "198.18.0.254:3306"
  protocol   = "tcp"
  scheduler  = "rr"
  forwarding = "dr"

  real_server "db1" {
    address = "198.18.0.21:3306"
    check "mysql" {
      user     = "monitor"
      password = env("VIGIL_MYSQL_PASSWORD", "monitor")
      interval = "2s"
      timeout  = "1s"
    }
  }

  real_server "db2" {
    address = "198.18.0.22:3306"
    check "mysql" {
      user     = "monitor"
      password = env("VIGIL_MYSQL_PASSWORD", "monitor")
      interval = "2s"
      timeout  = "1s"
    }
  }
}
