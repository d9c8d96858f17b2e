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
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return fmt.Errorf("set nice %d: list threads: %w", nice, err)
	}
	var errs []error
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		if err := unix.Setpriority(unix.PRIO_PROCESS, tid, nice); err != nil && !errors.Is(err, unix.ESRCH) {
			errs = append(errs, fmt.Errorf("set nice %d on thread %d: %w", nice, tid, err))
		}
	}
	return errors.Join(errs...)
}
