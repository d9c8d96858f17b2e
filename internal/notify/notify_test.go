package notify

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/proc"
)

func sh(script string, timeout time.Duration) Command {
	return Command{Event: "test", Argv: []string{"/bin/sh", "-c", script}, Timeout: timeout}
}

func waitFile(t *testing.T, path, want string, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for time.Since(start) < within {
		b, _ := os.ReadFile(path)
		if string(b) == want {
			return time.Since(start)
		}
		time.Sleep(5 * time.Millisecond)
	}
	b, _ := os.ReadFile(path)
	t.Fatalf("%s holds %q after %s, want %q", path, b, within, want)
	return 0
}

// TestOrderPerSubject: one subject's commands (real processes) run one at a time in the
// order they were queued, even when the first ones take longer.
func TestOrderPerSubject(t *testing.T) {
	r := New(Options{})
	defer r.Close(context.Background())
	out := filepath.Join(t.TempDir(), "order")
	for i, d := range []string{"0.2", "0.1", "0"} {
		n := string(rune('1' + i))
		// Each writes "N<" on start and "N>" on exit: overlapping runs would interleave.
		r.Enqueue("rs1", sh("printf '"+n+"<' >> "+out+"; sleep "+d+"; printf '"+n+">' >> "+out, 10*time.Second))
	}
	waitFile(t, out, "1<1>2<2>3<3>", 20*time.Second)
}

// TestHangDelaysOnlyItsSubject: a command that hangs is killed at its timeout; it delays
// the next command of its own subject by that much and another subject's not at all, and
// Enqueue returns at once.
func TestHangDelaysOnlyItsSubject(t *testing.T) {
	r := New(Options{})
	defer r.Close(context.Background())
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	start := time.Now()
	r.Enqueue("rs1", sh("sleep 60", 2*time.Second))
	r.Enqueue("rs1", sh("printf next > "+a, 10*time.Second))
	r.Enqueue("rs2", sh("printf other > "+b, 10*time.Second))
	if took := time.Since(start); took > time.Second {
		t.Errorf("Enqueue took %s: it must not wait for a command", took)
	}
	if took := waitFile(t, b, "other", 20*time.Second); took > 1500*time.Millisecond {
		t.Errorf("another subject's command waited %s for the hung one", took)
	}
	took := waitFile(t, a, "next", 30*time.Second)
	// 2 s timeout, then SIGTERM ends sleep; well below sleep's 60 s either way.
	if took < 1500*time.Millisecond || took > 15*time.Second {
		t.Errorf("the next command of the hung one's subject ran after %s, want about its 2s timeout", took)
	}
}

// TestEnvironment: a command gets the environment it is given and PATH, not vigil's own
// (which may hold secrets read with env()).
func TestEnvironment(t *testing.T) {
	t.Setenv("VIGIL_TEST_SECRET", "s3cret")
	r := New(Options{})
	defer r.Close(context.Background())
	out := filepath.Join(t.TempDir(), "env")
	r.Enqueue("rs1", Command{Event: "notify_up", Argv: []string{"/bin/sh", "-c", "env > " + out + ".tmp; mv " + out + ".tmp " + out},
		Env: []string{"VIGIL_EVENT=notify_up"}, Timeout: 10 * time.Second})
	deadline := time.Now().Add(20 * time.Second)
	for {
		b, err := os.ReadFile(out)
		if err == nil {
			env := string(b)
			if !strings.Contains(env, "VIGIL_EVENT=notify_up") || !strings.Contains(env, proc.Path) || strings.Contains(env, "s3cret") {
				t.Errorf("environment:\n%s", env)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the command did not run")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestBoundedQueue: a subject that queues faster than its commands run keeps the newest
// MaxPending waiting commands and drops the oldest.
func TestBoundedQueue(t *testing.T) {
	release := make(chan struct{})
	var mu sync.Mutex
	var ran []string
	r := New(Options{Run: func(ctx context.Context, c proc.Command) proc.Result {
		mu.Lock()
		ran = append(ran, c.Argv[0])
		first := len(ran) == 1
		mu.Unlock()
		if first {
			<-release
		}
		return proc.Result{Started: true}
	}})
	r.Enqueue("rs1", Command{Argv: []string{"first"}})
	for {
		mu.Lock()
		n := len(ran)
		mu.Unlock()
		if n == 1 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	for i := range MaxPending + 3 {
		r.Enqueue("rs1", Command{Argv: []string{string(rune('a' + i))}})
	}
	if r.Dropped() != 3 {
		t.Errorf("dropped %d, want 3", r.Dropped())
	}
	close(release)
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := len(ran)
		mu.Unlock()
		if n == 1+MaxPending || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	r.Close(context.Background())
	mu.Lock()
	defer mu.Unlock()
	want := []string{"first"}
	for i := 3; i < MaxPending+3; i++ {
		want = append(want, string(rune('a'+i)))
	}
	if strings.Join(ran, " ") != strings.Join(want, " ") {
		t.Errorf("ran %v, want %v: the oldest waiting commands dropped, the newest kept in order", ran, want)
	}
}

// TestCloseKillsRunning: Close waits for a running command until its context ends, then
// kills it.
func TestCloseKillsRunning(t *testing.T) {
	r := New(Options{})
	r.Enqueue("rs1", sh("sleep 60", time.Minute))
	time.Sleep(200 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	r.Close(ctx)
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("Close took %s", took)
	}
	r.Enqueue("rs1", sh("true", time.Second)) // ignored after Close
}
