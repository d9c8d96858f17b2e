package checks

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestHealthStep(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		start      Health
		rise, fall int
		results    string // p = pass, f = fail
		want       []State
	}{
		{"first pass is up at once", Health{}, 3, 3, "p", []State{Up}},
		{"first fail is down at once", Health{}, 3, 3, "f", []State{Down}},
		{"fall 3", Health{State: Up}, 2, 3, "fff", []State{Up, Up, Down}},
		{"rise 2", Health{State: Down}, 2, 3, "pp", []State{Down, Up}},
		{"a pass resets the fall streak", Health{State: Up}, 2, 3, "ffpff", []State{Up, Up, Up, Up, Up}},
		{"a fail resets the rise streak", Health{State: Down}, 2, 3, "pfpfp", []State{Down, Down, Down, Down, Down}},
		{"rise/fall 1 follow every result", Health{State: Up}, 1, 1, "fpf", []State{Down, Up, Down}},
		{"zero rise/fall act as 1", Health{State: Up}, 0, 0, "fp", []State{Down, Up}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := tc.start
			var got []State
			for _, r := range tc.results {
				h = h.Step(r == 'p', tc.rise, tc.fall)
				got = append(got, h.State)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("states (-want +got):\n%s", diff)
			}
		})
	}
}

func TestHealthAlternatingNeverMoves(t *testing.T) {
	t.Parallel()
	for _, start := range []State{Up, Down} {
		h := Health{State: start}
		for i := range 1000 {
			h = h.Step(i%2 == 0, 2, 3)
			if h.State != start {
				t.Fatalf("from %v, result %d moved the check to %v", start, i, h.State)
			}
		}
	}
}

func TestCombine(t *testing.T) {
	t.Parallel()
	seq := func(s ...State) func(func(State) bool) {
		return func(yield func(State) bool) {
			for _, x := range s {
				if !yield(x) {
					return
				}
			}
		}
	}
	for _, tc := range []struct {
		prev   State
		checks []State
		want   State
	}{
		{Unknown, []State{Unknown}, Unknown},
		{Unknown, []State{Up, Unknown}, Unknown},
		{Unknown, []State{Up, Up}, Up},
		{Unknown, []State{Unknown, Down}, Down},
		{Up, []State{Up, Unknown}, Up},
		{Down, []State{Up, Unknown}, Down},
		{Up, []State{Up, Down}, Down},
	} {
		if got := combine(tc.prev, seq(tc.checks...)); got != tc.want {
			t.Errorf("combine(%v, %v) = %v, want %v", tc.prev, tc.checks, got, tc.want)
		}
	}
}
