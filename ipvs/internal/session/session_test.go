package session

import (
	"context"
	"errors"
	"sync"
	"syscall"
	"testing"
	"time"
)

// fake is a socket whose calls block until it is interrupted (or closed).
type fake struct {
	id        int
	mu        sync.Mutex
	woken     chan struct{}
	closed    bool
	noWake    bool // Interrupt fails, as on a test socket without deadlines
	interrupt int
}

var errWoken = errors.New("receive woken") // what a socket returns when interrupted

func (f *fake) block(ctx context.Context) error {
	select {
	case <-f.woken:
		return errWoken
	case <-time.After(time.Minute):
		return errors.New("never woken")
	}
}

type world struct {
	mu     sync.Mutex
	socks  []*fake
	noWake bool
	init   error
}

func (w *world) ops(dial bool) Ops[*fake] {
	o := Ops[*fake]{
		Name: "test socket",
		Init: func(context.Context, *fake) error { return w.init },
		Interrupt: func(f *fake) error {
			f.mu.Lock()
			defer f.mu.Unlock()
			if f.noWake {
				return errors.New("no deadlines")
			}
			f.interrupt++
			if f.interrupt == 1 {
				close(f.woken)
			}
			return nil
		},
		Close:    func(f *fake) error { f.mu.Lock(); f.closed = true; f.mu.Unlock(); return nil },
		Answered: func(err error) bool { var e syscall.Errno; return errors.As(err, &e) },
	}
	if dial {
		o.Dial = func() (*fake, error) { return w.newSock(), nil }
	}
	return o
}

func (w *world) newSock() *fake {
	w.mu.Lock()
	defer w.mu.Unlock()
	f := &fake{id: len(w.socks) + 1, woken: make(chan struct{}), noWake: w.noWake}
	w.socks = append(w.socks, f)
	return f
}

func (w *world) dialled() int { w.mu.Lock(); defer w.mu.Unlock(); return len(w.socks) }

// sockOf returns the socket the next call runs on.
func sockOf(t *testing.T, s *Session[*fake]) *fake {
	t.Helper()
	var got *fake
	if err := s.Do(context.Background(), func(f *fake) error { got = f; return nil }); err != nil {
		t.Fatal(err)
	}
	return got
}

func TestRecoveryRule(t *testing.T) {
	w := &world{}
	s := New(w.ops(true), 30*time.Millisecond, nil)
	ctx := context.Background()
	if err := s.Dial(ctx); err != nil {
		t.Fatal(err)
	}
	first := sockOf(t, s)

	// The kernel's errno is an answer: the socket stays.
	if err := s.Do(ctx, func(*fake) error { return syscall.EEXIST }); !errors.Is(err, syscall.EEXIST) {
		t.Fatalf("errno answer: %v", err)
	}
	if sockOf(t, s) != first || first.closed {
		t.Fatal("the socket was replaced after an errno answer")
	}

	// A call that hangs is interrupted at the timeout and its socket replaced.
	start := time.Now()
	err := s.Do(ctx, func(f *fake) error { return f.block(ctx) })
	if !errors.Is(err, context.DeadlineExceeded) || !Interrupted(err) {
		t.Fatalf("hung call: %v, want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("hung call returned after %v", d)
	}
	if !first.closed || s.Holding() {
		t.Fatal("the hung call's socket was kept")
	}
	second := sockOf(t, s)
	if second == first || w.dialled() != 2 {
		t.Fatalf("next call on socket %d, %d dialled; want a new one", second.id, w.dialled())
	}

	// Anything else that is not an answer (a reply out of step) replaces it too.
	if err := s.Do(ctx, func(*fake) error { return errors.New("wrong sequence") }); err == nil {
		t.Fatal("no error")
	}
	if !second.closed || sockOf(t, s) == second {
		t.Fatal("the socket was kept after a non-answer")
	}

	// Cancelling the caller's context ends a call at once.
	cctx, cancel := context.WithCancel(ctx)
	time.AfterFunc(10*time.Millisecond, cancel)
	s2 := New(w.ops(true), time.Minute, nil)
	if err := s2.Do(cctx, func(f *fake) error { return f.block(ctx) }); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled call: %v", err)
	}
	if err := s2.Do(cctx, func(*fake) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Fatalf("call with a done context: %v", err)
	}

	// After Close every call fails with Closed, without dialling.
	n := w.dialled()
	s.Close()
	if err := s.Do(ctx, func(*fake) error { return nil }); !errors.Is(err, s.ops.Closed) {
		t.Fatalf("after Close: %v", err)
	}
	if w.dialled() != n {
		t.Fatal("dialled after Close")
	}
}

// An interrupt that comes when the call already has its answer leaves the call's result,
// and a socket that cannot be used again.
func TestLateInterrupt(t *testing.T) {
	w := &world{}
	s := New(w.ops(true), 10*time.Millisecond, nil)
	ctx := context.Background()
	first := sockOf(t, s)
	err := s.Do(ctx, func(f *fake) error {
		<-f.woken // the interrupt came; the answer had arrived before it
		return nil
	})
	if err != nil {
		t.Fatalf("answered call: %v", err)
	}
	if !first.closed || sockOf(t, s) == first {
		t.Fatal("the interrupted socket was kept")
	}
}

// Without Dial (a socket handed in), a discard leaves the session closed; a socket that
// cannot be interrupted runs its calls to their end.
func TestAdopted(t *testing.T) {
	w := &world{noWake: true}
	s := New(w.ops(false), 10*time.Millisecond, nil)
	ctx := context.Background()
	f := w.newSock()
	if err := s.Adopt(ctx, f); err != nil {
		t.Fatal(err)
	}
	if err := s.Do(ctx, func(*fake) error { time.Sleep(30 * time.Millisecond); return nil }); err != nil {
		t.Fatalf("uninterruptible call: %v", err)
	}
	if err := s.Do(ctx, func(*fake) error { return errors.New("short reply") }); err == nil {
		t.Fatal("no error")
	}
	if err := s.Do(ctx, func(*fake) error { return nil }); !errors.Is(err, s.ops.Closed) {
		t.Fatalf("after a discard without Dial: %v", err)
	}

	// A socket that fails Init is closed and the error returned.
	w.init = errors.New("no family")
	g := w.newSock()
	if err := New(w.ops(false), time.Second, nil).Adopt(ctx, g); err == nil || !g.closed {
		t.Fatalf("Init failure: %v, closed %v", err, g.closed)
	}
}

// Calls are serialised: two goroutines never run on the socket at once.
func TestSerialised(t *testing.T) {
	w := &world{}
	s := New(w.ops(true), time.Second, nil)
	var inside, most int
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 50 {
				s.Do(context.Background(), func(*fake) error {
					mu.Lock()
					inside++
					most = max(most, inside)
					mu.Unlock()
					time.Sleep(10 * time.Microsecond)
					mu.Lock()
					inside--
					mu.Unlock()
					return nil
				})
			}
		})
	}
	wg.Wait()
	if most != 1 {
		t.Fatalf("%d calls ran at once", most)
	}
}
