package checks

import "math"

// wheelSlots is the number of ticks a timerWheel holds in one turn: 5.12 s at the loop's
// 10 ms tick, more than the common check interval and timeout, so nearly every timer
// fires on its first pass.
const wheelSlots = 512

// timerWheel is a hashed timing wheel of the event loop's timers, each on a tick number:
// slot tick%wheelSlots holds a doubly linked list of the timers on that tick and on the
// same slot of later turns. Adding and removing a timer is O(1), where the binary heap it
// replaced sifted through ~10,000 timers (cache misses) twice per probe.
type timerWheel struct {
	slots [wheelSlots]*loopTimer
	n     int   // armed timers
	cur   int64 // the first tick not yet expired
}

// add arms t on tick, or on the first tick not yet expired if tick is past.
func (w *timerWheel) add(t *loopTimer, tick int64) {
	tick = max(tick, w.cur)
	t.tick, t.armed = tick, true
	s := &w.slots[tick%wheelSlots]
	t.prev, t.next = nil, *s
	if *s != nil {
		(*s).prev = t
	}
	*s = t
	w.n++
}

// remove disarms t, which is armed.
func (w *timerWheel) remove(t *loopTimer) {
	if t.prev != nil {
		t.prev.next = t.next
	} else {
		w.slots[t.tick%wheelSlots] = t.next
	}
	if t.next != nil {
		t.next.prev = t.prev
	}
	t.prev, t.next, t.armed = nil, nil, false
	w.n--
}

// expire disarms every timer on a tick up to now and appends it to due.
func (w *timerWheel) expire(now int64, due []*loopTimer) []*loopTimer {
	if now < w.cur {
		return due
	}
	from := w.cur
	if w.n == 0 {
		from = now + 1
	} else if now-from >= wheelSlots {
		// A whole turn or more since the last look: every slot once, and the tick
		// filter below takes every timer that is due.
		from = now - wheelSlots + 1
	}
	for k := from; k <= now; k++ {
		for t := w.slots[k%wheelSlots]; t != nil; {
			next := t.next
			if t.tick <= now {
				w.remove(t)
				due = append(due, t)
			}
			t = next
		}
	}
	w.cur = now + 1
	return due
}

// next returns the earliest tick a timer is armed on; ok is false when none is.
func (w *timerWheel) next() (tick int64, ok bool) {
	if w.n == 0 {
		return 0, false
	}
	// Slot k%wheelSlots holds ticks k, k+wheelSlots, ...: the first slot from cur with a
	// timer on tick k itself has the earliest. Otherwise every timer is a turn or more
	// away and the earliest is the least of them.
	best := int64(math.MaxInt64)
	for k := w.cur; k < w.cur+wheelSlots; k++ {
		for t := w.slots[k%wheelSlots]; t != nil; t = t.next {
			if t.tick == k {
				return k, true
			}
			best = min(best, t.tick)
		}
	}
	return best, true
}
