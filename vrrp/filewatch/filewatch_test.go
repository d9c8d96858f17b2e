package filewatch

import (
	"encoding/binary"
	"testing"
)

func rawEvent(wd int32, mask uint32, name string, pad int) []byte {
	ne := binary.NativeEndian
	n := 0
	if name != "" || pad > 0 {
		n = len(name) + pad
	}
	b := make([]byte, headerLen+n)
	ne.PutUint32(b[0:], uint32(wd))
	ne.PutUint32(b[4:], mask)
	ne.PutUint32(b[12:], uint32(n))
	copy(b[headerLen:], name)
	return b
}

func TestParseEvents(t *testing.T) {
	two := append(rawEvent(1, inCloseWrite, "prio", 4), rawEvent(1, inDelete, "other", 3)...)
	evs, err := parseEvents(two)
	if err != nil || len(evs) != 2 || evs[0] != (event{1, inCloseWrite, "prio"}) || evs[1] != (event{1, inDelete, "other"}) {
		t.Errorf("parseEvents = %+v, %v", evs, err)
	}
	if evs, err := parseEvents(rawEvent(1, inQOverflow, "", 0)); err != nil || len(evs) != 1 || evs[0].mask != inQOverflow {
		t.Errorf("overflow: %+v, %v", evs, err)
	}
	if evs, err := parseEvents(append(rawEvent(1, inCloseWrite, "prio", 4), 1, 2, 3)); err == nil || len(evs) != 1 {
		t.Errorf("truncated tail: %+v, %v; want the first event and an error", evs, err)
	}
	long := rawEvent(1, inCloseWrite, "prio", 4)
	binary.NativeEndian.PutUint32(long[12:], 1000)
	if _, err := parseEvents(long); err == nil {
		t.Error("a name longer than the buffer was accepted")
	}
}

func TestConcerns(t *testing.T) {
	for _, tc := range []struct {
		ev            event
		changed, gone bool
	}{
		{event{1, inCloseWrite, "prio"}, true, false},
		{event{1, inMovedTo, "prio"}, true, false},
		{event{1, inMovedFrom, "prio"}, true, false},
		{event{1, inDelete, "prio"}, true, false},
		{event{1, inCloseWrite, "prio.tmp"}, false, false},
		{event{1, inCloseWrite | inIsDir, "prio"}, false, false},
		{event{1, inQOverflow, ""}, true, false},
		{event{1, inIgnored, ""}, true, true},
	} {
		if c, g := concerns(tc.ev, "prio"); c != tc.changed || g != tc.gone {
			t.Errorf("%+v: changed %v gone %v, want %v %v", tc.ev, c, g, tc.changed, tc.gone)
		}
	}
}

func FuzzParseEvents(f *testing.F) {
	f.Add(rawEvent(1, inCloseWrite, "prio", 4))
	f.Add(append(rawEvent(1, inMovedTo, "a", 15), rawEvent(2, inIgnored, "", 0)...))
	f.Fuzz(func(t *testing.T, b []byte) {
		evs, _ := parseEvents(b)
		if len(evs)*headerLen > len(b) {
			t.Fatalf("%d events from %d bytes", len(evs), len(b))
		}
	})
}
