package clock

import (
	"slices"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// AfterFunc callbacks run inside Advance, in time order, each seeing its own time; one
// scheduled by a callback within the step runs in the same Advance; a stopped one never.
func TestFakeAfterFunc(t *testing.T) {
	c := NewFake(t0)
	var got []string
	at := func(name string) func() {
		return func() { got = append(got, name+"@"+c.Now().Sub(t0).String()) }
	}
	c.AfterFunc(3*time.Second, at("c"))
	c.AfterFunc(time.Second, func() {
		at("a")()
		c.AfterFunc(time.Second, at("a+1s"))
	})
	stopped := c.AfterFunc(2*time.Second, at("stopped"))
	c.AfterFunc(time.Second, at("b")) // same time as a: in the order scheduled
	if !stopped.Stop() || stopped.Stop() {
		t.Error("Stop of a pending call: want true once, then false")
	}
	c.Advance(2500 * time.Millisecond)
	if want := []string{"a@1s", "b@1s", "a+1s@2s"}; !slices.Equal(got, want) {
		t.Errorf("after 2.5s: %q, want %q", got, want)
	}
	if n := c.Pending(); n != 1 {
		t.Errorf("Pending() = %d, want 1", n)
	}
	c.Advance(time.Second)
	if got[len(got)-1] != "c@3s" || !c.Now().Equal(t0.Add(3500*time.Millisecond)) {
		t.Errorf("after 3.5s: %q, now %v", got, c.Now().Sub(t0))
	}
}

// A timer sends once at its time; Reset re-arms it and Stop drops a value not yet read.
func TestFakeTimer(t *testing.T) {
	c := NewFake(t0)
	tm := c.NewTimer(time.Second)
	c.Advance(999 * time.Millisecond)
	select {
	case <-tm.C():
		t.Fatal("fired early")
	default:
	}
	c.Advance(time.Millisecond)
	if v := <-tm.C(); !v.Equal(t0.Add(time.Second)) {
		t.Errorf("fired with %v, want t0+1s", v)
	}
	if tm.Reset(time.Second) {
		t.Error("Reset of a fired timer reported it pending")
	}
	c.Advance(time.Second) // fires; not read
	if tm.Stop() {
		t.Error("Stop of a fired timer reported it pending")
	}
	select {
	case <-tm.C():
		t.Error("a stopped timer's channel held a stale value")
	default:
	}
	if tm.Reset(time.Hour) {
		t.Error("Reset of a stopped timer reported it pending")
	}
	if !tm.Reset(time.Second) {
		t.Error("Reset of a pending timer reported it not pending")
	}
	c.Advance(time.Second)
	if len(tm.C()) != 1 {
		t.Error("a re-armed timer did not fire at its new time")
	}
}

// A ticker sends every period and drops the ticks a slow reader misses; Reset changes the
// period from now.
func TestFakeTicker(t *testing.T) {
	c := NewFake(t0)
	tk := c.NewTicker(time.Second)
	c.Advance(3 * time.Second) // three ticks, one kept
	if v := <-tk.C(); !v.Equal(t0.Add(time.Second)) {
		t.Errorf("kept tick %v, want the first (t0+1s)", v.Sub(t0))
	}
	select {
	case <-tk.C():
		t.Error("missed ticks were queued")
	default:
	}
	tk.Reset(10 * time.Second)
	c.Advance(9 * time.Second)
	if len(tk.C()) != 0 {
		t.Error("ticked before the new period")
	}
	c.Advance(time.Second)
	if v := <-tk.C(); !v.Equal(t0.Add(13 * time.Second)) {
		t.Errorf("tick after Reset at %v, want t0+13s", v.Sub(t0))
	}
	tk.Stop()
	c.Advance(time.Minute)
	if len(tk.C()) != 0 || c.Pending() != 0 {
		t.Error("a stopped ticker ticked")
	}
}
