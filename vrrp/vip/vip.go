// Package vip adds and removes a virtual router's addresses on an interface (netlink on
// Linux).
package vip
