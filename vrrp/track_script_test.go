package vrrp_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/clock"
	"github.com/vigil-lb/vigil/internal/proc"
	"github.com/vigil-lb/vigil/vrrp"
)

// runTracker runs tr until the test ends and collects its reports.
func runTracker(t *testing.T, tr vrrp.Tracker) *reports {
	rep := &reports{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { tr.Run(ctx, rep.add); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return rep
}

// reports collects a tracker's reports.
type reports struct {
	mu  sync.Mutex
	got []vrrp.TrackReport
}

func (r *reports) add(x vrrp.TrackReport) {
	r.mu.Lock()
	r.got = append(r.got, x)
	r.mu.Unlock()
}

func (r *reports) values() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	var v []int
	for _, x := range r.got {
		v = append(v, x.Value)
	}
	return v
}

func (r *reports) last() vrrp.TrackReport {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.got) == 0 {
		return vrrp.TrackReport{Value: -1}
	}
	return r.got[len(r.got)-1]
}

// A script on the fake clock: run at once and then every interval from the previous
// start, the first result reported at once, then fall failures or rise passes in a row.
func TestScriptTrackerRiseFall(t *testing.T) {
	clk := clock.NewFake(time.Unix(1000, 0))
	results := "ppffpfpp" // fall 2 at the 4th, rise 2 at the 8th
	var mu sync.Mutex
	var starts []time.Time
	run := func(ctx context.Context, c proc.Command) proc.Result {
		mu.Lock()
		defer mu.Unlock()
		starts = append(starts, clk.Now())
		code := 0
		if i := len(starts) - 1; i < len(results) && results[i] == 'f' {
			code = 1
		}
		return proc.Result{Started: true, ExitCode: code}
	}
	calls := func() int { mu.Lock(); defer mu.Unlock(); return len(starts) }
	tr, err := vrrp.NewScriptTracker(vrrp.ScriptConfig{Name: "chk", Argv: []string{"check"}, Interval: 2 * time.Second, Timeout: time.Second, Rise: 2, Fall: 2}, clk, run)
	if err != nil {
		t.Fatal(err)
	}
	var rep reports
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { tr.Run(ctx, rep.add); close(done) }()
	for i := 1; i <= len(results); i++ {
		waitFor(t, "run and wait", func() bool { return calls() == i && clk.Pending() == 1 })
		if i < len(results) {
			clk.Advance(2 * time.Second)
		}
	}
	cancel()
	<-done
	if got, want := rep.values(), []int{1, 0, 1}; !equalInts(got, want) {
		t.Errorf("reports %v, want %v", got, want)
	}
	for i, s := range starts {
		if want := time.Unix(1000+2*int64(i), 0); !s.Equal(want) {
			t.Errorf("run %d started at %v, want %v", i, s, want)
		}
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Real scripts: a hung one is killed at its timeout and counts as a failure; the
// reason says so; one that passes is up.
func TestScriptTrackerRealCommands(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cfg    vrrp.ScriptConfig
		want   int
		reason string
	}{
		{"pass", vrrp.ScriptConfig{Argv: []string{"true"}}, 1, "exit 0"},
		{"fail", vrrp.ScriptConfig{Argv: []string{"echo haproxy is gone; exit 1"}, Shell: true}, 0, `exit 1: "haproxy is gone"`},
		{"hung", vrrp.ScriptConfig{Argv: []string{"sleep", "1000"}}, 0, "timed out"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.Name, cfg.Interval, cfg.Timeout, cfg.Rise, cfg.Fall = tc.name, time.Hour, 300*time.Millisecond, 1, 1
			tr, err := vrrp.NewScriptTracker(cfg, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			rep := runTracker(t, tr)
			waitFor(t, "first report", func() bool { return rep.last().Value >= 0 })
			if r := rep.last(); r.Value != tc.want || !strings.Contains(r.Reason, tc.reason) {
				t.Errorf("got %+v, want value %d with %q", r, tc.want, tc.reason)
			}
		})
	}
}

func TestScriptTrackerConfig(t *testing.T) {
	ok := vrrp.ScriptConfig{Name: "x", Argv: []string{"true"}, Interval: time.Second, Timeout: time.Second, Rise: 1, Fall: 1}
	for _, mod := range []func(*vrrp.ScriptConfig){
		func(c *vrrp.ScriptConfig) { c.Argv = nil },
		func(c *vrrp.ScriptConfig) { c.Argv, c.Shell = []string{"a", "b"}, true },
		func(c *vrrp.ScriptConfig) { c.Interval = 0 },
		func(c *vrrp.ScriptConfig) { c.Rise = 0 },
		func(c *vrrp.ScriptConfig) { c.User = "no-such-user-vigil" },
	} {
		c := ok
		mod(&c)
		if _, err := vrrp.NewScriptTracker(c, nil, nil); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
	if _, err := vrrp.NewScriptTracker(ok, nil, nil); err != nil {
		t.Error(err)
	}
}
