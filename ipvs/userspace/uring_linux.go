//go:build linux

package userspace

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
// bindings, and the loop needs only a submission queue, a completion queue and one
// io_uring_enter per pass.
//
// The structures and constants below are linux/io_uring.h's.

const (
	sysIOURingSetup = 425
	sysIOURingEnter = 426

	ioringSetupCQSize       = 1 << 3
	ioringSetupCoopTaskrun  = 1 << 8
	ioringSetupSingleIssuer = 1 << 12
	ioringSetupDeferTaskrun = 1 << 13

	ioringFeatNoDrop = 1 << 1
	ioringFeatExtArg = 1 << 8

	ioringEnterGetEvents = 1 << 0
	ioringEnterExtArg    = 1 << 3

	ioringOffSQRing = 0
	ioringOffCQRing = 0x8000000
	ioringOffSQEs   = 0x10000000

	sqeIOLink         = 1 << 2
	sqeCQESkipSuccess = 1 << 6

	ioringOpPollAdd     = 6
	ioringOpAccept      = 13
	ioringOpAsyncCancel = 14
	ioringOpClose       = 19
	ioringOpRead        = 22
	ioringOpSend        = 26
	ioringOpRecv        = 27
	ioringOpShutdown    = 34

	ioringAsyncCancelAll    = 1 << 0
	ioringAsyncCancelFD     = 1 << 1
	ioringRecvSendPollFirst = 1 << 0 // in ioprio
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

type sqe struct {
	opcode   uint8
	flags    uint8
	ioprio   uint16
	fd       int32
	off      uint64
	addr     uint64
	len      uint32
	opFlags  uint32
	userData uint64
	bufIndex uint16
	_        uint16
	fileIdx  uint32
	addr3    uint64
	_        uint64
}

type cqe struct {
	userData uint64
	res      int32
	flags    uint32
}

type getEventsArg struct {
	sigmask   uint64
	sigmaskSz uint32
	minWait   uint32
	ts        uint64
}

// ring is one io_uring. Not safe for concurrent use: with SINGLE_ISSUER and
// DEFER_TASKRUN only the thread that created it may submit and reap, so its owner
// locks itself to that thread.
type ring struct {
	fd             int
	sqMem, cqMem   []byte
	sqeMem         []byte
	sqHead, sqTail *uint32
	sqMask         uint32
	sqEntries      uint32
	sqes           []sqe
	cqHead, cqTail *uint32
	cqMask         uint32
	cqes           []cqe
	tail           uint32 // next free SQE; published on submit

	// err is sticky: once io_uring_enter has failed in a way no retry mends, get hands
	// out a scratch entry nothing submits, and the owner gives the ring up after its pass.
	err     error
	scratch sqe
	fault   func(call string) syscall.Errno // tests: carrierEnv.fault
}

// newRing sets up a ring with entries submission slots and cqEntries completion slots,
// for the calling thread only.
func newRing(entries, cqEntries uint32) (*ring, error) {
	p := uringParams{flags: ioringSetupCQSize | ioringSetupCoopTaskrun | ioringSetupSingleIssuer | ioringSetupDeferTaskrun, cqEntries: cqEntries}
	fd, _, e := unix.Syscall(sysIOURingSetup, uintptr(entries), uintptr(unsafe.Pointer(&p)), 0)
	if e != 0 {
		return nil, fmt.Errorf("io_uring_setup: %w", e)
	}
	r := &ring{fd: int(fd)}
	if p.features&ioringFeatNoDrop == 0 || p.features&ioringFeatExtArg == 0 {
		r.close()
		return nil, fmt.Errorf("io_uring: kernel lacks IORING_FEAT_NODROP or IORING_FEAT_EXT_ARG (features %#x)", p.features)
	}
	var err error
	sqSize := int(p.sqOff.array + p.sqEntries*4)
	if r.sqMem, err = unix.Mmap(r.fd, ioringOffSQRing, sqSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE); err != nil {
		r.close()
		return nil, fmt.Errorf("io_uring: mmap submission ring: %w", err)
	}
	cqSize := int(p.cqOff.cqes + p.cqEntries*uint32(unsafe.Sizeof(cqe{})))
	if r.cqMem, err = unix.Mmap(r.fd, ioringOffCQRing, cqSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE); err != nil {
		r.close()
		return nil, fmt.Errorf("io_uring: mmap completion ring: %w", err)
	}
	if r.sqeMem, err = unix.Mmap(r.fd, ioringOffSQEs, int(p.sqEntries)*int(unsafe.Sizeof(sqe{})), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE); err != nil {
		r.close()
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
	r.sqes = unsafe.Slice((*sqe)(unsafe.Pointer(&r.sqeMem[0])), p.sqEntries)
	r.cqHead = (*uint32)(unsafe.Add(cq, p.cqOff.head))
	r.cqTail = (*uint32)(unsafe.Add(cq, p.cqOff.tail))
	r.cqMask = *(*uint32)(unsafe.Add(cq, p.cqOff.ringMask))
	r.cqes = unsafe.Slice((*cqe)(unsafe.Add(cq, p.cqOff.cqes)), p.cqEntries)
	r.tail = atomic.LoadUint32(r.sqTail)
	return r, nil
}

func (r *ring) close() {
	for _, m := range [][]byte{r.sqeMem, r.cqMem, r.sqMem} {
		if m != nil {
			unix.Munmap(m)
		}
	}
	unix.Close(r.fd)
}

// get returns a zeroed submission entry, submitting what is queued first if the queue
// is full.
func (r *ring) get() *sqe {
	if r.reserve(1); r.err != nil {
		r.scratch = sqe{}
		return &r.scratch
	}
	e := &r.sqes[r.tail&r.sqMask]
	*e = sqe{}
	r.tail++
	return e
}

// reserve makes room for n entries, submitting what is queued if it must: the entries
// of a linked chain have to go to the kernel in the same submission.
func (r *ring) reserve(n uint32) {
	for try := 0; r.err == nil && r.tail-atomic.LoadUint32(r.sqHead)+n > r.sqEntries; try++ {
		if try == 1000 {
			r.err = errors.New("io_uring submission queue stays full: the kernel takes no entries")
			return
		}
		r.enter(false, 0)
	}
}

// enter submits what is queued and runs the ring's deferred work, which posts
// completions. With wait it blocks until at least one completion is ready, or until
// timeout (nanoseconds, if positive) has passed. An error it cannot retry sets r.err.
func (r *ring) enter(wait bool, timeout int64) {
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
	if r.fault != nil {
		if f := r.fault("io_uring_enter"); f != 0 {
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

// reap calls f for every completion ready, then releases their slots.
func (r *ring) reap(f func(*cqe)) {
	head := *r.cqHead
	tail := atomic.LoadUint32(r.cqTail)
	for ; head != tail; head++ {
		f(&r.cqes[head&r.cqMask])
	}
	atomic.StoreUint32(r.cqHead, head)
}
