# vigil configuration written by `vigil import` from keepalived's configuration:
#   testdata/corpus/keepalived/keepalived.conf.vrrp.localcheck
# read for config-id "lb1" (keepalived -i)
# Each block follows a comment naming the keepalived file:line it comes from; a comment
# "FILE:LINE: keyword: ..." says what vigil does instead of keepalived there.

# testdata/corpus/keepalived/keepalived.conf.vrrp.localcheck:11
vrrp_script "chk_sshd" {
  command = ["killall", "-0", "sshd"]
  # testdata/corpus/keepalived/keepalived.conf.vrrp.localcheck:12: script: keepalived runs scripts as the user keepalived_script when it exists, else as root; vigil runs them as its own user (root in the shipped unit) unless a user is set
  interval = "2s"
  weight   = -4
  fall     = 2
  rise     = 2
}

# testdata/corpus/keepalived/keepalived.conf.vrrp.localcheck:19
vrrp_script "chk_haproxy" {
  command  = ["killall", "-0", "haproxy"]
  interval = "2s"
}

# testdata/corpus/keepalived/keepalived.conf.vrrp.localcheck:24
vrrp_script "chk_http_port" {
  command  = ["</dev/tcp/127.0.0.1/80"]
  interval = "1s"
  weight   = -2
}

# testdata/corpus/keepalived/keepalived.conf.vrrp.localcheck:30
vrrp_script "chk_https_port" {
  command  = ["</dev/tcp/127.0.0.1/443"]
  interval = "1s"
  weight   = -2
}

# testdata/corpus/keepalived/keepalived.conf.vrrp.localcheck:36
vrrp_script "chk_smtp_port" {
  command  = ["</dev/tcp/127.0.0.1/25"]
  interval = "1s"
  weight   = -2
}

# testdata/corpus/keepalived/keepalived.conf.vrrp.localcheck:42
vrrp_instance "VI_1" {
  interface = "eth0"
  # testdata/corpus/keepalived/keepalived.conf.vrrp.localcheck:44: state: not carried over: vigil has no initial state: every instance starts as backup and the highest priority becomes master (keepalived's state MASTER only skips the first wait). Give the intended master the higher priority.
  virtual_router_id = 51
  priority          = 100
  # keepalived's default VRRP version is 2 (vigil's is 3)
  version             = 2
  virtual_ipaddresses = ["192.168.200.18/25"]
  # testdata/corpus/keepalived/keepalived.conf.vrrp.localcheck:51
  track_interface "eth1" {
    weight = 2
  }
  # testdata/corpus/keepalived/keepalived.conf.vrrp.localcheck:52
  track_interface "eth2" {
    weight = -2
  }
  # testdata/corpus/keepalived/keepalived.conf.vrrp.localcheck:53
  track_interface "eth3" {
  }
  # testdata/corpus/keepalived/keepalived.conf.vrrp.localcheck:56
  track_script "chk_sshd" {
  }
  # testdata/corpus/keepalived/keepalived.conf.vrrp.localcheck:57
  track_script "chk_haproxy" {
    weight = 2
  }
  # testdata/corpus/keepalived/keepalived.conf.vrrp.localcheck:58
  track_script "chk_http_port" {
  }
  # testdata/corpus/keepalived/keepalived.conf.vrrp.localcheck:59
  track_script "chk_https_port" {
  }
  # testdata/corpus/keepalived/keepalived.conf.vrrp.localcheck:60
  track_script "chk_smtp_port" {
  }
}

# testdata/corpus/keepalived/keepalived.conf.vrrp.localcheck:64
vrrp_instance "VI_2" {
  interface = "eth1"
  # testdata/corpus/keepalived/keepalived.conf.vrrp.localcheck:66: state: not carried over: vigil has no initial state: every instance starts as backup and the highest priority becomes master (keepalived's state MASTER only skips the first wait). Give the intended master the higher priority.
  virtual_router_id = 52
  priority          = 100
  # keepalived's default VRRP version is 2 (vigil's is 3)
  version             = 2
  virtual_ipaddresses = ["192.168.201.18/26"]
  # testdata/corpus/keepalived/keepalived.conf.vrrp.localcheck:73
  track_interface "eth0" {
    weight = 2
  }
  # testdata/corpus/keepalived/keepalived.conf.vrrp.localcheck:74
  track_interface "eth2" {
    weight = -2
  }
  # testdata/corpus/keepalived/keepalived.conf.vrrp.localcheck:75
  track_interface "eth3" {
  }
  # testdata/corpus/keepalived/keepalived.conf.vrrp.localcheck:78
  track_script "chk_haproxy" {
    weight = 2
  }
  # testdata/corpus/keepalived/keepalived.conf.vrrp.localcheck:79
  track_script "chk_http_port" {
  }
  # testdata/corpus/keepalived/keepalived.conf.vrrp.localcheck:80
  track_script "chk_https_port" {
  }
  # testdata/corpus/keepalived/keepalived.conf.vrrp.localcheck:81
  track_script "chk_smtp_port" {
  }
}

# testdata/corpus/keepalived/keepalived.conf.vrrp.localcheck:85
vrrp_instance "VI_3" {
  interface         = "eth0"
  virtual_router_id = 53
  priority          = 100
  # keepalived's default VRRP version is 2 (vigil's is 3)
  version             = 2
  virtual_ipaddresses = ["192.168.200.19/27"]
}

# testdata/corpus/keepalived/keepalived.conf.vrrp.localcheck:94
vrrp_instance "VI_4" {
  interface         = "eth1"
  virtual_router_id = 54
  priority          = 100
  # keepalived's default VRRP version is 2 (vigil's is 3)
  version             = 2
  virtual_ipaddresses = ["192.168.201.19/28"]
}

# testdata/corpus/keepalived/keepalived.conf.vrrp.localcheck:103
vrrp_instance "VI_5" {
  # testdata/corpus/keepalived/keepalived.conf.vrrp.localcheck:104: state: not carried over: vigil has no initial state: every instance starts as backup and the highest priority becomes master (keepalived's state MASTER only skips the first wait). Give the intended master the higher priority.
  interface         = "eth0"
  virtual_router_id = 55
  priority          = 100
  # keepalived's default VRRP version is 2 (vigil's is 3)
  version             = 2
  virtual_ipaddresses = ["192.168.200.20/27"]
}

# testdata/corpus/keepalived/keepalived.conf.vrrp.localcheck:114
vrrp_instance "VI_6" {
  # testdata/corpus/keepalived/keepalived.conf.vrrp.localcheck:115: state: not carried over: vigil has no initial state: every instance starts as backup and the highest priority becomes master (keepalived's state MASTER only skips the first wait). Give the intended master the higher priority.
  interface         = "eth0"
  virtual_router_id = 56
  priority          = 100
  # keepalived's default VRRP version is 2 (vigil's is 3)
  version             = 2
  virtual_ipaddresses = ["192.168.200.21/27"]
}

# testdata/corpus/keepalived/keepalived.conf.vrrp.localcheck:124
vrrp_instance "VI_7" {
  # testdata/corpus/keepalived/keepalived.conf.vrrp.localcheck:125: state: not carried over: vigil has no initial state: every instance starts as backup and the highest priority becomes master (keepalived's state MASTER only skips the first wait). Give the intended master the higher priority.
  interface         = "eth0"
  virtual_router_id = 57
  priority          = 100
  # keepalived's default VRRP version is 2 (vigil's is 3)
  version             = 2
  virtual_ipaddresses = ["192.168.200.22/27"]
}

# testdata/corpus/keepalived/keepalived.conf.vrrp.localcheck:134
vrrp_instance "VI_8" {
  # testdata/corpus/keepalived/keepalived.conf.vrrp.localcheck:135: state: not carried over: vigil has no initial state: every instance starts as backup and the highest priority becomes master (keepalived's state MASTER only skips the first wait). Give the intended master the higher priority.
  interface         = "eth0"
  virtual_router_id = 58
  priority          = 100
  # keepalived's default VRRP version is 2 (vigil's is 3)
  version             = 2
  virtual_ipaddresses = ["192.168.200.23/27"]
}

# testdata/corpus/keepalived/keepalived.conf.vrrp.localcheck:144
vrrp_instance "VI_9" {
  # testdata/corpus/keepalived/keepalived.conf.vrrp.localcheck:145: state: not carried over: vigil has no initial state: every instance starts as backup and the highest priority becomes master (keepalived's state MASTER only skips the first wait). Give the intended master the higher priority.
  interface         = "eth0"
  virtual_router_id = 59
  priority          = 100
  # keepalived's default VRRP version is 2 (vigil's is 3)
  version             = 2
  virtual_ipaddresses = ["192.168.200.24/27"]
}
