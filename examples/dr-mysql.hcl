# A DR MySQL/MariaDB cluster behind one VIP on port 3306, round robin.
# ipvsadm equivalent:
#   ipvsadm -A -t 198.18.0.254:3306 -s rr
#   ipvsadm -a -t 198.18.0.254:3306 -r 198.18.0.21:3306 -g
#   ipvsadm -a -t 198.18.0.254:3306 -r 198.18.0.22:3306 -g
# The password comes from the environment; the default keeps this example valid without it.

global {
  router_id = "lb-dr-mysql"
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
      query    = "SELECT 1"
      interval = "3s"
      timeout  = "2s"
    }
  }

  real_server "db2" {
    address = "198.18.0.22:3306"
    check "mysql" {
      user     = "monitor"
      password = env("VIGIL_MYSQL_PASSWORD", "monitor")
      query    = "SELECT 1"
      interval = "3s"
      timeout  = "2s"
    }
  }
}
