package checks

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"github.com/vigil-lb/vigil/internal/clock"
	"github.com/vigil-lb/vigil/internal/testing/loopback"
	"github.com/vigil-lb/vigil/internal/testing/testenv"
)

// loopResults collects every probe result of a scheduler, by check ID.
type loopResults struct {
	mu  sync.Mutex
	got map[string][]Result
}

func (r *loopResults) onCheck(ev CheckEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got[ev.ID] = append(r.got[ev.ID], ev.Result)
}

// atLeast reports whether every one of ids has n results or more.
func (r *loopResults) atLeast(ids []string, n int) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, id := range ids {
		if len(r.got[id]) < n {
			return false
		}
	}
	return true
}

func (r *loopResults) first(id string) Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.got[id][0]
}

// runOnLoop runs specs on a system-clock scheduler until every check has n results, and
// checks that the event loop, not goroutines, ran them.
func runOnLoop(t *testing.T, specs []Spec, n int) (*Scheduler, *loopResults) {
	t.Helper()
	rec := &loopResults{got: map[string][]Result{}}
	s := NewScheduler(Options{OnCheck: rec.onCheck, Jitter: func(time.Duration) time.Duration { return 0 }})
	t.Cleanup(s.Stop)
	if err := s.Set(specs); err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	for _, sp := range specs {
		if s.checks[sp.ID].fast == nil {
			t.Errorf("check %s is not on the event loop", sp.ID)
		}
	}
	s.mu.Unlock()
	ids := make([]string, len(specs))
	for i, sp := range specs {
		ids[i] = sp.ID
	}
	deadline := time.Now().Add(60 * time.Second)
	for !rec.atLeast(ids, n) {
		if time.Now().After(deadline) {
			t.Fatalf("not every check reached %d results within 60s", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if s.loop == nil || s.loop.started.Load() == 0 {
		t.Fatal("the event loop started no probe")
	}
	return s, rec
}

// timeoutFor is the probe timeout of a case whose expected reason is reason: short for a
// case that must time out, and 10 s for one that must be answered, so that a loaded host
// (a slow server goroutine, a late loop) cannot turn an answer into a timeout. At load 15
// the 300 ms of every case made TestLoopHTTP fail: a bound too tight for the answered
// cases, which finish as fast as before.
func timeoutFor(reason string, short time.Duration) time.Duration {
	if strings.HasPrefix(reason, "timeout after ") {
		return short
	}
	return 10 * time.Second
}

func loopSpec(id string, c Checker, timeout time.Duration) Spec {
	return Spec{ID: id, Server: id, Kind: "test", Checker: c, Interval: 50 * time.Millisecond, Timeout: timeout, Key: id}
}

// unansweredSYN returns a loopback target whose SYNs are dropped.
func unansweredSYN(t *testing.T) netip.AddrPort { return testenv.UnansweredSYN(t) }

// closedPort returns a loopback port nothing listens on.
func closedPort(t *testing.T) netip.AddrPort { return loopback.ClosedAddr(t, "127.0.0.1") }

// rawServer accepts on loopback and runs serve on each connection, then closes it.
func rawServer(t *testing.T, serve func(c net.Conn)) netip.AddrPort {
	return loopback.Listen(t, serve).Addr
}

// answer reads a request head and writes the parts of resp, pausing between them.
func answer(parts ...string) func(net.Conn) {
	return func(c net.Conn) {
		c.SetDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 0, 1024)
		for !bytes.Contains(buf, []byte("\r\n\r\n")) {
			tmp := make([]byte, 512)
			n, err := c.Read(tmp)
			buf = append(buf, tmp[:n]...)
			if err != nil {
				return
			}
		}
		if !bytes.HasPrefix(buf, []byte("GET / HTTP/1.1\r\n")) {
			return
		}
		for i, p := range parts {
			if i > 0 {
				time.Sleep(20 * time.Millisecond)
			}
			if _, err := io.WriteString(c, p); err != nil {
				return
			}
		}
	}
}

// TestLoopTCP: connect-only tcp probes on the event loop pass, fail fast on a closed port,
// time out on an unanswered SYN, and give the same verdicts as Checker.Check.
func TestLoopTCP(t *testing.T) { // not parallel: it counts TIME_WAIT sockets
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	up, refused, silent := addrOf(t, ln.Addr()), closedPort(t), unansweredSYN(t)
	timeout := 150 * time.Millisecond
	cases := []struct {
		id         string
		target     netip.AddrPort
		wantOK     bool
		wantReason string
	}{
		{"up", up, true, "connected to " + up.String()},
		{"refused", refused, false, "connect " + refused.String() + ": connection refused"},
		{"silent", silent, false, "timeout after 150ms connecting to " + silent.String()},
	}
	var specs []Spec
	checkers := map[string]Checker{}
	for _, tc := range cases {
		c, err := NewTCP(tc.target, TCPConfig{})
		if err != nil {
			t.Fatal(err)
		}
		checkers[tc.id] = c
		specs = append(specs, loopSpec(tc.id, c, timeoutFor(tc.wantReason, timeout)))
	}
	var ports []uint16
	for _, tc := range cases {
		ports = append(ports, tc.target.Port())
	}
	tw := timeWaits(t, ports...)
	s, rec := runOnLoop(t, specs, 3)
	s.Stop()
	for _, tc := range cases {
		got := rec.first(tc.id)
		if got.OK != tc.wantOK || got.Reason != tc.wantReason || got.Weight != NoWeight {
			t.Errorf("%s: got OK=%v %q weight %d, want OK=%v %q", tc.id, got.OK, got.Reason, got.Weight, tc.wantOK, tc.wantReason)
		}
		if got.Latency <= 0 {
			t.Errorf("%s: latency %v", tc.id, got.Latency)
		}
		direct := check(t, checkers[tc.id], timeoutFor(tc.wantReason, timeout))
		if direct.OK != got.OK || direct.Reason != got.Reason {
			t.Errorf("%s: event loop said OK=%v %q, Checker.Check OK=%v %q", tc.id, got.OK, got.Reason, direct.OK, direct.Reason)
		}
	}
	// Every probe closed with an RST, including those cut mid-handshake.
	if n := timeWaitTo(t, tw, ports...); n != 0 {
		t.Errorf("%d TIME_WAIT sockets to ports %v", n, ports)
	}
}

// TestLoopHTTP: status-only http probes on the event loop judge the status line as
// Checker.Check does, including a status line split over two segments, a redirect's
// Location, a server that never answers, and leave no TIME_WAIT behind.
func TestLoopHTTP(t *testing.T) { // not parallel: it counts TIME_WAIT sockets
	timeout := 150 * time.Millisecond
	ok := rawServer(t, answer("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"))
	split := rawServer(t, answer("HTTP/1.1 2", "04 No Content\r\n\r\n"))
	unavailable := rawServer(t, answer("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n"))
	redirect := rawServer(t, answer("HTTP/1.1 301 Moved\r\n", "Location: /elsewhere\r\nContent-Length: 0\r\n\r\n"))
	garbage := rawServer(t, answer("SSH-2.0-OpenSSH_9.2\r\n"))
	hangup := rawServer(t, answer())
	stall := rawServer(t, func(c net.Conn) { io.Copy(io.Discard, c) })
	// A 200 status line is not a pass until the header fields end (on main it was).
	endless := rawServer(t, func(c net.Conn) {
		answer("HTTP/1.1 200 OK\r\n", "Server: hung\r\n")(c)
		io.Copy(io.Discard, c)
	})
	cut := rawServer(t, answer("HTTP/1.1 200 OK\r\nServer: gone\r\n"))
	bareLF := rawServer(t, answer("HTTP/1.1 200 OK\nServer: old\n\n"))
	longHead := rawServer(t, answer("HTTP/1.1 200 OK\r\n", "Set-Cookie: "+strings.Repeat("a", 3000)+"\r\n", "X-B: 1\r\n\r\n"))
	hugeHead := rawServer(t, func(c net.Conn) {
		answer("HTTP/1.1 200 OK\r\n" + strings.Repeat("X-Pad: "+strings.Repeat("p", 1000)+"\r\n", 70))(c)
		io.Copy(io.Discard, c)
	})
	cases := []struct {
		id         string
		target     netip.AddrPort
		wantOK     bool
		wantReason string
	}{
		{"ok", ok, true, "http 200 from " + ok.String()},
		{"split", split, true, "http 204 from " + split.String()},
		{"unavailable", unavailable, false, "http 503 from " + unavailable.String() + " (want 200-299)"},
		{"redirect", redirect, false, "http 301 from " + redirect.String() + ` (want 200-299), redirect to "/elsewhere" not followed`},
		{"garbage", garbage, false, "http: " + garbage.String() + ` answered "SSH-2.0-OpenSSH_9.2\r\n", not an HTTP status line`},
		{"hangup", hangup, false, "http: " + hangup.String() + " closed the connection without a response"},
		{"stall", stall, false, "timeout after 150ms read response from " + stall.String()},
		{"endless header fields", endless, false, "timeout after 150ms read response from " + endless.String()},
		{"cut in the header fields", cut, false, "http: " + cut.String() + " closed the connection before the end of the response's header fields"},
		{"bare LF", bareLF, true, "http 200 from " + bareLF.String()},
		{"long head", longHead, true, "http 200 from " + longHead.String()},
		{"huge head", hugeHead, false, "http: " + hugeHead.String() + " sent more than 64 KiB of header fields"},
	}
	var specs []Spec
	checkers := map[string]Checker{}
	for _, tc := range cases {
		c := mustHTTP(t, tc.target, HTTPConfig{})
		checkers[tc.id] = c
		specs = append(specs, loopSpec(tc.id, c, timeoutFor(tc.wantReason, timeout)))
	}
	var ports []uint16
	for _, tc := range cases {
		ports = append(ports, tc.target.Port())
	}
	tw := timeWaits(t, ports...)
	s, rec := runOnLoop(t, specs, 3)
	s.Stop()
	for _, tc := range cases {
		got := rec.first(tc.id)
		if got.OK != tc.wantOK || got.Reason != tc.wantReason {
			t.Errorf("%s: got OK=%v %q, want OK=%v %q", tc.id, got.OK, got.Reason, tc.wantOK, tc.wantReason)
		}
		direct := check(t, checkers[tc.id], timeoutFor(tc.wantReason, timeout))
		if direct.OK != got.OK || direct.Reason != got.Reason {
			t.Errorf("%s: event loop said OK=%v %q, Checker.Check OK=%v %q", tc.id, got.OK, got.Reason, direct.OK, direct.Reason)
		}
	}
	if n := timeWaitTo(t, tw, ports...); n != 0 {
		t.Errorf("%d TIME_WAIT sockets to ports %v", n, ports)
	}
}

// TestLoopKeepsGeneralPath: checks the event loop cannot run (send/expect, a body match,
// TLS, any other Checker) stay on goroutines beside those it runs; an injected clock does
// not change that, and Options.Goroutines runs everything through the clock.
func TestLoopKeepsGeneralPath(t *testing.T) {
	t.Parallel()
	target := netip.MustParseAddrPort("127.0.0.1:1")
	mustTCP := func(cfg TCPConfig) Checker {
		c, err := NewTCP(target, cfg)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	specs := []Spec{
		{ID: "send", Checker: mustTCP(TCPConfig{Send: []byte("PING\r\n")})},
		{ID: "body", Checker: mustHTTP(t, target, HTTPConfig{BodyMD5: "00000000000000000000000000000000"})},
		{ID: "tls", Checker: mustHTTP(t, target, HTTPConfig{TLS: true, TLSSkipVerify: true})},
		{ID: "func", Checker: CheckerFunc(func(context.Context) Result { return Result{} })},
		{ID: "tcp", Checker: mustTCP(TCPConfig{})},
		{ID: "http", Checker: mustHTTP(t, target, HTTPConfig{ExpectStatus: StatusSet{{200, 204}}})},
	}
	for i := range specs {
		specs[i].Server, specs[i].Interval = "a", time.Hour
	}
	fastIDs := func(s *Scheduler) []string {
		s.mu.Lock()
		defer s.mu.Unlock()
		var ids []string
		for _, sp := range specs {
			if s.checks[sp.ID].fast != nil {
				ids = append(ids, sp.ID)
			}
		}
		return ids
	}
	s := NewScheduler(Options{})
	defer s.Stop()
	if err := s.Set(specs); err != nil {
		t.Fatal(err)
	}
	if got, want := fastIDs(s), []string{"tcp", "http"}; !cmp.Equal(got, want) {
		t.Errorf("system clock: on the event loop %v, want %v", got, want)
	}
	// The clock does not choose the engine: Goroutines does.
	fake := NewScheduler(Options{Clock: clock.NewFake(time.Unix(0, 0))})
	defer fake.Stop()
	if err := fake.Set(specs); err != nil {
		t.Fatal(err)
	}
	if got, want := fastIDs(fake), []string{"tcp", "http"}; !cmp.Equal(got, want) {
		t.Errorf("fake clock: on the event loop %v, want %v", got, want)
	}
	g := NewScheduler(Options{Clock: clock.NewFake(time.Unix(0, 0)), Goroutines: true})
	defer g.Stop()
	if err := g.Set(specs); err != nil {
		t.Fatal(err)
	}
	if got := fastIDs(g); len(got) != 0 || g.loop != nil {
		t.Errorf("Goroutines: on the event loop %v, want none", got)
	}
}

// TestLoopManyProbes runs a thousand connect-only checks and a hundred http checks at
// once: all pass, repeatedly, and no goroutine is spent per probe.
func TestLoopManyProbes(t *testing.T) { // not parallel: it counts the process's goroutines
	const nTCP, nHTTP, nListeners = 1000, 100, 10
	// 4,400 probes a second (2,200 at 500 ms, outside -short), so that three rounds take
	// under a second.
	interval := 500 * time.Millisecond
	if testing.Short() {
		interval = 250 * time.Millisecond
	}
	var targets []netip.AddrPort
	for range nListeners {
		// Connect-only probes never complete the handshake (setLazyACK): nothing to accept.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		targets = append(targets, addrOf(t, ln.Addr()))
	}
	web := rawServer(t, answer("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"))
	var specs []Spec
	for i := range nTCP {
		c, err := NewTCP(targets[i%nListeners], TCPConfig{})
		if err != nil {
			t.Fatal(err)
		}
		specs = append(specs, Spec{ID: fmt.Sprintf("tcp%d", i), Server: fmt.Sprintf("rs%d", i),
			Checker: c, Interval: interval, Timeout: 10 * time.Second})
	}
	for i := range nHTTP {
		specs = append(specs, Spec{ID: fmt.Sprintf("http%d", i), Server: fmt.Sprintf("rs%d", i),
			Checker: mustHTTP(t, web, HTTPConfig{}), Interval: interval, Timeout: 10 * time.Second})
	}
	before := runtime.NumGoroutine()
	rec := &loopResults{got: map[string][]Result{}}
	var maxG int
	var gmu sync.Mutex
	s := NewScheduler(Options{OnCheck: func(ev CheckEvent) {
		rec.onCheck(ev)
		if strings.HasPrefix(ev.ID, "tcp") {
			gmu.Lock()
			maxG = max(maxG, runtime.NumGoroutine())
			gmu.Unlock()
		}
	}})
	defer s.Stop()
	if err := s.Set(specs); err != nil {
		t.Fatal(err)
	}
	ids := make([]string, len(specs))
	for i, sp := range specs {
		ids[i] = sp.ID
	}
	deadline := time.Now().Add(90 * time.Second)
	for !rec.atLeast(ids, 3) {
		if time.Now().After(deadline) {
			t.Fatal("not every check had 3 results within 90s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.Stop()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for id, rs := range rec.got {
		for _, r := range rs {
			if !r.OK {
				t.Errorf("%s: %s", id, r.Reason)
				break
			}
		}
	}
	gmu.Lock()
	defer gmu.Unlock()
	// The loop's goroutine and the http server's connections; not one per tcp probe.
	if maxG > before+nHTTP+20 {
		t.Errorf("%d goroutines with %d probes running, %d before", maxG, nTCP+nHTTP, before)
	}
}

// TestLoopStopAbortsProbes: Stop ends a probe stuck in its handshake at once rather than
// at its timeout, closes its socket and ends the loop.
func TestLoopStopAbortsProbes(t *testing.T) { // not parallel: it counts the process's descriptors
	fds := func() int {
		ents, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Fatal(err)
		}
		return len(ents)
	}
	silent := unansweredSYN(t)
	c, err := NewTCP(silent, TCPConfig{})
	if err != nil {
		t.Fatal(err)
	}
	before := fds()
	s := NewScheduler(Options{Jitter: func(time.Duration) time.Duration { return 0 }})
	if err := s.Set([]Spec{{ID: "silent", Server: "silent", Checker: c, Interval: time.Hour, Timeout: time.Hour}}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for s.loop.started.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no probe started")
		}
		time.Sleep(5 * time.Millisecond)
	}
	done := make(chan struct{})
	go func() { s.Stop(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Stop did not return")
	}
	select {
	case <-s.loop.done:
	default:
		t.Error("the event loop still runs after Stop")
	}
	// The loop's epoll and eventfd descriptors and the probe's socket are all closed.
	if after := fds(); after > before {
		t.Errorf("%d descriptors open after Stop, %d before", after, before)
	}
	if got := s.Snapshot(); len(got) != 1 || got[0].Passes+got[0].Fails != 0 {
		t.Errorf("the aborted probe's result was recorded: %+v", got)
	}
}

// TestLoopSetStopsRemovedChecks: a check removed by Set stops probing, its in-flight
// probe's result is dropped, and a check whose Key changed restarts on the loop.
func TestLoopSetStopsRemovedChecks(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := NewTCP(addrOf(t, ln.Addr()), TCPConfig{})
	if err != nil {
		t.Fatal(err)
	}
	sp := loopSpec("a", c, time.Second)
	s, _ := runOnLoop(t, []Spec{sp}, 2)
	sp.Key = "changed"
	if err := s.Set([]Spec{sp}); err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	restarted := s.checks["a"].fast != nil
	s.mu.Unlock()
	if !restarted {
		t.Error("the restarted check left the event loop")
	}
	if err := s.Set(nil); err != nil {
		t.Fatal(err)
	}
	// Let any probe in flight finish, then probing must have stopped.
	time.Sleep(200 * time.Millisecond)
	n := s.loop.started.Load()
	time.Sleep(300 * time.Millisecond)
	if got := s.loop.started.Load(); got != n {
		t.Errorf("%d probes started after the check was removed", got-n)
	}
	if got := s.Snapshot(); len(got) != 0 {
		t.Errorf("Snapshot after removal = %+v", got)
	}
}

// The general path (a body match, TLS) reads the head with net/http: endless header
// fields fail at the timeout, and it never reads more than a head and the body it judges.
func TestHTTPGeneralPathHeaderFields(t *testing.T) {
	t.Parallel()
	endless := rawServer(t, func(c net.Conn) {
		answer("HTTP/1.1 200 OK\r\n", "Server: hung\r\n")(c)
		io.Copy(io.Discard, c)
	})
	flood := rawServer(t, func(c net.Conn) {
		answer("HTTP/1.1 200 OK\r\n")(c)
		line := []byte("X-Pad: " + strings.Repeat("p", 1000) + "\r\n")
		for {
			if _, err := c.Write(line); err != nil {
				return
			}
		}
	})
	body := HTTPConfig{BodyRegexp: regexp.MustCompile("ok")}
	if res := check(t, mustHTTP(t, endless, body), 300*time.Millisecond); res.OK || !strings.Contains(res.Reason, "timeout after 300ms") {
		t.Errorf("endless header fields: OK=%v %q, want the timeout", res.OK, res.Reason)
	}
	if res := check(t, mustHTTP(t, flood, body), 5*time.Second); res.OK || !strings.Contains(res.Reason, "sent more than") {
		t.Errorf("a flood of header fields: OK=%v %q, want refused at the cap", res.OK, res.Reason)
	}
}

// TestLoopLateLoopKeepsAnswer: a probe whose answer reached its socket in time passes even
// when the loop itself comes to it after its deadline (here an OnCheck that holds the loop
// goroutine, as a loaded host can): the loop reads the ready answers before it times out
// what is still in flight. Before, it expired first and called the answer a timeout.
func TestLoopLateLoopKeepsAnswer(t *testing.T) {
	t.Parallel()
	requested, written := make(chan struct{}), make(chan struct{})
	var once sync.Once
	// b answers at once, but only after a's result holds the loop (held).
	held := make(chan struct{})
	b := rawServer(t, func(c net.Conn) {
		first := false
		once.Do(func() { first = true })
		if !first {
			answer("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")(c)
			return
		}
		buf := make([]byte, 1024)
		c.Read(buf) // the request head (one segment on loopback)
		close(requested)
		<-held
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
		close(written)
		io.Copy(io.Discard, c)
	})
	// a answers once b has its request, so that a's result comes while b waits for its
	// answer.
	a := rawServer(t, func(c net.Conn) {
		select {
		case <-requested:
		case <-time.After(10 * time.Second):
		}
		answer("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")(c)
	})
	const timeout = 300 * time.Millisecond
	var mu sync.Mutex
	var got []CheckEvent
	var holdOnce sync.Once
	s := NewScheduler(Options{
		Jitter: func(time.Duration) time.Duration { return 0 },
		OnCheck: func(ev CheckEvent) {
			if ev.ID == "a" {
				holdOnce.Do(func() {
					// Hold the loop until b's answer is in its socket and b's deadline has
					// passed.
					close(held)
					<-written
					time.Sleep(timeout + 100*time.Millisecond)
				})
			}
			mu.Lock()
			got = append(got, ev)
			mu.Unlock()
		},
	})
	defer s.Stop()
	specs := []Spec{
		{ID: "a", Server: "a", Kind: "test", Checker: mustHTTP(t, a, HTTPConfig{}), Interval: time.Hour, Timeout: 10 * time.Second, Key: "a"},
		{ID: "b", Server: "b", Kind: "test", Checker: mustHTTP(t, b, HTTPConfig{}), Interval: time.Hour, Timeout: timeout, Key: "b"},
	}
	if err := s.Set(specs); err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	onLoop := s.checks["a"].fast != nil && s.checks["b"].fast != nil
	s.mu.Unlock()
	if !onLoop {
		t.Fatal("the checks are not on the event loop")
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		var res *Result
		for _, ev := range got {
			if ev.ID == "b" {
				res = &ev.Result
			}
		}
		mu.Unlock()
		if res != nil {
			if want := "http 200 from " + b.String(); !res.OK || res.Reason != want {
				t.Errorf("b: OK=%v %q, want OK %q (its answer came before its deadline)", res.OK, res.Reason, want)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no result for b within 30s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestLoopRing: where the kernel allows it, the loop's probes go through io_uring
// (loopring_linux.go); the tests above then prove that they say what Checker.Check says.
func TestLoopRing(t *testing.T) {
	c, err := NewTCP(closedPort(t), TCPConfig{})
	if err != nil {
		t.Fatal(err)
	}
	s, _ := runOnLoop(t, []Spec{loopSpec("a", c, time.Second)}, 2)
	testenv.Require(t, s.loop.ring != nil, "the probe loop runs without io_uring on this kernel")
	if on, all := s.loop.onRing.Load(), s.loop.started.Load(); on != all {
		t.Errorf("%d of %d probes on the ring", on, all)
	}
}

// ringFaultRun runs an up tcp and an up http check on a loop whose rings' io_uring_enter
// fails with errno once fail says so, with the scheduler's log in logs.
func ringFaultRun(t *testing.T, fail func() bool, errno syscall.Errno) (*Scheduler, *loopResults, func() string) {
	t.Helper()
	probeRingFault = func(string) syscall.Errno {
		if fail() {
			return errno
		}
		return 0
	}
	t.Cleanup(func() { probeRingFault = nil })
	var logMu sync.Mutex
	var logs bytes.Buffer
	rec := &loopResults{got: map[string][]Result{}}
	s := NewScheduler(Options{OnCheck: rec.onCheck, Jitter: func(time.Duration) time.Duration { return 0 },
		Logger: slog.New(slog.NewTextHandler(lockedWriter{&logMu, &logs}, nil))})
	t.Cleanup(s.Stop)
	tc, err := NewTCP(loopback.Listen(t, func(net.Conn) {}).Addr, TCPConfig{})
	if err != nil {
		t.Fatal(err)
	}
	hc, err := NewHTTP(rawServer(t, answer("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")), HTTPConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Set([]Spec{loopSpec("tcp", tc, time.Second), loopSpec("http", hc, time.Second)}); err != nil {
		t.Fatal(err)
	}
	return s, rec, func() string {
		logMu.Lock()
		defer logMu.Unlock()
		return logs.String()
	}
}

// waitResults waits until checks tcp and http have n results each.
func waitResults(t *testing.T, rec *loopResults, n int) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !rec.atLeast([]string{"tcp", "http"}, n); {
		if time.Now().After(deadline) {
			t.Fatalf("fewer than %d results for each check within 30s", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestLoopRingUnavailable: a kernel that refuses the ring at start (io_uring_enter
// failing: seccomp, io_uring_disabled) leaves the loop on epoll, says so, and its
// probes say what they would say on the ring.
func TestLoopRingUnavailable(t *testing.T) {
	s, rec, logs := ringFaultRun(t, func() bool { return true }, syscall.EPERM)
	waitResults(t, rec, 3)
	if on := s.loop.onRing.Load(); on != 0 {
		t.Errorf("%d probes on a ring that failed at start", on)
	}
	rec.mu.Lock()
	for id, rs := range rec.got {
		for _, r := range rs {
			if !r.OK {
				t.Errorf("%s: %q on epoll, want up", id, r.Reason)
			}
		}
	}
	rec.mu.Unlock()
	if l := logs(); !strings.Contains(l, "check event loop on epoll: io_uring unavailable") || !strings.Contains(l, "operation not permitted") {
		t.Errorf("the log does not say the loop runs on epoll, and why:\n%s", l)
	}
}

// TestLoopRingFailsOverToEpoll: a ring whose io_uring_enter starts failing mid-run is
// given up with an error in the log, not a panic; the probes it carried start again on
// epoll, so no check reports its real server down for it, and later probes run on epoll.
func TestLoopRingFailsOverToEpoll(t *testing.T) {
	var broken atomic.Bool
	s, rec, logs := ringFaultRun(t, broken.Load, syscall.EBADF)
	waitResults(t, rec, 3)
	testenv.Require(t, s.loop.onRing.Load() > 0, "the probe loop runs without io_uring on this kernel")
	rec.mu.Lock()
	before := len(rec.got["tcp"]) + len(rec.got["http"])
	n := max(len(rec.got["tcp"]), len(rec.got["http"]))
	rec.mu.Unlock()
	broken.Store(true)
	waitResults(t, rec, n+2)
	onRing := s.loop.onRing.Load()
	started := s.loop.started.Load()
	waitResults(t, rec, n+5)
	if s.loop.onRing.Load() != onRing || s.loop.started.Load() <= started {
		t.Error("probes still start on the ring after it failed")
	}
	rec.mu.Lock()
	all := append(rec.got["tcp"], rec.got["http"]...)
	for _, r := range all {
		if !r.OK {
			t.Errorf("%q: a failed ring counted against a real server that is up", r.Reason)
		}
	}
	rec.mu.Unlock()
	if len(all) <= before {
		t.Error("no result after the ring failed")
	}
	if l := logs(); !strings.Contains(l, "level=ERROR") || !strings.Contains(l, "io_uring failed, its probes continue on epoll") || !strings.Contains(l, "bad file descriptor") {
		t.Errorf("the ring's failure is not logged as an error, with its cause:\n%s", l)
	}
}

// TestLoopEpollPath runs the loop's tests again with every probe on epoll, the path of
// kernels without io_uring (or before 6.7, without a setsockopt through it).
func TestLoopEpollPath(t *testing.T) {
	noProbeRing = true
	defer func() { noProbeRing = false }()
	for name, f := range map[string]func(*testing.T){
		"TCP":        TestLoopTCP,
		"HTTP":       TestLoopHTTP,
		"ManyProbes": TestLoopManyProbes,
		"StopAborts": TestLoopStopAbortsProbes,
		"ringUnused": func(t *testing.T) {
			c, err := NewTCP(closedPort(t), TCPConfig{})
			if err != nil {
				t.Fatal(err)
			}
			s, _ := runOnLoop(t, []Spec{loopSpec("a", c, time.Second)}, 1)
			if s.loop.ring != nil || s.loop.onRing.Load() != 0 {
				t.Error("a probe went through the ring")
			}
		},
	} {
		t.Run(name, f)
	}
}

// TestLoopRingUnderFileLimit: under a soft RLIMIT_NOFILE below ringSlots (4095: Go's
// raise to the hard limit minus one under the kernel's default hard limit of 4096, as in
// the VM tests' guest) the ring registers as many slots as the limit allows instead of
// failing with EMFILE and leaving the loop on epoll.
func TestLoopRingUnderFileLimit(t *testing.T) {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	testenv.Require(t, lim.Max >= 4095, "RLIMIT_NOFILE hard limit %d below 4095", lim.Max)
	low := lim
	low.Cur = 4095
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &low); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Setrlimit(unix.RLIMIT_NOFILE, &lim) })
	c, err := NewTCP(closedPort(t), TCPConfig{})
	if err != nil {
		t.Fatal(err)
	}
	s, _ := runOnLoop(t, []Spec{loopSpec("a", c, time.Second)}, 2)
	if s.loop.ring == nil {
		// Only a kernel without the ring's setsockopt (before 6.7) may say no here.
		testenv.Require(t, ringOnKernel(t), "the probe loop runs without io_uring on this kernel")
		t.Fatal("no ring under RLIMIT_NOFILE 4095 on a kernel that has one otherwise")
	}
	if n := len(s.loop.ring.slots); n != 4095 {
		t.Errorf("%d slots under RLIMIT_NOFILE 4095, want 4095", n)
	}
	if s.loop.onRing.Load() == 0 {
		t.Error("no probe on the ring")
	}
}

// ringOnKernel reports whether a probe loop gets a ring at the current limits.
func ringOnKernel(t *testing.T) bool {
	var lim unix.Rlimit
	unix.Getrlimit(unix.RLIMIT_NOFILE, &lim)
	saved := lim
	lim.Cur = lim.Max
	unix.Setrlimit(unix.RLIMIT_NOFILE, &lim)
	defer unix.Setrlimit(unix.RLIMIT_NOFILE, &saved)
	l, err := newProbeLoop(NewScheduler(Options{}))
	if err != nil {
		t.Fatal(err)
	}
	defer l.close()
	return l.ring != nil
}

func TestRingSlotsFor(t *testing.T) {
	for _, tc := range []struct {
		soft uint64
		want int
	}{
		{1024, 1024},
		{4095, 4095},
		{4096, 4096},
		{1 << 20, ringSlots},
		{unix.RLIM_INFINITY, ringSlots},
	} {
		if got := ringSlotsFor(tc.soft); got != tc.want {
			t.Errorf("ringSlotsFor(%d) = %d, want %d", tc.soft, got, tc.want)
		}
	}
}

// TestLoopIdleOnEpoll: the loop sleeps between its probes on epoll, the path the VM
// tests' guest takes (no ring before Linux 6.7, or a ring refused at start): over 3 s
// of probes that pass, are refused and time out, every second, the process uses a
// small part of one CPU, where a spinning loop would use all of it (at SCHED_RR that
// starves the CPU's kernel threads).
func TestLoopIdleOnEpoll(t *testing.T) {
	for name, setup := range map[string]func(t *testing.T){
		"epoll": func(t *testing.T) {
			noProbeRing = true
			t.Cleanup(func() { noProbeRing = false })
		},
		"ring refused at start": func(t *testing.T) {
			probeRingFault = func(string) syscall.Errno { return syscall.EPERM }
			t.Cleanup(func() { probeRingFault = nil })
		},
	} {
		t.Run(name, func(t *testing.T) {
			setup(t)
			up, err := NewTCP(loopback.Listen(t, func(net.Conn) {}).Addr, TCPConfig{})
			if err != nil {
				t.Fatal(err)
			}
			web, err := NewHTTP(rawServer(t, answer("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")), HTTPConfig{})
			if err != nil {
				t.Fatal(err)
			}
			refused, err := NewTCP(closedPort(t), TCPConfig{})
			if err != nil {
				t.Fatal(err)
			}
			silent, err := NewTCP(unansweredSYN(t), TCPConfig{})
			if err != nil {
				t.Fatal(err)
			}
			rec := &loopResults{got: map[string][]Result{}}
			s := NewScheduler(Options{OnCheck: rec.onCheck, Jitter: func(time.Duration) time.Duration { return 0 }})
			t.Cleanup(s.Stop)
			var specs []Spec
			for id, c := range map[string]Checker{"up": up, "web": web, "refused": refused, "silent": silent} {
				sp := loopSpec(id, c, 200*time.Millisecond)
				sp.Interval = time.Second
				specs = append(specs, sp)
			}
			var before, after unix.Rusage
			unix.Getrusage(unix.RUSAGE_SELF, &before)
			if err := s.Set(specs); err != nil {
				t.Fatal(err)
			}
			if s.loop.ring != nil {
				t.Fatal("the loop has a ring")
			}
			time.Sleep(3 * time.Second)
			unix.Getrusage(unix.RUSAGE_SELF, &after)
			cpu := time.Duration(after.Utime.Nano()+after.Stime.Nano()-before.Utime.Nano()-before.Stime.Nano()) * time.Nanosecond
			t.Logf("%s of CPU in 3 s; %d probes", cpu, s.loop.started.Load())
			if s.loop.started.Load() < 8 {
				t.Errorf("%d probes in 3 s, want at least 8", s.loop.started.Load())
			}
			if cpu > time.Second {
				t.Errorf("the process used %s of CPU in 3 s of probes every second: the loop spins", cpu)
			}
		})
	}
}
