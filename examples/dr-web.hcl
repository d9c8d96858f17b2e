# A DR (direct routing) web cluster: two real servers on port 80, round robin.
# ipvsadm equivalent:
#   ipvsadm -A -t 198.18.0.254:80 -s rr
#   ipvsadm -a -t 198.18.0.254:80 -r 198.18.0.21:80 -g
#   ipvsadm -a -t 198.18.0.254:80 -r 198.18.0.22:80 -g
# Each real server holds the VIP on lo with arp_ignore=1 and arp_announce=2.

global {
  router_id = "lb-dr-web"
  # Where vigil drain, maint, ready and plan reach this daemon, and where it keeps its
  # state: the systemd unit's directories unless the environment names others (several
  # daemons on one host, as the examples' tests run them).
  control_socket = env("VIGIL_CONTROL_SOCKET", "/run/vigil/vigil.sock")
  state_dir      = env("VIGIL_STATE_DIR", "/var/lib/vigil")
}

virtual_server "web" {
  address    = "198.18.0.254:80"
  protocol   = "tcp"
  scheduler  = "rr"
  forwarding = "dr"

  real_server "rs1" {
    address = "198.18.0.21"
    check "http" {
      path          = "/"
      expect_status = ["200-299"]
    }
  }

  real_server "rs2" {
    address = "198.18.0.22"
    check "http" {
      path          = "/"
      expect_status = ["200-299"]
    }
  }
}
