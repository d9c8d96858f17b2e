package ipvsnl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/netlink"
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

// Conn speaks IPVS on one generic-netlink socket. Calls are serialised, one request and
// its whole answer at a time, and each is bounded by the timeout and by its context.
//
// One recovery rule: a call that ends without the kernel's whole answer (the deadline
// passed, the context was cancelled, the socket failed, a reply did not belong to the
// request) closes the socket, because whatever the kernel still sends would be read as
// the answer to the next request; the next call opens a new socket. An errno in the
// answer is the kernel's answer: the call returns it as a syscall.Errno and the socket
// stays.
type Conn struct {
	timeout time.Duration
	log     *slog.Logger
	dial    func() (*genetlink.Conn, error) // nil from New: no other socket can be had
	name    string                          // FamilyName; tests use the controller's
	// bounded: every socket must take deadlines (Dial's real ones do; New accepts a
	// test fake that cannot, and runs its calls unbounded).
	bounded bool

	mu        sync.Mutex
	c         *genetlink.Conn // nil after a discard, until the next call opens one
	family    uint16
	version   uint8
	unbounded bool // c cannot take deadlines (New with a test fake)
	closed    bool
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
	c := newConn(cfg)
	var netns string
	if cfg != nil {
		netns = cfg.NetNS
	}
	c.dial = func() (*genetlink.Conn, error) { return dialNetns(netns) }
	c.bounded = true
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.open(); err != nil {
		return nil, err
	}
	return c, nil
}

// New returns a Conn over gc, an open generic-netlink connection (genltest's in tests),
// which it owns from then on, and resolves the IPVS family on it. With no way to open
// another socket, a call that has to discard gc leaves the Conn closed.
func New(gc *genetlink.Conn, cfg *Config) (*Conn, error) {
	c := newConn(cfg)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.attach(gc); err != nil {
		gc.Close()
		return nil, err
	}
	return c, nil
}

func newConn(cfg *Config) *Conn {
	c := &Conn{timeout: DefaultTimeout, name: FamilyName}
	if cfg != nil {
		if cfg.Timeout > 0 {
			c.timeout = cfg.Timeout
		}
		c.log = cfg.Logger
	}
	if c.log == nil {
		c.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return c
}

// dialNetns opens a generic-netlink socket in the network namespace at path ("" = here).
func dialNetns(path string) (*genetlink.Conn, error) {
	var cfg netlink.Config
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

// open dials a socket and attaches it. c.mu is held.
func (c *Conn) open() error {
	gc, err := c.dial()
	if err != nil {
		return err
	}
	if err := c.attach(gc); err != nil {
		gc.Close()
		return err
	}
	return nil
}

// attach resolves the IPVS family on gc, within the timeout, and makes gc the socket.
// The family is resolved on every new socket: a reloaded ip_vs module has a new id.
func (c *Conn) attach(gc *genetlink.Conn) error {
	c.unbounded = false
	if err := gc.SetDeadline(time.Now().Add(c.timeout)); err != nil {
		if c.bounded {
			return fmt.Errorf("set netlink deadline: %w", err)
		}
		c.unbounded = true
	}
	f, err := gc.GetFamily(c.name)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("%w: %w", ErrNoFamily, err)
	case errors.Is(err, os.ErrDeadlineExceeded):
		return fmt.Errorf("resolve generic netlink family %s: no answer within %v: %w", c.name, c.timeout, context.DeadlineExceeded)
	case err != nil:
		return fmt.Errorf("resolve generic netlink family %s: %w", c.name, err)
	}
	c.c, c.family, c.version = gc, f.ID, f.Version
	return nil
}

// Close closes the socket; every later call returns ErrClosed.
func (c *Conn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	if c.c == nil {
		return nil
	}
	err := c.c.Close()
	c.c = nil
	return err
}

// aLongTimeAgo is a deadline in the past: it makes a blocked receive return at once.
var aLongTimeAgo = time.Unix(1, 0)

// execute sends one IPVS request and returns the answer, under the policy of Conn.
func (c *Conn) execute(ctx context.Context, cmd uint8, flags netlink.HeaderFlags, attrs []byte) ([]genetlink.Message, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if c.c == nil {
		if c.dial == nil {
			return nil, ErrClosed
		}
		if err := c.open(); err != nil {
			return nil, err
		}
	}
	gc := c.c
	deadline, byCtx := time.Now().Add(c.timeout), false
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline, byCtx = d, true
	}
	stop := func() bool { return true }
	var woken chan struct{}
	if !c.unbounded {
		if err := gc.SetDeadline(deadline); err != nil {
			c.discard(err)
			return nil, fmt.Errorf("set netlink deadline: %w", err)
		}
		// Cancelling ctx moves the deadline into the past, which wakes the receive; the
		// socket is then discarded like any other unfinished call.
		woken = make(chan struct{})
		stop = context.AfterFunc(ctx, func() {
			gc.SetDeadline(aLongTimeAgo)
			close(woken)
		})
	}
	msgs, err := gc.Execute(genetlink.Message{
		Header: genetlink.Header{Command: cmd, Version: c.version},
		Data:   attrs,
	}, c.family, netlink.Request|flags)
	if !stop() {
		<-woken // the next call sets its own deadline only after this one's last write
	}
	if err == nil {
		return msgs, nil
	}
	if kerr, ok := kernelError(err); ok {
		return nil, kerr
	}
	c.discard(err)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		switch {
		case ctx.Err() != nil:
			return nil, fmt.Errorf("netlink call did not finish: %w", context.Cause(ctx))
		case byCtx:
			return nil, fmt.Errorf("netlink call did not finish: %w", context.DeadlineExceeded)
		}
		return nil, fmt.Errorf("netlink call did not finish within %v: %w", c.timeout, context.DeadlineExceeded)
	}
	return nil, err
}

// discard closes the socket after a call that did not get its whole answer. c.mu is held.
func (c *Conn) discard(cause error) {
	c.c.Close()
	c.c = nil
	c.log.Warn("IPVS netlink socket discarded after an unfinished call; the next call opens a new one", "err", cause)
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
