package vrrp

import (
	"log/slog"
	"time"

	"github.com/vigil-lb/vigil/internal/clock"
)

// RealtimeGuard runs every thread of this process at SCHED_RR, as SetRealtime, but only
// while no thread abuses it: a real-time thread that does not sleep takes its CPU from
// every ordinary task, and among those are the kernel's own per-CPU threads (ksoftirqd,
// which runs the network stack's softirqs once they are deferred to it, RCU, per-CPU
// workqueues). A VRRP daemon is idle nearly all the time; one that spins at real-time
// priority stalls the host (RCU stalls, a dead network stack) for as long as it spins.
//
// The guard is what keepalived does for its VRRP process, adapted to a Go process whose
// goroutines move between threads:
//
//   - SCHED_RESET_ON_FORK: exec checks, notify and track scripts start at SCHED_OTHER,
//     so a script that loops cannot starve the host; threads the Go runtime starts later
//     start at SCHED_OTHER too, and the guard raises them within CheckEvery;
//   - RLIMIT_RTTIME: the kernel counts, per thread, the CPU time used at real-time
//     priority since the thread last slept, and sends SIGXCPU when it passes MaxRun
//     (kernel/time/posix-cpu-timers.c, checked from the scheduler tick, so a spinning
//     thread cannot hide it). The guard then moves every thread back to SCHED_OTHER
//     for Cooldown, logs it, and raises them again. The hard limit, MaxRun + 10 s,
//     kills the process (SIGKILL) if the guard itself could not run for that long: a
//     restarted director is better than a host whose kernel threads never run.
type RealtimeGuard struct {
	Priority int
	// MaxRun is the CPU time a thread may use at real-time priority without sleeping;
	// default 250 ms (VRRP work takes microseconds; a reload of a very large
	// configuration about 0.4 s, which then runs at SCHED_OTHER).
	MaxRun time.Duration
	// Cooldown is how long every thread stays at SCHED_OTHER after MaxRun was passed;
	// default 30 s.
	Cooldown time.Duration
	// CheckEvery is how often threads started since are raised; default 1 s.
	CheckEvery time.Duration
	Logger     *slog.Logger
	// Clock runs CheckEvery and Cooldown; the system clock when nil.
	Clock clock.Clock
}
