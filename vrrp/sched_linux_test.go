package vrrp_test

import (
	"os"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"

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
