//go:build linux

package rawsys

import (
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// An io_uring instance (io_uring(7)), driven with raw system calls: x/sys has no
// bindings, and an event loop needs only a submission queue, a completion queue and one
// io_uring_enter per pass.
//
// The structures and constants below are linux/io_uring.h's.

const (
	sysIOURingSetup    = 425
	sysIOURingEnter    = 426
	sysIOURingRegister = 427

	ioringSetupCQSize = 1 << 3

	ioringFeatNoDrop = 1 << 1
	ioringFeatExtArg = 1 << 8

	ioringEnterGetEvents = 1 << 0
	ioringEnterExtArg    = 1 << 3

	ioringOffSQRing = 0
	ioringOffCQRing = 0x8000000
	ioringOffSQEs   = 0x10000000

	ioringCQEventfdDisabled = 1 << 0 // in the completion ring's flags

	ioringRegisterFiles        = 2
	ioringRegisterEventfd      = 4
	ioringRegisterEventfdAsync = 7
)

// Set-up flags (NewRing).
const (
	SetupCoopTaskrun  = 1 << 8
	SetupSingleIssuer = 1 << 12
	SetupDeferTaskrun = 1 << 13
)

// Submission entry flags (SQE.Flags).
const (
	SQEFixedFile      = 1 << 0
	SQEIOLink         = 1 << 2
	SQEIOHardlink     = 1 << 3
	SQECQESkipSuccess = 1 << 6
)

// Opcodes (SQE.Opcode) and their flags.
const (
	OpPollAdd     = 6
	OpAccept      = 13
	OpAsyncCancel = 14
	OpConnect     = 16
	OpClose       = 19
	OpRead        = 22
	OpSend        = 26
	OpRecv        = 27
	OpShutdown    = 34
	OpSocket      = 45
	OpURingCmd    = 46

	AsyncCancelAll     = 1 << 0 // in OpFlags
	AsyncCancelFD      = 1 << 1
	AsyncCancelAny     = 1 << 2
	AsyncCancelFDFixed = 1 << 3
	RecvSendPollFirst  = 1 << 0 // in Ioprio

	CmdSetsockopt = 3 // SOCKET_URING_OP_SETSOCKOPT, in Off (cmd_op), Linux 6.7
)

type sqringOffsets struct {
	head, tail, ringMask, ringEntries, flags, dropped, array, resv1 uint32
	userAddr                                                        uint64
}

type cqringOffsets struct {
	head, tail, ringMask, ringEntries, overflow, cqes, flags, resv1 uint32
	userAddr                                                        uint64
}

type uringParams struct {
	sqEntries, cqEntries, flags, sqThreadCPU, sqThreadIdle, features, wqFD uint32
	resv                                                                   [3]uint32
	sqOff                                                                  sqringOffsets
	cqOff                                                                  cqringOffsets
}

// SQE is a submission queue entry. For OpURingCmd with CmdSetsockopt, Addr holds the
// level in its low and the option in its high 32 bits, FileIndex the option's length
// and Addr3 a pointer to its value.
type SQE struct {
	Opcode    uint8
	Flags     uint8
	Ioprio    uint16
	Fd        int32
	Off       uint64
	Addr      uint64
	Len       uint32
	OpFlags   uint32
	UserData  uint64
	BufIndex  uint16
	_         uint16
	FileIndex uint32 // a fixed file's slot + 1 (OpSocket, OpClose); splice_fd_in, optlen
	Addr3     uint64
	_         uint64
}

// CQE is a completion queue entry.
type CQE struct {
	UserData uint64
	Res      int32
	Flags    uint32
}

type getEventsArg struct {
	sigmask   uint64
	sigmaskSz uint32
	minWait   uint32
	ts        uint64
}

// Ring is one io_uring. Not safe for concurrent use: with SINGLE_ISSUER and
// DEFER_TASKRUN only the thread that created it may submit and reap, so its owner
// locks itself to that thread.
type Ring struct {
	fd             int
	sqMem, cqMem   []byte
	sqeMem         []byte
	sqHead, sqTail *uint32
	sqMask         uint32
	sqEntries      uint32
	sqes           []SQE
	cqHead, cqTail *uint32
	cqFlags        *uint32
	cqMask         uint32
	cqes           []CQE
	tail           uint32 // next free SQE; published on submit

	// err is sticky: once io_uring_enter has failed in a way no retry mends, Get hands
	// out a scratch entry nothing submits, and the owner gives the ring up after its pass.
	err     error
	scratch SQE
	// Fault, when set (tests), is asked before each io_uring_enter; an errno it returns
	// is taken as the call's.
	Fault func(call string) syscall.Errno
}

// NewRing sets up a ring with entries submission slots, cqEntries completion slots and
// the Setup flags (SetupSingleIssuer: for the calling thread only).
func NewRing(entries, cqEntries, flags uint32) (*Ring, error) {
	p := uringParams{flags: ioringSetupCQSize | flags, cqEntries: cqEntries}
	fd, _, e := unix.Syscall(sysIOURingSetup, uintptr(entries), uintptr(unsafe.Pointer(&p)), 0)
	if e != 0 {
		return nil, fmt.Errorf("io_uring_setup: %w", e)
	}
	r := &Ring{fd: int(fd)}
	if p.features&ioringFeatNoDrop == 0 || p.features&ioringFeatExtArg == 0 {
		r.Close()
		return nil, fmt.Errorf("io_uring: kernel lacks IORING_FEAT_NODROP or IORING_FEAT_EXT_ARG (features %#x)", p.features)
	}
	var err error
	sqSize := int(p.sqOff.array + p.sqEntries*4)
	if r.sqMem, err = unix.Mmap(r.fd, ioringOffSQRing, sqSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE); err != nil {
		r.Close()
		return nil, fmt.Errorf("io_uring: mmap submission ring: %w", err)
	}
	cqSize := int(p.cqOff.cqes + p.cqEntries*uint32(unsafe.Sizeof(CQE{})))
	if r.cqMem, err = unix.Mmap(r.fd, ioringOffCQRing, cqSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE); err != nil {
		r.Close()
		return nil, fmt.Errorf("io_uring: mmap completion ring: %w", err)
	}
	if r.sqeMem, err = unix.Mmap(r.fd, ioringOffSQEs, int(p.sqEntries)*int(unsafe.Sizeof(SQE{})), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE); err != nil {
		r.Close()
		return nil, fmt.Errorf("io_uring: mmap submission entries: %w", err)
	}
	sq, cq := unsafe.Pointer(&r.sqMem[0]), unsafe.Pointer(&r.cqMem[0])
	r.sqHead = (*uint32)(unsafe.Add(sq, p.sqOff.head))
	r.sqTail = (*uint32)(unsafe.Add(sq, p.sqOff.tail))
	r.sqMask = *(*uint32)(unsafe.Add(sq, p.sqOff.ringMask))
	r.sqEntries = p.sqEntries
	// The indirection array maps ring slots to entries; fill it once, identity.
	array := unsafe.Slice((*uint32)(unsafe.Add(sq, p.sqOff.array)), p.sqEntries)
	for i := range array {
		array[i] = uint32(i)
	}
	r.sqes = unsafe.Slice((*SQE)(unsafe.Pointer(&r.sqeMem[0])), p.sqEntries)
	r.cqHead = (*uint32)(unsafe.Add(cq, p.cqOff.head))
	r.cqTail = (*uint32)(unsafe.Add(cq, p.cqOff.tail))
	r.cqFlags = (*uint32)(unsafe.Add(cq, p.cqOff.flags))
	r.cqMask = *(*uint32)(unsafe.Add(cq, p.cqOff.ringMask))
	r.cqes = unsafe.Slice((*CQE)(unsafe.Add(cq, p.cqOff.cqes)), p.cqEntries)
	r.tail = atomic.LoadUint32(r.sqTail)
	return r, nil
}

// Close unmaps and closes the ring; the kernel cancels what is still in flight.
func (r *Ring) Close() {
	for _, m := range [][]byte{r.sqeMem, r.cqMem, r.sqMem} {
		if m != nil {
			unix.Munmap(m)
		}
	}
	unix.Close(r.fd)
}

// Get returns a zeroed submission entry, submitting what is queued first if the queue
// is full.
func (r *Ring) Get() *SQE {
	if r.Reserve(1); r.err != nil {
		r.scratch = SQE{}
		return &r.scratch
	}
	e := &r.sqes[r.tail&r.sqMask]
	*e = SQE{}
	r.tail++
	return e
}

// Reserve makes room for n entries, submitting what is queued if it must: the entries
// of a linked chain have to go to the kernel in the same submission.
func (r *Ring) Reserve(n uint32) {
	for try := 0; r.err == nil && r.tail-atomic.LoadUint32(r.sqHead)+n > r.sqEntries; try++ {
		if try == 1000 {
			r.err = errors.New("io_uring submission queue stays full: the kernel takes no entries")
			return
		}
		r.Enter(false, 0)
	}
}

// Enter submits what is queued and runs the ring's deferred work, which posts
// completions. With wait it blocks until at least one completion is ready, or until
// timeout (nanoseconds, if positive) has passed. An error it cannot retry sets Err.
func (r *Ring) Enter(wait bool, timeout int64) {
	if r.err != nil {
		return
	}
	atomic.StoreUint32(r.sqTail, r.tail)
	// Entries the kernel has not consumed yet (it may stop early, short of memory).
	toSubmit := uintptr(r.tail - atomic.LoadUint32(r.sqHead))
	flags := uintptr(ioringEnterGetEvents)
	var minComplete uintptr
	var arg unsafe.Pointer
	var argSz uintptr
	var ts unix.Timespec
	var ga getEventsArg
	if wait {
		minComplete = 1
		if timeout > 0 {
			ts = unix.NsecToTimespec(timeout)
			ga.ts = uint64(uintptr(unsafe.Pointer(&ts)))
			flags |= ioringEnterExtArg
			arg, argSz = unsafe.Pointer(&ga), unsafe.Sizeof(ga)
		}
	}
	var e syscall.Errno
	if wait {
		// A blocking call: the runtime may give the thread's P to other goroutines
		// meanwhile.
		_, _, e = unix.Syscall6(sysIOURingEnter, uintptr(r.fd), toSubmit, minComplete, flags, uintptr(arg), argSz)
	} else {
		_, _, e = unix.RawSyscall6(sysIOURingEnter, uintptr(r.fd), toSubmit, 0, flags, 0, 0)
	}
	if r.Fault != nil {
		if f := r.Fault("io_uring_enter"); f != 0 {
			e = f
		}
	}
	switch e {
	case 0, unix.ETIME, unix.EINTR:
	case unix.EBUSY, unix.EAGAIN:
		// Completions overflowed (the kernel keeps them, NODROP) or memory is short
		// for now: the caller reaps, and what was not submitted goes next time.
	default:
		r.err = os.NewSyscallError("io_uring_enter", e)
	}
}

// Reap calls f for every completion ready, then releases their slots.
func (r *Ring) Reap(f func(*CQE)) {
	head := *r.cqHead
	tail := atomic.LoadUint32(r.cqTail)
	for ; head != tail; head++ {
		f(&r.cqes[head&r.cqMask])
	}
	atomic.StoreUint32(r.cqHead, head)
}

// SignalEventfd turns the signals of the eventfd registered with RegisterEventfd on or
// off (IORING_CQ_EVENTFD_DISABLED, Linux 5.8): a loop that reaps anyway before it waits
// turns them off while it runs, so that the completions it causes itself do not each
// signal it, and on again before it waits (then reaps once more).
func (r *Ring) SignalEventfd(on bool) {
	f := atomic.LoadUint32(r.cqFlags) &^ ioringCQEventfdDisabled
	if !on {
		f |= ioringCQEventfdDisabled
	}
	atomic.StoreUint32(r.cqFlags, f)
}

// Err is the error that ended the ring, if any (see Enter).
func (r *Ring) Err() error { return r.err }

// RegisterFilesSparse gives the ring n empty fixed-file slots (SQEFixedFile; OpSocket
// fills one given FileIndex).
func (r *Ring) RegisterFilesSparse(n int) error {
	fds := make([]int32, n)
	for i := range fds {
		fds[i] = -1
	}
	_, _, e := unix.Syscall6(sysIOURingRegister, uintptr(r.fd), ioringRegisterFiles, uintptr(unsafe.Pointer(&fds[0])), uintptr(n), 0, 0)
	if e != 0 {
		return fmt.Errorf("io_uring_register files: %w", e)
	}
	return nil
}

// RegisterEventfd makes the kernel signal evfd whenever it posts a completion; with
// async, only for those posted by its io-wq workers.
func (r *Ring) RegisterEventfd(evfd int, async bool) error {
	fd := int32(evfd)
	op := uintptr(ioringRegisterEventfd)
	if async {
		op = ioringRegisterEventfdAsync
	}
	_, _, e := unix.Syscall6(sysIOURingRegister, uintptr(r.fd), op, uintptr(unsafe.Pointer(&fd)), 1, 0, 0)
	if e != 0 {
		return fmt.Errorf("io_uring_register eventfd: %w", e)
	}
	return nil
}
