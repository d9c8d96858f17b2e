package vrrp_test

import (
	"context"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vigil-lb/vigil/internal/clock"
	"github.com/vigil-lb/vigil/internal/testing/testenv"
	"github.com/vigil-lb/vigil/vrrp"
)

func TestSetNiceAllThreads(t *testing.T) {
	testenv.RequireRoot(t)
	old, err := unix.Getpriority(unix.PRIO_PROCESS, 0)
	if err != nil {
		t.Fatal(err)
	}
	oldNice := 20 - old // the raw syscall returns 20 - nice
	t.Cleanup(func() { vrrp.SetNice(oldNice) })
	if err := vrrp.SetNice(-5); err != nil {
		t.Fatal(err)
	}
	tasks, _ := os.ReadDir("/proc/self/task")
	for _, task := range tasks {
		tid, _ := strconv.Atoi(task.Name())
		p, err := unix.Getpriority(unix.PRIO_PROCESS, tid)
		if err != nil {
			continue // thread gone
		}
		if nice := 20 - p; nice != -5 {
			t.Errorf("thread %d nice %d, want -5", tid, nice)
		}
	}
}

func TestSetRealtime(t *testing.T) {
	testenv.RequireRoot(t)
	if err := vrrp.SetRealtime(10); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		tasks, _ := os.ReadDir("/proc/self/task")
		for _, task := range tasks {
			tid, _ := strconv.Atoi(task.Name())
			unix.SchedSetAttr(tid, &unix.SchedAttr{Policy: 0}, 0) // back to SCHED_OTHER
		}
	})
	a, err := unix.SchedGetAttr(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if a.Policy != unix.SCHED_RR || a.Priority != 10 {
		t.Errorf("policy %d priority %d, want SCHED_RR 10", a.Policy, a.Priority)
	}
}

// rtGuard starts a RealtimeGuard for the test and undoes it: every thread back to
// SCHED_OTHER, RLIMIT_RTTIME as it was.
func rtGuard(t *testing.T, g *vrrp.RealtimeGuard) *testenv.Buffer {
	t.Helper()
	testenv.RequireRoot(t)
	var saved unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_RTTIME, &saved); err != nil {
		t.Fatal(err)
	}
	logs := &testenv.Buffer{}
	g.Priority = 10
	g.Logger = slog.New(slog.NewTextHandler(logs, nil))
	ctx, cancel := context.WithCancel(context.Background())
	if err := g.Start(ctx); err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		time.Sleep(50 * time.Millisecond) // the guard's goroutine sees ctx end
		tasks, _ := os.ReadDir("/proc/self/task")
		for _, task := range tasks {
			tid, _ := strconv.Atoi(task.Name())
			unix.SchedSetAttr(tid, &unix.SchedAttr{Policy: 0}, 0)
		}
		unix.Setrlimit(unix.RLIMIT_RTTIME, &saved)
	})
	return logs
}

// policies counts this process's threads by scheduling policy.
func policies(t *testing.T) map[uint32]int {
	t.Helper()
	n := map[uint32]int{}
	tasks, _ := os.ReadDir("/proc/self/task")
	for _, task := range tasks {
		tid, _ := strconv.Atoi(task.Name())
		if a, err := unix.SchedGetAttr(tid, 0); err == nil {
			n[a.Policy]++
		}
	}
	return n
}

// TestRealtimeGuardLowersSpinner: a thread that spins at SCHED_RR (what stalled the VM
// tests' guest: ksoftirqd and RCU never ran on its CPU) is noticed by the kernel
// (RLIMIT_RTTIME, SIGXCPU) and every thread goes back to SCHED_OTHER, with an error in
// the log; after the cooldown they are raised again. Under plain SetRealtime the
// spinner keeps its CPU until it stops.
func TestRealtimeGuardLowersSpinner(t *testing.T) {
	logs := rtGuard(t, &vrrp.RealtimeGuard{MaxRun: 40 * time.Millisecond, Cooldown: 300 * time.Millisecond})
	// An ordinary goroutine (not locked to its thread: a locked one whose goroutine
	// is preempted sleeps until it is handed back, and sleeping restarts the count).
	var stop atomic.Bool
	defer stop.Store(true)
	go func() {
		for !stop.Load() {
		}
	}()
	start := time.Now()
	for policies(t)[unix.SCHED_RR] != 0 {
		if time.Since(start) > 5*time.Second {
			var l unix.Rlimit
			unix.Getrlimit(unix.RLIMIT_RTTIME, &l)
			t.Fatalf("a goroutine spun 5 s at SCHED_RR and its threads stayed there (RLIMIT_RTTIME %v; policies %v)\n%s", l, policies(t), logs.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	d := time.Since(start)
	stop.Store(true)
	t.Logf("threads lowered %s after the spinner started", d.Round(time.Millisecond))
	for !strings.Contains(logs.String(), "back to SCHED_OTHER") && time.Since(start) < 5*time.Second {
		time.Sleep(5 * time.Millisecond)
	}
	if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "back to SCHED_OTHER") {
		t.Errorf("the guard did not log an error:\n%s", logs.String())
	}
	deadline := time.Now().Add(5 * time.Second)
	for policies(t)[unix.SCHED_NORMAL] != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("threads not raised again after the cooldown: %v\n%s", policies(t), logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(logs.String(), "protected again") {
		t.Errorf("raising again is not logged:\n%s", logs.String())
	}
}

// TestRealtimeGuardCooldownOnClock: the cooldown after a SIGXCPU runs on the guard's
// clock: the threads stay at SCHED_OTHER until it has passed, however long that takes
// in real time, and are raised when it has.
func TestRealtimeGuardCooldownOnClock(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	logs := rtGuard(t, &vrrp.RealtimeGuard{Cooldown: 30 * time.Second, CheckEvery: time.Hour, Clock: clk})
	if n := policies(t)[unix.SCHED_NORMAL]; n != 0 {
		t.Fatalf("%d threads at SCHED_OTHER after Start", n)
	}
	// What the kernel sends when a thread passes RLIMIT_RTTIME's soft limit.
	if err := unix.Kill(os.Getpid(), unix.SIGXCPU); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "every thread lowered", func() bool { return policies(t)[unix.SCHED_RR] == 0 })
	waitFor(t, "the cooldown's timer", func() bool { return clk.Pending() >= 2 }) // the ticker and the cooldown
	clk.Advance(29 * time.Second)
	time.Sleep(50 * time.Millisecond) // a wrong guard would raise now
	if n := policies(t)[unix.SCHED_RR]; n != 0 {
		t.Fatalf("%d threads raised 29 s into a 30 s cooldown\n%s", n, logs.String())
	}
	clk.Advance(time.Second)
	waitFor(t, "every thread raised after the cooldown", func() bool { return policies(t)[unix.SCHED_NORMAL] == 0 })
	waitFor(t, "the log of raising again", func() bool { return strings.Contains(logs.String(), "protected again") })
}

// TestRealtimeGuardChildren: a child process (an exec check, a notify script) starts at
// SCHED_OTHER (SCHED_RESET_ON_FORK), so a script that loops cannot starve the host;
// under SetRealtime it inherited SCHED_RR.
func TestRealtimeGuardChildren(t *testing.T) {
	rtGuard(t, &vrrp.RealtimeGuard{})
	out, err := exec.Command("cat", "/proc/self/stat").Output()
	if err != nil {
		t.Fatal(err)
	}
	st, err := testenv.ParseProcStat(strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatal(err)
	}
	if st.Policy != 0 {
		t.Errorf("child's policy %d, want 0 (SCHED_OTHER)", st.Policy)
	}
}

// TestRealtimeGuardRaisesNewThreads: threads the Go runtime starts later (they start at
// SCHED_OTHER under SCHED_RESET_ON_FORK) are raised within CheckEvery.
func TestRealtimeGuardRaisesNewThreads(t *testing.T) {
	rtGuard(t, &vrrp.RealtimeGuard{CheckEvery: 50 * time.Millisecond})
	before := len(policies(t))
	stop := make(chan struct{})
	defer close(stop)
	for range 4 { // each locks a thread, so the runtime starts new ones
		go func() {
			runtime.LockOSThread()
			<-stop
		}()
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := policies(t)
		n := got[unix.SCHED_RR] + got[unix.SCHED_NORMAL]
		if n > before && got[unix.SCHED_NORMAL] == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("threads by policy %v (%d before)", got, before)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
