# A NAT (masquerading) web cluster: the director rewrites the destination and the real
# servers route their replies back through it (their default gateway is the director).
# The director has two interfaces: the clients' network, where it holds the VIP, and the
# real servers' network 198.18.0.0/24; it forwards between them (net.ipv4.ip_forward = 1).
# ipvsadm equivalent:
#   ipvsadm -A -t 198.18.0.254:80 -s wrr
#   ipvsadm -a -t 198.18.0.254:80 -r 198.18.0.21:8080 -m -w 2
#   ipvsadm -a -t 198.18.0.254:80 -r 198.18.0.22:8080 -m -w 1
# NAT can remap ports: the real servers listen on 8080.

global {
  router_id = "lb-nat-web"
  # Where vigil drain, maint, ready and plan reach this daemon, and where it keeps its
  # state: the systemd unit's directories unless the environment names others (several
  # daemons on one host, as the examples' tests run them).
  control_socket = env("VIGIL_CONTROL_SOCKET", "/run/vigil/vigil.sock")
  state_dir      = env("VIGIL_STATE_DIR", "/var/lib/vigil")
}

virtual_server "web" {
  address    = "198.18.0.254:80"
  protocol   = "tcp"
  scheduler  = "wrr"
  forwarding = "nat"

  real_server "rs1" {
    address = "198.18.0.21:8080"
    weight  = 2
    check "http" {
      path          = "/healthz"
      expect_status = [200]
    }
  }

  real_server "rs2" {
    address = "198.18.0.22:8080"
    weight  = 1
    check "http" {
      path          = "/healthz"
      expect_status = [200]
    }
  }
}
