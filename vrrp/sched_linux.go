package vrrp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vigil-lb/vigil/internal/clock"
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
// CPU-bound neighbours cannot delay an advert. Threads started later inherit it, and so
// do child processes. Nothing bounds it but the kernel's RT throttling
// (sched_rt_runtime_us), which a spinning thread can still use up: the daemon runs
// RealtimeGuard instead. Process-wide, like SetNice.
func SetRealtime(priority int) error {
	return eachThread(fmt.Sprintf("set SCHED_RR priority %d", priority), func(tid int) error {
		return unix.SchedSetAttr(tid, &unix.SchedAttr{Policy: unix.SCHED_RR, Priority: uint32(priority)}, 0)
	})
}

// Start raises every thread and sets the RLIMIT_RTTIME limits, then guards in the
// background until ctx ends. An error means the process stays at SCHED_OTHER.
func (g *RealtimeGuard) Start(ctx context.Context) error {
	if g.MaxRun <= 0 {
		g.MaxRun = 250 * time.Millisecond
	}
	if g.Cooldown <= 0 {
		g.Cooldown = 30 * time.Second
	}
	if g.CheckEvery <= 0 {
		g.CheckEvery = time.Second
	}
	if g.Logger == nil {
		g.Logger = slog.Default()
	}
	// RLIMIT_RTTIME first: no thread runs at real-time priority unbounded.
	if err := g.setRTTime(); err != nil {
		return err
	}
	// Before raising: SIGXCPU is ignored by Go unless notified (runtime/sigtab), and the
	// first one may come at once.
	xcpu := make(chan os.Signal, 1)
	signal.Notify(xcpu, unix.SIGXCPU)
	if err := g.raise(); err != nil {
		signal.Stop(xcpu)
		g.lower()
		return err
	}
	if rt, err := os.ReadFile("/proc/sys/kernel/sched_rt_runtime_us"); err == nil && strings.TrimSpace(string(rt)) == "-1" {
		g.Logger.Warn("the kernel's RT throttling is off (kernel.sched_rt_runtime_us = -1): only vigil's own guard bounds its real-time CPU time",
			"max_run", g.MaxRun.String())
	}
	go g.run(ctx, xcpu)
	return nil
}

func (g *RealtimeGuard) run(ctx context.Context, xcpu chan os.Signal) {
	defer signal.Stop(xcpu)
	clk := clock.OrSystem(g.Clock)
	tick := clk.NewTicker(g.CheckEvery)
	defer tick.Stop()
	var cooldown clock.Timer // while lowered: when to raise again
	var back <-chan time.Time
	defer func() {
		if cooldown != nil {
			cooldown.Stop()
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case <-xcpu:
			if back != nil {
				continue // already lowered
			}
			err := g.lower()
			g.Logger.Error("a thread ran at real-time priority without sleeping for longer than allowed: every thread back to SCHED_OTHER so that the kernel's own threads get the CPU",
				"max_run", g.MaxRun.String(), "for", g.Cooldown.String(), "err", err)
			cooldown = clk.NewTimer(g.Cooldown)
			back = cooldown.C()
		case <-back:
			back, cooldown = nil, nil
			err := g.setRTTime()
			if err == nil {
				err = g.raise()
			}
			if err != nil {
				g.Logger.Warn("cannot raise to real-time priority again; VRRP may fail over spuriously when the CPU is starved", "err", err)
			} else {
				g.Logger.Info("VRRP timing protected again: running at SCHED_RR", "priority", g.Priority)
			}
		case <-tick.C():
			if back == nil {
				g.raiseNew()
			}
		}
	}
}

// setRTTime sets RLIMIT_RTTIME to MaxRun (soft, SIGXCPU) and MaxRun + 10 s (hard,
// SIGKILL), or lower where the hard limit already is (raising it needs
// CAP_SYS_RESOURCE); the kernel moves the soft limit up by a second at each SIGXCPU.
func (g *RealtimeGuard) setRTTime() error {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_RTTIME, &lim); err != nil {
		return fmt.Errorf("get RLIMIT_RTTIME: %w", err)
	}
	us := uint64(g.MaxRun / time.Microsecond)
	lim.Max = min(lim.Max, us+uint64(10*time.Second/time.Microsecond))
	lim.Cur = min(us, lim.Max)
	if err := unix.Setrlimit(unix.RLIMIT_RTTIME, &lim); err != nil {
		return fmt.Errorf("set RLIMIT_RTTIME %s: %w", g.MaxRun, err)
	}
	return nil
}

func (g *RealtimeGuard) attr() *unix.SchedAttr {
	return &unix.SchedAttr{Policy: unix.SCHED_RR, Priority: uint32(g.Priority), Flags: unix.SCHED_FLAG_RESET_ON_FORK}
}

// raise raises every thread, listing them again until a pass finds none it has not
// raised: a thread started during a pass by one not yet raised would otherwise stay at
// SCHED_OTHER (SetRealtime left one so in 3 of 40 starts of a test program).
func (g *RealtimeGuard) raise() error {
	done := map[int]bool{}
	for range 10 {
		fresh := false
		err := eachThread(fmt.Sprintf("set SCHED_RR priority %d", g.Priority), func(tid int) error {
			if done[tid] {
				return nil
			}
			done[tid], fresh = true, true
			return unix.SchedSetAttr(tid, g.attr(), 0)
		})
		if err != nil || !fresh {
			return err
		}
	}
	return nil
}

// raiseNew raises the threads that are not at real-time priority: those started since
// (SCHED_RESET_ON_FORK starts them at SCHED_OTHER).
func (g *RealtimeGuard) raiseNew() {
	eachThread("raise new threads", func(tid int) error {
		if a, err := unix.SchedGetAttr(tid, 0); err != nil || a.Policy == unix.SCHED_RR {
			return err
		}
		return unix.SchedSetAttr(tid, g.attr(), 0)
	})
}

// lower moves every thread to SCHED_OTHER, keeping SCHED_RESET_ON_FORK: without
// CAP_SYS_NICE (systemd's LimitRTPRIO=10) a thread may not clear it.
func (g *RealtimeGuard) lower() error {
	return eachThread("set SCHED_OTHER", func(tid int) error {
		return unix.SchedSetAttr(tid, &unix.SchedAttr{Policy: unix.SCHED_NORMAL, Flags: unix.SCHED_FLAG_RESET_ON_FORK}, 0)
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
