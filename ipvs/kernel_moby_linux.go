package ipvs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"syscall"
	"time"

	mobyipvs "github.com/moby/ipvs"

	"github.com/vigil-lb/vigil/ipvs/internal/session"
	"github.com/vigil-lb/vigil/ipvs/ipvsnl"
)

// mobyConn writes services and destinations through a github.com/moby/ipvs handle, under
// the same socket policy and recovery rule as the ipvsnl.Conn that reads
// (ipvs/internal/session): calls serialised, each bounded by KernelOptions.Deadline and its
// context, a handle that did not deliver the kernel's whole answer closed and the next
// write opening a new one. moby/ipvs's receive loop retries its own 3 s receive timeout
// forever; closing the handle ends it at once (its socket sits in the runtime's poller), so
// the interrupt is a Close.
//
// The handle is opened at the first write, so that a process that only reads (vigil ipvs
// list) never opens it. moby/ipvs resolves the IPVS family once per process and, when
// that fails, writes to family 0, which the kernel acknowledges without doing anything
// (moby/ipvs#27); every new handle is therefore probed (probeMoby) before it writes.
type mobyConn struct {
	s *session.Session[*mobyipvs.Handle]
}

func newMobyConn(netns string, timeout time.Duration, log *slog.Logger) *mobyConn {
	closeHandle := func(h *mobyipvs.Handle) error { h.Close(); return nil }
	return &mobyConn{s: session.New(session.Ops[*mobyipvs.Handle]{
		Name: "moby/ipvs handle",
		Dial: func() (*mobyipvs.Handle, error) {
			h, err := mobyipvs.New(netns)
			if err != nil {
				return nil, fmt.Errorf("open moby/ipvs handle: %w", err)
			}
			return h, nil
		},
		Init:      func(_ context.Context, h *mobyipvs.Handle) error { return probeResult(h.DelService(probeService)) },
		Interrupt: closeHandle,
		Close:     closeHandle,
		Answered:  mobyAnswered,
		Closed:    ErrClosed,
	}, timeout, log)}
}

// probeService names no service the kernel can have: a service of address family 0, which
// ip_vs_genl_parse_service refuses with EAFNOSUPPORT before it looks anything up. Deleting
// it reaches IPVS only if moby/ipvs has the IPVS family's id.
var probeService = &mobyipvs.Service{AddressFamily: 0, FWMark: 1}

// probeResult judges the answer to deleting probeService.
func probeResult(err error) error {
	switch {
	case errors.Is(err, syscall.EAFNOSUPPORT):
		return nil
	case err == nil:
		return fmt.Errorf("%w: moby/ipvs resolved the IPVS generic netlink family before ip_vs was loaded or before it was reloaded, and keeps that id for the life of the process, so its writes would do nothing (moby/ipvs#27); restart vigil", ErrUnavailable)
	}
	return fmt.Errorf("probe the moby/ipvs handle: %w", err)
}

// mobyAnswered reports whether err, from a moby/ipvs call, is the kernel's errno answer.
// moby/ipvs returns the kernel's errno bare, but also the bare errno of a failed system
// call on its socket; those that only a socket gives are not answers.
func mobyAnswered(err error) bool {
	errno, ok := err.(syscall.Errno)
	if !ok {
		return false
	}
	switch errno {
	case syscall.EAGAIN, syscall.EBADF, syscall.ENOBUFS, syscall.ENOTSOCK, syscall.EINTR,
		syscall.EPIPE, syscall.ECONNREFUSED, syscall.EMSGSIZE:
		return false
	}
	return true
}

// do runs one write on the handle.
func (m *mobyConn) do(ctx context.Context, call func(h *mobyipvs.Handle) error) error {
	return m.s.Do(ctx, call)
}

func (m *mobyConn) close() error { return m.s.Close() }

// mobyService is ns as moby/ipvs takes it. moby/ipvs sends every field it has, so ns's
// key-only form (nlKey) is fine for the commands that need only the key; its Netmask goes
// on the wire as it is (a u32 in host byte order), so it is the attribute's value.
func mobyService(ns ipvsnl.Service) *mobyipvs.Service {
	ms := &mobyipvs.Service{
		AddressFamily: ns.Family,
		FWMark:        ns.FWMark,
		SchedName:     ns.Scheduler,
		Flags:         ns.Flags,
		Timeout:       ns.Timeout,
		Netmask:       ipvsnl.NetmaskAttr(ns.Family, ns.Netmask),
	}
	if ns.FWMark == 0 {
		ms.Protocol = ns.Protocol
		ms.Address = net.IP(ns.Addr.Addr().AsSlice())
		ms.Port = ns.Addr.Port()
	}
	return ms
}

// mobyDestination is d, a destination of a service of family af, as moby/ipvs takes it.
// moby/ipvs does not send a destination's own family (IPVS_DEST_ATTR_ADDR_FAMILY), so the
// kernel reads every destination in the service's family: a destination of the other
// family is refused here rather than written as a wrong address.
func mobyDestination(af uint16, d ipvsnl.Destination) (*mobyipvs.Destination, error) {
	a := d.Addr.Addr().Unmap()
	if got := uint16(FamilyOf(a)); got != af {
		return nil, fmt.Errorf("destination of family %s in a service of family %s: moby/ipvs cannot write one", Family(got), Family(af))
	}
	return &mobyipvs.Destination{
		Address:         net.IP(a.AsSlice()),
		Port:            d.Addr.Port(),
		Weight:          int(d.Weight),
		ConnectionFlags: d.Forwarding & ipvsnl.ForwardMask,
		UpperThreshold:  d.Upper,
		LowerThreshold:  d.Lower,
	}, nil
}

// kernelErrno is the kernel's errno with what it means for the IPVS command that got it
// (net/netfilter/ipvs/ip_vs_ctl.c), where the C library's text for the errno would
// mislead ("no such process" for a missing service).
type kernelErrno struct {
	meaning string
	errno   syscall.Errno
}

func (e *kernelErrno) Error() string { return e.meaning }
func (e *kernelErrno) Unwrap() error { return e.errno }

// explainErrno gives err's errno its IPVS meaning for a service command (dest false) or a
// destination command; other errors are returned as they are.
func explainErrno(err error, dest bool) error {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return err
	}
	var meaning string
	switch {
	case errno == syscall.ESRCH:
		meaning = "no such service (ESRCH)"
	case errno == syscall.ENOENT && dest:
		meaning = "no such destination (ENOENT)"
	case errno == syscall.ENOENT:
		meaning = "no such scheduler: the kernel has no ip_vs_<name> module for it (ENOENT)"
	default:
		return err
	}
	if err == error(errno) {
		return &kernelErrno{meaning, errno}
	}
	return &kernelErrno{meaning + ": " + err.Error(), errno}
}
