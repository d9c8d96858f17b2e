// Package link reports network interfaces going up and down (netlink link updates on
// Linux), for VRRP interface tracking.
package link
