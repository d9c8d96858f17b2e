//go:build !linux

package userspace

// dataPathsFor lists the data paths of this system beyond the goroutine path: none (the
// event loops are Linux's).
func dataPathsFor(Options) []dataPath { return nil }
