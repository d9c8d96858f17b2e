//go:build !linux

package checks

import (
	"errors"
	"time"
)

// probeLoop is Linux-only (loop_linux.go); elsewhere every probe runs in a goroutine.
type probeLoop struct{}

type loopTimer struct{}

func newProbeLoop(*Scheduler) (*probeLoop, error) { return nil, errors.ErrUnsupported }

func (*probeLoop) arm(*entry, time.Duration) Timer { panic("checks: no event loop on this platform") }

func (*probeLoop) close() {}
