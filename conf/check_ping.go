package conf

// PingCheck sends one ICMP (IPv4) or ICMPv6 echo request and passes on the matching echo
// reply, as keepalived's PING_CHECK. It has no attributes of its own: connect_address and
// source_address apply, a port does not.
type PingCheck struct{}
