package director

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/conf"
	"github.com/vigil-lb/vigil/internal/clock"
	"github.com/vigil-lb/vigil/internal/metrics"
	"github.com/vigil-lb/vigil/internal/status"
	"github.com/vigil-lb/vigil/internal/testing/loopback"
	"github.com/vigil-lb/vigil/internal/testing/testenv"
	"github.com/vigil-lb/vigil/ipvs/userspace"
)

// TestUserspaceAcceptErrors: with no descriptor left, the userspace data plane's accepts
// fail with EMFILE and pause; the director's snapshot (/status) and /metrics show the
// service's count of them and the pause, and once the pause is over, the same count and
// no pause. The table's clock is fake and stands still, so the count holds still too
// (one failure per event loop) until it is moved past the pause.
func TestUserspaceAcceptErrors(t *testing.T) {
	fds := testenv.LowerFDLimit(t) // before the table: an io_uring accept takes the limit when submitted
	tableClock := clock.NewFake(time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC))
	table := userspace.New(userspace.Options{Clock: tableClock, DrainTimeout: time.Second})
	t.Cleanup(func() { table.Close() })
	rs := loopback.Listen(t, func(c net.Conn) { fmt.Fprintln(c, "rs1") })
	vsAddr := loopback.ClosedAddr(t, "127.0.0.1")
	cfg, diags := conf.Parse(fmt.Appendf(nil, `
global {
  resync_interval = "24h"
}
virtual_server "web" {
  address    = "%s"
  protocol   = "tcp"
  scheduler  = "rr"
  forwarding = "nat"
  real_server "rs1" {
    address = "%s"
  }
}
`, vsAddr, rs.Addr), "test.hcl")
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	f := startWith(t, table, cfg, Options{})
	m := metrics.New(f, metrics.BuildInfo{})
	accepts := func() status.Accepts { return f.Snapshot().VirtualServers[0].Accepts }
	if got := accepts(); got.AcceptErrors == nil || *got.AcceptErrors != 0 || got.AcceptsPaused {
		t.Fatalf("before any failure: %+v, want 0 errors, not paused", got)
	}
	if got := scrapeAccepts(t, m); got != "errors 0 paused 0" {
		t.Errorf("/metrics before any failure: %s, want errors 0 paused 0", got)
	}

	c := testenv.NewPendingClient(t)
	fds.Exhaust()
	c.Connect(t, vsAddr)
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if a := accepts(); a.AcceptErrors != nil && *a.AcceptErrors > 0 {
			break
		}
		if time.Now().After(deadline) {
			fds.Release()
			t.Fatal("no failed accept in the snapshot after 5 s with no descriptor left")
		}
	}
	time.Sleep(100 * time.Millisecond) // the other loops' failures
	fds.Release()

	paused := accepts()
	if paused.AcceptErrors == nil || *paused.AcceptErrors == 0 || !paused.AcceptsPaused {
		t.Fatalf("while paused: %+v, want errors and paused", paused)
	}
	n := *paused.AcceptErrors
	if got, want := scrapeAccepts(t, m), fmt.Sprintf("errors %d paused 1", n); got != want {
		t.Errorf("/metrics while paused: %s, want %s", got, want)
	}

	tableClock.Advance(time.Second) // past the longest pause
	if got, err := c.Read(t); err != nil || got != "rs1\n" {
		t.Fatalf("after the pause the client read %q (%v), want the real server's name", got, err)
	}
	if got := accepts(); got.AcceptErrors == nil || *got.AcceptErrors != n || got.AcceptsPaused {
		t.Errorf("after the pause: %+v, want %d errors, not paused", got, n)
	}
	if got, want := scrapeAccepts(t, m), fmt.Sprintf("errors %d paused 0", n); got != want {
		t.Errorf("/metrics after the pause: %s, want %s", got, want)
	}
}

// scrapeAccepts reads the web service's vigil_userspace_accept* series from m.
func scrapeAccepts(t *testing.T, m *metrics.Metrics) string {
	t.Helper()
	fams, err := m.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	var errs, paused []string
	for _, mf := range fams {
		for _, s := range mf.GetMetric() {
			var labels []string
			for _, l := range s.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			if !strings.Contains(strings.Join(labels, ","), "virtual_server=web") {
				continue
			}
			switch mf.GetName() {
			case "vigil_userspace_accept_errors_total":
				errs = append(errs, fmt.Sprint(s.GetCounter().GetValue()))
			case "vigil_userspace_accepts_paused":
				paused = append(paused, fmt.Sprint(s.GetGauge().GetValue()))
			}
		}
	}
	return fmt.Sprintf("errors %s paused %s", strings.Join(errs, ","), strings.Join(paused, ","))
}
