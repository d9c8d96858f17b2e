package ipvsnl

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"syscall"
	"time"

	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/netlink"

	"github.com/vigil-lb/vigil/ipvs/internal/session"
)

// DefaultTimeout bounds one call when Config.Timeout is zero.
const DefaultTimeout = 5 * time.Second

// ErrClosed is returned by every call after Close, and by a Conn made with New once it
// had to discard its socket.
var ErrClosed = errors.New("IPVS netlink connection is closed")

// ErrNoFamily means the kernel has no IPVS generic-netlink family: ip_vs is not loaded,
// and the lookup could not load it.
var ErrNoFamily = errors.New("no IPVS generic netlink family")

// Config configures Dial and New.
type Config struct {
	// NetNS is the path of the network namespace whose IPVS table to speak to, such as
	// /var/run/netns/lb or /proc/PID/ns/net. Empty means the caller's. Dial only.
	NetNS string
	// Timeout bounds every call, the request and its whole answer (DefaultTimeout when
	// zero).
	Timeout time.Duration
	// Logger receives a warning when a socket is discarded (nil discards them).
	Logger *slog.Logger
}

// Conn speaks IPVS on one generic-netlink socket, under the policy and recovery rule of
// package ipvs/internal/session, which the moby/ipvs handle of package ipvs shares: calls
// are serialised, one request and its whole answer at a time, each bounded by the timeout
// and by its context (a call cut short is woken by moving the socket's deadline into the
// past). A call that ends without the kernel's whole answer (the deadline passed, the
// context was cancelled, the socket failed, a reply did not belong to the request)
// closes the socket, because whatever the kernel still sends would be read as the answer
// to the next request; the next call opens a new socket. An errno in the answer is the
// kernel's answer: the call returns it as a syscall.Errno and the socket stays.
type Conn struct {
	name string // FamilyName; tests use the controller's
	s    *session.Session[*sock]
}

// sock is one generic-netlink socket and the IPVS family as resolved on it.
type sock struct {
	gc      *genetlink.Conn
	family  uint16
	version uint8
}

// Dial opens a generic-netlink socket in cfg.NetNS (nil cfg: defaults) and resolves the
// IPVS family on it. The lookup is what makes IPVS usable where `modprobe ip_vs` is not:
// the kernel answers a lookup of a family nobody has registered by loading the module
// that declares it (genetlink's ctrl_getfamily calls request_module("net-pf-16-proto-16-
// family-IPVS"), an alias of ip_vs), with the kernel's own privileges, so a director
// without CAP_SYS_MODULE gets ip_vs loaded as `ipvsadm -Ln` does (docs/reference.md, IPVS
// detection). The timeout covers the loading too. An error wrapping ErrNoFamily means the
// family does not exist after that.
func Dial(cfg *Config) (*Conn, error) {
	var netns string
	if cfg != nil {
		netns = cfg.NetNS
	}
	c := newConn(cfg, FamilyName, func() (*genetlink.Conn, error) { return dialNetns(netns) })
	if err := c.s.Dial(context.Background()); err != nil {
		return nil, err
	}
	return c, nil
}

// New returns a Conn over gc, an open generic-netlink connection (genltest's in tests),
// which it owns from then on, and resolves the IPVS family on it. With no way to open
// another socket, a call that has to discard gc leaves the Conn closed.
func New(gc *genetlink.Conn, cfg *Config) (*Conn, error) {
	c := newConn(cfg, FamilyName, nil)
	if err := c.s.Adopt(context.Background(), &sock{gc: gc}); err != nil {
		return nil, err
	}
	return c, nil
}

// newConn is a Conn for the family name whose sockets come from dial (nil: none but the
// one it is given).
func newConn(cfg *Config, name string, dial func() (*genetlink.Conn, error)) *Conn {
	timeout := DefaultTimeout
	var log *slog.Logger
	if cfg != nil {
		if cfg.Timeout > 0 {
			timeout = cfg.Timeout
		}
		log = cfg.Logger
	}
	c := &Conn{name: name}
	ops := session.Ops[*sock]{
		Name:      "IPVS netlink socket",
		Init:      c.resolve,
		Interrupt: func(s *sock) error { return s.gc.SetDeadline(aLongTimeAgo) },
		Close:     func(s *sock) error { return s.gc.Close() },
		Answered:  func(err error) bool { _, ok := kernelError(err); return ok },
		Closed:    ErrClosed,
	}
	if dial != nil {
		ops.Dial = func() (*sock, error) {
			gc, err := dial()
			if err != nil {
				return nil, err
			}
			return &sock{gc: gc}, nil
		}
	}
	c.s = session.New(ops, timeout, log)
	return c
}

// recvBuffer is the receive buffer of a socket. One recvmsg reads a whole datagram into
// it, where mdlayher/netlink would otherwise peek at each datagram's size first (a second
// system call per datagram); and the kernel sizes a dump's datagrams by the largest buffer
// the reader has offered, up to 32 KiB, so a 4 KiB peek buffer would also mean eight times
// as many datagrams (net/netlink/af_netlink.c, netlink_recvmsg and netlink_dump).
const recvBuffer = 64 << 10

// dialNetns opens a generic-netlink socket in the network namespace at path ("" = here).
func dialNetns(path string) (*genetlink.Conn, error) {
	cfg := netlink.Config{MessageBufferSize: recvBuffer}
	if path != "" {
		f, err := os.Open(path)
		if err != nil {
			var pe *fs.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			return nil, fmt.Errorf("open network namespace %s: %w", path, err)
		}
		defer f.Close()
		cfg.NetNS = int(f.Fd())
	}
	gc, err := genetlink.Dial(&cfg)
	if err != nil {
		if path == "" {
			return nil, fmt.Errorf("open generic netlink socket: %w", err)
		}
		return nil, fmt.Errorf("open generic netlink socket in %s: %w", path, err)
	}
	// The kernel's message and the offending attribute with an errno, where the kernel
	// has them; a kernel without the option (before 4.12) answers with the errno alone.
	_ = gc.SetOption(netlink.ExtendedAcknowledge, true)
	return gc, nil
}

// resolve looks the IPVS family up on a new socket (session's Init). It runs on every
// new socket: a reloaded ip_vs module has a new id.
func (c *Conn) resolve(_ context.Context, s *sock) error {
	f, err := s.gc.GetFamily(c.name)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("%w: %w", ErrNoFamily, err)
	case err != nil:
		return fmt.Errorf("resolve generic netlink family %s: %w", c.name, err)
	}
	s.family, s.version = f.ID, f.Version
	return nil
}

// Close closes the socket; every later call returns ErrClosed.
func (c *Conn) Close() error { return c.s.Close() }

// aLongTimeAgo is a deadline in the past: it makes a blocked receive return at once.
var aLongTimeAgo = time.Unix(1, 0)

// execute sends one IPVS request and returns the answer, under the policy of Conn.
func (c *Conn) execute(ctx context.Context, cmd uint8, flags netlink.HeaderFlags, attrs []byte) ([]genetlink.Message, error) {
	var msgs []genetlink.Message
	err := c.s.Do(ctx, func(s *sock) error {
		var err error
		msgs, err = s.gc.Execute(genetlink.Message{
			Header: genetlink.Header{Command: cmd, Version: s.version},
			Data:   attrs,
		}, s.family, netlink.Request|flags)
		return err
	})
	if err == nil {
		return msgs, nil
	}
	if kerr, ok := kernelError(err); ok {
		return nil, kerr
	}
	return nil, err
}

// kernelError returns the errno of a netlink error message, the kernel's answer to the
// request, with the kernel's extended-acknowledgement text when it sent one. A failed
// system call (ENOBUFS from recvmsg: replies were dropped) is not one: mdlayher/netlink
// wraps those in os.SyscallError, and the errno of a message bare.
func kernelError(err error) (error, bool) {
	var oe *netlink.OpError
	if !errors.As(err, &oe) {
		return nil, false
	}
	errno, ok := oe.Err.(syscall.Errno)
	if !ok {
		return nil, false
	}
	if oe.Message != "" {
		return fmt.Errorf("%w (kernel: %s)", errno, oe.Message), true
	}
	return errno, true
}

// dump runs a dump request and decodes every reply with decode.
func dump[T any](ctx context.Context, c *Conn, cmd uint8, attrs []byte, decode func(data []byte) (T, error)) ([]T, error) {
	msgs, err := c.execute(ctx, cmd, netlink.Dump, attrs)
	if err != nil {
		return nil, err
	}
	out := make([]T, len(msgs))
	for i, m := range msgs {
		if out[i], err = decode(m.Data); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// command runs one request that changes the table and waits for its acknowledgement.
func (c *Conn) command(ctx context.Context, cmd uint8, attrs []byte, err error) error {
	if err != nil {
		return err
	}
	_, err = c.execute(ctx, cmd, netlink.Acknowledge, attrs)
	return err
}

// Services lists every service (IPVS_CMD_GET_SERVICE dump).
func (c *Conn) Services(ctx context.Context) ([]Service, error) {
	return dump(ctx, c, cmdGetService, nil, decodeService)
}

// Destinations lists the destinations of the service svc names (IPVS_CMD_GET_DEST dump).
func (c *Conn) Destinations(ctx context.Context, svc Service) ([]Destination, error) {
	attrs, err := serviceRequest(svc, false)
	if err != nil {
		return nil, err
	}
	af := serviceFamily(svc)
	return dump(ctx, c, cmdGetDest, attrs, func(b []byte) (Destination, error) { return decodeDestination(b, af) })
}

// NewService creates s (EEXIST if it exists).
func (c *Conn) NewService(ctx context.Context, s Service) error {
	attrs, err := serviceRequest(s, true)
	return c.command(ctx, cmdNewService, attrs, err)
}

// SetService replaces the scheduler, flags, timeout and netmask of s (ESRCH if it does
// not exist).
func (c *Conn) SetService(ctx context.Context, s Service) error {
	attrs, err := serviceRequest(s, true)
	return c.command(ctx, cmdSetService, attrs, err)
}

// DelService deletes the service s names, with its destinations (ESRCH if it does not
// exist).
func (c *Conn) DelService(ctx context.Context, s Service) error {
	attrs, err := serviceRequest(s, false)
	return c.command(ctx, cmdDelService, attrs, err)
}

// NewDestination adds d to the service svc names (EEXIST if it exists, ESRCH if the
// service does not).
func (c *Conn) NewDestination(ctx context.Context, svc Service, d Destination) error {
	attrs, err := destRequest(svc, d, true)
	return c.command(ctx, cmdNewDest, attrs, err)
}

// SetDestination sets the weight, forwarding and thresholds of d in one message (ENOENT
// if it does not exist).
func (c *Conn) SetDestination(ctx context.Context, svc Service, d Destination) error {
	attrs, err := destRequest(svc, d, true)
	return c.command(ctx, cmdSetDest, attrs, err)
}

// DelDestination removes the destination at d.Addr (ENOENT if there is none).
func (c *Conn) DelDestination(ctx context.Context, svc Service, d Destination) error {
	attrs, err := destRequest(svc, d, false)
	return c.command(ctx, cmdDelDest, attrs, err)
}

// Timeouts reads the connection timeouts (IPVS_CMD_GET_CONFIG).
func (c *Conn) Timeouts(ctx context.Context) (Timeouts, error) {
	msgs, err := c.execute(ctx, cmdGetConfig, 0, nil)
	if err != nil {
		return Timeouts{}, err
	}
	if len(msgs) != 1 {
		return Timeouts{}, fmt.Errorf("%w: %d replies to GET_CONFIG", errMalformed, len(msgs))
	}
	return decodeTimeouts(msgs[0].Data)
}

// SetTimeouts sets the connection timeouts; a zero one is left as it is.
func (c *Conn) SetTimeouts(ctx context.Context, t Timeouts) error {
	attrs, err := timeoutRequest(t)
	return c.command(ctx, cmdSetConfig, attrs, err)
}

// Daemons lists the running sync daemons (IPVS_CMD_GET_DAEMON dump).
func (c *Conn) Daemons(ctx context.Context) ([]Daemon, error) {
	return dump(ctx, c, cmdGetDaemon, nil, decodeDaemon)
}

// NewDaemon starts the sync daemon of state d.State on d.Interface (EEXIST if one of that
// state runs).
func (c *Conn) NewDaemon(ctx context.Context, d Daemon) error {
	attrs, err := daemonRequest(d, true)
	return c.command(ctx, cmdNewDaemon, attrs, err)
}

// DelDaemon stops the sync daemon of state (StateMaster or StateBackup).
func (c *Conn) DelDaemon(ctx context.Context, state uint32) error {
	attrs, err := daemonRequest(Daemon{State: state}, false)
	return c.command(ctx, cmdDelDaemon, attrs, err)
}
