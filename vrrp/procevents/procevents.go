// Package procevents reports processes starting, changing name and exiting, from the
// kernel's proc connector (netlink, linux/cn_proc.h), and lists them from /proc, for
// VRRP process tracking (keepalived's track_process).
package procevents

import (
	"encoding/binary"
	"errors"
	"fmt"
	"syscall"
)

// Kind is what happened to a process.
type Kind uint8

const (
	// Exec: the process runs a new program (its name and command line changed).
	Exec Kind = iota + 1
	// Fork: a new process (not a thread) was created as a copy of its parent.
	Fork
	// Comm: the process changed its name (prctl PR_SET_NAME).
	Comm
	// Exit: the process ended.
	Exit
	// Lost: the kernel dropped events (the socket's buffer overflowed); whoever counts
	// processes must list them again.
	Lost
)

func (k Kind) String() string {
	return [...]string{"none", "exec", "fork", "comm", "exit", "lost"}[min(int(k), 5)]
}

// Event is one process event. Pid is the process (its thread group ID); Parent is the
// forking process for Fork.
type Event struct {
	Kind   Kind
	Pid    int
	Parent int
}

// SubscribeError is the kernel's refusal of a subscription (EPERM without
// CAP_NET_ADMIN, or outside the initial user and PID namespaces).
type SubscribeError struct{ Errno syscall.Errno }

func (e SubscribeError) Error() string { return "subscribe to process events: " + e.Errno.Error() }

func (e SubscribeError) Unwrap() error { return e.Errno }

// ErrLost is returned by Listener.Next when the kernel dropped events.
var ErrLost = errors.New("process events lost: the receive buffer overflowed")

// ErrUnsupported is returned by Listen where there is no proc connector.
var ErrUnsupported = errors.New("process events need Linux's proc connector (CONFIG_PROC_EVENTS)")

// The proc connector's wire format (linux/connector.h, linux/cn_proc.h), host byte
// order: struct cn_msg, then struct proc_event.
const (
	cnIdxProc = 1
	cnValProc = 1
	cnMsgLen  = 20 // idx, val, seq, ack (4 each), len, flags (2 each)
	// struct proc_event: what, cpu, timestamp_ns, then the event data (at 16).
	eventHeaderLen = 16

	mcastListen = 1
	mcastIgnore = 2

	whatNone = 0x00000000
	whatFork = 0x00000001
	whatExec = 0x00000002
	whatComm = 0x00000200
	whatExit = 0x80000000
)

// subscribeMessage is the connector message that turns events on (or off).
func subscribeMessage(on bool) []byte {
	b := make([]byte, cnMsgLen+4)
	ne := binary.NativeEndian
	ne.PutUint32(b[0:], cnIdxProc)
	ne.PutUint32(b[4:], cnValProc)
	ne.PutUint16(b[16:], 4)
	op := uint32(mcastListen)
	if !on {
		op = mcastIgnore
	}
	ne.PutUint32(b[cnMsgLen:], op)
	return b
}

// Decode parses one proc connector message (the payload of a netlink message). ok is
// false for messages that carry no event of interest: thread creation and thread exit,
// other events (uid, sid, ptrace...), and the subscription's acknowledgement, whose
// error is returned as a SubscribeError when it is not 0. A malformed message is an
// error of another type.
func Decode(b []byte) (ev Event, ok bool, err error) {
	ne := binary.NativeEndian
	if len(b) < cnMsgLen {
		return Event{}, false, fmt.Errorf("connector message of %d bytes: shorter than its %d-byte header", len(b), cnMsgLen)
	}
	if idx, val := ne.Uint32(b[0:]), ne.Uint32(b[4:]); idx != cnIdxProc || val != cnValProc {
		return Event{}, false, nil // another connector's message
	}
	n := int(ne.Uint16(b[16:]))
	data := b[cnMsgLen:]
	if n > len(data) {
		return Event{}, false, fmt.Errorf("connector message says %d bytes of data, has %d", n, len(data))
	}
	data = data[:n]
	if len(data) < eventHeaderLen {
		return Event{}, false, fmt.Errorf("process event of %d bytes: shorter than its %d-byte header", len(data), eventHeaderLen)
	}
	what := ne.Uint32(data[0:])
	d := data[eventHeaderLen:]
	need := map[uint32]int{whatNone: 4, whatFork: 16, whatExec: 8, whatComm: 8, whatExit: 8}[what]
	if len(d) < need {
		return Event{}, false, fmt.Errorf("process event %#x with %d bytes of data, needs %d", what, len(d), need)
	}
	i32 := func(off int) int { return int(int32(ne.Uint32(d[off:]))) }
	switch what {
	case whatNone:
		// The acknowledgement of a subscription: struct { u32 err; }.
		if e := ne.Uint32(d[0:]); e != 0 {
			return Event{}, false, SubscribeError{syscall.Errno(e)}
		}
	case whatFork:
		// parent_pid, parent_tgid, child_pid, child_tgid: a new thread has
		// child_pid != child_tgid.
		if i32(8) == i32(12) {
			return Event{Kind: Fork, Pid: i32(12), Parent: i32(4)}, true, nil
		}
	case whatExec:
		return Event{Kind: Exec, Pid: i32(4)}, true, nil
	case whatComm:
		return Event{Kind: Comm, Pid: i32(4)}, true, nil
	case whatExit:
		// process_pid, process_tgid: only the thread group leader's exit ends the process.
		if i32(0) == i32(4) {
			return Event{Kind: Exit, Pid: i32(4)}, true, nil
		}
	}
	return Event{}, false, nil
}
