package ipvs

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func u16(v uint16) []byte { return binary.NativeEndian.AppendUint16(nil, v) }
func u32(v uint32) []byte { return binary.NativeEndian.AppendUint32(nil, v) }
func u64(v uint64) []byte { return binary.NativeEndian.AppendUint64(nil, v) }

// kernelServiceMsg builds a GET_SERVICE dump message as ip_vs_genl_fill_service does.
func kernelServiceMsg(s Service, st Stats) []byte {
	var in []byte
	in = appendAttr(in, svcAttrAF, u16(uint16(s.Family)))
	if s.IsFWMark() {
		in = appendAttr(in, svcAttrFWMark, u32(s.FWMark))
	} else {
		in = appendAttr(in, svcAttrProtocol, u16(uint16(s.Protocol)))
		var raw [16]byte
		a := s.Addr.Addr()
		if a.Is4() {
			b := a.As4()
			copy(raw[:], b[:])
		} else {
			raw = a.As16()
		}
		in = appendAttr(in, svcAttrAddr, raw[:])
		in = appendAttr(in, svcAttrPort, binary.BigEndian.AppendUint16(nil, s.Addr.Port()))
	}
	in = appendAttr(in, svcAttrSchedName, append([]byte(s.Scheduler), 0))
	flags := uint32(s.Flags) | 0x2 // IP_VS_SVC_F_HASHED, as the kernel reports it
	if s.Persistent {
		flags |= flagPersistent
	}
	in = appendAttr(in, svcAttrFlags, append(u32(flags), u32(^uint32(0))...))
	in = appendAttr(in, svcAttrTimeout, u32(uint32(s.Timeout/time.Second)))
	m := s.Netmask
	if m == 0 {
		m = s.hostBits()
	}
	in = appendAttr(in, svcAttrNetmask, u32(encodeNetmask(uint16(s.Family), m)))
	in = appendAttr(in, svcAttrStats, kernelStats(st, false))
	in = appendAttr(in, svcAttrStats64, kernelStats(st, true))
	return append([]byte{ipvsCmdGetService, 1, 0, 0}, appendAttr(nil, ipvsCmdAttrService|0x8000, in)...)
}

func kernelStats(st Stats, wide bool) []byte {
	var b []byte
	put := func(typ uint16, v uint64, u64ever bool) {
		if wide || u64ever {
			b = appendAttr(b, typ, u64(v))
		} else {
			b = appendAttr(b, typ, u32(uint32(v)))
		}
	}
	put(statsConns, st.Conns, false)
	put(statsInPkts, st.InPkts, false)
	put(statsOutPkts, st.OutPkts, false)
	put(statsInBytes, st.InBytes, true)
	put(statsOutBytes, st.OutBytes, true)
	put(statsCPS, st.CPS, false)
	put(statsInPPS, st.InPPS, false)
	put(statsOutPPS, st.OutPPS, false)
	put(statsInBPS, st.InBPS, false)
	put(statsOutBPS, st.OutBPS, false)
	return b
}

func kernelDestMsg(d DestinationInfo, af Family) []byte {
	var in []byte
	var raw [16]byte
	a := d.Addr.Addr()
	if a.Is4() {
		b := a.As4()
		copy(raw[:], b[:])
	} else {
		raw = a.As16()
	}
	in = appendAttr(in, destAttrAddr, raw[:])
	in = appendAttr(in, destAttrPort, binary.BigEndian.AppendUint16(nil, d.Addr.Port()))
	in = appendAttr(in, destAttrFwd, u32(uint32(d.Forwarding)))
	in = appendAttr(in, destAttrWeight, u32(uint32(d.Weight)))
	in = appendAttr(in, destAttrUThresh, u32(d.Upper))
	in = appendAttr(in, destAttrLThresh, u32(d.Lower))
	in = appendAttr(in, destAttrActive, u32(d.ActiveConns))
	in = appendAttr(in, destAttrInactive, u32(d.InactiveConns))
	in = appendAttr(in, 9, u32(0)) // PERSIST_CONNS
	in = appendAttr(in, destAttrStats, kernelStats(d.Stats, false))
	in = appendAttr(in, destAttrAF, u16(uint16(af)))
	in = appendAttr(in, destAttrStats64, kernelStats(d.Stats, true))
	return append([]byte{ipvsCmdGetDest, 1, 0, 0}, appendAttr(nil, ipvsCmdAttrDest|0x8000, in)...)
}

func TestDecodeKernelMessages(t *testing.T) {
	opt := cmpopts.EquateComparable(netip.Addr{}, netip.AddrPort{})
	big := Stats{Conns: 5_000_000_000, InPkts: 1 << 40, OutPkts: 3, InBytes: 1 << 50, OutBytes: 9, CPS: 1, InPPS: 2, OutPPS: 3, InBPS: 4, OutBPS: 5}
	for _, s := range []Service{
		{ServiceKey: AddrKey(TCP, netip.MustParseAddrPort("198.18.0.1:80")), Scheduler: "wlc"},
		{ServiceKey: AddrKey(UDP, netip.MustParseAddrPort("198.18.0.1:53")), Scheduler: "sh", Flags: SchedFlag1 | OnePacket, Persistent: true, Timeout: 300 * time.Second, Netmask: 24},
		{ServiceKey: AddrKey(TCP, netip.MustParseAddrPort("[2001:db8::1]:443")), Scheduler: "mh", Persistent: true, Timeout: time.Second, Netmask: 64},
		{ServiceKey: MarkKey(6666, Inet4), Scheduler: "rr"},
		{ServiceKey: MarkKey(7, Inet6), Scheduler: "rr", Persistent: true, Timeout: 60 * time.Second},
	} {
		got, err := decodeService(kernelServiceMsg(s, big))
		if err != nil {
			t.Fatalf("%s: %v", s.ServiceKey, err)
		}
		if diff := cmp.Diff(ServiceInfo{Service: s.Canonical(), Stats: big}, got, opt); diff != "" {
			t.Errorf("%s (-want +got):\n%s", s.ServiceKey, diff)
		}
	}
	for _, d := range []DestinationInfo{
		{Destination: Destination{Addr: netip.MustParseAddrPort("198.18.1.1:80"), Weight: 65535, Forwarding: Tunnel, Upper: 100, Lower: 10}, ActiveConns: 3, InactiveConns: 4, Stats: big},
		{Destination: Destination{Addr: netip.MustParseAddrPort("[2001:db8::5]:0"), Weight: 0, Forwarding: Direct}},
	} {
		got, err := decodeDestination(kernelDestMsg(d, FamilyOf(d.Addr.Addr())), Inet4)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(d, got, opt); diff != "" {
			t.Errorf("%s (-want +got):\n%s", d.Addr, diff)
		}
	}
	// Weights above 16 bits survive (moby/ipvs reads them as 16 bits).
	d := DestinationInfo{Destination: Destination{Addr: netip.MustParseAddrPort("198.18.1.1:80"), Weight: 70000}}
	if got, _ := decodeDestination(kernelDestMsg(d, Inet4), Inet4); got.Weight != 70000 {
		t.Errorf("weight 70000 decoded as %d", got.Weight)
	}
}

func FuzzDecodeService(f *testing.F) {
	f.Add(kernelServiceMsg(Service{ServiceKey: AddrKey(TCP, netip.MustParseAddrPort("198.18.0.1:80")), Scheduler: "rr"}, Stats{Conns: 1}))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := decodeService(b)
		if err != nil {
			return
		}
		if s.Family != Inet4 && s.Family != Inet6 {
			t.Fatalf("decoded family %d", s.Family)
		}
		if !s.IsFWMark() && FamilyOf(s.Addr.Addr()) != s.Family {
			t.Fatalf("address %s in family %s", s.Addr, s.Family)
		}
	})
}

func FuzzDecodeDestination(f *testing.F) {
	f.Add(kernelDestMsg(DestinationInfo{Destination: Destination{Addr: netip.MustParseAddrPort("198.18.1.1:80"), Weight: 1}}, Inet4), false)
	f.Fuzz(func(t *testing.T, b []byte, v6 bool) {
		af := Inet4
		if v6 {
			af = Inet6
		}
		d, err := decodeDestination(b, af)
		if err == nil && !d.Addr.Addr().IsValid() {
			t.Fatal("decoded a destination without an address")
		}
	})
}

func TestDestAttrsRoundTrip(t *testing.T) {
	for _, d := range []Destination{
		{Addr: netip.MustParseAddrPort("198.18.1.1:80"), Weight: 65535, Forwarding: Tunnel, Upper: 7, Lower: 3},
		{Addr: netip.MustParseAddrPort("[2001:db8::9]:0"), Weight: 0, Forwarding: Direct},
	} {
		got, err := decodeDestination(append([]byte{ipvsCmdNewDest, 1, 0, 0}, destAttrs(d, true)...), Inet4)
		if err != nil {
			t.Fatal(err)
		}
		if got.Destination != d {
			t.Errorf("round trip of %+v gives %+v", d, got.Destination)
		}
	}
}

func nlmsg(typ, flags uint16, seq uint32, body []byte) []byte {
	b := binary.NativeEndian.AppendUint32(nil, uint32(nlmsgHdrLen+len(body)))
	b = binary.NativeEndian.AppendUint16(b, typ)
	b = binary.NativeEndian.AppendUint16(b, flags)
	b = binary.NativeEndian.AppendUint32(b, seq)
	b = binary.NativeEndian.AppendUint32(b, 0)
	b = append(b, body...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

func TestParseReplies(t *testing.T) {
	eexist := binary.NativeEndian.AppendUint32(nil, uint32(0xffffffff-uint32(syscall.EEXIST)+1))
	tests := []struct {
		name     string
		in       []byte
		dump     bool
		wantN    int
		wantDone bool
		wantErr  error
	}{
		{"dump part", append(nlmsg(30, nlmFMulti, 7, []byte("a")), nlmsg(30, nlmFMulti, 7, []byte("b"))...), true, 2, false, nil},
		{"dump end", append(nlmsg(30, nlmFMulti, 7, []byte("a")), nlmsg(nlmsgDone, nlmFMulti, 7, nil)...), true, 1, true, nil},
		{"late reply skipped", append(nlmsg(nlmsgError, 0, 6, eexist), nlmsg(nlmsgError, 0, 7, make([]byte, 4))...), false, 0, true, nil},
		{"errno", nlmsg(nlmsgError, 0, 7, eexist), false, 0, true, syscall.EEXIST},
		{"single reply", nlmsg(30, 0, 7, []byte("x")), false, 1, true, nil},
		{"truncated", nlmsg(30, 0, 7, []byte("x"))[:10], false, 0, false, nil},
		{"bad length", []byte{200, 0, 0, 0, 30, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0}, false, 0, true, errMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := 0
			done, err := parseReplies(tt.in, 7, tt.dump, func([]byte) error { n++; return nil })
			if n != tt.wantN || done != tt.wantDone || !errors.Is(err, tt.wantErr) {
				t.Errorf("got %d bodies, done %v, err %v; want %d, %v, %v", n, done, err, tt.wantN, tt.wantDone, tt.wantErr)
			}
		})
	}
}

func FuzzParseReplies(f *testing.F) {
	f.Add(append(nlmsg(30, nlmFMulti, 7, []byte("abcd")), nlmsg(nlmsgDone, nlmFMulti, 7, nil)...), true)
	f.Fuzz(func(t *testing.T, b []byte, dump bool) {
		parseReplies(b, 7, dump, func(body []byte) error {
			if len(body) > len(b) {
				t.Fatal("body longer than the datagram")
			}
			return nil
		})
	})
}
