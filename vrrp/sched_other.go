//go:build !linux

package vrrp

import (
	"context"
	"errors"
)

// SetNice is Linux-only.
func SetNice(nice int) error { return errors.New("set nice: only on Linux") }

// SetRealtime is Linux-only.
func SetRealtime(priority int) error { return errors.New("set SCHED_RR: only on Linux") }

// Start is Linux-only.
func (g *RealtimeGuard) Start(ctx context.Context) error {
	return errors.New("set SCHED_RR: only on Linux")
}
