# An IP-in-IP tunnel (TUN) web cluster: the director encapsulates each packet to the real
# server, which decapsulates it on a tunl0 device holding the VIP and answers the client
# directly.
# ipvsadm equivalent:
#   ipvsadm -A -t 198.18.0.254:80 -s wlc
#   ipvsadm -a -t 198.18.0.254:80 -r 198.18.0.21:80 -i
#   ipvsadm -a -t 198.18.0.254:80 -r 198.18.0.22:80 -i

global {
  router_id = "lb-tun-web"
  # Where vigil drain, maint, ready and plan reach this daemon, and where it keeps its
  # state: the systemd unit's directories unless the environment names others (several
  # daemons on one host, as the examples' tests run them).
  control_socket = env("VIGIL_CONTROL_SOCKET", "/run/vigil/vigil.sock")
  state_dir      = env("VIGIL_STATE_DIR", "/var/lib/vigil")
}

virtual_server "web" {
  address    = "198.18.0.254:80"
  protocol   = "tcp"
  scheduler  = "wlc"
  forwarding = "tun"

  real_server "rs1" {
    address = "198.18.0.21"
    check "tcp" {}
  }

  real_server "rs2" {
    address = "198.18.0.22"
    check "tcp" {}
  }
}
