package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vigil-lb/vigil/internal/testing/testenv"
)

// taskStat is one thread's /proc/PID/task/TID/stat, with the process it belongs to.
type taskStat struct {
	testenv.ProcStat
	pid int
}

func readTaskStat(path string) (taskStat, bool) {
	ps, err := testenv.ReadProcStat(path)
	return taskStat{ProcStat: ps}, err == nil
}

// allTasks reads every thread of every process.
func allTasks() map[int]taskStat {
	out := map[int]taskStat{}
	procs, _ := filepath.Glob("/proc/[0-9]*/task/[0-9]*/stat")
	for _, p := range procs {
		if ts, ok := readTaskStat(p); ok {
			ts.pid, _ = strconv.Atoi(strings.Split(p, "/")[2])
			out[ts.ID] = ts
		}
	}
	return out
}

func readFileString(p string) string {
	b, err := os.ReadFile(p)
	if err != nil {
		return err.Error()
	}
	return strings.TrimSpace(string(b))
}

// schedDump describes what runs on the guest's CPUs: RT settings, per-CPU time and
// softirq counts, and the threads that ran or were runnable in one second (utime/stime
// in clock ticks over that second), with the kernel stacks of vigil's threads and of the
// runnable ones; then it asks the kernel for a backtrace of every CPU (sysrq l).
func schedDump() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "sched_rt_runtime_us=%s sched_rt_period_us=%s\n",
		readFileString("/proc/sys/kernel/sched_rt_runtime_us"), readFileString("/proc/sys/kernel/sched_rt_period_us"))
	stat0, soft0 := readFileString("/proc/stat"), readFileString("/proc/softirqs")
	before := allTasks()
	time.Sleep(time.Second)
	after := allTasks()
	stat1, soft1 := readFileString("/proc/stat"), readFileString("/proc/softirqs")
	for _, l := range strings.Split(stat0, "\n") {
		if strings.HasPrefix(l, "cpu") {
			fmt.Fprintf(&sb, "t0 %s\n", l)
		}
	}
	for _, l := range strings.Split(stat1, "\n") {
		if strings.HasPrefix(l, "cpu") {
			fmt.Fprintf(&sb, "t1 %s\n", l)
		}
	}
	fmt.Fprintf(&sb, "softirqs t0:\n%s\nsoftirqs t1:\n%s\n", soft0, soft1)
	var tids []int
	for tid := range after {
		tids = append(tids, tid)
	}
	sort.Ints(tids)
	for _, tid := range tids {
		a := after[tid]
		b := before[tid]
		du, ds := a.UTime-b.UTime, a.STime-b.STime
		vig := a.Comm == "vigil"
		if !vig && du+ds == 0 && a.State != "R" && a.State != "D" {
			continue
		}
		fmt.Fprintf(&sb, "pid %d tid %d %-16s state %s cpu %d policy %d rtprio %d  +utime %d +stime %d (total %d/%d)\n",
			a.pid, tid, a.Comm, a.State, a.CPU, a.Policy, a.RTPriority, du, ds, a.UTime, a.STime)
		if vig || a.State == "R" || a.State == "D" {
			if st := readFileString(fmt.Sprintf("/proc/%d/task/%d/stack", a.pid, tid)); st != "" {
				for _, l := range strings.Split(st, "\n") {
					fmt.Fprintf(&sb, "    %s\n", l)
				}
			}
		}
	}
	os.WriteFile("/proc/sysrq-trigger", []byte("l"), 0)
	return sb.String()
}

// watchHang logs schedDump if stop is not called within after; if a thread named comm
// used more than 90% of a CPU during the dump's second, it also sends SIGQUIT to that
// process (a Go program prints its goroutines).
func watchHang(t *testing.T, after time.Duration, comm string) (stop func()) {
	done := make(chan struct{})
	fired := make(chan struct{})
	go func() {
		defer close(fired)
		select {
		case <-done:
			return
		case <-time.After(after):
		}
		before := allTasks()
		dump := schedDump()
		t.Logf("hang watch: %s not done after %s:\n%s", comm, after, dump)
		for tid, a := range allTasks() {
			b, ok := before[tid]
			// Ticks of 10 ms over the dump's second and a little more.
			if ok && a.Comm == comm && a.UTime+a.STime-b.UTime-b.STime >= 90 {
				t.Logf("hang watch: thread %d of %s spins: SIGQUIT", tid, comm)
				syscall.Kill(a.pid, syscall.SIGQUIT)
				return
			}
		}
	}()
	return func() {
		close(done)
		<-fired
	}
}

// policiesOf counts the threads of the processes named comm by scheduling policy.
func policiesOf(comm string) map[int]int {
	n := map[int]int{}
	for _, ts := range allTasks() {
		if ts.Comm == comm {
			n[ts.Policy]++
		}
	}
	return n
}

// othersRunOnEveryCPU fails t unless a SCHED_OTHER thread pinned to each CPU in turn
// gets that CPU: 20 sleeps of 10 ms each in at most 5 s. A real-time thread that keeps
// a CPU leaves it to no ordinary task, and none of the kernel's per-CPU threads either
// (ksoftirqd, RCU, workqueues): what hung the guest in CI.
func othersRunOnEveryCPU(t *testing.T, who string) {
	t.Helper()
	for cpu := range runtime.NumCPU() {
		done := make(chan time.Duration, 1)
		go func() {
			runtime.LockOSThread() // the thread ends with the goroutine: pinned for good
			var set unix.CPUSet
			set.Set(cpu)
			if err := unix.SchedSetaffinity(0, &set); err != nil {
				t.Errorf("pin to CPU %d: %v", cpu, err)
				done <- 0
				return
			}
			start := time.Now()
			ts := unix.NsecToTimespec(int64(10 * time.Millisecond))
			for range 20 {
				unix.Nanosleep(&ts, nil)
			}
			done <- time.Since(start)
		}()
		select {
		case d := <-done:
			if d > 5*time.Second {
				t.Errorf("while %s ran: 20 sleeps of 10 ms on CPU %d took %s: ordinary tasks barely get that CPU", who, cpu, d.Round(time.Millisecond))
			}
		case <-time.After(10 * time.Second):
			t.Errorf("while %s ran: an ordinary thread pinned to CPU %d did not get it in 10 s: the CPU is starved", who, cpu)
		}
	}
}
