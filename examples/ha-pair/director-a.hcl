# Director A of an HA pair (the other is director-b.hcl): a DR web cluster behind
# VIP 198.18.0.254, which VRRP v3 keeps on the director with the highest priority
# (A: 150, B: 100). Both directors run the same virtual server, so the one that holds the
# VIP balances. If A loses every web real server, it drops to 90 and B (100) takes over.

global {
  router_id = "director-a"
  # Where vigil drain, maint, ready and plan reach this daemon, and where it keeps its
  # state: the systemd unit's directories unless the environment names others (several
  # daemons on one host, as the examples' tests run them).
  control_socket = env("VIGIL_CONTROL_SOCKET", "/run/vigil/vigil.sock")
  state_dir      = env("VIGIL_STATE_DIR", "/var/lib/vigil")
}

vrrp_instance "VI_1" {
  interface           = "eth0"
  virtual_router_id   = 51
  priority            = 150
  version             = 3
  advert_interval     = "1s"
  preempt             = true
  virtual_ipaddresses = ["198.18.0.254/24"]

  track_virtual_server "web" {
    weight = -60
  }

  # The kernel's IPVS connection sync daemons follow this instance: master here while
  # master, backup otherwise (multicast 224.0.0.81:8848 on eth0, sync id 51 = the
  # virtual_router_id), so connections established through one director survive a
  # failover to the other.
  ipvs_sync {}
}

virtual_server "web" {
  address    = "198.18.0.254:80"
  protocol   = "tcp"
  scheduler  = "rr"
  forwarding = "dr"

  real_server "rs1" {
    address = "198.18.0.21"
    check "http" {
      path     = "/"
      interval = "2s"
      timeout  = "1s"
      rise     = 2
      fall     = 3
    }
  }

  real_server "rs2" {
    address = "198.18.0.22"
    check "http" {
      path     = "/"
      interval = "2s"
      timeout  = "1s"
      rise     = 2
      fall     = 3
    }
  }
}
