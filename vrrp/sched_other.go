//go:build !linux

package vrrp

import "errors"

// SetNice is Linux-only.
func SetNice(nice int) error { return errors.New("set nice: only on Linux") }
