//go:build !linux

package vrrp

import "errors"

// SetNice is Linux-only.
func SetNice(nice int) error { return errors.New("set nice: only on Linux") }

// SetRealtime is Linux-only.
func SetRealtime(priority int) error { return errors.New("set SCHED_RR: only on Linux") }
