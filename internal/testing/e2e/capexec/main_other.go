//go:build !linux

package main

import (
	"fmt"
	"os"
)

// Capabilities, no_new_privs and the unit emulation are Linux's.
func main() {
	fmt.Fprintln(os.Stderr, "capexec: Linux only")
	os.Exit(1)
}
