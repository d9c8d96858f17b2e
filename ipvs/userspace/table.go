package userspace

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/vigil-lb/vigil/internal/clock"
	"github.com/vigil-lb/vigil/ipvs"
)

// Options configure a Table. The zero value works.
type Options struct {
	Logger *slog.Logger // nil: discard
	// Clock is read by persistence templates and the lblc/lblcr caches, so tests can
	// expire them without sleeping; nil is the system clock.
	Clock clock.Clock
	// DialTimeout bounds a connection attempt to a real server (default 3s). A refused or
	// timed-out attempt is retried once on another real server.
	DialTimeout time.Duration
	// DrainTimeout is how long Close lets established connections finish (default 10s).
	DrainTimeout time.Duration

	goroutines bool                       // tests: carry TCP with a goroutine per direction even on Linux
	epoll      bool                       // tests and benchmarks: epoll event loops even where io_uring works
	fault      func(string) syscall.Errno // tests: carrierEnv.fault
}

// ErrFWMarkService is returned (wrapped) for a firewall-mark service.
var ErrFWMarkService = errors.New(`firewall-mark services need kernel IPVS (dataplane = "kernel")`)

// Table is a userspace ipvs.Table. Its methods are safe for concurrent use.
type Table struct {
	log          *slog.Logger
	clock        clock.Clock
	dialTimeout  time.Duration
	drainTimeout time.Duration

	mu       sync.Mutex
	services map[ipvs.ServiceKey]*service
	retired  map[*service]struct{} // deleted, still draining connections
	timeouts ipvs.Timeouts
	closed   bool

	// TCP connections are carried by tcp, started from paths[path]; oldCarriers failed
	// (degrade) and still carry the connections they had, until Shutdown stops them.
	tcp         carrier
	paths       []dataPath
	path        int
	env         carrierEnv
	oldCarriers []carrier

	estMu sync.Mutex // guards every counters.est
	stop  chan struct{}
	wg    sync.WaitGroup // the estimator and the retired-service reapers
}

var _ ipvs.Table = (*Table)(nil)

// Kernel defaults of ipvsadm --set (IP_VS_TCP_S_ESTABLISHED, _FIN_WAIT, IP_VS_UDP_S_NORMAL).
var defaultTimeouts = ipvs.Timeouts{TCP: 900 * time.Second, TCPFin: 120 * time.Second, UDP: 300 * time.Second}

// New returns an empty table and starts its rate estimator. Close it to stop listening.
func New(opts Options) *Table {
	t := &Table{
		log:          opts.Logger,
		clock:        opts.Clock,
		dialTimeout:  opts.DialTimeout,
		drainTimeout: opts.DrainTimeout,
		services:     map[ipvs.ServiceKey]*service{},
		retired:      map[*service]struct{}{},
		timeouts:     defaultTimeouts,
		stop:         make(chan struct{}),
	}
	if t.log == nil {
		t.log = slog.New(slog.DiscardHandler)
	}
	t.clock = clock.OrSystem(t.clock)
	if t.dialTimeout <= 0 {
		t.dialTimeout = 3 * time.Second
	}
	if t.drainTimeout <= 0 {
		t.drainTimeout = 10 * time.Second
	}
	t.env = carrierEnv{fail: t.carrierFailed, fault: opts.fault}
	t.paths = dataPaths(opts)
	t.startCarrier(0)
	t.wg.Add(1)
	go t.estimate()
	return t
}

// estimate runs the kernel's 2-second rate estimator and expires persistence templates.
func (t *Table) estimate() {
	defer t.wg.Done()
	tk := time.NewTicker(2 * time.Second)
	defer tk.Stop()
	for {
		select {
		case <-t.stop:
			return
		case <-tk.C:
		}
		t.mu.Lock()
		svcs := t.allServicesLocked()
		t.mu.Unlock()
		now := t.clock.Now()
		t.estMu.Lock()
		for _, s := range svcs {
			s.stats.tick()
			s.mu.Lock()
			for _, d := range s.dests {
				d.stats.tick()
			}
			s.expireTemplatesLocked(now)
			s.mu.Unlock()
		}
		t.estMu.Unlock()
	}
}

func (t *Table) allServicesLocked() []*service {
	out := make([]*service, 0, len(t.services)+len(t.retired))
	for _, s := range t.services {
		out = append(out, s)
	}
	for s := range t.retired {
		out = append(out, s)
	}
	return out
}

func (t *Table) lookup(op string, k ipvs.ServiceKey) (*service, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil, fmt.Errorf("%s %s: %w", op, k, net.ErrClosed)
	}
	s := t.services[k]
	if s == nil {
		// ESRCH is what kernel IPVS answers for a missing service.
		return nil, fmt.Errorf("%s %s: no such service: %w", op, k, syscall.ESRCH)
	}
	return s, nil
}

// Services lists the virtual services, sorted by key, with their counters and failed
// accepts.
func (t *Table) Services(ctx context.Context) ([]ipvs.ServiceInfo, error) {
	t.mu.Lock()
	svcs := make([]*service, 0, len(t.services))
	for _, s := range t.services {
		svcs = append(svcs, s)
	}
	t.mu.Unlock()
	slices.SortFunc(svcs, func(a, b *service) int {
		return cmp.Or(cmp.Compare(a.key.Protocol, b.key.Protocol), a.key.Addr.Compare(b.key.Addr))
	})
	out := make([]ipvs.ServiceInfo, 0, len(svcs))
	t.estMu.Lock()
	defer t.estMu.Unlock()
	for _, s := range svcs {
		s.mu.Lock()
		cfg := s.cfg
		s.mu.Unlock()
		out = append(out, ipvs.ServiceInfo{Service: cfg, Stats: s.stats.stats(), Accepts: s.acceptStats()})
	}
	return out, nil
}

// Destinations lists a service's real servers in the kernel's order (most recently added
// first) with their connection counts and counters.
func (t *Table) Destinations(ctx context.Context, k ipvs.ServiceKey) ([]ipvs.DestinationInfo, error) {
	s, err := t.lookup("list destinations of", k)
	if err != nil {
		return nil, err
	}
	t.estMu.Lock()
	defer t.estMu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]ipvs.DestinationInfo, 0, len(s.dests))
	for _, d := range s.dests {
		out = append(out, ipvs.DestinationInfo{
			Destination:   d.cfg,
			ActiveConns:   uint32(d.active),
			InactiveConns: uint32(d.inactive),
			Stats:         d.stats.stats(),
		})
	}
	return out, nil
}

func validateService(svc ipvs.Service) error {
	switch {
	case svc.IsFWMark():
		return ErrFWMarkService
	case svc.Protocol == ipvs.SCTP:
		return fmt.Errorf("sctp services need kernel IPVS (dataplane = \"kernel\"): %w", errors.ErrUnsupported)
	case svc.Protocol != ipvs.TCP && svc.Protocol != ipvs.UDP:
		return fmt.Errorf("protocol %s is not tcp or udp: %w", svc.Protocol, syscall.EPROTONOSUPPORT)
	case !svc.Addr.IsValid():
		return fmt.Errorf("no service address: %w", syscall.EINVAL)
	case svc.Addr.Port() == 0:
		return fmt.Errorf("port-0 (all ports) services need kernel IPVS (dataplane = \"kernel\"): %w", errors.ErrUnsupported)
	case svc.Persistent && svc.Timeout <= 0:
		return fmt.Errorf("persistence without a timeout: %w", syscall.EINVAL)
	}
	bitsMax := 32
	if !svc.Addr.Addr().Unmap().Is4() {
		bitsMax = 128
	}
	if svc.Netmask < 0 || svc.Netmask > bitsMax {
		return fmt.Errorf("persistence netmask /%d out of range: %w", svc.Netmask, syscall.EINVAL)
	}
	if _, err := newScheduler(svc.Scheduler); err != nil {
		return fmt.Errorf("%w: %w", err, syscall.ENOENT)
	}
	return nil
}

func normalize(svc ipvs.Service) ipvs.Service {
	if !svc.IsFWMark() {
		svc.ServiceKey = ipvs.AddrKey(svc.Protocol, svc.Addr)
	}
	if svc.Scheduler == "" {
		svc.Scheduler = "wlc" // ipvsadm's default
	}
	return svc
}

// AddService starts listening on the service address. The address need not be on the
// host yet (IP_FREEBIND): a VRRP backup listens on the virtual IP before it owns it.
func (t *Table) AddService(ctx context.Context, svc ipvs.Service) error {
	svc = normalize(svc)
	if err := validateService(svc); err != nil {
		return fmt.Errorf("add service %s: %w", svc.ServiceKey, err)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return fmt.Errorf("add service %s: %w", svc.ServiceKey, net.ErrClosed)
	}
	if t.services[svc.ServiceKey] != nil {
		return fmt.Errorf("add service %s: %w", svc.ServiceKey, syscall.EEXIST)
	}
	s, err := newService(t, svc)
	if err != nil {
		return fmt.Errorf("add service %s: %w", svc.ServiceKey, err)
	}
	if err := s.listen(ctx); err != nil {
		return fmt.Errorf("add service %s: %w", svc.ServiceKey, err)
	}
	t.services[svc.ServiceKey] = s
	t.log.Info("userspace service listening", "service", svc.ServiceKey.String(), "scheduler", svc.Scheduler)
	return nil
}

// UpdateService changes a service's scheduler, flags or persistence. A new scheduler
// starts with fresh state, as in the kernel.
func (t *Table) UpdateService(ctx context.Context, svc ipvs.Service) error {
	svc = normalize(svc)
	if err := validateService(svc); err != nil {
		return fmt.Errorf("update service %s: %w", svc.ServiceKey, err)
	}
	s, err := t.lookup("update service", svc.ServiceKey)
	if err != nil {
		return err
	}
	return s.update(svc)
}

// DeleteService stops accepting connections (and UDP flows) for a service. Established
// connections keep flowing until they close; Close bounds the wait.
func (t *Table) DeleteService(ctx context.Context, k ipvs.ServiceKey) error {
	if !k.IsFWMark() {
		k = ipvs.AddrKey(k.Protocol, k.Addr)
	}
	t.mu.Lock()
	s := t.services[k]
	if s == nil {
		t.mu.Unlock()
		return fmt.Errorf("delete service %s: no such service: %w", k, syscall.ESRCH)
	}
	t.retireLocked(k, s)
	t.mu.Unlock()
	s.stopListening()
	t.log.Info("userspace service deleted", "service", k.String())
	return nil
}

// retireLocked takes service s out of the table, to be forgotten once its listener has
// closed (the caller closes it) and its last connection has ended. t.mu is held.
func (t *Table) retireLocked(k ipvs.ServiceKey, s *service) {
	delete(t.services, k)
	t.retired[s] = struct{}{}
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		s.wg.Wait()
		t.mu.Lock()
		delete(t.retired, s)
		t.mu.Unlock()
	}()
}

// AddDestination adds a real server to a service.
func (t *Table) AddDestination(ctx context.Context, k ipvs.ServiceKey, d ipvs.Destination) error {
	s, err := t.lookupDest("add destination", k, d)
	if err != nil {
		return err
	}
	return s.addDest(d)
}

// UpdateDestination changes a real server's weight, thresholds or forwarding method.
// Weight 0 quiesces it: no new connections, established ones continue.
func (t *Table) UpdateDestination(ctx context.Context, k ipvs.ServiceKey, d ipvs.Destination) error {
	s, err := t.lookupDest("update destination", k, d)
	if err != nil {
		return err
	}
	return s.updateDest(d)
}

func (t *Table) lookupDest(op string, k ipvs.ServiceKey, d ipvs.Destination) (*service, error) {
	if !k.IsFWMark() {
		k = ipvs.AddrKey(k.Protocol, k.Addr)
	}
	if err := validateDest(d); err != nil {
		return nil, fmt.Errorf("%s %s to %s: %w", op, d.Addr, k, err)
	}
	return t.lookup(op+" "+d.Addr.String()+" to", k)
}

func validateDest(d ipvs.Destination) error {
	switch {
	case !d.Addr.IsValid():
		return fmt.Errorf("no address: %w", syscall.EINVAL)
	case d.Weight < 0 || d.Weight > 65535:
		return fmt.Errorf("weight %d out of range 0..65535: %w", d.Weight, syscall.ERANGE)
	case d.Upper != 0 && d.Lower > d.Upper:
		return fmt.Errorf("lower threshold %d above upper %d: %w", d.Lower, d.Upper, syscall.ERANGE)
	}
	switch d.Forwarding {
	case ipvs.NAT, ipvs.Direct, ipvs.Tunnel:
	default:
		return fmt.Errorf("forwarding %s: %w", d.Forwarding, syscall.EINVAL)
	}
	return nil
}

// DeleteDestination removes a real server. Its established connections continue (the
// kernel's expire_nodest_conn=0 default); persistence templates pointing at it expire.
func (t *Table) DeleteDestination(ctx context.Context, k ipvs.ServiceKey, addr netip.AddrPort) error {
	if !k.IsFWMark() {
		k = ipvs.AddrKey(k.Protocol, k.Addr)
	}
	s, err := t.lookup("delete destination "+addr.String()+" from", k)
	if err != nil {
		return err
	}
	return s.deleteDest(addr)
}

// Timeouts reports the connection timeouts (kernel defaults until set).
func (t *Table) Timeouts(ctx context.Context) (ipvs.Timeouts, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.timeouts, nil
}

// SetTimeouts sets the timeouts; zero leaves a value unchanged. The UDP timeout applies to
// existing flows at their next idle check.
func (t *Table) SetTimeouts(ctx context.Context, to ipvs.Timeouts) error {
	if to.TCP < 0 || to.TCPFin < 0 || to.UDP < 0 {
		return fmt.Errorf("set timeouts %+v: negative timeout: %w", to, syscall.EINVAL)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if to.TCP > 0 {
		t.timeouts.TCP = to.TCP
	}
	if to.TCPFin > 0 {
		t.timeouts.TCPFin = to.TCPFin
	}
	if to.UDP > 0 {
		t.timeouts.UDP = to.UDP
		// Wake every flow so that it measures its idleness against the new timeout.
		for _, s := range t.services {
			s.mu.Lock()
			for c := range s.conns {
				if f, ok := c.(*udpFlow); ok {
					f.conn.SetReadDeadline(time.Now())
				}
			}
			s.mu.Unlock()
		}
	}
	return nil
}

func (t *Table) udpTimeout() time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.timeouts.UDP
}

// Close stops every listener and lets established connections finish for DrainTimeout,
// then closes those left. It returns when every goroutine of the table has ended.
func (t *Table) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), t.drainTimeout)
	defer cancel()
	return t.Shutdown(ctx)
}

// Shutdown is Close with the drain bounded by ctx instead of DrainTimeout. It returns
// ctx's error when connections had to be cut.
func (t *Table) Shutdown(ctx context.Context) error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	for k, s := range t.services {
		delete(t.services, k)
		t.retired[s] = struct{}{}
	}
	svcs := t.allServicesLocked()
	t.mu.Unlock()
	for _, s := range svcs {
		s.stopListening()
	}
	drained := make(chan struct{})
	go func() {
		for _, s := range svcs {
			s.wg.Wait()
		}
		close(drained)
	}()
	var err error
	select {
	case <-drained:
	case <-ctx.Done():
		err = fmt.Errorf("drain userspace connections: %w", ctx.Err())
		for _, s := range svcs {
			s.cutConnections()
		}
		<-drained
	}
	close(t.stop)
	t.wg.Wait()
	t.tcp.stop()
	for _, c := range t.oldCarriers {
		c.stop()
	}
	t.mu.Lock()
	clear(t.retired)
	t.mu.Unlock()
	return err
}
