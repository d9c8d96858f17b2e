package procevents

import (
	"os/exec"
	"slices"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/testing/testenv"
)

// The real connector: a started program is seen as exec and its end as exit, and /proc
// reads its name and command line.
func TestListenSeesExecAndExit(t *testing.T) {
	testenv.RequireRoot(t)
	l, err := Listen()
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	evs := make(chan Event, 4096)
	go func() {
		for {
			batch, err := l.Next()
			if err != nil && err != ErrLost {
				close(evs)
				return
			}
			for _, e := range batch {
				evs <- e
			}
		}
	}()
	bin := testenv.ProgramCopy(t, "/bin/sleep", "vigil-procev-test")
	// The child sleeps until killed: on a loaded host it may take a while to exec, and
	// it must not have exited before it is read. The kernel sets comm during exec
	// before the new argv is readable in /proc/PID/cmdline: wait for both.
	cmd := exec.Command(bin, "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	var p Process
	for start := time.Now(); ; time.Sleep(10 * time.Millisecond) {
		p, err = Read("/proc", pid, true)
		if err == nil && p.Comm == "vigil-procev-te" && len(p.Argv) > 0 || time.Since(start) > 10*time.Second {
			break
		}
	}
	if err != nil || p.Comm != "vigil-procev-te" || !slices.Equal(p.Argv, []string{bin, "60"}) {
		t.Errorf("Read: %+v, %v; want comm vigil-procev-te (15 bytes), argv [%s 60]", p, err, bin)
	}
	if ps, err := Scan("/proc", false); err != nil || !slices.ContainsFunc(ps, func(q Process) bool { return q.Pid == pid }) {
		t.Errorf("Scan did not list pid %d: %v", pid, err)
	}
	cmd.Process.Kill()
	cmd.Wait()
	var sawExec, sawExit bool
	deadline := time.After(10 * time.Second)
	for !sawExec || !sawExit {
		select {
		case e, ok := <-evs:
			if !ok {
				t.Fatal("listener stopped")
			}
			sawExec = sawExec || e.Kind == Exec && e.Pid == pid
			sawExit = sawExit || e.Kind == Exit && e.Pid == pid
		case <-deadline:
			t.Fatalf("exec seen %v, exit seen %v for pid %d", sawExec, sawExit, pid)
		}
	}
}
