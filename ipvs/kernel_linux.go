package ipvs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	moby "github.com/moby/ipvs"
)

// Kernel is the Table of the Linux kernel's IPVS in one network namespace, over generic
// netlink. Services and timeouts are written through github.com/moby/ipvs; the table is
// read, and destinations (every weight change) written, on vigil's own socket (genl.go),
// which measured 3-4x faster than moby/ipvs under load. Calls are serialised and each is
// bounded by KernelOptions.Deadline: moby calls by a watchdog that closes a hung socket,
// vigil's by the socket's receive timeout.
type Kernel struct {
	opts KernelOptions
	log  *slog.Logger

	mu        sync.Mutex
	h         *moby.Handle // nil after a call timed out: reopened by the next call
	closed    bool
	newHandle func(netns string) (*moby.Handle, error) // moby.New; replaced in tests
	closeFn   func(*moby.Handle)                       // nil: Handle.Close; replaced in tests
	rd        *genlConn                                // dumps (Services, Destinations); nil: reopened
}

var (
	_ Table       = (*Kernel)(nil)
	_ SyncDaemons = (*Kernel)(nil)
)

// OpenKernel opens the IPVS table of opts.Netns. It resolves the IPVS generic-netlink
// family first, which loads ip_vs even without CAP_SYS_MODULE (resolveIPVSFamily), tries
// `modprobe ip_vs` if the family is still missing, then requires /proc/net/ip_vs in that
// namespace, because moby/ipvs on a kernel without IPVS accepts every call and does
// nothing (moby/ipvs#27). The error then wraps ErrUnavailable.
func OpenKernel(opts KernelOptions) (*Kernel, error) {
	if opts.Deadline <= 0 {
		opts.Deadline = DefaultDeadline
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	err := resolveIPVSFamily(opts.Netns, opts.Deadline)
	if errors.Is(err, ErrUnavailable) && !opts.NoModprobe {
		modprobe(log)
		err = resolveIPVSFamily(opts.Netns, opts.Deadline)
	}
	if err != nil {
		return nil, err
	}
	if _, err := procIPVSHeader(opts.Netns); err != nil {
		return nil, err
	}
	k := &Kernel{opts: opts, log: log, newHandle: moby.New}
	rd, err := openGenlConn(opts.Netns, opts.Deadline)
	if err != nil {
		return nil, err
	}
	k.rd = rd
	if err := k.reopen(); err != nil {
		rd.close()
		return nil, err
	}
	return k, nil
}

// modprobe loads ip_vs where a modprobe exists; a missing binary or a failure only matters
// if /proc/net/ip_vs is then missing, which OpenKernel reports.
func modprobe(log *slog.Logger) {
	path, err := exec.LookPath("modprobe")
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, path, "ip_vs").CombinedOutput(); err != nil {
		log.Debug("modprobe ip_vs failed", "err", err, "output", strings.TrimSpace(string(out)))
	}
}

// procIPVSHeader reads the first line of /proc/net/ip_vs in netns ("IP Virtual Server
// version 1.2.1 (size=4096)"). /proc/net is the namespace of the reading thread, so the
// read happens inside netns.
func procIPVSHeader(netns string) (string, error) {
	var line string
	var err error
	if nsErr := inNetns(netns, func() error {
		var b []byte
		b, err = os.ReadFile("/proc/net/ip_vs")
		line, _, _ = strings.Cut(string(b), "\n")
		return nil
	}); nsErr != nil {
		return "", nsErr
	}
	if errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("%w (/proc/net/ip_vs missing): %s", ErrUnavailable, unavailableHint)
	}
	if err != nil {
		return "", fmt.Errorf("check for kernel IPVS: %w", err)
	}
	return line, nil
}

// Header returns the kernel's IPVS banner, as the first line of `ipvsadm -Ln` shows it.
func (k *Kernel) Header() (string, error) { return procIPVSHeader(k.opts.Netns) }

func (k *Kernel) reopen() error {
	h, err := k.newHandle(k.opts.Netns)
	if err != nil {
		ns := k.opts.Netns
		if ns == "" {
			ns = "the current namespace"
		}
		return fmt.Errorf("open IPVS netlink socket in %s: %w", ns, err)
	}
	k.h = h
	return nil
}

// Close releases the netlink socket.
func (k *Kernel) Close() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.h != nil {
		k.h.Close()
		k.h = nil
	}
	if k.rd != nil {
		k.rd.close()
		k.rd = nil
	}
	k.closed = true
	return nil
}

// do runs fn on the handle, one call at a time, bounded by ctx and the deadline. A call
// that overruns is abandoned: a watchdog closes its socket (which ends moby's receive
// loop, otherwise endless on a lost reply) and the next call opens a fresh one. fn runs on
// the caller's goroutine: handing every call to another goroutine costs a cross-thread
// wake-up, which under emulation made listing 11,000 entries several times slower.
func (k *Kernel) do(ctx context.Context, fn func(h *moby.Handle) error) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.closed {
		return ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if k.h == nil {
		if err := k.reopen(); err != nil {
			return err
		}
	}
	h := k.h
	var (
		once  sync.Once
		cause error
	)
	abandon := func(err error) {
		once.Do(func() {
			cause = err
			k.closeHandle(h)
		})
	}
	timer := time.AfterFunc(k.opts.Deadline, func() { abandon(context.DeadlineExceeded) })
	stopCtx := context.AfterFunc(ctx, func() { abandon(context.Cause(ctx)) })
	err := fn(h)
	timer.Stop()
	stopCtx()
	once.Do(func() {}) // waits for a watchdog already running; disarms a late one
	if cause != nil {
		k.h = nil
		k.log.Warn("IPVS netlink call abandoned; socket will be reopened", "err", cause)
		return fmt.Errorf("netlink call did not finish: %w", cause)
	}
	return err
}

func (k *Kernel) closeHandle(h *moby.Handle) {
	if k.closeFn != nil {
		k.closeFn(h)
		return
	}
	h.Close()
}

// read runs a dump on vigil's own reader socket (see genl.go), one call at a time with
// the writes. A failed dump discards the socket so no stale reply is read later.
func (k *Kernel) read(ctx context.Context, fn func(g *genlConn) error) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.closed {
		return ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if k.rd == nil {
		rd, err := openGenlConn(k.opts.Netns, k.opts.Deadline)
		if err != nil {
			return err
		}
		k.rd = rd
	}
	err := fn(k.rd)
	var errno syscall.Errno
	if err != nil && (!errors.As(err, &errno) || errno == syscall.EAGAIN) {
		// Not the kernel's answer (a timeout, a malformed reply): the socket may still
		// hold a late reply, so start afresh.
		k.rd.close()
		k.rd = nil
	}
	return err
}

// Services lists every service in the table, with 64-bit counters.
func (k *Kernel) Services(ctx context.Context) ([]ServiceInfo, error) {
	var out []ServiceInfo
	err := k.read(ctx, func(g *genlConn) error {
		var err error
		out, err = g.services()
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list services: %w", err)
	}
	return out, nil
}

// Destinations lists the destinations of svc, with connection counts and counters.
func (k *Kernel) Destinations(ctx context.Context, svc ServiceKey) ([]DestinationInfo, error) {
	var out []DestinationInfo
	err := k.read(ctx, func(g *genlConn) error {
		var err error
		out, err = g.destinations(svc)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list destinations of %s: %w", svc, err)
	}
	return out, nil
}

// AddService creates svc (EEXIST if it exists).
func (k *Kernel) AddService(ctx context.Context, svc Service) error {
	ms, err := toMobyService(svc)
	if err == nil {
		err = k.do(ctx, func(h *moby.Handle) error { return h.NewService(ms) })
	}
	if err != nil {
		return fmt.Errorf("add service %s: %w", svc.ServiceKey, err)
	}
	return nil
}

// UpdateService sets the scheduler, flags and persistence of an existing service. The
// kernel replaces all flags, so svc must be complete.
func (k *Kernel) UpdateService(ctx context.Context, svc Service) error {
	ms, err := toMobyService(svc)
	if err == nil {
		err = k.do(ctx, func(h *moby.Handle) error { return h.UpdateService(ms) })
	}
	if err != nil {
		return fmt.Errorf("update service %s: %w", svc.ServiceKey, err)
	}
	return nil
}

// DeleteService deletes a service and its destinations (ESRCH if it does not exist).
func (k *Kernel) DeleteService(ctx context.Context, svc ServiceKey) error {
	ms := toMobyKey(svc)
	if err := k.do(ctx, func(h *moby.Handle) error { return h.DelService(ms) }); err != nil {
		return fmt.Errorf("delete service %s: %w", svc, err)
	}
	return nil
}

// destWrite runs one destination command on vigil's own socket: the path of every weight
// change, encoded without moby/ipvs's per-call 64 KiB receive buffer.
func (k *Kernel) destWrite(ctx context.Context, cmd uint8, svc ServiceKey, d Destination, full bool) error {
	if full {
		if d.Weight < 0 || d.Weight > 65535 {
			return fmt.Errorf("weight %d out of range 0..65535", d.Weight)
		}
	}
	if !d.Addr.Addr().IsValid() {
		return errors.New("no address")
	}
	attrs := append(serviceKeyAttrs(svc), destAttrs(d, full)...)
	return k.read(ctx, func(g *genlConn) error { return g.exec(cmd, attrs) })
}

// AddDestination adds d to svc (EEXIST if it exists, ESRCH if svc does not).
func (k *Kernel) AddDestination(ctx context.Context, svc ServiceKey, d Destination) error {
	if err := k.destWrite(ctx, ipvsCmdNewDest, svc, d, true); err != nil {
		return fmt.Errorf("add destination %s to %s: %w", d.Addr, svc, err)
	}
	return nil
}

// UpdateDestination sets the weight, forwarding and thresholds of an existing destination
// in one netlink message (ENOENT if it does not exist).
func (k *Kernel) UpdateDestination(ctx context.Context, svc ServiceKey, d Destination) error {
	if err := k.destWrite(ctx, ipvsCmdSetDest, svc, d, true); err != nil {
		return fmt.Errorf("update destination %s of %s: %w", d.Addr, svc, err)
	}
	return nil
}

// DeleteDestination removes a destination (ENOENT if it does not exist).
func (k *Kernel) DeleteDestination(ctx context.Context, svc ServiceKey, addr netip.AddrPort) error {
	if err := k.destWrite(ctx, ipvsCmdDelDest, svc, Destination{Addr: addr}, false); err != nil {
		return fmt.Errorf("delete destination %s of %s: %w", addr, svc, err)
	}
	return nil
}

// Timeouts reads the connection timeouts (ipvsadm -L --timeout).
func (k *Kernel) Timeouts(ctx context.Context) (Timeouts, error) {
	var c *moby.Config
	err := k.do(ctx, func(h *moby.Handle) error {
		var err error
		c, err = h.GetConfig()
		return err
	})
	if err != nil {
		return Timeouts{}, fmt.Errorf("read IPVS timeouts: %w", err)
	}
	return Timeouts{TCP: c.TimeoutTCP, TCPFin: c.TimeoutTCPFin, UDP: c.TimeoutUDP}, nil
}

// SetTimeouts sets the connection timeouts; a zero field is left unchanged by the kernel.
func (k *Kernel) SetTimeouts(ctx context.Context, t Timeouts) error {
	c := &moby.Config{TimeoutTCP: t.TCP, TimeoutTCPFin: t.TCPFin, TimeoutUDP: t.UDP}
	if err := k.do(ctx, func(h *moby.Handle) error { return h.SetConfig(c) }); err != nil {
		return fmt.Errorf("set IPVS timeouts (tcp %v, tcpfin %v, udp %v): %w", t.TCP, t.TCPFin, t.UDP, err)
	}
	return nil
}

func toMobyKey(k ServiceKey) *moby.Service {
	ms := &moby.Service{AddressFamily: uint16(k.Family), FWMark: k.FWMark}
	if k.Family == 0 {
		ms.AddressFamily = uint16(FamilyOf(k.Addr.Addr()))
	}
	if !k.IsFWMark() {
		ms.Protocol = uint16(k.Protocol)
		ms.Address = net.IP(k.Addr.Addr().Unmap().AsSlice())
		ms.Port = k.Addr.Port()
	}
	return ms
}

func toMobyService(s Service) (*moby.Service, error) {
	ms := toMobyKey(s.ServiceKey)
	if s.Scheduler == "" {
		return nil, errors.New("no scheduler")
	}
	ms.SchedName = s.Scheduler
	ms.Flags = uint32(s.Flags & SchedAllMask)
	bitsLen := s.hostBits()
	mask := s.Netmask
	if mask == 0 {
		mask = bitsLen
	}
	if mask < 0 || mask > bitsLen {
		return nil, fmt.Errorf("netmask /%d out of range for %s", s.Netmask, s.Family)
	}
	if s.Persistent {
		ms.Flags |= flagPersistent
		secs := s.Timeout / time.Second
		if secs < 1 || secs > 1<<31 {
			return nil, fmt.Errorf("persistence timeout %v out of range", s.Timeout)
		}
		ms.Timeout = uint32(secs)
	}
	ms.Netmask = encodeNetmask(ms.AddressFamily, mask)
	return ms, nil
}

// SyncDaemons lists the running connection-synchronisation daemons.
func (k *Kernel) SyncDaemons(ctx context.Context) ([]SyncDaemon, error) {
	var out []SyncDaemon
	err := k.read(ctx, func(g *genlConn) error {
		var err error
		out, err = g.syncDaemons()
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list sync daemons: %w", err)
	}
	return out, nil
}

// StartSyncDaemon starts the kernel's sync daemon of role d.State on d.Interface.
func (k *Kernel) StartSyncDaemon(ctx context.Context, d SyncDaemon) error {
	attrs, err := daemonAttrs(d, true)
	if err == nil {
		err = k.read(ctx, func(g *genlConn) error { return g.exec(ipvsCmdNewDaemon, attrs) })
	}
	if err != nil {
		return fmt.Errorf("start %s sync daemon on %s (sync id %d): %w", d.State, d.Interface, d.SyncID, err)
	}
	return nil
}

// StopSyncDaemon stops the kernel's sync daemon of role s.
func (k *Kernel) StopSyncDaemon(ctx context.Context, s SyncState) error {
	attrs, _ := daemonAttrs(SyncDaemon{State: s}, false)
	if err := k.read(ctx, func(g *genlConn) error { return g.exec(ipvsCmdDelDaemon, attrs) }); err != nil {
		return fmt.Errorf("stop %s sync daemon: %w", s, err)
	}
	return nil
}
