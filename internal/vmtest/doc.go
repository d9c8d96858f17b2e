// Package vmtest runs a package's Go tests inside Debian's kernel under qemu, reporting to
// go test on the host.
package vmtest
