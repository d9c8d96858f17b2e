package ipvs

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	mobyipvs "github.com/moby/ipvs"
)

// The model's services and destinations reach moby/ipvs with the kernel's numbers: the
// family of the address, 4-byte IPv4 addresses, the netmask as the attribute's host-order
// value (an IPv4 mask's network-order bytes, an IPv6 prefix length), persistence as the
// flag and seconds, the forwarding method alone in the connection flags.
func TestMobyConversions(t *testing.T) {
	ap := netip.MustParseAddrPort
	ne := func(b ...byte) uint32 { return binary.NativeEndian.Uint32(b) } // the attribute's bytes
	for _, tc := range []struct {
		svc  Service
		want mobyipvs.Service
	}{
		{Service{ServiceKey: AddrKey(TCP, ap("198.18.0.1:80")), Scheduler: "wlc"},
			mobyipvs.Service{AddressFamily: syscall.AF_INET, Protocol: syscall.IPPROTO_TCP, Address: net.IP{198, 18, 0, 1}, Port: 80, SchedName: "wlc", Netmask: ne(255, 255, 255, 255)}},
		{Service{ServiceKey: AddrKey(UDP, ap("198.18.0.1:53")), Scheduler: "sh", Flags: SchedFlag1 | OnePacket, Persistent: true, Timeout: 300 * time.Second, Netmask: 24},
			mobyipvs.Service{AddressFamily: syscall.AF_INET, Protocol: syscall.IPPROTO_UDP, Address: net.IP{198, 18, 0, 1}, Port: 53, SchedName: "sh", Flags: 0x0008 | 0x0004 | 0x0001, Timeout: 300, Netmask: ne(255, 255, 255, 0)}},
		{Service{ServiceKey: AddrKey(TCP, ap("[2001:db8::1]:443")), Scheduler: "mh", Persistent: true, Timeout: time.Second, Netmask: 64},
			mobyipvs.Service{AddressFamily: syscall.AF_INET6, Protocol: syscall.IPPROTO_TCP, Address: net.ParseIP("2001:db8::1"), Port: 443, SchedName: "mh", Flags: 0x0001, Timeout: 1, Netmask: 64}},
		{Service{ServiceKey: AddrKey(SCTP, ap("[::ffff:198.18.0.1]:9")), Scheduler: "rr"},
			mobyipvs.Service{AddressFamily: syscall.AF_INET, Protocol: syscall.IPPROTO_SCTP, Address: net.IP{198, 18, 0, 1}, Port: 9, SchedName: "rr", Netmask: ne(255, 255, 255, 255)}},
		{Service{ServiceKey: MarkKey(7, Inet6), Scheduler: "rr", Persistent: true, Timeout: time.Minute},
			mobyipvs.Service{AddressFamily: syscall.AF_INET6, FWMark: 7, SchedName: "rr", Flags: 0x0001, Timeout: 60, Netmask: 128}},
	} {
		ns, err := toNLService(tc.svc)
		if err != nil {
			t.Fatalf("%s: %v", tc.svc.ServiceKey, err)
		}
		if d := cmp.Diff(&tc.want, mobyService(ns)); d != "" {
			t.Errorf("%s (-want +got):\n%s", tc.svc.ServiceKey, d)
		}
	}

	d, err := mobyDestination(syscall.AF_INET, toNLDestination(Destination{Addr: ap("198.18.0.11:8080"), Weight: 65535, Forwarding: Tunnel, Upper: 10, Lower: 2}))
	want := &mobyipvs.Destination{Address: net.IP{198, 18, 0, 11}, Port: 8080, Weight: 65535, ConnectionFlags: 2, UpperThreshold: 10, LowerThreshold: 2}
	if err != nil || !cmp.Equal(want, d) {
		t.Errorf("destination %+v, %v; want %+v", d, err, want)
	}
	if _, err := mobyDestination(syscall.AF_INET6, toNLDestination(Destination{Addr: ap("198.18.0.11:80"), Weight: 1, Forwarding: Tunnel})); err == nil {
		t.Error("an IPv4 destination in an IPv6 service was accepted; moby/ipvs would write it as an IPv6 address")
	}
}

// moby/ipvs returns the kernel's answer and its socket's failures alike as bare errnos.
func TestMobyAnswered(t *testing.T) {
	for err, want := range map[error]bool{
		syscall.EEXIST: true, syscall.ESRCH: true, syscall.ENOENT: true, syscall.EINVAL: true,
		syscall.EAGAIN: false, syscall.EBADF: false, syscall.ENOBUFS: false,
		errors.New("Wrong pid 1, expected 2"): false, fmt.Errorf("x: %w", syscall.EEXIST): false,
	} {
		if got := mobyAnswered(err); got != want {
			t.Errorf("mobyAnswered(%v) = %v, want %v", err, got, want)
		}
	}
}

// The probe passes only on the kernel's EAFNOSUPPORT; a silent success is moby/ipvs#27.
func TestMobyProbe(t *testing.T) {
	if err := probeResult(syscall.EAFNOSUPPORT); err != nil {
		t.Errorf("EAFNOSUPPORT: %v", err)
	}
	if err := probeResult(nil); !errors.Is(err, ErrUnavailable) {
		t.Errorf("no answer from IPVS: %v, want ErrUnavailable", err)
	}
	if err := probeResult(syscall.EPERM); !errors.Is(err, syscall.EPERM) || errors.Is(err, ErrUnavailable) {
		t.Errorf("EPERM: %v", err)
	}
}

// An errno whose C library text would mislead gets the IPVS meaning, and keeps the errno.
func TestExplainErrno(t *testing.T) {
	for _, tc := range []struct {
		err  error
		dest bool
		want string
	}{
		{syscall.ESRCH, true, "no such service (ESRCH)"},
		{syscall.ENOENT, true, "no such destination (ENOENT)"},
		{syscall.ENOENT, false, "no such scheduler: the kernel has no ip_vs_<name> module for it (ENOENT)"},
		{syscall.EEXIST, true, "file exists"},
		{fmt.Errorf("%w (kernel: x)", syscall.ESRCH), false, "no such service (ESRCH): no such process (kernel: x)"},
	} {
		got := explainErrno(tc.err, tc.dest)
		var errno syscall.Errno
		errors.As(tc.err, &errno)
		if got.Error() != tc.want || !errors.Is(got, errno) {
			t.Errorf("explainErrno(%v, %v) = %q, want %q wrapping %v", tc.err, tc.dest, got, tc.want, errno)
		}
	}
}
