// Package session is the one socket policy and recovery rule of vigil's kernel IPVS
// clients (ipvs/ipvsnl's generic-netlink socket and the moby/ipvs handle).
//
// The policy: calls on a socket are serialised, one request and its whole answer at a
// time, and each is bounded by the session's timeout and by its context; at the deadline,
// or when the context is done, the session interrupts the socket from another goroutine,
// which makes the blocked call return at once.
//
// The recovery rule: a call that ends without the kernel's whole answer (interrupted, the
// socket failed, a reply that did not belong to the request) closes the socket, because
// whatever the kernel still sends would be read as the answer to the next request; the
// next call dials a new one. An errno in the kernel's answer is an answer: the call
// returns it and the socket stays.
package session

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"
)

// Ops are what a Session needs to know about one kind of socket S.
type Ops[S any] struct {
	// Name names the socket in logs and errors ("IPVS netlink socket").
	Name string
	// Dial opens a new socket. Nil: the session has no way to open another socket, and
	// one it had to discard leaves it closed.
	Dial func() (S, error)
	// Init runs on every new socket, under the same deadline as a call (the family
	// lookup, a probe). An error closes the socket and is returned.
	Init func(ctx context.Context, s S) error
	// Interrupt makes a call blocked on s return at once; it runs on another goroutine
	// while the call is in progress. An error means s cannot be interrupted (a test fake):
	// the call then runs to its end.
	Interrupt func(s S) error
	// Close releases s.
	Close func(s S) error
	// Answered reports whether err, returned by a call, is the kernel's answer to the
	// request (an errno it sent back), after which the socket is still in step.
	Answered func(err error) bool
	// Closed is returned by every call after Close, and after a discard without Dial.
	Closed error
}

// Session holds at most one socket of kind S and runs calls on it under the policy.
type Session[S any] struct {
	ops     Ops[S]
	timeout time.Duration
	log     *slog.Logger

	mu     sync.Mutex
	sock   S
	open   bool // sock is a live socket
	closed bool
}

// New returns a session without a socket: the first call dials one (ops.Dial).
// timeout bounds every call; log (nil: discarded) receives a warning per discard.
func New[S any](ops Ops[S], timeout time.Duration, log *slog.Logger) *Session[S] {
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if ops.Closed == nil {
		ops.Closed = errors.New(ops.Name + " is closed")
	}
	return &Session[S]{ops: ops, timeout: timeout, log: log}
}

// Dial opens and initialises the session's socket now, so that a missing kernel family
// is an error at start-up rather than at the first call.
func (s *Session[S]) Dial(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return s.ops.Closed
	}
	if s.open {
		return nil
	}
	return s.dial(ctx)
}

// Adopt makes sock, already open, the session's socket and initialises it. On an error
// sock is closed.
func (s *Session[S]) Adopt(ctx context.Context, sock S) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.open {
		s.ops.Close(s.sock)
		s.open = false
	}
	return s.start(ctx, sock)
}

// dial opens a socket and starts it. s.mu is held.
func (s *Session[S]) dial(ctx context.Context) error {
	if s.ops.Dial == nil {
		return s.ops.Closed
	}
	sock, err := s.ops.Dial()
	if err != nil {
		return err
	}
	return s.start(ctx, sock)
}

// start initialises sock under the policy and makes it the socket. s.mu is held.
func (s *Session[S]) start(ctx context.Context, sock S) error {
	if s.ops.Init != nil {
		if err := s.bounded(ctx, sock, func(sock S) error { return s.ops.Init(ctx, sock) }); err != nil {
			s.ops.Close(sock)
			return err
		}
	}
	s.sock, s.open = sock, true
	return nil
}

// Close closes the socket; every later call returns ops.Closed.
func (s *Session[S]) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	if !s.open {
		return nil
	}
	s.open = false
	return s.ops.Close(s.sock)
}

// Do runs call on the socket, dialling one first if there is none, under the policy.
// The error is call's, or one that wraps context.DeadlineExceeded or the context's cause
// when the call was interrupted.
func (s *Session[S]) Do(ctx context.Context, call func(S) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return s.ops.Closed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if !s.open {
		if err := s.dial(ctx); err != nil {
			return err
		}
	}
	sock := s.sock
	err := s.bounded(ctx, sock, call)
	var late lateInterrupt
	switch {
	case err == nil:
		return nil
	case errors.As(err, &late):
		// The call had its whole answer when the interrupt came: it succeeded, but the
		// interrupted socket may not be used again.
		s.discard(sock, err)
		return nil
	case Interrupted(err):
		s.discard(sock, err)
	case !s.ops.Answered(err):
		s.discard(sock, err)
		return fmt.Errorf("%s failed, the next call opens a new one: %w", s.ops.Name, err)
	}
	return err
}

// discard closes sock after a call that did not end in step with the kernel. s.mu is held.
func (s *Session[S]) discard(sock S, cause error) {
	s.open = false
	s.ops.Close(sock)
	s.log.Warn(s.ops.Name+" discarded after an unfinished call; the next call opens a new one", "err", cause)
}

// lateInterrupt is an interrupt that came after the call had its whole answer.
type lateInterrupt struct{ errInterrupted }

// errInterrupted marks a call that the deadline or the context cut short.
type errInterrupted struct{ err error }

func (e errInterrupted) Error() string { return e.err.Error() }
func (e errInterrupted) Unwrap() error { return e.err }

// bounded runs call on sock within the timeout and ctx. A call cut short returns an
// errInterrupted (never Answered), whatever call itself returned.
func (s *Session[S]) bounded(ctx context.Context, sock S, call func(S) error) error {
	var (
		once        sync.Once
		interrupted bool
		byTimeout   bool
		done        = make(chan struct{})
	)
	interrupt := func(timeout bool) {
		once.Do(func() {
			interrupted, byTimeout = true, timeout
			s.ops.Interrupt(sock)
			close(done)
		})
	}
	timer := time.AfterFunc(s.timeout, func() { interrupt(true) })
	stop := context.AfterFunc(ctx, func() { interrupt(false) })
	err := call(sock)
	timerStopped, ctxStopped := timer.Stop(), stop()
	if !timerStopped || !ctxStopped {
		// One of them fired or is firing: wait until the interrupt is over, so that it
		// never lands on the next call.
		once.Do(func() { close(done) })
		<-done
	}
	if !interrupted {
		return err
	}
	var ie errInterrupted
	if byTimeout {
		ie = errInterrupted{fmt.Errorf("%s: call did not finish within %v: %w", s.ops.Name, s.timeout, context.DeadlineExceeded)}
	} else {
		ie = errInterrupted{fmt.Errorf("%s: call did not finish: %w", s.ops.Name, context.Cause(ctx))}
	}
	if err == nil {
		return lateInterrupt{ie}
	}
	return ie
}

// Interrupted reports whether err is a call that the deadline or the context cut short.
func Interrupted(err error) bool {
	var e errInterrupted
	return errors.As(err, &e)
}

// Holding reports whether the session holds a socket (none before the first call of a
// session that was not dialled, after a discard and after Close).
func (s *Session[S]) Holding() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.open
}
