package main

import "syscall"

// demoChildAttr puts a demo child in a process group of its own, and has the kernel send
// it SIGTERM when the demo dies, however it dies.
func demoChildAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}
