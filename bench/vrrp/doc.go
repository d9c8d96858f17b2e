// Package vrrpbench holds the VRRP failover and robustness benchmarks (Linux, root,
// GOFLAGS=-tags=bench VIGIL_BENCH=1); see failover_linux_test.go and docs/benchmarks.md (VRRP).
package vrrpbench
