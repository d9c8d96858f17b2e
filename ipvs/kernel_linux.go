package ipvs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"time"

	mobyipvs "github.com/moby/ipvs"

	"github.com/vigil-lb/vigil/ipvs/ipvsnl"
)

// Kernel is the Table of the Linux kernel's IPVS in one network namespace, on two
// clients under one socket policy and recovery rule (ipvs/internal/session): service
// writes and destination adds and deletes go through a github.com/moby/ipvs handle
// (mobyConn); listings, destination updates (the weight change), connection timeouts and
// sync daemons through an ipvsnl.Conn, a generic-netlink socket on
// github.com/mdlayher/genetlink, which also resolves the IPVS family. Each call is
// serialised on its client and bounded by KernelOptions.Deadline.
type Kernel struct {
	opts KernelOptions
	c    *ipvsnl.Conn // reads, destination updates, timeouts, sync daemons
	w    *mobyConn    // service writes, destination adds and deletes
}

var (
	_ Table       = (*Kernel)(nil)
	_ SyncDaemons = (*Kernel)(nil)
)

// OpenKernel opens the IPVS table of opts.Netns. Dialling resolves the IPVS
// generic-netlink family, which loads ip_vs even without CAP_SYS_MODULE (ipvsnl.Dial);
// if the family is still missing it tries `modprobe ip_vs` and dials again. Then it
// requires /proc/net/ip_vs in that namespace. The error then wraps ErrUnavailable.
func OpenKernel(opts KernelOptions) (*Kernel, error) {
	if opts.Deadline <= 0 {
		opts.Deadline = DefaultDeadline
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	cfg := &ipvsnl.Config{NetNS: opts.Netns, Timeout: opts.Deadline, Logger: log}
	c, err := ipvsnl.Dial(cfg)
	if errors.Is(err, ipvsnl.ErrNoFamily) && !opts.NoModprobe {
		modprobe(log)
		c, err = ipvsnl.Dial(cfg)
	}
	if errors.Is(err, ipvsnl.ErrNoFamily) {
		return nil, fmt.Errorf("%w (no generic netlink family IPVS, and the kernel could not load ip_vs): %s", ErrUnavailable, unavailableHint)
	}
	if err != nil {
		return nil, fmt.Errorf("open the kernel IPVS table: %w", err)
	}
	if _, err := procIPVSHeader(opts.Netns); err != nil {
		c.Close()
		return nil, err
	}
	return &Kernel{opts: opts, c: c, w: newMobyConn(opts.Netns, opts.Deadline, log)}, nil
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

// Close releases both clients' sockets.
func (k *Kernel) Close() error { return errors.Join(k.c.Close(), k.w.close()) }

// kernelErr turns the client's ErrClosed into the table's.
func kernelErr(err error) error {
	if errors.Is(err, ipvsnl.ErrClosed) {
		return ErrClosed
	}
	return err
}

// Services lists every service in the table, with 64-bit counters.
func (k *Kernel) Services(ctx context.Context) ([]ServiceInfo, error) {
	svcs, err := k.c.Services(ctx)
	if err != nil {
		return nil, fmt.Errorf("list services: %w", kernelErr(err))
	}
	out := make([]ServiceInfo, len(svcs))
	for i, s := range svcs {
		out[i] = ServiceInfo{Service: fromNLService(s).Canonical(), Stats: Stats(s.Stats)}
	}
	return out, nil
}

// Destinations lists the destinations of svc, with connection counts and counters.
func (k *Kernel) Destinations(ctx context.Context, svc ServiceKey) ([]DestinationInfo, error) {
	ds, err := k.c.Destinations(ctx, nlKey(svc))
	if err != nil {
		return nil, fmt.Errorf("list destinations of %s: %w", svc, kernelErr(err))
	}
	out := make([]DestinationInfo, len(ds))
	for i, d := range ds {
		out[i] = fromNLDestination(d)
	}
	return out, nil
}

// AddService creates svc (EEXIST if it exists).
func (k *Kernel) AddService(ctx context.Context, svc Service) error {
	ns, err := toNLService(svc)
	if err == nil {
		err = k.w.do(ctx, func(h *mobyipvs.Handle) error { return h.NewService(mobyService(ns)) })
	}
	if err != nil {
		return fmt.Errorf("add service %s: %w", svc.ServiceKey, explainErrno(err, false))
	}
	return nil
}

// UpdateService sets the scheduler, flags and persistence of an existing service. The
// kernel replaces all flags, so svc must be complete.
func (k *Kernel) UpdateService(ctx context.Context, svc Service) error {
	ns, err := toNLService(svc)
	if err == nil {
		err = k.w.do(ctx, func(h *mobyipvs.Handle) error { return h.UpdateService(mobyService(ns)) })
	}
	if err != nil {
		return fmt.Errorf("update service %s: %w", svc.ServiceKey, explainErrno(err, false))
	}
	return nil
}

// DeleteService deletes a service and its destinations (ESRCH if it does not exist).
func (k *Kernel) DeleteService(ctx context.Context, svc ServiceKey) error {
	err := k.w.do(ctx, func(h *mobyipvs.Handle) error { return h.DelService(mobyService(nlKey(svc))) })
	if err != nil {
		return fmt.Errorf("delete service %s: %w", svc, explainErrno(err, false))
	}
	return nil
}

// checkDestination refuses what the kernel would misread: a weight beyond ipvsadm's range
// (full writes) and a destination without an address.
func checkDestination(d Destination, full bool) error {
	if full && (d.Weight < 0 || d.Weight > 65535) {
		return fmt.Errorf("weight %d out of range 0..65535", d.Weight)
	}
	if !d.Addr.Addr().IsValid() {
		return errors.New("no address")
	}
	return nil
}

// destWrite runs one destination command of moby/ipvs for d in svc.
func (k *Kernel) destWrite(ctx context.Context, svc ServiceKey, d Destination, full bool,
	cmd func(h *mobyipvs.Handle, s *mobyipvs.Service, d *mobyipvs.Destination) error) error {
	if err := checkDestination(d, full); err != nil {
		return err
	}
	ns := nlKey(svc)
	md, err := mobyDestination(ns.Family, toNLDestination(d))
	if err != nil {
		return err
	}
	ms := mobyService(ns)
	return explainErrno(k.w.do(ctx, func(h *mobyipvs.Handle) error { return cmd(h, ms, md) }), true)
}

// AddDestination adds d to svc (EEXIST if it exists, ESRCH if svc does not).
func (k *Kernel) AddDestination(ctx context.Context, svc ServiceKey, d Destination) error {
	if err := k.destWrite(ctx, svc, d, true, (*mobyipvs.Handle).NewDestination); err != nil {
		return fmt.Errorf("add destination %s to %s: %w", d.Addr, svc, err)
	}
	return nil
}

// UpdateDestination sets the weight, forwarding and thresholds of an existing destination
// in one netlink message (ENOENT if it does not exist). It is the daemon's hot write (every
// weight change and quiesce), so it goes through ipvsnl's socket and encoder rather than
// moby/ipvs, which took 1.14-1.33x as long per change in the benchmark VM (a 64 KiB
// receive buffer allocated per call, a getsockname per call; docs/benchmarks.md, Kernel
// IPVS programming).
func (k *Kernel) UpdateDestination(ctx context.Context, svc ServiceKey, d Destination) error {
	err := checkDestination(d, true)
	if err == nil {
		err = explainErrno(kernelErr(k.c.SetDestination(ctx, nlKey(svc), toNLDestination(d))), true)
	}
	if err != nil {
		return fmt.Errorf("update destination %s of %s: %w", d.Addr, svc, err)
	}
	return nil
}

// DeleteDestination removes a destination (ENOENT if it does not exist).
func (k *Kernel) DeleteDestination(ctx context.Context, svc ServiceKey, addr netip.AddrPort) error {
	if err := k.destWrite(ctx, svc, Destination{Addr: addr}, false, (*mobyipvs.Handle).DelDestination); err != nil {
		return fmt.Errorf("delete destination %s of %s: %w", addr, svc, err)
	}
	return nil
}

// Timeouts reads the connection timeouts (ipvsadm -L --timeout).
func (k *Kernel) Timeouts(ctx context.Context) (Timeouts, error) {
	t, err := k.c.Timeouts(ctx)
	if err != nil {
		return Timeouts{}, fmt.Errorf("read IPVS timeouts: %w", kernelErr(err))
	}
	return Timeouts(t), nil
}

// SetTimeouts sets the connection timeouts; a zero field is left unchanged by the kernel.
func (k *Kernel) SetTimeouts(ctx context.Context, t Timeouts) error {
	if err := k.c.SetTimeouts(ctx, ipvsnl.Timeouts(t)); err != nil {
		return fmt.Errorf("set IPVS timeouts (tcp %v, tcpfin %v, udp %v): %w", t.TCP, t.TCPFin, t.UDP, kernelErr(err))
	}
	return nil
}

// SyncDaemons lists the running connection-synchronisation daemons.
func (k *Kernel) SyncDaemons(ctx context.Context) ([]SyncDaemon, error) {
	ds, err := k.c.Daemons(ctx)
	if err != nil {
		return nil, fmt.Errorf("list sync daemons: %w", kernelErr(err))
	}
	out := make([]SyncDaemon, len(ds))
	for i, d := range ds {
		out[i] = SyncDaemon{State: SyncState(d.State), Interface: d.Interface, SyncID: d.SyncID}
	}
	return out, nil
}

// StartSyncDaemon starts the kernel's sync daemon of role d.State on d.Interface.
func (k *Kernel) StartSyncDaemon(ctx context.Context, d SyncDaemon) error {
	err := k.c.NewDaemon(ctx, ipvsnl.Daemon{State: uint32(d.State), Interface: d.Interface, SyncID: d.SyncID})
	if err != nil {
		return fmt.Errorf("start %s sync daemon on %s (sync id %d): %w", d.State, d.Interface, d.SyncID, kernelErr(err))
	}
	return nil
}

// StopSyncDaemon stops the kernel's sync daemon of role s.
func (k *Kernel) StopSyncDaemon(ctx context.Context, s SyncState) error {
	if err := k.c.DelDaemon(ctx, uint32(s)); err != nil {
		return fmt.Errorf("stop %s sync daemon: %w", s, kernelErr(err))
	}
	return nil
}
