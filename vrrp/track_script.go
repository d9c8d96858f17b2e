package vrrp

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/vigil-lb/vigil/internal/clock"
	"github.com/vigil-lb/vigil/internal/proc"
)

// ScriptConfig is a vrrp_script: a command run every Interval whose exit status is the
// tracked state, with keepalived's rise and fall.
type ScriptConfig struct {
	Name string
	// Argv is the command, run without a shell; with Shell, one string run by /bin/sh -c.
	Argv  []string
	Shell bool
	// User runs it as "user" or "user:group"; empty: vigil's own user.
	User string
	// Interval is from the start of one run to the start of the next (a run that takes
	// longer is followed at once: runs never overlap). Timeout ends a run: its process
	// group is killed and the run counts as a failure.
	Interval, Timeout time.Duration
	// Rise passes in a row bring a failing script up, Fall failures in a row bring a
	// passing one down. The first run decides the first state (keepalived: "one success
	// is enough", or one failure).
	Rise, Fall int
}

// ScriptTracker runs a vrrp_script (see ScriptConfig).
type ScriptTracker struct {
	cfg   ScriptConfig
	cmd   proc.Command
	clock clock.Clock
	run   func(context.Context, proc.Command) proc.Result
}

// NewScriptTracker checks cfg and resolves its user. clock may be nil (the system
// clock); run may be nil (proc.Run), tests inject a fake.
func NewScriptTracker(cfg ScriptConfig, clk clock.Clock, run func(context.Context, proc.Command) proc.Result) (*ScriptTracker, error) {
	cmd := proc.Command{Argv: cfg.Argv, Shell: cfg.Shell, Timeout: cfg.Timeout, TermGrace: 500 * time.Millisecond}
	var errs []error
	if err := cmd.Check(); err != nil {
		errs = append(errs, err)
	}
	if cfg.Interval <= 0 || cfg.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("interval %s and timeout %s must be positive", cfg.Interval, cfg.Timeout))
	}
	if cfg.Rise < 1 || cfg.Fall < 1 {
		errs = append(errs, fmt.Errorf("rise %d and fall %d must be at least 1", cfg.Rise, cfg.Fall))
	}
	if cfg.User != "" {
		u, err := proc.LookupUser(cfg.User)
		if err != nil {
			errs = append(errs, err)
		}
		cmd.User = u
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("vrrp_script %q: %w", cfg.Name, errors.Join(errs...))
	}
	clk = clock.OrSystem(clk)
	if run == nil {
		run = proc.Run
	}
	return &ScriptTracker{cfg: cfg, cmd: cmd, clock: clk, run: run}, nil
}

// Run runs the script at once and then every Interval, reporting the first result and
// each change of state after rise and fall.
func (s *ScriptTracker) Run(ctx context.Context, report func(TrackReport)) {
	st := riseFall{rise: s.cfg.Rise, fall: s.cfg.Fall}
	var timer clock.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		start := s.clock.Now()
		res := s.run(ctx, s.cmd)
		if ctx.Err() != nil {
			return
		}
		if st.step(res.OK()) {
			report(TrackReport{Value: b2i(st.up), Reason: res.Summary()})
		}
		// The timer has fired (or is new): Reset is safe.
		if d := max(start.Add(s.cfg.Interval).Sub(s.clock.Now()), 0); timer == nil {
			timer = s.clock.NewTimer(d)
		} else {
			timer.Reset(d)
		}
		select {
		case <-ctx.Done():
			return
		case <-timer.C():
		}
	}
}

// riseFall is keepalived's script result counter as a step function: the first result
// sets the state; then rise passes in a row (fall failures in a row) change it.
type riseFall struct {
	rise, fall int
	known, up  bool
	count      int // results in a row that disagree with up
}

// step applies one result and reports whether the state changed.
func (r *riseFall) step(ok bool) bool {
	if !r.known {
		r.known, r.up, r.count = true, ok, 0
		return true
	}
	if ok == r.up {
		r.count = 0
		return false
	}
	r.count++
	need := r.fall
	if ok {
		need = r.rise
	}
	if r.count < need {
		return false
	}
	r.up, r.count = ok, 0
	return true
}
