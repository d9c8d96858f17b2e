package ipvsnl

import (
	"context"
	"errors"
	"io"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/netlink"
	"github.com/mdlayher/netlink/nltest"
)

// fakeFamily is the IPVS family id the fake kernel hands out.
const fakeFamily = 0x22

// answer is the fake kernel's side of one IPVS request.
type answer func(req netlink.Message) ([]netlink.Message, error)

// fakeSocket is a generic-netlink connection to a fake kernel: nltest's socket, which
// answers the family lookup as the kernel's controller does and passes every IPVS
// request to fn.
func fakeSocket(fn answer) *genetlink.Conn {
	return genetlink.NewConn(nltest.Dial(func(reqs []netlink.Message) ([]netlink.Message, error) {
		if len(reqs) == 0 {
			return nil, io.EOF // a receive with nothing sent: no more replies
		}
		req := reqs[0]
		if req.Header.Type == 0x10 { // GENL_ID_CTRL: CTRL_CMD_GETFAMILY
			attrs := nltest.MustMarshalAttributes([]netlink.Attribute{
				{Type: 1, Data: u16(fakeFamily)},    // CTRL_ATTR_FAMILY_ID
				{Type: 2, Data: []byte("IPVS\x00")}, // CTRL_ATTR_FAMILY_NAME
				{Type: 3, Data: u32(1)},             // CTRL_ATTR_VERSION
			})
			return []netlink.Message{reply(req, 0x10, 0, genlMsg(1, attrs))}, nil
		}
		return fn(req)
	}))
}

// reply is a message answering req.
func reply(req netlink.Message, typ netlink.HeaderType, flags netlink.HeaderFlags, body []byte) netlink.Message {
	return netlink.Message{
		Header: netlink.Header{Type: typ, Flags: flags, Sequence: req.Header.Sequence, PID: req.Header.PID},
		Data:   body,
	}
}

// ack is the kernel's acknowledgement of req, or its error errno: netlink_ack copies the
// request's header, and with an error the whole request.
func ack(req netlink.Message, errno syscall.Errno) netlink.Message {
	echo, _ := req.MarshalBinary()
	if errno == 0 {
		echo = echo[:16]
	}
	return reply(req, netlink.Error, 0, append(u32(uint32(-int32(errno))), echo...))
}

// dumpOf is the answer to a dump: every body as a multi-part message, then DONE.
func dumpOf(req netlink.Message, bodies ...[]byte) []netlink.Message {
	var out []netlink.Message
	for _, b := range bodies {
		out = append(out, reply(req, fakeFamily, netlink.Multi, b))
	}
	return append(out, reply(req, netlink.Done, netlink.Multi, u32(0)))
}

func newFake(t *testing.T, fn answer) *Conn {
	t.Helper()
	c, err := New(fakeSocket(fn), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// Every call sends the command and flags ip_vs_ctl.c expects, with attributes that decode
// to what was asked.
func TestConnRequests(t *testing.T) {
	ctx := context.Background()
	svc := Service{Family: Inet4, Protocol: protoTCP, Addr: ap("198.18.0.1:80"), Scheduler: "wlc", Flags: FlagPersistent, Timeout: 60, Netmask: 24}
	dst := Destination{Family: Inet4, Addr: ap("198.18.1.1:8080"), Weight: 3, Forwarding: forwRoute, Upper: 9}
	type sent struct {
		cmd   uint8
		flags netlink.HeaderFlags
		attrs []byte
	}
	var got sent
	c := newFake(t, func(req netlink.Message) ([]netlink.Message, error) {
		if req.Header.Type != fakeFamily {
			t.Errorf("request to family %d, want the resolved %d", req.Header.Type, fakeFamily)
		}
		var m genetlink.Message
		if err := m.UnmarshalBinary(req.Data); err != nil {
			return nil, err
		}
		if m.Header.Version != 1 {
			t.Errorf("genl version %d, want the family's 1", m.Header.Version)
		}
		got = sent{m.Header.Command, req.Header.Flags, m.Data}
		if req.Header.Flags&netlink.Dump != 0 {
			return dumpOf(req), nil
		}
		return []netlink.Message{ack(req, 0)}, nil
	})
	const ackd, dumped = netlink.Request | netlink.Acknowledge, netlink.Request | netlink.Dump
	for _, tc := range []struct {
		name  string
		call  func() error
		cmd   uint8
		flags netlink.HeaderFlags
		check func(attrs []byte) error
	}{
		{"NewService", func() error { return c.NewService(ctx, svc) }, cmdNewService, ackd, wantService(svc)},
		{"SetService", func() error { return c.SetService(ctx, svc) }, cmdSetService, ackd, wantService(svc)},
		{"DelService", func() error { return c.DelService(ctx, svc) }, cmdDelService, ackd, wantKey(svc)},
		{"NewDestination", func() error { return c.NewDestination(ctx, svc, dst) }, cmdNewDest, ackd, wantDest(svc, dst)},
		{"SetDestination", func() error { return c.SetDestination(ctx, svc, dst) }, cmdSetDest, ackd, wantDest(svc, dst)},
		{"DelDestination", func() error { return c.DelDestination(ctx, svc, dst) }, cmdDelDest, ackd, wantKey(svc)},
		{"Services", func() error { _, err := c.Services(ctx); return err }, cmdGetService, dumped, nil},
		{"Destinations", func() error { _, err := c.Destinations(ctx, svc); return err }, cmdGetDest, dumped, wantKey(svc)},
		{"Daemons", func() error { _, err := c.Daemons(ctx); return err }, cmdGetDaemon, dumped, nil},
		{"NewDaemon", func() error { return c.NewDaemon(ctx, Daemon{State: StateBackup, Interface: "eth0", SyncID: 9}) }, cmdNewDaemon, ackd,
			func(b []byte) error {
				return equal(decodeDaemon(b))(Daemon{State: StateBackup, Interface: "eth0", SyncID: 9})
			}},
		{"DelDaemon", func() error { return c.DelDaemon(ctx, StateMaster) }, cmdDelDaemon, ackd, nil},
		{"SetTimeouts", func() error { return c.SetTimeouts(ctx, Timeouts{TCP: time.Hour}) }, cmdSetConfig, ackd,
			func(b []byte) error { return equal(decodeTimeouts(b))(Timeouts{TCP: time.Hour}) }},
	} {
		got = sent{}
		if err := tc.call(); err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if got.cmd != tc.cmd || got.flags != tc.flags {
			t.Errorf("%s sent command %d flags %s, want %d %s", tc.name, got.cmd, got.flags, tc.cmd, tc.flags)
		}
		if tc.check != nil {
			if err := tc.check(got.attrs); err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
		}
	}
}

func equal[T comparable](got T, err error) func(want T) error {
	return func(want T) error {
		if err != nil {
			return err
		}
		if diff := cmp.Diff(want, got, addrOpt); diff != "" {
			return errors.New("attributes (-want +got):\n" + diff)
		}
		return nil
	}
}

func wantService(s Service) func([]byte) error {
	return func(b []byte) error { return equal(decodeService(b))(s) }
}

func wantKey(s Service) func([]byte) error {
	key := Service{Family: s.Family, Protocol: s.Protocol, Addr: s.Addr, FWMark: s.FWMark}
	return func(b []byte) error { return equal(decodeServiceKey(b))(key) }
}

func wantDest(s Service, d Destination) func([]byte) error {
	return func(b []byte) error {
		if err := wantKey(s)(b); err != nil {
			return err
		}
		return equal(decodeDestination(b, s.Family))(d)
	}
}

// A dump's answer spans several receives (nltest hands out a multi-part answer in two);
// every entry comes back decoded, the timeouts from their one reply.
func TestConnAnswers(t *testing.T) {
	svcs := []Service{
		{Family: Inet4, Protocol: protoTCP, Addr: ap("198.18.0.1:80"), Scheduler: "wlc", Flags: FlagHashed, Netmask: 32, Stats: big},
		{Family: Inet6, FWMark: 7, Scheduler: "rr", Flags: FlagHashed | FlagPersistent, Timeout: 60, Netmask: 128},
	}
	c := newFake(t, func(req netlink.Message) ([]netlink.Message, error) {
		var m genetlink.Message
		m.UnmarshalBinary(req.Data)
		switch m.Header.Command {
		case cmdGetService:
			var bodies [][]byte
			for _, s := range svcs {
				s.Flags &^= FlagHashed // the builder adds it
				bodies = append(bodies, kernelServiceMsg(s, s.Stats))
			}
			return dumpOf(req, bodies...), nil
		case cmdGetConfig:
			attrs := appendAttr(appendAttr(appendAttr(nil, cmdAttrTimeoutTCP, u32(900)), cmdAttrTimeoutTCPFin, u32(120)), cmdAttrTimeoutUDP, u32(300))
			return []netlink.Message{reply(req, fakeFamily, 0, genlMsg(cmdSetConfig, attrs))}, nil
		}
		return []netlink.Message{ack(req, syscall.EINVAL)}, nil
	})
	got, err := c.Services(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(svcs, got, addrOpt); diff != "" {
		t.Errorf("services (-want +got):\n%s", diff)
	}
	to, err := c.Timeouts(context.Background())
	if want := (Timeouts{TCP: 900 * time.Second, TCPFin: 120 * time.Second, UDP: 300 * time.Second}); err != nil || to != want {
		t.Errorf("timeouts %+v, %v; want %+v", to, err, want)
	}
}

// The kernel's errno is an answer: it comes back as the syscall.Errno (with the kernel's
// text when it sent one) and the socket stays. Anything else that ends a call early
// discards the socket: a Conn from New is then closed, one from Dial opens a new socket.
func TestConnRecovery(t *testing.T) {
	ctx := context.Background()
	svc := Service{Family: Inet4, Protocol: protoTCP, Addr: ap("198.18.0.1:80"), Scheduler: "rr", Netmask: 32}
	var mode string
	fn := func(req netlink.Message) ([]netlink.Message, error) {
		switch mode {
		case "eexist":
			return []netlink.Message{ack(req, syscall.EEXIST)}, nil
		case "extack":
			m := ack(req, syscall.EINVAL)
			m.Header.Flags |= netlink.AcknowledgeTLVs
			m.Data = append(m.Data, appendAttr(nil, 1, []byte("Attribute failed policy validation\x00"))...) // NLMSGERR_ATTR_MSG
			return []netlink.Message{m}, nil
		case "late":
			m := ack(req, 0)
			m.Header.Sequence--
			return []netlink.Message{m}, nil
		case "short":
			return []netlink.Message{reply(req, netlink.Error, 0, []byte{1})}, nil
		}
		return []netlink.Message{ack(req, 0)}, nil
	}
	c := newFake(t, fn)

	mode = "eexist"
	err := c.NewService(ctx, svc)
	if !errors.Is(err, syscall.EEXIST) || err.Error() != "file exists" {
		t.Errorf("EEXIST answer: %v, want the bare errno", err)
	}
	mode = "extack"
	if err := c.NewService(ctx, svc); !errors.Is(err, syscall.EINVAL) || err.Error() != "invalid argument (kernel: Attribute failed policy validation)" {
		t.Errorf("extended ack: %q", err)
	}
	mode = ""
	if err := c.NewService(ctx, svc); err != nil {
		t.Errorf("after errno answers the socket stays: %v", err)
	}
	for _, m := range []string{"late", "short"} {
		c := newFake(t, fn)
		mode = m
		if err := c.NewService(ctx, svc); err == nil {
			t.Errorf("%s reply: no error", m)
		}
		mode = ""
		if err := c.NewService(ctx, svc); !errors.Is(err, ErrClosed) {
			t.Errorf("%s reply: next call on a Conn from New: %v, want ErrClosed", m, err)
		}
	}

	// With a dialer, the next call opens a fresh socket and gets its own answer.
	opened := 0
	c = newConn(nil, FamilyName, func() (*genetlink.Conn, error) { opened++; return fakeSocket(fn), nil })
	if err := c.s.Dial(ctx); err != nil {
		t.Fatal(err)
	}
	mode = "late"
	if err := c.NewService(ctx, svc); err == nil {
		t.Error("late reply: no error")
	}
	mode = "eexist"
	if err := c.NewService(ctx, svc); !errors.Is(err, syscall.EEXIST) {
		t.Errorf("call after a discard: %v, want its own answer", err)
	}
	if opened != 2 {
		t.Errorf("sockets opened = %d, want 2", opened)
	}
	c.Close()
	if err := c.NewService(ctx, svc); !errors.Is(err, ErrClosed) {
		t.Errorf("after Close: %v", err)
	}
}

// A malformed entry fails the listing with a located error instead of a partial table.
func TestConnMalformedDump(t *testing.T) {
	c := newFake(t, func(req netlink.Message) ([]netlink.Message, error) {
		good := kernelServiceMsg(Service{Family: Inet4, Protocol: protoTCP, Addr: ap("198.18.0.1:80"), Scheduler: "rr", Netmask: 32}, Stats{})
		bad := genlMsg(cmdGetService, appendAttr(nil, cmdAttrService, appendAttr(nil, svcAttrAF, u16(99))))
		return dumpOf(req, good, bad), nil
	})
	if svcs, err := c.Services(context.Background()); !errors.Is(err, errMalformed) || svcs != nil {
		t.Errorf("Services = %v, %v; want errMalformed", svcs, err)
	}
}

func TestNewWithoutFamily(t *testing.T) {
	gc := genetlink.NewConn(nltest.Dial(func(reqs []netlink.Message) ([]netlink.Message, error) {
		if len(reqs) == 0 {
			return nil, io.EOF
		}
		return []netlink.Message{ack(reqs[0], syscall.ENOENT)}, nil
	}))
	if _, err := New(gc, nil); !errors.Is(err, ErrNoFamily) || !errors.Is(err, syscall.ENOENT) {
		t.Errorf("New without the family: %v, want ErrNoFamily and ENOENT", err)
	}
}
