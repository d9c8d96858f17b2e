package ipvsnl

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/mdlayher/genetlink"
)

// The builders below write replies the way ip_vs_ctl.c does, byte by byte, with their own
// attribute encoder: they are the kernel's side of the tests, independent of the code
// under test.

const (
	protoTCP  = 6
	protoUDP  = 17
	forwTun   = 2
	forwRoute = 3

	onePacket  = 0x0004
	schedFlag1 = 0x0008
	schedFlag2 = 0x0010

	genlHdrLen = 4
)

func u16(v uint16) []byte { return binary.NativeEndian.AppendUint16(nil, v) }
func u32(v uint32) []byte { return binary.NativeEndian.AppendUint32(nil, v) }
func u64(v uint64) []byte { return binary.NativeEndian.AppendUint64(nil, v) }

// appendAttr appends a netlink attribute to b.
func appendAttr(b []byte, typ uint16, v []byte) []byte {
	var h [4]byte
	binary.NativeEndian.PutUint16(h[0:2], uint16(4+len(v)))
	binary.NativeEndian.PutUint16(h[2:4], typ)
	b = append(b, h[:]...)
	b = append(b, v...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// genlMsg is a generic-netlink message body: the 4-byte header, then attrs.
func genlMsg(cmd uint8, attrs []byte) []byte { return append([]byte{cmd, 1, 0, 0}, attrs...) }

// data is what genetlink hands the decoders: the attributes after the header.
func data(t testing.TB, msg []byte) []byte {
	t.Helper()
	var m genetlink.Message
	if err := m.UnmarshalBinary(msg); err != nil {
		t.Fatal(err)
	}
	return m.Data
}

// kernelServiceMsg builds a GET_SERVICE dump message as ip_vs_genl_fill_service does.
func kernelServiceMsg(s Service, st Stats) []byte {
	var in []byte
	in = appendAttr(in, svcAttrAF, u16(s.Family))
	if s.FWMark != 0 {
		in = appendAttr(in, svcAttrFWMark, u32(s.FWMark))
	} else {
		in = appendAttr(in, svcAttrProtocol, u16(s.Protocol))
		in = appendAttr(in, svcAttrAddr, rawAddr(s.Addr.Addr()))
		in = appendAttr(in, svcAttrPort, binary.BigEndian.AppendUint16(nil, s.Addr.Port()))
	}
	in = appendAttr(in, svcAttrSchedName, append([]byte(s.Scheduler), 0))
	in = appendAttr(in, svcAttrFlags, append(u32(s.Flags|FlagHashed), u32(^uint32(0))...))
	in = appendAttr(in, svcAttrTimeout, u32(s.Timeout))
	in = appendAttr(in, svcAttrNetmask, u32(encodeNetmask(s.Family, s.Netmask)))
	in = appendAttr(in, svcAttrStats, kernelStats(st, false))
	in = appendAttr(in, svcAttrStats64, kernelStats(st, true))
	return genlMsg(cmdGetService, appendAttr(nil, cmdAttrService|0x8000, in))
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

// kernelDestMsg builds a GET_DEST dump message as ip_vs_genl_fill_dest does.
func kernelDestMsg(d Destination) []byte {
	var in []byte
	in = appendAttr(in, destAttrAddr, rawAddr(d.Addr.Addr()))
	in = appendAttr(in, destAttrPort, binary.BigEndian.AppendUint16(nil, d.Addr.Port()))
	in = appendAttr(in, destAttrFwd, u32(d.Forwarding))
	in = appendAttr(in, destAttrWeight, u32(uint32(d.Weight)))
	in = appendAttr(in, destAttrUThresh, u32(d.Upper))
	in = appendAttr(in, destAttrLThresh, u32(d.Lower))
	in = appendAttr(in, destAttrActive, u32(d.ActiveConns))
	in = appendAttr(in, destAttrInactive, u32(d.InactiveConns))
	in = appendAttr(in, 9, u32(0)) // PERSIST_CONNS
	in = appendAttr(in, destAttrStats, kernelStats(d.Stats, false))
	in = appendAttr(in, destAttrAF, u16(d.Family))
	in = appendAttr(in, destAttrStats64, kernelStats(d.Stats, true))
	return genlMsg(cmdGetDest, appendAttr(nil, cmdAttrDest|0x8000, in))
}

var (
	ap      = netip.MustParseAddrPort
	addrOpt = cmpopts.EquateComparable(netip.Addr{}, netip.AddrPort{})
	big     = Stats{Conns: 5_000_000_000, InPkts: 1 << 40, OutPkts: 3, InBytes: 1 << 50, OutBytes: 9, CPS: 1, InPPS: 2, OutPPS: 3, InBPS: 4, OutBPS: 5}
)

func TestDecodeKernelMessages(t *testing.T) {
	for _, s := range []Service{
		{Family: Inet4, Protocol: protoTCP, Addr: ap("198.18.0.1:80"), Scheduler: "wlc", Netmask: 32},
		{Family: Inet4, Protocol: protoUDP, Addr: ap("198.18.0.1:53"), Scheduler: "sh", Flags: schedFlag1 | onePacket | FlagPersistent, Timeout: 300, Netmask: 24},
		{Family: Inet6, Protocol: protoTCP, Addr: ap("[2001:db8::1]:443"), Scheduler: "mh", Flags: FlagPersistent, Timeout: 1, Netmask: 64},
		{Family: Inet4, FWMark: 6666, Scheduler: "rr", Netmask: 32},
		{Family: Inet6, FWMark: 7, Scheduler: "rr", Flags: FlagPersistent, Timeout: 60, Netmask: 128},
	} {
		got, err := decodeService(data(t, kernelServiceMsg(s, big)))
		if err != nil {
			t.Fatalf("%+v: %v", s, err)
		}
		want := s
		want.Flags |= FlagHashed
		want.Stats = big
		if diff := cmp.Diff(want, got, addrOpt); diff != "" {
			t.Errorf("%s (-want +got):\n%s", s.Addr, diff)
		}
	}
	for _, d := range []Destination{
		{Family: Inet4, Addr: ap("198.18.1.1:80"), Weight: 65535, Forwarding: forwTun, Upper: 100, Lower: 10, ActiveConns: 3, InactiveConns: 4, Stats: big},
		{Family: Inet6, Addr: ap("[2001:db8::5]:0"), Weight: 0, Forwarding: forwRoute},
	} {
		got, err := decodeDestination(data(t, kernelDestMsg(d)), Inet4)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(d, got, addrOpt); diff != "" {
			t.Errorf("%s (-want +got):\n%s", d.Addr, diff)
		}
	}
	// Weights above 16 bits survive (moby/ipvs reads them as 16 bits).
	d := Destination{Family: Inet4, Addr: ap("198.18.1.1:80"), Weight: 70000}
	if got, _ := decodeDestination(data(t, kernelDestMsg(d)), Inet4); got.Weight != 70000 {
		t.Errorf("weight 70000 decoded as %d", got.Weight)
	}
}

func FuzzDecodeService(f *testing.F) {
	f.Add(kernelServiceMsg(Service{Family: Inet4, Protocol: protoTCP, Addr: ap("198.18.0.1:80"), Scheduler: "rr", Netmask: 32}, Stats{Conns: 1}))
	f.Fuzz(func(t *testing.T, b []byte) {
		var m genetlink.Message
		if m.UnmarshalBinary(b) != nil {
			return
		}
		s, err := decodeService(m.Data)
		if err != nil {
			return
		}
		if s.Family != Inet4 && s.Family != Inet6 {
			t.Fatalf("decoded family %d", s.Family)
		}
		if s.FWMark == 0 && s.Addr.Addr().Is4() != (s.Family == Inet4) {
			t.Fatalf("address %s in family %d", s.Addr, s.Family)
		}
		if s.Netmask < 0 || s.Netmask > hostBits(s.Family) {
			t.Fatalf("netmask /%d in family %d", s.Netmask, s.Family)
		}
	})
}

func FuzzDecodeDestination(f *testing.F) {
	f.Add(kernelDestMsg(Destination{Family: Inet4, Addr: ap("198.18.1.1:80"), Weight: 1}), false)
	f.Fuzz(func(t *testing.T, b []byte, v6 bool) {
		af := Inet4
		if v6 {
			af = Inet6
		}
		var m genetlink.Message
		if m.UnmarshalBinary(b) != nil {
			return
		}
		d, err := decodeDestination(m.Data, af)
		if err == nil && !d.Addr.Addr().IsValid() {
			t.Fatal("decoded a destination without an address")
		}
	})
}

// What vigil sends decodes, with the kernel's reading of it (ip_vs_genl_parse_*), to what
// was meant: the encoder (netlink.AttributeEncoder) and the decoder agree.
func TestRequestsRoundTrip(t *testing.T) {
	for _, d := range []Destination{
		{Family: Inet4, Addr: ap("198.18.1.1:80"), Weight: 65535, Forwarding: forwTun, Upper: 7, Lower: 3},
		{Family: Inet6, Addr: ap("[2001:db8::9]:0"), Weight: 0, Forwarding: forwRoute},
	} {
		svc := Service{Family: Inet4, Protocol: protoTCP, Addr: ap("198.18.0.1:80")}
		attrs, err := destRequest(svc, d, true)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeDestination(attrs, Inet4)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(d, got, addrOpt); diff != "" {
			t.Errorf("destination round trip (-want +got):\n%s", diff)
		}
		key, err := decodeServiceKey(attrs)
		if err != nil || key != svc {
			t.Errorf("service key of a destination request: %+v, %v; want %+v", key, err, svc)
		}
	}
	for _, s := range []Service{
		{Family: Inet4, Protocol: protoUDP, Addr: ap("198.18.0.1:53"), Scheduler: "sh", Flags: schedFlag1 | schedFlag2 | onePacket | FlagPersistent, Timeout: 300, Netmask: 24},
		{Family: Inet6, Protocol: protoTCP, Addr: ap("[2001:db8::1]:443"), Scheduler: "mh", Flags: FlagPersistent, Timeout: 1, Netmask: 64},
		{Family: Inet4, FWMark: 6666, Scheduler: "rr", Netmask: 32},
		{Family: Inet6, FWMark: 7, Scheduler: "lc", Netmask: 128},
	} {
		attrs, err := serviceRequest(s, true)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeService(attrs)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(s, got, addrOpt); diff != "" {
			t.Errorf("service round trip (-want +got):\n%s", diff)
		}
	}
	for _, bad := range []Service{
		{Family: Inet4, Protocol: protoTCP, Addr: ap("[2001:db8::1]:80"), Scheduler: "rr", Netmask: 32},
		{Family: Inet4, Protocol: protoTCP, Addr: ap("198.18.0.1:80"), Scheduler: "rr", Netmask: 33},
		{Family: Inet4, Protocol: protoTCP, Addr: ap("198.18.0.1:80"), Netmask: 32},
		{Family: Inet4, Protocol: protoTCP, Scheduler: "rr", Netmask: 32},
	} {
		if _, err := serviceRequest(bad, true); err == nil {
			t.Errorf("service %+v encoded, want an error", bad)
		}
	}
	if _, err := destRequest(Service{Family: Inet4, FWMark: 1}, Destination{}, true); err == nil {
		t.Error("a destination without an address encoded")
	}
}

// decodeServiceKey reads the service key of a request as ip_vs_genl_parse_service does.
func decodeServiceKey(attrs []byte) (Service, error) {
	s, err := decodeService(attrs)
	return Service{Family: s.Family, Protocol: s.Protocol, Addr: s.Addr, FWMark: s.FWMark}, err
}

func TestTimeoutsCodec(t *testing.T) {
	want := Timeouts{TCP: 900 * time.Second, TCPFin: 30 * time.Second, UDP: 60 * time.Second}
	attrs, err := timeoutRequest(want)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := decodeTimeouts(attrs); err != nil || got != want {
		t.Errorf("round trip: %+v, %v; want %+v", got, err, want)
	}
	// A zero timeout is not sent, so the kernel keeps its value.
	attrs, _ = timeoutRequest(Timeouts{UDP: time.Minute})
	n := 0
	walkAttrs(attrs, func(uint16, []byte) error { n++; return nil })
	if n != 1 {
		t.Errorf("SET_CONFIG for one timeout carries %d attributes", n)
	}
	if _, err := timeoutRequest(Timeouts{TCP: -time.Second}); err == nil {
		t.Error("negative timeout encoded")
	}
}

// kernelDaemonMsg builds a GET_DAEMON dump message as ip_vs_genl_dump_daemon does
// (state, interface, sync id, then the attributes vigil does not read).
func kernelDaemonMsg(d Daemon) []byte {
	in := appendAttr(nil, daemonAttrState, u32(d.State))
	in = appendAttr(in, daemonAttrMcastIfn, append([]byte(d.Interface), 0))
	in = appendAttr(in, daemonAttrSyncID, u32(uint32(d.SyncID)))
	in = appendAttr(in, 4, u16(1472))          // IPVS_DAEMON_ATTR_SYNC_MAXLEN
	in = appendAttr(in, 7, []byte{0x22, 0x90}) // IPVS_DAEMON_ATTR_MCAST_PORT 8848
	in = appendAttr(in, 8, []byte{1})          // IPVS_DAEMON_ATTR_MCAST_TTL
	return genlMsg(cmdNewDaemon, appendAttr(nil, cmdAttrDaemon, in))
}

func TestSyncDaemonCodec(t *testing.T) {
	for _, d := range []Daemon{
		{State: StateMaster, Interface: "eth0", SyncID: 51},
		{State: StateBackup, Interface: "bond0.1234", SyncID: 255},
	} {
		got, err := decodeDaemon(data(t, kernelDaemonMsg(d)))
		if err != nil || got != d {
			t.Errorf("decode(%+v) = %+v, %v", d, got, err)
		}
		// What vigil sends decodes to the same daemon.
		attrs, err := daemonRequest(d, true)
		if err != nil {
			t.Fatal(err)
		}
		got, err = decodeDaemon(attrs)
		if err != nil || got != d {
			t.Errorf("round trip %+v = %+v, %v", d, got, err)
		}
	}
	for _, tc := range []struct {
		name string
		msg  []byte
	}{
		{"empty", nil},
		{"no daemon attribute", genlMsg(cmdNewDaemon, nil)},
		{"unknown state", kernelDaemonMsg(Daemon{State: 3, Interface: "eth0"})},
		{"sync id above 255", genlMsg(cmdNewDaemon, appendAttr(nil, cmdAttrDaemon,
			appendAttr(appendAttr(nil, daemonAttrState, u32(1)), daemonAttrSyncID, u32(256))))},
		{"short state", genlMsg(cmdNewDaemon, appendAttr(nil, cmdAttrDaemon, appendAttr(nil, daemonAttrState, u16(1))))},
	} {
		var m genetlink.Message
		if m.UnmarshalBinary(tc.msg) != nil {
			continue // genetlink refuses it before the decoder sees it
		}
		if d, err := decodeDaemon(m.Data); err == nil {
			t.Errorf("%s: decoded %+v, want an error", tc.name, d)
		}
	}
	for _, name := range []string{"", "a-name-of-16-chr"} {
		if _, err := daemonRequest(Daemon{State: StateMaster, Interface: name}, true); err == nil {
			t.Errorf("interface %q accepted", name)
		}
	}
}

func FuzzDecodeSyncDaemon(f *testing.F) {
	f.Add(kernelDaemonMsg(Daemon{State: StateMaster, Interface: "eth0", SyncID: 51}))
	f.Add(kernelDaemonMsg(Daemon{State: StateBackup, Interface: "", SyncID: 0}))
	f.Fuzz(func(t *testing.T, b []byte) {
		var m genetlink.Message
		if m.UnmarshalBinary(b) != nil {
			return
		}
		d, err := decodeDaemon(m.Data)
		if err != nil {
			return
		}
		if d.State != StateMaster && d.State != StateBackup {
			t.Fatalf("decoded state %d", d.State)
		}
		if len(d.Interface) > 1<<16 {
			t.Fatal("interface longer than any attribute")
		}
	})
}

func TestNetmaskEncoding(t *testing.T) {
	for _, tc := range []struct {
		af     uint16
		prefix int
	}{{Inet4, 32}, {Inet4, 24}, {Inet4, 1}, {Inet4, 0}, {Inet6, 128}, {Inet6, 64}} {
		v := encodeNetmask(tc.af, tc.prefix)
		if got := decodeNetmask(tc.af, v); got != tc.prefix {
			t.Errorf("family %d /%d: encoded %#x decodes to /%d", tc.af, tc.prefix, v, got)
		}
	}
	// The kernel reads an IPv4 mask as network-order bytes: /24 is ff ff ff 00 on the wire.
	var b [4]byte
	binary.NativeEndian.PutUint32(b[:], encodeNetmask(Inet4, 24))
	if b != [4]byte{0xff, 0xff, 0xff, 0} {
		t.Errorf("/24 on the wire = % x, want ff ff ff 00", b)
	}
}

// FuzzNetmask decodes any IPVS_SVC_ATTR_NETMASK value the kernel could return: decoding
// never panics, stays in range, and a decoded prefix encodes back to the same mask.
func FuzzNetmask(f *testing.F) {
	f.Fuzz(func(t *testing.T, v uint32, v6 bool) {
		af := Inet4
		max := 32
		if v6 {
			af, max = Inet6, 128
		}
		p := decodeNetmask(af, v)
		if p < 0 || (p > max && !v6) {
			t.Fatalf("decode(%#x) = %d", v, p)
		}
		if p <= max {
			if got := decodeNetmask(af, encodeNetmask(af, p)); got != p {
				t.Fatalf("round trip of /%d gives /%d", p, got)
			}
		}
	})
}
