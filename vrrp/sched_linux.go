package vrrp

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// SetNice sets the nice value of every thread of this process (Linux applies
// setpriority(PRIO_PROCESS) per thread; threads the Go runtime starts later inherit it
// from the thread that clones them). A negative value lets VRRP timers and adverts run
// ahead of CPU-bound neighbours: a late advert is a false failover. Process-wide: the
// caller (the daemon's main) decides.
func SetNice(nice int) error {
	return eachThread(fmt.Sprintf("set nice %d", nice), func(tid int) error {
		return unix.Setpriority(unix.PRIO_PROCESS, tid, nice)
	})
}

// SetRealtime moves every thread of this process to SCHED_RR at priority 1-99, as
// keepalived's vrrp_rt_priority does: the daemon then preempts every ordinary task, so
// CPU-bound neighbours cannot delay an advert. The kernel's RT throttling
// (sched_rt_runtime_us) still reserves CPU for the rest. Process-wide, like SetNice.
func SetRealtime(priority int) error {
	return eachThread(fmt.Sprintf("set SCHED_RR priority %d", priority), func(tid int) error {
		return unix.SchedSetAttr(tid, &unix.SchedAttr{Policy: unix.SCHED_RR, Priority: uint32(priority)}, 0)
	})
}

func eachThread(what string, fn func(tid int) error) error {
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return fmt.Errorf("%s: list threads: %w", what, err)
	}
	var errs []error
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		if err := fn(tid); err != nil && !errors.Is(err, unix.ESRCH) {
			errs = append(errs, fmt.Errorf("%s on thread %d: %w", what, tid, err))
		}
	}
	return errors.Join(errs...)
}
