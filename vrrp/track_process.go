package vrrp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/vigil-lb/vigil/internal/clock"
	"github.com/vigil-lb/vigil/vrrp/procevents"
)

// ProcessConfig is a track_process: up while at least Quorum processes match.
type ProcessConfig struct {
	Name string
	// Process is the process name as ps -o comm shows it (the kernel keeps the first 15
	// bytes of the program's file name), or, when it holds a '/', the first word of the
	// command line (argv[0]).
	Process string
	// Args, when not nil, must equal the rest of the command line exactly.
	Args   []string
	Quorum int
	// Delay is how long a change must last before it is reported (keepalived's delay:
	// fork_delay and terminate_delay together), so that a process restarted at once by
	// its supervisor does not move the VIP.
	Delay time.Duration
}

// ProcessSource is the kernel boundary of process tracking; procevents is the real one.
type ProcessSource interface {
	// Listen subscribes to process events.
	Listen() (ProcessEvents, error)
	// Scan lists the running processes, Read one (argv: with its command line).
	Scan(argv bool) ([]procevents.Process, error)
	Read(pid int, argv bool) (procevents.Process, error)
}

// ProcessEvents delivers process events; Close makes a blocked Next return.
type ProcessEvents interface {
	Next() ([]procevents.Event, error)
	Close() error
}

// KernelProcesses is the real ProcessSource: the proc connector and /proc.
type KernelProcesses struct{}

func (KernelProcesses) Listen() (ProcessEvents, error) {
	l, err := procevents.Listen()
	if err != nil {
		return nil, err
	}
	return l, nil
}

func (KernelProcesses) Scan(argv bool) ([]procevents.Process, error) {
	return procevents.Scan("/proc", argv)
}

func (KernelProcesses) Read(pid int, argv bool) (procevents.Process, error) {
	return procevents.Read("/proc", pid, argv)
}

// ProcessPollInterval is how often the process list is read again when process events
// are not available (no CAP_NET_ADMIN, no way into the initial network namespace).
const ProcessPollInterval = time.Second

// ProcessTracker tracks a process quorum from the kernel's process events (as
// keepalived does), with a scan of /proc at start and after the kernel dropped events.
type ProcessTracker struct {
	cfg   ProcessConfig
	src   ProcessSource
	clock clock.Clock
	log   *slog.Logger
}

// NewProcessTracker checks cfg; src, clock and log may be nil (the kernel, the system
// clock, slog.Default).
func NewProcessTracker(cfg ProcessConfig, src ProcessSource, clk clock.Clock, log *slog.Logger) (*ProcessTracker, error) {
	var errs []error
	if cfg.Process == "" {
		errs = append(errs, errors.New("no process name"))
	}
	if cfg.Quorum < 1 {
		errs = append(errs, fmt.Errorf("quorum %d: must be at least 1", cfg.Quorum))
	}
	if cfg.Delay < 0 {
		errs = append(errs, fmt.Errorf("delay %s: must not be negative", cfg.Delay))
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("track_process %q: %w", cfg.Name, errors.Join(errs...))
	}
	if src == nil {
		src = KernelProcesses{}
	}
	clk = clock.OrSystem(clk)
	if log == nil {
		log = slog.Default()
	}
	return &ProcessTracker{cfg: cfg, src: src, clock: clk, log: log.With("track_process", cfg.Name)}, nil
}

// needArgv: the match reads the command line, not only the name.
func (c ProcessConfig) needArgv() bool { return c.Args != nil || strings.Contains(c.Process, "/") }

func (c ProcessConfig) matches(p procevents.Process) bool {
	if strings.Contains(c.Process, "/") {
		if len(p.Argv) == 0 || p.Argv[0] != c.Process {
			return false
		}
	} else if name := c.Process; p.Comm != name[:min(len(name), 15)] {
		return false
	}
	if c.Args == nil {
		return true
	}
	return len(p.Argv) > 0 && slices.Equal(p.Argv[1:], c.Args)
}

// Run reports the quorum's state at once (after the scan) and then each change that
// lasted Delay.
func (p *ProcessTracker) Run(ctx context.Context, report func(TrackReport)) {
	events := make(chan []procevents.Event, 16)
	lost := make(chan struct{}, 1)
	failed := make(chan error, 1)
	var poll clock.Timer
	defer func() {
		if poll != nil {
			poll.Stop()
		}
	}()
	if l, err := p.src.Listen(); err != nil {
		failed <- err
	} else {
		go func() { <-ctx.Done(); l.Close() }()
		go p.receive(ctx, l, events, lost, failed)
	}
	pollC := func() <-chan time.Time {
		if poll == nil {
			return nil
		}
		return poll.C()
	}

	matched := map[int]bool{}
	p.rescan(matched)
	q := quorumState{need: p.cfg.Quorum, delay: p.cfg.Delay}
	var delayTimer clock.Timer
	defer func() {
		if delayTimer != nil {
			delayTimer.Stop()
		}
	}()
	for {
		now := p.clock.Now()
		changed, wait := q.step(len(matched), now)
		if changed {
			report(TrackReport{Value: b2i(q.up), Reason: fmt.Sprintf("%d matching processes, quorum %d", len(matched), p.cfg.Quorum)})
		}
		var delayC <-chan time.Time
		if wait == 0 && delayTimer != nil {
			delayTimer.Stop() // nothing pending any more
		}
		if wait > 0 {
			if delayTimer == nil {
				delayTimer = p.clock.NewTimer(wait)
			} else {
				delayTimer.Stop()
				select {
				case <-delayTimer.C():
				default:
				}
				delayTimer.Reset(wait)
			}
			delayC = delayTimer.C()
		}
		select {
		case <-ctx.Done():
			return
		case evs := <-events:
			p.apply(matched, evs)
		case <-lost:
			p.rescan(matched)
		case err := <-failed:
			p.log.Warn("process events unavailable: reading the process list every second instead", "err", err)
			poll = p.clock.NewTimer(ProcessPollInterval)
			p.rescan(matched)
		case <-pollC():
			p.rescan(matched)
			poll.Reset(ProcessPollInterval)
		case <-delayC:
		}
	}
}

// receive passes event batches on until the listener fails, and then the failure.
func (p *ProcessTracker) receive(ctx context.Context, l ProcessEvents, events chan<- []procevents.Event, lost chan<- struct{}, failed chan<- error) {
	for {
		evs, err := l.Next()
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, procevents.ErrLost) {
			p.log.Warn("the kernel dropped process events; reading the process list again")
			select {
			case lost <- struct{}{}:
			default:
			}
			continue
		}
		if err != nil {
			failed <- err
			return
		}
		if len(evs) > 0 {
			select {
			case events <- evs:
			case <-ctx.Done():
				return
			}
		}
	}
}

func (p *ProcessTracker) rescan(matched map[int]bool) {
	ps, err := p.src.Scan(p.cfg.needArgv())
	if err != nil {
		p.log.Error("list processes", "err", err)
		return
	}
	clear(matched)
	for _, proc := range ps {
		if p.cfg.matches(proc) {
			matched[proc.Pid] = true
		}
	}
}

// apply updates the matching set from events: a new program or name is read from
// /proc and matched; a fork of a matching process matches (it runs the same program
// until it execs); an exit leaves.
func (p *ProcessTracker) apply(matched map[int]bool, evs []procevents.Event) {
	for _, ev := range evs {
		switch ev.Kind {
		case procevents.Exec, procevents.Comm:
			proc, err := p.src.Read(ev.Pid, p.cfg.needArgv())
			if err == nil && p.cfg.matches(proc) {
				matched[ev.Pid] = true
			} else {
				delete(matched, ev.Pid)
			}
		case procevents.Fork:
			if matched[ev.Parent] {
				matched[ev.Pid] = true
			}
		case procevents.Exit:
			delete(matched, ev.Pid)
		}
	}
}

// quorumState turns process counts into an up/down state that changes only after a
// change has lasted delay. The first count is reported at once.
type quorumState struct {
	need      int
	delay     time.Duration
	known, up bool
	since     time.Time // when the count first disagreed with up; zero: it agrees
}

// step applies the count at now. It reports whether the state changed and, when a
// change is pending, how long until it is due.
func (q *quorumState) step(count int, now time.Time) (changed bool, wait time.Duration) {
	want := count >= q.need
	if !q.known {
		q.known, q.up = true, want
		return true, 0
	}
	if want == q.up {
		q.since = time.Time{}
		return false, 0
	}
	if q.since.IsZero() {
		q.since = now
	}
	if due := q.since.Add(q.delay); now.Before(due) {
		return false, due.Sub(now)
	}
	q.up, q.since = want, time.Time{}
	return true, 0
}
