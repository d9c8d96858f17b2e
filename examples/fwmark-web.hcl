# HTTP and HTTPS as one firewall-mark service with 300 s persistence, so a client's plain
# and TLS connections land on the same real server. Mark the packets first, with nftables:
#   nft add table ip vigil
#   nft 'add chain ip vigil pre { type filter hook prerouting priority mangle; }'
#   nft 'add rule ip vigil pre ip daddr 198.18.0.254 tcp dport { 80, 443 } meta mark set 6666'
# or with iptables:
#   iptables -t mangle -A PREROUTING -d 198.18.0.254 -p tcp -m multiport --dports 80,443 -j MARK --set-mark 6666
# ipvsadm equivalent:
#   ipvsadm -A -f 6666 -s rr -p 300
#   ipvsadm -a -f 6666 -r 198.18.0.21 -g
#   ipvsadm -a -f 6666 -r 198.18.0.22 -g

global {
  router_id = "lb-fwmark-web"
  # Where vigil drain, maint, ready and plan reach this daemon, and where it keeps its
  # state: the systemd unit's directories unless the environment names others (several
  # daemons on one host, as the examples' tests run them).
  control_socket = env("VIGIL_CONTROL_SOCKET", "/run/vigil/vigil.sock")
  state_dir      = env("VIGIL_STATE_DIR", "/var/lib/vigil")
}

virtual_server "web" {
  fwmark     = 6666
  protocol   = "tcp"
  scheduler  = "rr"
  forwarding = "dr"

  persistence {
    timeout = "300s"
  }

  real_server "rs1" {
    address = "198.18.0.21"
    check "http" {
      connect_port = 80
    }
    check "https" {
      connect_port    = 443
      tls_skip_verify = true
    }
  }

  real_server "rs2" {
    address = "198.18.0.22"
    check "http" {
      connect_port = 80
    }
    check "https" {
      connect_port    = 443
      tls_skip_verify = true
    }
  }
}
