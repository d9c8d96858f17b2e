package checks

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/vigil-lb/vigil/internal/clock"
)

// Spec is one check of one real server, as the scheduler runs it.
type Spec struct {
	// ID names the check uniquely, e.g. "web/rs1/http".
	ID string
	// Server groups the checks of one real server: it is up when all of them are.
	Server string
	// VirtualServer, RealServer and Kind label log lines, events and status.
	VirtualServer, RealServer, Kind string

	Checker  Checker
	Interval time.Duration
	Timeout  time.Duration // default: Interval
	Rise     int           // default 1
	Fall     int           // default 1
	// Key is the check's configuration in comparable form. A Set that keeps ID, Server and
	// Key keeps the running check, its state and its phase (and ignores the new Checker).
	Key string
	// Initial is the state a new check starts in (and its server, when the server is new).
	// Unknown (the zero value): the first result decides at once. Up or Down: the state is
	// already known, for instance from a kernel weight vigil adopted at start-up, and rise
	// or fall apply from the first result, so one slow probe right after a restart does
	// not quiesce a healthy server.
	Initial State
}

// CheckEvent reports one probe result, for metrics (counts, latency) and status.
type CheckEvent struct {
	Time                                        time.Time
	ID, Server, VirtualServer, RealServer, Kind string
	Result                                      Result
	Old, New                                    State
}

// ServerEvent reports a real server's state or dynamic weight changing.
type ServerEvent struct {
	Time                              time.Time
	Server, VirtualServer, RealServer string
	Old, New                          State
	// Weight is the dynamic weight from the server's checks (the lowest if several report
	// one), or NoWeight: use the configured weight.
	Weight int
	// Check and Reason are the check whose result caused the change and what it saw.
	Check, Reason string
}

// CheckStatus is a check's state for /status and metrics.
type CheckStatus struct {
	ID, Server, VirtualServer, RealServer, Kind string
	Health                                      Health
	Rise, Fall                                  int
	Interval, Timeout                           time.Duration
	Last                                        Result // zero before the first result
	LastRun                                     time.Time
	Passes, Fails, Transitions                  uint64
}

// ServerStatus is a real server's combined state.
type ServerStatus struct {
	Server, VirtualServer, RealServer string
	State                             State
	Weight                            int
	Transitions                       uint64
	Checks                            []string // check IDs
}

// Timer is a check's next probe: an AfterFunc of Options.Clock, or the event loop's.
type Timer = clock.Stopper

// Options configure a Scheduler. Every field is optional.
type Options struct {
	Logger *slog.Logger
	// Clock times the probes that run in goroutines (with Goroutines, every probe) and
	// stamps results; nil is the system clock.
	Clock clock.Clock
	// Goroutines runs every probe in a goroutine that Clock's AfterFunc starts, instead
	// of running connect-only tcp and status-only http probes on the event loop
	// (loop_linux.go) where the platform has one. The event loop keeps its own time on
	// the system clock: a test that steps a fake Clock sets Goroutines so that every
	// probe follows it.
	Goroutines bool
	// OnCheck is called after every probe; OnServer when a real server's state or dynamic
	// weight changes. Calls are serialized and in order. They must not call Set, and
	// should return quickly: the results of connect-only tcp and status-only http checks
	// are delivered from the goroutine that runs all their probes (loop_linux.go).
	OnCheck  func(CheckEvent)
	OnServer func(ServerEvent)
	// Jitter returns the delay before a check's first probe, given its interval; default
	// uniform in [0, interval), which spreads probes so that a start or reload with
	// thousands of checks is not a thundering herd.
	Jitter func(interval time.Duration) time.Duration
}

// Scheduler runs checks on their intervals and turns results into health transitions.
// Probing starts as soon as Set hands it checks; Run ties its lifetime to a context.
type Scheduler struct {
	o  Options
	wg sync.WaitGroup

	mu      sync.Mutex
	stopped bool
	checks  map[string]*entry
	servers map[string]*server
	// Events queue up under mu and are delivered by one goroutine at a time outside it,
	// so callbacks run in order and may call Snapshot.
	queue      []queued
	spare      []queued // the last delivered queue's array, reused
	delivering bool
	// loop runs the fast probes (connect-only tcp, status-only http) where the platform
	// has one (loop_linux.go); nil until needed.
	loop   *probeLoop
	noLoop bool // no event loop: Options.Goroutines, unsupported, or failed to start
}

// queued is an event waiting for delivery: a check event, or a server event when server
// is set. Check events, one per probe, are queued by value, not boxed in an interface.
type queued struct {
	check  CheckEvent
	server *ServerEvent
}

type entry struct {
	spec    Spec
	srv     *server
	health  Health
	weight  int // dynamic weight from the last pass
	timer   Timer
	gone    bool               // removed or replaced: drop its in-flight result
	cancel  context.CancelFunc // ends the probe in flight, if any
	fast    *fastProbe         // set when the event loop runs this check's probes
	lt      *loopTimer         // the event loop's timer for this check's next probe
	last    Result
	lastRun time.Time
	passes  uint64
	fails   uint64
	trans   uint64
}

type server struct {
	name, vs, rs string
	checks       map[string]*entry
	state        State
	weight       int
	trans        uint64
}

// NewScheduler returns an idle scheduler.
func NewScheduler(o Options) *Scheduler {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	o.Clock = clock.OrSystem(o.Clock)
	if o.Jitter == nil {
		o.Jitter = func(iv time.Duration) time.Duration {
			if iv <= 0 {
				return 0
			}
			return rand.N(iv)
		}
	}
	return &Scheduler{o: o, checks: map[string]*entry{}, servers: map[string]*server{}}
}

// Run blocks until ctx ends, then stops every check and waits for probes in flight.
func (s *Scheduler) Run(ctx context.Context) error {
	<-ctx.Done()
	s.Stop()
	return nil
}

// Stop stops all checks and waits for probes in flight; later Sets do nothing.
func (s *Scheduler) Stop() {
	s.mu.Lock()
	s.stopped = true
	for _, e := range s.checks {
		s.retire(e)
	}
	l := s.loop
	s.mu.Unlock()
	if l != nil {
		// Aborts the loop's probes in flight; their results are dropped.
		l.close()
	}
	s.wg.Wait()
}

func (sp *Spec) normalize() error {
	if sp.ID == "" {
		return fmt.Errorf("check has no ID")
	}
	if sp.Server == "" {
		return fmt.Errorf("check %s: no server", sp.ID)
	}
	if sp.Checker == nil {
		return fmt.Errorf("check %s: no checker", sp.ID)
	}
	if sp.Interval <= 0 {
		return fmt.Errorf("check %s: interval %s is not positive", sp.ID, sp.Interval)
	}
	if sp.Timeout <= 0 {
		sp.Timeout = sp.Interval
	}
	sp.Rise, sp.Fall = max(sp.Rise, 1), max(sp.Fall, 1)
	return nil
}

// Set makes specs the scheduler's checks. A check whose ID, Server and Key are unchanged
// keeps running untouched. A check whose Key changed restarts: new checker and timing,
// rise/fall streak cleared, first probe jittered, but it keeps its Up/Down state so a
// reload does not drain a healthy server. Removed checks stop (a result in flight is
// dropped); new ones start Unknown with a jittered first probe. Set validates all specs
// before changing anything.
func (s *Scheduler) Set(specs []Spec) error {
	specs = slices.Clone(specs)
	seen := make(map[string]bool, len(specs))
	for i := range specs {
		if err := specs[i].normalize(); err != nil {
			return fmt.Errorf("set checks: %w", err)
		}
		if seen[specs[i].ID] {
			return fmt.Errorf("set checks: duplicate check ID %q", specs[i].ID)
		}
		seen[specs[i].ID] = true
	}

	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return nil
	}
	now := s.o.Clock.Now()
	touched := map[*server]bool{}
	for id, e := range s.checks {
		if seen[id] {
			continue
		}
		s.retire(e)
		delete(s.checks, id)
		touched[e.srv] = true
	}
	for _, sp := range specs {
		old := s.checks[sp.ID]
		if old != nil && old.spec.Server == sp.Server && old.spec.Key == sp.Key {
			// Unchanged: only the labels may have moved.
			old.spec.VirtualServer, old.spec.RealServer, old.spec.Kind = sp.VirtualServer, sp.RealServer, sp.Kind
			old.srv.vs, old.srv.rs = sp.VirtualServer, sp.RealServer
			continue
		}
		e := &entry{spec: sp, weight: NoWeight, health: Health{State: sp.Initial}}
		if fp, ok := sp.Checker.(fastProber); ok {
			if f := fp.fastProbe(); f != nil && s.useLoop() {
				e.fast = f
			}
		}
		if old != nil {
			s.retire(old)
			touched[old.srv] = true
			if old.spec.Server == sp.Server {
				e.health = Health{State: old.health.State}
				e.weight, e.last, e.lastRun = old.weight, old.last, old.lastRun
				e.passes, e.fails, e.trans = old.passes, old.fails, old.trans
			}
		}
		srv := s.servers[sp.Server]
		if srv == nil {
			srv = &server{name: sp.Server, checks: map[string]*entry{}, weight: NoWeight, state: sp.Initial}
			s.servers[sp.Server] = srv
		}
		srv.vs, srv.rs = sp.VirtualServer, sp.RealServer
		e.srv = srv
		srv.checks[sp.ID] = e
		s.checks[sp.ID] = e
		touched[srv] = true
		s.schedule(e, s.o.Jitter(sp.Interval))
	}
	for srv := range touched {
		if len(srv.checks) == 0 {
			delete(s.servers, srv.name)
			continue
		}
		s.recompute(srv, nil, now, "", "checks reconfigured")
	}
	s.deliver()
	return nil
}

// retire stops e and detaches it from its server; s.mu is held.
func (s *Scheduler) retire(e *entry) {
	e.gone = true
	if e.timer != nil {
		e.timer.Stop()
	}
	if e.cancel != nil {
		e.cancel()
	}
	delete(e.srv.checks, e.spec.ID)
}

// useLoop reports whether the event loop can run fast probes, starting it on first use;
// s.mu is held.
func (s *Scheduler) useLoop() bool {
	if s.loop != nil {
		return true
	}
	if s.noLoop {
		return false
	}
	if s.o.Goroutines {
		s.noLoop = true
		return false
	}
	l, err := newProbeLoop(s)
	if err != nil {
		if !errors.Is(err, errors.ErrUnsupported) {
			s.o.Logger.Warn("check event loop unavailable; probes run in goroutines", slog.Any("error", err))
		}
		s.noLoop = true
		return false
	}
	s.loop = l
	return true
}

// schedule arms e's next probe after d; s.mu is held.
func (s *Scheduler) schedule(e *entry, d time.Duration) {
	if e.fast != nil {
		e.timer = s.loop.arm(e, d)
		return
	}
	e.timer = s.o.Clock.AfterFunc(d, func() { s.fire(e) })
}

// startFast is the event loop's fire: it reports whether e's probe should start now and
// with what timeout. A true return must be matched by one finish.
func (s *Scheduler) startFast(e *entry) (timeout time.Duration, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e.gone || s.stopped {
		return 0, false
	}
	s.wg.Add(1)
	return e.spec.Timeout, true
}

// fire runs one probe of e, in the timer's goroutine.
func (s *Scheduler) fire(e *entry) {
	s.mu.Lock()
	if e.gone || s.stopped {
		s.mu.Unlock()
		return
	}
	s.wg.Add(1)
	defer s.wg.Done()
	sp := e.spec
	// Each probe's context hangs off Background, not off a scheduler-wide parent: a shared
	// parent's mutex, taken twice per probe to register and drop the child, becomes a
	// convoy at thousands of probes per second. Stop cancels in-flight probes through
	// e.cancel instead.
	probeCtx, cancel := WithTimeout(context.Background(), sp.Timeout)
	e.cancel = cancel
	s.mu.Unlock()

	start := s.o.Clock.Now()
	res := sp.Checker.Check(probeCtx)
	cancel()

	s.mu.Lock()
	e.cancel = nil
	s.finishLocked(e, start, res)
}

// finish records the result of a probe of e that was due at start (on the event loop,
// which may start it up to a tick later) and arms the next one.
func (s *Scheduler) finish(e *entry, start time.Time, res Result) {
	defer s.wg.Done()
	s.mu.Lock()
	s.finishLocked(e, start, res)
}

// finishLocked is finish with s.mu held; it releases it.
func (s *Scheduler) finishLocked(e *entry, start time.Time, res Result) {
	if e.gone || s.stopped {
		s.mu.Unlock()
		return
	}
	now := s.o.Clock.Now()
	s.record(e, res, now)
	// Fixed rate from the probe's start; a probe that overran its interval is followed at
	// once rather than in a burst of catch-up probes.
	next := max(start.Add(e.spec.Interval).Sub(now), 0)
	s.schedule(e, next)
	s.deliver()
}

// record applies one result; s.mu is held.
func (s *Scheduler) record(e *entry, res Result, now time.Time) {
	old := e.health.State
	e.health = e.health.Step(res.OK, e.spec.Rise, e.spec.Fall)
	e.last, e.lastRun = res, now
	if res.OK {
		e.passes++
		e.weight = res.Weight
	} else {
		e.fails++
	}
	if e.health.State != old {
		e.trans++
	}
	sp := e.spec
	s.queue = append(s.queue, queued{check: CheckEvent{
		Time: now, ID: sp.ID, Server: sp.Server, VirtualServer: sp.VirtualServer,
		RealServer: sp.RealServer, Kind: sp.Kind, Result: res, Old: old, New: e.health.State,
	}})
	s.recompute(e.srv, e, now, sp.ID, res.Reason)
}

// recompute derives srv's state and weight from its checks and queues an event when
// either changed; s.mu is held. changed, when not nil, is the check of srv whose result
// caused it.
func (s *Scheduler) recompute(srv *server, changed *entry, now time.Time, check, reason string) {
	var st State
	w := NoWeight
	if changed != nil && len(srv.checks) == 1 {
		// The common server of one check: no map iteration per probe.
		st = combine(srv.state, func(yield func(State) bool) { yield(changed.health.State) })
		if changed.weight >= 0 {
			w = changed.weight
		}
	} else {
		st = combine(srv.state, func(yield func(State) bool) {
			for _, e := range srv.checks {
				if !yield(e.health.State) {
					return
				}
			}
		})
		for _, e := range srv.checks {
			if e.weight >= 0 && (w < 0 || e.weight < w) {
				w = e.weight
			}
		}
	}
	if st == srv.state && w == srv.weight {
		return
	}
	ev := ServerEvent{Time: now, Server: srv.name, VirtualServer: srv.vs, RealServer: srv.rs,
		Old: srv.state, New: st, Weight: w, Check: check, Reason: reason}
	if st != srv.state {
		srv.trans++
	}
	srv.state, srv.weight = st, w
	s.queue = append(s.queue, queued{server: &ev})
}

// deliver hands queued events to the callbacks, outside s.mu, one goroutine at a time;
// it is called with s.mu held and returns with it released.
func (s *Scheduler) deliver() {
	if s.delivering || len(s.queue) == 0 {
		s.mu.Unlock()
		return
	}
	s.delivering = true
	for len(s.queue) > 0 {
		q := s.queue
		s.queue, s.spare = s.spare[:0], nil
		s.mu.Unlock()
		for i := range q {
			if ev := q[i].server; ev != nil {
				s.emitServer(*ev)
			} else {
				s.emitCheck(q[i].check)
			}
		}
		clear(q) // drop the strings it holds
		s.mu.Lock()
		if s.spare == nil {
			s.spare = q[:0]
		}
	}
	s.delivering = false
	s.mu.Unlock()
}

func (s *Scheduler) emitCheck(ev CheckEvent) {
	if ev.Old != ev.New {
		lvl := slog.LevelInfo
		if ev.New == Down {
			lvl = slog.LevelWarn
		}
		s.o.Logger.LogAttrs(context.Background(), lvl, "check state changed",
			slog.String("virtual_server", ev.VirtualServer), slog.String("real_server", ev.RealServer),
			slog.String("check", ev.ID), slog.String("kind", ev.Kind),
			slog.String("old", ev.Old.String()), slog.String("new", ev.New.String()),
			slog.String("reason", ev.Result.Reason), slog.Duration("latency", ev.Result.Latency))
	}
	if s.o.OnCheck != nil {
		s.o.OnCheck(ev)
	}
}

func (s *Scheduler) emitServer(ev ServerEvent) {
	if ev.Old != ev.New {
		lvl := slog.LevelInfo
		if ev.New == Down {
			lvl = slog.LevelWarn
		}
		attrs := []slog.Attr{slog.String("virtual_server", ev.VirtualServer), slog.String("real_server", ev.RealServer),
			slog.String("server", ev.Server), slog.String("check", ev.Check),
			slog.String("old", ev.Old.String()), slog.String("new", ev.New.String()),
			slog.String("reason", ev.Reason)}
		if ev.Weight != NoWeight {
			attrs = append(attrs, slog.Int("dynamic_weight", ev.Weight)) // absent is absent: no -1
		}
		s.o.Logger.LogAttrs(context.Background(), lvl, "real server state changed", attrs...)
	}
	if s.o.OnServer != nil {
		s.o.OnServer(ev)
	}
}

// Snapshot returns every check's status, sorted by ID.
func (s *Scheduler) Snapshot() []CheckStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]CheckStatus, 0, len(s.checks))
	for _, e := range s.checks {
		sp := e.spec
		out = append(out, CheckStatus{
			ID: sp.ID, Server: sp.Server, VirtualServer: sp.VirtualServer, RealServer: sp.RealServer,
			Kind: sp.Kind, Health: e.health, Rise: sp.Rise, Fall: sp.Fall,
			Interval: sp.Interval, Timeout: sp.Timeout, Last: e.last, LastRun: e.lastRun,
			Passes: e.passes, Fails: e.fails, Transitions: e.trans,
		})
	}
	slices.SortFunc(out, func(a, b CheckStatus) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// Servers returns every real server's combined status, sorted by Server.
func (s *Scheduler) Servers() []ServerStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]ServerStatus, 0, len(s.servers))
	for _, srv := range s.servers {
		ids := make([]string, 0, len(srv.checks))
		for id := range srv.checks {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		out = append(out, ServerStatus{Server: srv.name, VirtualServer: srv.vs, RealServer: srv.rs,
			State: srv.state, Weight: srv.weight, Transitions: srv.trans, Checks: ids})
	}
	slices.SortFunc(out, func(a, b ServerStatus) int { return cmp.Compare(a.Server, b.Server) })
	return out
}
