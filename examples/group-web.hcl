# Two VIPs served by one pool, as keepalived's virtual_server_group: one IPVS service per
# address, each real server checked once and its weight set in every service at once.
# ipvsadm equivalent:
#   ipvsadm -A -t 198.18.0.253:80 -s rr
#   ipvsadm -A -t 198.18.0.254:80 -s rr
#   ipvsadm -a -t 198.18.0.253:80 -r 198.18.0.21:80 -g
#   ipvsadm -a -t 198.18.0.253:80 -r 198.18.0.22:80 -g
#   ipvsadm -a -t 198.18.0.254:80 -r 198.18.0.21:80 -g
#   ipvsadm -a -t 198.18.0.254:80 -r 198.18.0.22:80 -g
# The director holds both VIPs; each real server holds both on lo with arp_ignore=1 and
# arp_announce=2.

global {
  router_id = "lb-group-web"
  # Where vigil drain, maint, ready and plan reach this daemon, and where it keeps its
  # state: the systemd unit's directories unless the environment names others (several
  # daemons on one host, as the examples' tests run them).
  control_socket = env("VIGIL_CONTROL_SOCKET", "/run/vigil/vigil.sock")
  state_dir      = env("VIGIL_STATE_DIR", "/var/lib/vigil")
}

virtual_server_group "web-vips" {
  addresses = ["198.18.0.253-254:80"]
}

virtual_server "web" {
  group      = "web-vips"
  protocol   = "tcp"
  scheduler  = "rr"
  forwarding = "dr"

  real_server "rs1" {
    address = "198.18.0.21"
    check "http" {
      path = "/"
    }
  }

  real_server "rs2" {
    address = "198.18.0.22"
    check "http" {
      path = "/"
    }
  }
}
