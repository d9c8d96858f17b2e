// Package e2e holds vigil's end-to-end tests: `vigil run` as an operator runs it, against
// Debian's kernel IPVS in a VM (internal/vmtest), real servers and clients in network
// namespaces (internal/netlab), and VRRP peers. It has no code of its own.
package e2e
