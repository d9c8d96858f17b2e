package vrrp_test

import (
	"errors"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/clock"
	"github.com/vigil-lb/vigil/internal/testing/testenv"
	"github.com/vigil-lb/vigil/vrrp"
	"github.com/vigil-lb/vigil/vrrp/procevents"
)

// fakeProcs is a ProcessSource whose process table and event stream the test drives.
type fakeProcs struct {
	mu     sync.Mutex
	procs  map[int]procevents.Process
	scans  int
	events chan []procevents.Event
	errs   chan error
	noSub  bool
}

func newFakeProcs() *fakeProcs {
	return &fakeProcs{procs: map[int]procevents.Process{}, events: make(chan []procevents.Event), errs: make(chan error, 1)}
}

func (f *fakeProcs) Listen() (vrrp.ProcessEvents, error) {
	if f.noSub {
		return nil, errors.New("operation not permitted")
	}
	return f, nil
}

func (f *fakeProcs) Next() ([]procevents.Event, error) {
	select {
	case e := <-f.events:
		return e, nil
	case err := <-f.errs:
		return nil, err
	}
}

func (f *fakeProcs) Close() error { f.errs <- errors.New("closed"); return nil }

func (f *fakeProcs) Scan(bool) ([]procevents.Process, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.scans++
	var out []procevents.Process
	for _, p := range f.procs {
		out = append(out, p)
	}
	return out, nil
}

func (f *fakeProcs) Read(pid int, _ bool) (procevents.Process, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, ok := f.procs[pid]
	if !ok {
		return p, os.ErrNotExist
	}
	return p, nil
}

func (f *fakeProcs) set(pid int, comm string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if comm == "" {
		delete(f.procs, pid)
		return
	}
	f.procs[pid] = procevents.Process{Pid: pid, Comm: comm}
}

func (f *fakeProcs) scanCount() int { f.mu.Lock(); defer f.mu.Unlock(); return f.scans }

// Process events on the fake clock: the scan at start, exec, fork and exit, a lost
// batch answered by a rescan, and a delay that a restart within it never reaches.
func TestProcessTrackerEvents(t *testing.T) {
	src := newFakeProcs()
	src.set(10, "haproxy")
	src.set(11, "bash")
	clk := clock.NewFake(time.Unix(1000, 0))
	tr, err := vrrp.NewProcessTracker(vrrp.ProcessConfig{Name: "hap", Process: "haproxy", Quorum: 2, Delay: 2 * time.Second}, src, clk, nil)
	if err != nil {
		t.Fatal(err)
	}
	rep := runTracker(t, tr)
	waitFor(t, "first report", func() bool { return rep.last().Value == 0 })       // 1 of 2
	src.events <- []procevents.Event{{Kind: procevents.Fork, Pid: 12, Parent: 10}} // a worker: 2 of 2
	waitFor(t, "delay armed", func() bool { return clk.Pending() == 1 })
	clk.Advance(2 * time.Second)
	waitFor(t, "up after the delay", func() bool { return rep.last().Value == 1 })

	// The worker dies and is restarted within the delay: nothing reported.
	src.events <- []procevents.Event{{Kind: procevents.Exit, Pid: 12}}
	waitFor(t, "delay armed", func() bool { return clk.Pending() == 1 })
	clk.Advance(time.Second)
	src.set(13, "haproxy")
	src.events <- []procevents.Event{{Kind: procevents.Fork, Pid: 13, Parent: 11}, {Kind: procevents.Exec, Pid: 13}}
	waitFor(t, "delay disarmed", func() bool { return clk.Pending() == 0 })
	clk.Advance(5 * time.Second)
	time.Sleep(50 * time.Millisecond)
	if got := rep.values(); len(got) != 2 {
		t.Fatalf("reports %v: a restart within the delay was reported", got)
	}

	// Both go (one of them unseen: the kernel dropped its exit): down after the delay.
	src.set(10, "")
	src.set(13, "")
	src.events <- []procevents.Event{{Kind: procevents.Exit, Pid: 10}}
	waitFor(t, "delay armed", func() bool { return clk.Pending() == 1 })
	clk.Advance(2 * time.Second)
	waitFor(t, "down", func() bool { return rep.last().Value == 0 })
	scans := src.scanCount()
	src.set(20, "haproxy")
	src.set(21, "haproxy")
	src.errs <- procevents.ErrLost
	waitFor(t, "rescan", func() bool { return src.scanCount() > scans })
	waitFor(t, "delay armed", func() bool { return clk.Pending() == 1 })
	clk.Advance(2 * time.Second)
	waitFor(t, "up from the rescan", func() bool { return rep.last().Value == 1 })
}

// Without process events (no CAP_NET_ADMIN) the list is read every second.
func TestProcessTrackerPolls(t *testing.T) {
	src := newFakeProcs()
	src.noSub = true
	clk := clock.NewFake(time.Unix(1000, 0))
	tr, err := vrrp.NewProcessTracker(vrrp.ProcessConfig{Name: "hap", Process: "haproxy", Quorum: 1}, src, clk, nil)
	if err != nil {
		t.Fatal(err)
	}
	rep := runTracker(t, tr)
	waitFor(t, "down", func() bool { return rep.last().Value == 0 })
	src.set(5, "haproxy")
	waitFor(t, "poll timer", func() bool { return clk.Pending() == 1 })
	clk.Advance(vrrp.ProcessPollInterval)
	waitFor(t, "up from the poll", func() bool { return rep.last().Value == 1 })
}

// The real kernel: processes of a program of their own are counted from the proc
// connector, killed and restarted.
func TestProcessTrackerKernel(t *testing.T) {
	testenv.RequireRoot(t)
	bin := testenv.ProgramCopy(t, "/bin/sleep", "vigil-trk-test")
	tr, err := vrrp.NewProcessTracker(vrrp.ProcessConfig{Name: "t", Process: "vigil-trk-test", Args: []string{"1000"}, Quorum: 2}, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	rep := runTracker(t, tr)
	waitFor(t, "down at start", func() bool { return rep.last().Value == 0 })
	start := func(arg string) *exec.Cmd {
		c := exec.Command(bin, arg)
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Process.Kill(); c.Wait() })
		return c
	}
	a := start("1000")
	start("999") // other arguments: no match
	b2 := start("1000")
	waitFor(t, "up with two", func() bool { return rep.last().Value == 1 })
	a.Process.Kill()
	a.Wait()
	waitFor(t, "down after a kill", func() bool { return rep.last().Value == 0 })
	start("1000")
	waitFor(t, "up after the restart", func() bool { return rep.last().Value == 1 })
	_ = b2
}
