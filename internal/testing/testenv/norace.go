//go:build !race

package testenv

// Race is true when the race detector is on: tests that measure or scale skip their
// large cases, which take minutes under it.
const Race = false
