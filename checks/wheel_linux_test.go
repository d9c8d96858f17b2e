package checks

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestTimerWheel drives the wheel and a plain model with the same random adds, removes
// and expiries (ticks near and a few turns away, jumps of more than a turn): the same
// timers fire at the same times, and next always names the earliest armed tick.
func TestTimerWheel(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	var w timerWheel
	timers := make([]*loopTimer, 300)
	for i := range timers {
		timers[i] = &loopTimer{when: int64(i)}
	}
	model := map[*loopTimer]int64{} // armed timer -> tick
	now := int64(0)
	for step := range 20000 {
		switch r := rng.IntN(10); {
		case r < 5:
			tm := timers[rng.IntN(len(timers))]
			if tm.armed {
				w.remove(tm)
				delete(model, tm)
			}
			tick := now + int64(rng.IntN(3*wheelSlots)) - 2
			model[tm] = max(tick, w.cur) // a past tick fires on the first not yet expired
			w.add(tm, tick)
			if tm.tick != model[tm] {
				t.Fatalf("step %d: added on tick %d, want %d", step, tm.tick, model[tm])
			}
		case r < 7:
			tm := timers[rng.IntN(len(timers))]
			if tm.armed != (model[tm] != 0) {
				t.Fatalf("step %d: armed %v, model says %v", step, tm.armed, model[tm] != 0)
			}
			if tm.armed {
				w.remove(tm)
				delete(model, tm)
			}
		default:
			if rng.IntN(50) == 0 {
				now += int64(rng.IntN(4 * wheelSlots))
			} else {
				now += int64(rng.IntN(5))
			}
			got := w.expire(now, nil)
			var want []*loopTimer
			for tm, tick := range model {
				if tick <= now {
					want = append(want, tm)
					delete(model, tm)
				}
			}
			byWhen := func(a, b *loopTimer) int { return int(a.when - b.when) }
			slices.SortFunc(got, byWhen)
			slices.SortFunc(want, byWhen)
			if !slices.Equal(got, want) {
				t.Fatalf("step %d: expire(%d) fired %d timers, want %d", step, now, len(got), len(want))
			}
		}
		if w.n != len(model) {
			t.Fatalf("step %d: %d armed, model has %d", step, w.n, len(model))
		}
		next, ok := w.next()
		earliest, found := int64(0), false
		for _, tick := range model {
			if !found || tick < earliest {
				earliest, found = tick, true
			}
		}
		if ok != found || (ok && next != earliest) {
			t.Fatalf("step %d: next() = %d, %v; want %d, %v", step, next, ok, earliest, found)
		}
	}
}
