package userspace

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-lb/vigil/ipvs"
)

// TestAcceptBackoffSteps: a pause of 5 ms that doubles with each failure up to 1 s, and
// starts at 5 ms again after an accept succeeds.
func TestAcceptBackoffSteps(t *testing.T) {
	ms := time.Millisecond
	var b acceptBackoff
	var got []time.Duration
	for range 10 {
		got = append(got, b.failed())
	}
	want := []time.Duration{5 * ms, 10 * ms, 20 * ms, 40 * ms, 80 * ms, 160 * ms, 320 * ms, 640 * ms, time.Second, time.Second}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("pauses (-want +got):\n%s", diff)
	}
	b.accepted()
	if got := b.failed(); got != 5*ms {
		t.Errorf("first pause after a success: %v, want 5ms", got)
	}
}

// TestAcceptWarningOncePerSecond: of a run of failures, one a second is logged, with
// the number of those before it that were not.
func TestAcceptWarningOncePerSecond(t *testing.T) {
	t0 := time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)
	type event struct {
		at         time.Duration // since t0
		warn       bool
		suppressed int
	}
	tests := []struct {
		name   string
		events []event
	}{
		{"first failure warns", []event{{0, true, 0}}},
		{"failures within the second are counted", []event{
			{0, true, 0}, {5 * time.Millisecond, false, 0}, {15 * time.Millisecond, false, 0},
			{999 * time.Millisecond, false, 0}, {time.Second, true, 3},
		}},
		{"a quiet spell warns at the next failure", []event{
			{0, true, 0}, {10 * time.Second, true, 0}, {10*time.Second + time.Millisecond, false, 0},
			{12 * time.Second, true, 1},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var w acceptWarning
			var got []event
			for _, e := range tt.events {
				warn, n := w.failed(t0.Add(e.at))
				got = append(got, event{e.at, warn, n})
			}
			if diff := cmp.Diff(tt.events, got, cmp.AllowUnexported(event{})); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
		})
	}
}

// serviceAccepts is what tb.Services reports of k's failed accepts.
func serviceAccepts(t *testing.T, tb *Table, k ipvs.ServiceKey) *ipvs.AcceptStats {
	t.Helper()
	svcs, err := tb.Services(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range svcs {
		if s.ServiceKey == k {
			return s.Accepts
		}
	}
	t.Fatalf("Services lacks %s", k)
	return nil
}

// TestServicesAccepts: a TCP service reports its failed accepts from the start, at 0;
// a UDP service, which accepts nothing, reports none.
func TestServicesAccepts(t *testing.T) {
	tb := newTestTable(t, Options{})
	tk := addService(t, tb, ipvs.Service{Scheduler: "rr"}, nil, nil)
	uk := addService(t, tb, ipvs.Service{ServiceKey: ipvs.AddrKey(ipvs.UDP, freeUDPAddr(t)), Scheduler: "rr"}, nil, nil)
	if got := serviceAccepts(t, tb, tk); got == nil || *got != (ipvs.AcceptStats{}) {
		t.Errorf("TCP service: accepts %+v, want zero", got)
	}
	if got := serviceAccepts(t, tb, uk); got != nil {
		t.Errorf("UDP service: accepts %+v, want none", got)
	}
}
