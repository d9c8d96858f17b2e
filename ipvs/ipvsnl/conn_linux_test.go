package ipvsnl

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/netlink"
)

const (
	nlmsgHdrLen = 16
	nlmsgError  = 2
	nlmsgDone   = 3
	nlmFMulti   = 0x2

	ctrlFamily       = 0x10 // GENL_ID_CTRL, the controller's family ("nlctrl")
	ctrlCmdGetFamily = 3
	nlmsgNoop        = 1 // the kernel drops a NOOP request without NLM_F_ACK unanswered
)

// controllerConn is a Conn on a real generic-netlink socket whose "family" is the
// controller's, which every kernel has and an unprivileged process may ask, so the
// socket policy is tried against the real kernel on any Linux host.
func controllerConn(t *testing.T, timeout time.Duration, opened *int) *Conn {
	t.Helper()
	c := newConn(&Config{Timeout: timeout}, "nlctrl", func() (*genetlink.Conn, error) { *opened++; return dialNetns("") })
	if err := c.s.Dial(context.Background()); err != nil {
		t.Skipf("no generic netlink here: %v", err)
	}
	return c
}

// askFamily looks up a generic-netlink family on c: a request the kernel answers.
func askFamily(ctx context.Context, c *Conn, name string) error {
	ae := netlink.NewAttributeEncoder()
	ae.String(2, name) // CTRL_ATTR_FAMILY_NAME
	attrs, _ := ae.Encode()
	_, err := c.execute(ctx, ctrlCmdGetFamily, 0, attrs)
	return err
}

// hang sends a request the kernel never answers.
func hang(ctx context.Context, c *Conn) error {
	// Until the socket is discarded: a new one resolves nlctrl again.
	if err := c.s.Do(context.Background(), func(s *sock) error { s.family = nlmsgNoop; return nil }); err != nil {
		return err
	}
	_, err := c.execute(ctx, 0, 0, nil)
	return err
}

// A call without an answer (moby/ipvs would retry its receive timeout forever) comes back
// with a deadline error, and the next call gets a fresh socket and its own answer.
func TestConnDeadline(t *testing.T) {
	opened := 0
	c := controllerConn(t, 50*time.Millisecond, &opened)
	defer c.Close()
	ctx := context.Background()

	start := time.Now()
	err := hang(ctx, c)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("unanswered call: err = %v, want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("unanswered call returned after %v", d)
	}
	if err := askFamily(ctx, c, "vigil-nofamily"); !errors.Is(err, syscall.ENOENT) {
		t.Errorf("next call: %v, want its own answer, ENOENT", err)
	}
	if err := askFamily(ctx, c, "nlctrl"); err != nil {
		t.Errorf("next call: %v", err)
	}
	if opened != 2 {
		t.Errorf("sockets opened = %d, want 2 (one more after the timeout)", opened)
	}

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := askFamily(cctx, c, "nlctrl"); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: %v", err)
	}
	// Cancelling the caller's context ends an unanswered call too.
	c.Close()
	c = controllerConn(t, time.Minute, &opened)
	defer c.Close()
	cctx, cancel = context.WithCancel(ctx)
	time.AfterFunc(20*time.Millisecond, cancel)
	start = time.Now()
	if err := hang(cctx, c); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled mid-call: %v, want Canceled", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("cancelled call returned after %v", d)
	}
	// A context deadline earlier than the timeout bounds the call.
	dctx, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
	defer cancel()
	if err := hang(dctx, c); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("context deadline: %v", err)
	}
	if err := askFamily(ctx, c, "nlctrl"); err != nil {
		t.Errorf("after the cancelled calls: %v", err)
	}
	c.Close()
	if err := askFamily(ctx, c, "nlctrl"); !errors.Is(err, ErrClosed) {
		t.Errorf("after Close: %v, want ErrClosed", err)
	}
}

// Dial in a namespace that does not exist names it.
func TestDialBadNetns(t *testing.T) {
	_, err := Dial(&Config{NetNS: "/nonexistent/netns"})
	if !errors.Is(err, os.ErrNotExist) || errors.Is(err, ErrNoFamily) {
		t.Errorf("Dial: %v", err)
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

// FuzzParseReplies answers a request with any datagram, split into messages as
// mdlayher/netlink's receive splits what recvmsg returns (syscall.ParseNetlinkMessage),
// with sequence number 7 standing for the request's: a dump (dump) or a command returns
// entries or an error and never panics, and a call that ends other than with the kernel's
// answer or a complete answer that does not decode leaves no socket behind.
func FuzzParseReplies(f *testing.F) {
	f.Add(append(nlmsg(fakeFamily, nlmFMulti, 7, genlMsg(cmdGetService, nil)), nlmsg(nlmsgDone, nlmFMulti, 7, nil)...), true)
	f.Fuzz(func(t *testing.T, b []byte, dump bool) {
		raw, err := syscall.ParseNetlinkMessage(b)
		if err != nil {
			return
		}
		c, err := New(fakeSocket(func(req netlink.Message) ([]netlink.Message, error) {
			var out []netlink.Message
			for _, r := range raw {
				m := netlink.Message{Header: netlink.Header{
					Length: r.Header.Len, Type: netlink.HeaderType(r.Header.Type),
					Flags: netlink.HeaderFlags(r.Header.Flags), Sequence: r.Header.Seq, PID: r.Header.Pid,
				}, Data: r.Data}
				if m.Header.Sequence == 7 {
					m.Header.Sequence, m.Header.PID = req.Header.Sequence, req.Header.PID
				}
				out = append(out, m)
			}
			if len(out) == 0 {
				return nil, io.EOF
			}
			return out, nil
		}), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		ctx := context.Background()
		if dump {
			svcs, err := c.Services(ctx)
			for _, s := range svcs {
				if s.Family != Inet4 && s.Family != Inet6 {
					t.Fatalf("listed family %d", s.Family)
				}
			}
			classify(t, c, err)
			return
		}
		classify(t, c, c.SetDestination(ctx, Service{Family: Inet4, FWMark: 1}, Destination{Addr: ap("198.18.1.1:80"), Weight: 1}))
	})
}

// classify checks the recovery rule after a call that returned err: the socket stays
// after a complete answer (success, the kernel's errno, entries that do not decode) and
// goes after anything else.
func classify(t *testing.T, c *Conn, err error) {
	t.Helper()
	var (
		errno syscall.Errno
		oe    *netlink.OpError
	)
	kernel := errors.As(err, &errno) && !errors.As(err, &oe) // as execute returns it
	kept := err == nil || kernel || errors.Is(err, errMalformed)
	if kept != c.s.Holding() {
		t.Fatalf("call ended with %v; socket kept: %v", err, c.s.Holding())
	}
}
