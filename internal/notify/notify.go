// Package notify runs the commands events call for (a real server up or down, a virtual
// server's quorum gained or lost) one at a time per subject, in the order of the events,
// each through internal/proc and bounded by its timeout.
//
// Ordering: the commands of one subject never overlap and run in the order they were
// queued, so a quick down-then-up leaves a script's effect in the "up" state (keepalived
// runs its notify scripts concurrently and unordered, issue #996). Subjects are
// independent: a command that hangs delays the next command of its own subject by at
// most its timeout (then its process group is killed) and never delays another
// subject's, nor the caller: Enqueue only appends to a queue.
package notify

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/vigil-lb/vigil/internal/proc"
)

// MaxPending bounds the commands waiting per subject: a subject that flaps faster than its
// commands run loses its oldest waiting commands, never the newest, and says so.
const MaxPending = 16

// Command is one command to run for an event.
type Command struct {
	Event   string // what it is for, in logs: "notify_down", "quorum_up"
	Argv    []string
	Env     []string // the whole environment; proc.Path is added when it has no PATH
	User    *proc.User
	Timeout time.Duration
}

// Options configure a Runner. Every field is optional.
type Options struct {
	Logger *slog.Logger
	// Run runs one command; default proc.Run. Tests inject a recorder.
	Run func(ctx context.Context, c proc.Command) proc.Result
}

// Runner runs the queued commands of many subjects.
type Runner struct {
	log *slog.Logger
	run func(context.Context, proc.Command) proc.Result

	ctx    context.Context // cancelled by Close: running commands are killed
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	closed  bool
	queues  map[string][]Command // pending commands by subject
	running map[string]bool      // subjects with a goroutine working through their queue
	dropped uint64
}

// New returns an idle Runner.
func New(o Options) *Runner {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Run == nil {
		o.Run = proc.Run
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Runner{log: o.Logger, run: o.Run, ctx: ctx, cancel: cancel, queues: map[string][]Command{}, running: map[string]bool{}}
}

// Enqueue queues c to run after every command queued before it for subject. It never
// blocks on a command.
func (r *Runner) Enqueue(subject string, c Command) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed || len(c.Argv) == 0 {
		return
	}
	q := append(r.queues[subject], c)
	if len(q) > MaxPending {
		lost := q[0]
		q = q[1:]
		r.dropped++
		r.log.Warn("notify commands queue up faster than they run; the oldest waiting one is dropped",
			"subject", subject, "event", lost.Event, "command", lost.Argv[0], "dropped_total", r.dropped)
	}
	r.queues[subject] = q
	if !r.running[subject] {
		r.running[subject] = true
		r.wg.Add(1)
		go r.drain(subject)
	}
}

// drain runs subject's commands until its queue is empty.
func (r *Runner) drain(subject string) {
	defer r.wg.Done()
	for {
		r.mu.Lock()
		q := r.queues[subject]
		if len(q) == 0 || r.closed {
			delete(r.queues, subject)
			delete(r.running, subject)
			r.mu.Unlock()
			return
		}
		c := q[0]
		r.queues[subject] = q[1:]
		r.mu.Unlock()
		r.runOne(subject, c)
	}
}

func (r *Runner) runOne(subject string, c Command) {
	env := c.Env
	if !hasPath(env) {
		env = append([]string{proc.Path}, env...)
	}
	res := r.run(r.ctx, proc.Command{
		Argv:    c.Argv,
		Env:     env,
		User:    c.User,
		Timeout: c.Timeout,
		// A notify command may start a service and leave it running.
		KeepLeftovers: true,
	})
	attrs := []any{"subject", subject, "event", c.Event, "command", c.Argv[0], "took", res.Duration.Round(time.Millisecond)}
	if res.OK() {
		r.log.Info("notify command ran", attrs...)
		return
	}
	r.log.Warn("notify command failed", append(attrs, "result", res.Summary())...)
}

func hasPath(env []string) bool {
	for _, e := range env {
		if len(e) >= 5 && e[:5] == "PATH=" {
			return true
		}
	}
	return false
}

// Dropped counts the commands dropped because their subject's queue was full.
func (r *Runner) Dropped() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.dropped
}

// Close stops taking commands, drops the waiting ones, and waits for the running ones
// until ctx ends; then their process groups are killed. It returns when all are reaped.
func (r *Runner) Close(ctx context.Context) {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	done := make(chan struct{})
	go func() { r.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		r.cancel()
		<-done
	}
	r.cancel()
}
