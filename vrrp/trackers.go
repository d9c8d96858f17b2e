package vrrp

import (
	"context"
	"log/slog"
	"slices"
	"sync"
)

// Tracker watches one thing (a vrrp_script's verdict, a process quorum, the number in a
// file) and reports its state. One Tracker serves every instance that tracks it.
type Tracker interface {
	// Run reports the state at start, then every change, until ctx ends. It reports the
	// first state promptly: instances that track it wait for that before they start.
	Run(ctx context.Context, report func(TrackReport))
}

// TrackReport is one state of a tracked item.
type TrackReport struct {
	// Value is 1 (up) or 0 (down) for scripts and processes, the number for a file.
	Value int
	// Reason says why, for the log: "exit 1: \"no haproxy\"", "2 processes, quorum 1".
	Reason string
}

// Trackers runs trackers by name and passes their reports to the attached instances
// whose Config.Tracks name them. It keeps each tracker's last report, so an instance
// attached later (started by a reload) learns the state at once.
type Trackers struct {
	log      *slog.Logger
	mu       sync.Mutex
	running  map[string]*trackerRun
	last     map[string]TrackReport
	attached []*Instance
}

type trackerRun struct {
	kind   TrackKind
	cancel context.CancelFunc
	done   chan struct{}
}

// NewTrackers returns an empty set; log may be nil (slog.Default).
func NewTrackers(log *slog.Logger) *Trackers {
	if log == nil {
		log = slog.Default()
	}
	return &Trackers{log: log, running: map[string]*trackerRun{}, last: map[string]TrackReport{}}
}

// Start runs tr under name (the Track.Name instances use) until Stop or ctx ends. A
// tracker already running under that name is stopped first and its state forgotten.
func (t *Trackers) Start(ctx context.Context, name string, kind TrackKind, tr Tracker) {
	t.Stop(name)
	ctx, cancel := context.WithCancel(ctx)
	run := &trackerRun{kind: kind, cancel: cancel, done: make(chan struct{})}
	t.mu.Lock()
	t.running[name] = run
	t.mu.Unlock()
	log := t.log.With("track", name)
	go func() {
		defer close(run.done)
		tr.Run(ctx, func(r TrackReport) {
			if ctx.Err() != nil {
				return
			}
			t.report(name, kind, r, log)
		})
	}()
}

func (t *Trackers) report(name string, kind TrackKind, r TrackReport, log *slog.Logger) {
	t.mu.Lock()
	prev, known := t.last[name]
	t.last[name] = r
	ins := slices.Clone(t.attached)
	t.mu.Unlock()
	if !known || prev.Value != r.Value {
		state := "up"
		switch {
		case kind == TrackFile:
			state = "value"
		case r.Value == 0:
			state = "down"
		}
		lvl := slog.LevelInfo
		if known && kind != TrackFile && r.Value == 0 {
			lvl = slog.LevelWarn
		}
		log.Log(context.Background(), lvl, "tracked "+state, "value", r.Value, "reason", r.Reason)
	}
	for _, in := range ins {
		if in.tracksItem(name) {
			in.SetTrackedValue(name, r.Value)
		}
	}
}

// Stop stops the tracker running under name, if any, and waits for it to end.
func (t *Trackers) Stop(name string) {
	t.mu.Lock()
	run := t.running[name]
	delete(t.running, name)
	delete(t.last, name)
	t.mu.Unlock()
	if run != nil {
		run.cancel()
		<-run.done
	}
}

// Names lists the trackers running.
func (t *Trackers) Names() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []string
	for n := range t.running {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// Attach passes the trackers' reports to in from now on, starting with the last report
// of each tracker it tracks. Call it before in runs, so that it starts with them.
func (t *Trackers) Attach(in *Instance) {
	t.mu.Lock()
	if !slices.Contains(t.attached, in) {
		t.attached = append(t.attached, in)
	}
	last := make(map[string]TrackReport, len(t.last))
	for n, r := range t.last {
		last[n] = r
	}
	t.mu.Unlock()
	for n, r := range last {
		if in.tracksItem(n) {
			in.SetTrackedValue(n, r.Value)
		}
	}
}

// Detach stops passing reports to in.
func (t *Trackers) Detach(in *Instance) {
	t.mu.Lock()
	t.attached = slices.DeleteFunc(t.attached, func(x *Instance) bool { return x == in })
	t.mu.Unlock()
}

// Close stops every tracker.
func (t *Trackers) Close() {
	for _, n := range t.Names() {
		t.Stop(n)
	}
}

// tracksItem reports whether the instance tracks a reported item called name.
func (in *Instance) tracksItem(name string) bool {
	return slices.ContainsFunc(in.cfg.Tracks, func(tr Track) bool { return tr.Kind != TrackInterface && tr.Name == name })
}
