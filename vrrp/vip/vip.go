// Package vip adds and removes a virtual router's addresses on an interface (netlink on
// Linux).
package vip

// Placement puts a virtual address on another interface than the router's (Dev), and
// gives an IPv4 address a label (ip addr ... label eth1:vip), which must begin with its
// interface's name.
type Placement struct {
	Dev, Label string
}
