package userspace

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
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
