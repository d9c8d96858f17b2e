package procevents

import (
	"encoding/binary"
	"errors"
	"syscall"
	"testing"
)

// msg builds a proc connector message: cn_msg, then proc_event with data.
func msg(what uint32, data ...int32) []byte {
	ne := binary.NativeEndian
	ev := make([]byte, eventHeaderLen+4*len(data))
	ne.PutUint32(ev[0:], what)
	ne.PutUint32(ev[4:], 1)         // cpu
	ne.PutUint64(ev[8:], 123456789) // timestamp
	for i, d := range data {
		ne.PutUint32(ev[eventHeaderLen+4*i:], uint32(d))
	}
	b := make([]byte, cnMsgLen, cnMsgLen+len(ev))
	ne.PutUint32(b[0:], cnIdxProc)
	ne.PutUint32(b[4:], cnValProc)
	ne.PutUint16(b[16:], uint16(len(ev)))
	return append(b, ev...)
}

func TestDecode(t *testing.T) {
	other := msg(whatExec, 5, 5)
	binary.NativeEndian.PutUint32(other[0:], 7) // another connector
	lying := msg(whatExec, 5, 5)
	binary.NativeEndian.PutUint16(lying[16:], 200)
	for _, tc := range []struct {
		name    string
		b       []byte
		want    Event
		ok      bool
		errKind string // "", "subscribe", "malformed"
	}{
		{"exec", msg(whatExec, 42, 40), Event{Kind: Exec, Pid: 40}, true, ""},
		{"fork of a process", msg(whatFork, 10, 10, 11, 11), Event{Kind: Fork, Pid: 11, Parent: 10}, true, ""},
		{"fork of a thread", msg(whatFork, 10, 10, 12, 10), Event{}, false, ""},
		{"comm", msg(whatComm, 9, 9, 0, 0, 0, 0), Event{Kind: Comm, Pid: 9}, true, ""},
		{"exit of the leader", msg(whatExit, 9, 9, 0, 15, 1, 1), Event{Kind: Exit, Pid: 9}, true, ""},
		{"exit of a thread", msg(whatExit, 10, 9, 0, 0, 1, 1), Event{}, false, ""},
		{"uid change ignored", msg(0x4, 9, 9, 0, 0), Event{}, false, ""},
		{"ack ok", msg(whatNone, 0), Event{}, false, ""},
		{"ack EPERM", msg(whatNone, int32(syscall.EPERM)), Event{}, false, "subscribe"},
		{"another connector", other, Event{}, false, ""},
		{"short header", make([]byte, 10), Event{}, false, "malformed"},
		{"length beyond the data", lying, Event{}, false, "malformed"},
		{"exec truncated", msg(whatExec, 42), Event{}, false, "malformed"},
		{"no event header", msg(whatExec)[:cnMsgLen+8], Event{}, false, "malformed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "no event header" {
				binary.NativeEndian.PutUint16(tc.b[16:], 8)
			}
			got, ok, err := Decode(tc.b)
			var se SubscribeError
			kind := ""
			switch {
			case errors.As(err, &se):
				kind = "subscribe"
			case err != nil:
				kind = "malformed"
			}
			if got != tc.want || ok != tc.ok || kind != tc.errKind {
				t.Errorf("Decode = %+v, %v, %v; want %+v, %v, %s error", got, ok, err, tc.want, tc.ok, tc.errKind)
			}
		})
	}
}

func TestSubscribeMessage(t *testing.T) {
	b := subscribeMessage(true)
	ne := binary.NativeEndian
	if len(b) != 24 || ne.Uint32(b[0:]) != 1 || ne.Uint32(b[4:]) != 1 || ne.Uint16(b[16:]) != 4 || ne.Uint32(b[20:]) != 1 {
		t.Errorf("listen message % x", b)
	}
	if ne.Uint32(subscribeMessage(false)[20:]) != 2 {
		t.Error("ignore message is not PROC_CN_MCAST_IGNORE")
	}
}

func TestSplitCmdline(t *testing.T) {
	for in, want := range map[string][]string{
		"":            nil,
		"haproxy\x00": {"haproxy"},
		"/usr/sbin/haproxy\x00-f\x00/etc/h.cfg\x00": {"/usr/sbin/haproxy", "-f", "/etc/h.cfg"},
		"a\x00\x00b\x00": {"a", "", "b"},
		"no terminator":  {"no terminator"},
	} {
		got := splitCmdline([]byte(in))
		if len(got) != len(want) {
			t.Errorf("%q: %q, want %q", in, got, want)
			continue
		}
		for i := range got {
			if got[i] != want[i] {
				t.Errorf("%q: %q, want %q", in, got, want)
			}
		}
	}
}

func FuzzDecode(f *testing.F) {
	for _, b := range [][]byte{msg(whatExec, 1, 1), msg(whatFork, 1, 1, 2, 2), msg(whatExit, 3, 3, 0, 0, 0, 0), msg(whatNone, 1), msg(whatComm, 4, 4, 0, 0, 0, 0)} {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, ok, err := Decode(b)
		if err != nil && ok {
			t.Fatalf("ok with an error: %v", err)
		}
		if ok && (ev.Kind < Exec || ev.Kind > Exit) {
			t.Fatalf("event of kind %v", ev.Kind)
		}
	})
}
