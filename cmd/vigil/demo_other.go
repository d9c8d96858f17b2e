//go:build !linux

package main

import "syscall"

// demoChildAttr puts a demo child in a process group of its own. There is no
// parent-death signal outside Linux: a demo killed outright leaves its children, which
// the demo's own shutdown otherwise stops.
func demoChildAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
