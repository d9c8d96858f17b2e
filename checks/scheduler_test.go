package checks

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-lb/vigil/internal/clock"
)

// script is a checker whose results are set by the test.
type script struct {
	mu    sync.Mutex
	ok    []bool // consumed in order; the last one repeats
	calls int
}

func (s *script) Check(ctx context.Context) Result {
	s.mu.Lock()
	defer s.mu.Unlock()
	ok := s.ok[min(s.calls, len(s.ok)-1)]
	s.calls++
	r := Result{OK: ok, Weight: NoWeight, Latency: time.Millisecond}
	if ok {
		r.Reason = "pass"
	} else {
		r.Reason = "fail"
	}
	return r
}

func (s *script) set(ok ...bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ok, s.calls = ok, 0
}

type recorder struct {
	mu      sync.Mutex
	servers []ServerEvent
	checks  []CheckEvent
}

func (r *recorder) onServer(ev ServerEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.servers = append(r.servers, ev)
}

func (r *recorder) onCheck(ev CheckEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.checks = append(r.checks, ev)
}

// transitions lists server transitions as "server:old>new".
func (r *recorder) transitions() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, ev := range r.servers {
		if ev.Old != ev.New {
			out = append(out, ev.Server+":"+ev.Old.String()+">"+ev.New.String())
		}
	}
	return out
}

func newTestScheduler(t *testing.T, jitter time.Duration) (*Scheduler, *clock.Fake, *recorder, *bytes.Buffer) {
	t.Helper()
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	rec := &recorder{}
	var logs bytes.Buffer
	var logMu sync.Mutex
	h := slog.NewJSONHandler(lockedWriter{&logMu, &logs}, nil)
	s := NewScheduler(Options{
		Logger: slog.New(h), Clock: clk, OnServer: rec.onServer, OnCheck: rec.onCheck,
		Jitter: func(time.Duration) time.Duration { return jitter },
	})
	t.Cleanup(s.Stop)
	return s, clk, rec, &logs
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func spec(id, server string, c Checker, rise, fall int) Spec {
	return Spec{ID: id, Server: server, VirtualServer: "web", RealServer: server, Kind: "test",
		Checker: c, Interval: time.Second, Timeout: time.Second, Rise: rise, Fall: fall, Key: "k"}
}

func TestSchedulerAlternatingNeverTransitions(t *testing.T) {
	t.Parallel()
	s, clk, rec, _ := newTestScheduler(t, 0)
	pass := true
	flip := CheckerFunc(func(context.Context) Result {
		r := Result{OK: pass, Weight: NoWeight}
		pass = !pass
		return r
	})
	if err := s.Set([]Spec{spec("rs1/http", "rs1", flip, 2, 3)}); err != nil {
		t.Fatal(err)
	}
	clk.Advance(100 * time.Second)
	if got, want := rec.transitions(), []string{"rs1:unknown>up"}; !cmp.Equal(got, want) {
		t.Errorf("transitions = %v, want only the first result's %v", got, want)
	}
	if n := len(rec.checks); n != 101 {
		t.Errorf("%d probes in 100 s at 1 s interval from t=0, want 101", n)
	}
}

func TestSchedulerRiseFall(t *testing.T) {
	t.Parallel()
	s, clk, rec, logs := newTestScheduler(t, 0)
	sc := &script{ok: []bool{true}}
	if err := s.Set([]Spec{spec("rs1/http", "rs1", sc, 2, 3)}); err != nil {
		t.Fatal(err)
	}
	clk.Advance(0) // first probe at jitter 0: up at once
	sc.set(false)
	clk.Advance(2 * time.Second) // two failures: still up
	if got, want := rec.transitions(), []string{"rs1:unknown>up"}; !cmp.Equal(got, want) {
		t.Fatalf("after 2 failures: %v, want %v", got, want)
	}
	clk.Advance(time.Second) // third failure: down
	sc.set(true)
	clk.Advance(time.Second) // one pass: still down
	if got, want := rec.transitions(), []string{"rs1:unknown>up", "rs1:up>down"}; !cmp.Equal(got, want) {
		t.Fatalf("after fall: %v, want %v", got, want)
	}
	clk.Advance(time.Second) // second pass: up
	if got, want := rec.transitions(), []string{"rs1:unknown>up", "rs1:up>down", "rs1:down>up"}; !cmp.Equal(got, want) {
		t.Fatalf("after rise: %v, want %v", got, want)
	}
	// One log line per transition: 3 check transitions and 3 server transitions.
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		lines = append(lines, l)
	}
	if len(lines) != 6 {
		t.Errorf("%d log lines, want 6:\n%s", len(lines), logs)
	}
	if !strings.Contains(logs.String(), `"msg":"real server state changed","virtual_server":"web","real_server":"rs1","server":"rs1","check":"rs1/http","old":"up","new":"down","reason":"fail"`) {
		t.Errorf("no structured down line in:\n%s", logs)
	}
	// Absent is absent: a check that sets no weight logs none, not the sentinel -1.
	if strings.Contains(logs.String(), "weight") {
		t.Errorf("a check without a dynamic weight logs one:\n%s", logs)
	}
	st := s.Snapshot()
	if len(st) != 1 || st[0].Transitions != 3 || st[0].Passes != 3 || st[0].Fails != 3 {
		t.Errorf("snapshot = %+v, want 3 transitions, 3 passes, 3 fails", st)
	}
}

func TestSchedulerServerCombinesChecks(t *testing.T) {
	t.Parallel()
	s, clk, rec, _ := newTestScheduler(t, 0)
	a, b := &script{ok: []bool{true}}, &script{ok: []bool{true}}
	if err := s.Set([]Spec{spec("rs1/a", "rs1", a, 1, 1), spec("rs1/b", "rs1", b, 1, 1)}); err != nil {
		t.Fatal(err)
	}
	clk.Advance(0)
	b.set(false)
	clk.Advance(time.Second)
	b.set(true)
	clk.Advance(time.Second)
	want := []string{"rs1:unknown>up", "rs1:up>down", "rs1:down>up"}
	if got := rec.transitions(); !cmp.Equal(got, want) {
		t.Errorf("transitions = %v, want %v", got, want)
	}
	if got := s.Servers(); len(got) != 1 || got[0].State != Up || len(got[0].Checks) != 2 {
		t.Errorf("Servers() = %+v", got)
	}
}

func TestSchedulerUnknownUntilEveryCheckReports(t *testing.T) {
	t.Parallel()
	s, clk, rec, _ := newTestScheduler(t, 0)
	a := &script{ok: []bool{true}}
	sp := []Spec{spec("rs1/a", "rs1", a, 1, 1), spec("rs1/b", "rs1", &script{ok: []bool{true}}, 1, 1)}
	sp[1].Interval = 10 * time.Second
	s.o.Jitter = func(iv time.Duration) time.Duration { return iv / 2 }
	if err := s.Set(sp); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Second) // a has run twice, b not yet
	if got := s.Servers()[0].State; got != Unknown {
		t.Errorf("with one check still unknown the server is %v, want unknown", got)
	}
	clk.Advance(5 * time.Second)
	if got, want := rec.transitions(), []string{"rs1:unknown>up"}; !cmp.Equal(got, want) {
		t.Errorf("transitions = %v, want %v", got, want)
	}
}

func TestSchedulerSetKeepsUnchangedRestartsChanged(t *testing.T) {
	t.Parallel()
	s, clk, rec, _ := newTestScheduler(t, 0)
	a, b := &script{ok: []bool{true}}, &script{ok: []bool{true}}
	sp := []Spec{spec("rs1/a", "rs1", a, 1, 3), spec("rs2/a", "rs2", b, 1, 3)}
	if err := s.Set(sp); err != nil {
		t.Fatal(err)
	}
	clk.Advance(0)
	a.set(false)
	clk.Advance(time.Second) // rs1/a has one failure in its streak
	calls := a.calls

	// Same ID and Key: the streak and the phase survive.
	s.o.Jitter = func(iv time.Duration) time.Duration { return iv / 2 }
	if err := s.Set(sp); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Second)
	if a.calls != calls+1 {
		t.Errorf("unchanged check ran %d times in 1 s after Set, want 1", a.calls-calls)
	}
	if got := s.Snapshot()[0].Health; got != (Health{State: Up, Streak: 2}) {
		t.Errorf("unchanged check health = %+v, want up with streak 2", got)
	}

	// Changed Key: restarted with a clean streak, the state kept (no drain on reload),
	// first probe jittered.
	sp[0].Key = "k2"
	if err := s.Set(sp[:1]); err != nil { // and rs2 removed
		t.Fatal(err)
	}
	st := s.Snapshot()
	if len(st) != 1 || st[0].Health != (Health{State: Up}) {
		t.Errorf("after a changed Set: %+v, want one check up with no streak", st)
	}
	if got := s.Servers(); len(got) != 1 {
		t.Errorf("servers after removing rs2: %+v", got)
	}
	if got, want := rec.transitions(), []string{"rs1:unknown>up", "rs2:unknown>up"}; !cmp.Equal(got, want) {
		t.Errorf("transitions = %v, want %v", got, want)
	}
}

func TestSchedulerJitterSpreadsFirstProbes(t *testing.T) {
	t.Parallel()
	clk := clock.NewFake(time.Unix(0, 0))
	var first sync.Map
	s := NewScheduler(Options{Clock: clk})
	t.Cleanup(s.Stop)
	var specs []Spec
	for i := range 1000 {
		id := string(rune('a'+i%26)) + time.Duration(i).String()
		specs = append(specs, Spec{ID: id, Server: id, Interval: 10 * time.Second, Checker: CheckerFunc(func(context.Context) Result {
			first.LoadOrStore(id, clk.Now())
			return Result{OK: true, Weight: NoWeight}
		})})
	}
	if err := s.Set(specs); err != nil {
		t.Fatal(err)
	}
	clk.Advance(10 * time.Second)
	var buckets [10]int
	n := 0
	first.Range(func(_, v any) bool {
		buckets[v.(time.Time).Sub(time.Unix(0, 0))/time.Second]++
		n++
		return true
	})
	if n != 1000 {
		t.Fatalf("%d checks ran in their first interval, want 1000", n)
	}
	for i, b := range buckets {
		if b < 50 || b > 150 { // uniform: ~100 per second
			t.Errorf("second %d saw %d first probes, want about 100 (%v)", i, b, buckets)
		}
	}
}

func TestSchedulerDynamicWeight(t *testing.T) {
	t.Parallel()
	s, clk, rec, logs := newTestScheduler(t, 0)
	w := atomic.Int64{}
	w.Store(5)
	c := CheckerFunc(func(context.Context) Result { return Result{OK: true, Weight: int(w.Load())} })
	if err := s.Set([]Spec{spec("rs1/exec", "rs1", c, 1, 1)}); err != nil {
		t.Fatal(err)
	}
	clk.Advance(0)
	w.Store(7)
	clk.Advance(time.Second)
	clk.Advance(time.Second) // unchanged weight: no event
	rec.mu.Lock()
	defer rec.mu.Unlock()
	var got []int
	for _, ev := range rec.servers {
		got = append(got, ev.Weight)
	}
	if want := []int{5, 7}; !cmp.Equal(got, want) {
		t.Errorf("server event weights = %v, want %v", got, want)
	}
	if !strings.Contains(logs.String(), `"dynamic_weight":5`) {
		t.Errorf("the up transition does not log its dynamic weight:\n%s", logs)
	}
}

func TestSchedulerRejectsBadSpecs(t *testing.T) {
	t.Parallel()
	s, _, _, _ := newTestScheduler(t, 0)
	ok := &script{ok: []bool{true}}
	for name, specs := range map[string][]Spec{
		"no id":        {{Server: "a", Checker: ok, Interval: time.Second}},
		"no checker":   {{ID: "a", Server: "a", Interval: time.Second}},
		"no interval":  {{ID: "a", Server: "a", Checker: ok}},
		"duplicate id": {spec("a", "a", ok, 1, 1), spec("a", "b", ok, 1, 1)},
	} {
		if err := s.Set(specs); err == nil {
			t.Errorf("%s: Set succeeded", name)
		}
	}
}

// TestSchedulerRealClockTimeout runs the real clock: a probe that hangs is cut at the
// spec's timeout, and Run returns once its context ends.
func TestSchedulerRealClockTimeout(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	s := NewScheduler(Options{OnServer: rec.onServer, OnCheck: rec.onCheck})
	hang := CheckerFunc(func(ctx context.Context) Result {
		<-ctx.Done()
		return Result{Reason: "timeout", Weight: NoWeight}
	})
	if err := s.Set([]Spec{{ID: "h", Server: "h", Checker: hang, Interval: 50 * time.Millisecond, Timeout: 20 * time.Millisecond}}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if st := s.Servers(); len(st) == 1 && st[0].State == Down {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := rec.transitions(); len(got) != 1 || got[0] != "h:unknown>down" {
		t.Errorf("transitions = %v, want [h:unknown>down]", got)
	}
}

// A check that starts from a known state (vigil adopting a kernel weight at start-up)
// applies fall from its first result: one failed probe right after a restart moves
// nothing, and no event is emitted for the initial state itself.
func TestSchedulerInitialState(t *testing.T) {
	t.Parallel()
	s, clk, rec, _ := newTestScheduler(t, 0)
	sc := &script{ok: []bool{false}}
	sp := spec("rs1/http", "rs1", sc, 2, 3)
	sp.Initial = Up
	if err := s.Set([]Spec{sp}); err != nil {
		t.Fatal(err)
	}
	clk.Advance(0) // first probe fails: still up
	sc.set(true)
	clk.Advance(time.Second)
	if got := rec.transitions(); len(got) != 0 {
		t.Fatalf("transitions = %v, want none", got)
	}
	if st := s.Servers(); len(st) != 1 || st[0].State != Up {
		t.Fatalf("Servers() = %+v, want rs1 up", st)
	}
	sc.set(false)
	clk.Advance(3 * time.Second) // fall = 3 failures: down
	if got, want := rec.transitions(), []string{"rs1:up>down"}; !cmp.Equal(got, want) {
		t.Fatalf("transitions = %v, want %v", got, want)
	}

	down := spec("rs2/http", "rs2", &script{ok: []bool{true}}, 2, 3)
	down.Initial = Down
	if err := s.Set([]Spec{sp, down}); err != nil {
		t.Fatal(err)
	}
	clk.Advance(0) // one pass of rise = 2: still down
	if got := rec.transitions(); len(got) != 1 {
		t.Fatalf("rs2 moved after one pass: %v", got)
	}
	clk.Advance(time.Second)
	if got := rec.transitions(); got[len(got)-1] != "rs2:down>up" {
		t.Fatalf("transitions = %v, want rs2:down>up last", got)
	}
}
