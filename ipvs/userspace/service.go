package userspace

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/vigil-lb/vigil/ipvs"
)

// dest is one real server of a service. Fields other than addr and stats are guarded by
// the service's mu.
type dest struct {
	addr       netip.AddrPort
	cfg        ipvs.Destination
	lastWeight int         // the last non-zero weight (dest->last_weight, for mh)
	overloaded bool        // IP_VS_DEST_F_OVERLOAD
	available  bool        // IP_VS_DEST_F_AVAILABLE: false once deleted
	warned     bool        // a non-NAT forwarding warning was logged
	unreached  atomic.Bool // the last connection attempt failed (logged once per run)
	// loops: the real server is the service's own listener (connectsToItself). The
	// schedulers see it at weight 0, so the proxy never connects to it.
	loops bool

	active, inactive int32
	stats            counters
}

// weight is the weight the schedulers see.
func (d *dest) weight() int {
	if d.loops {
		return 0
	}
	return d.cfg.Weight
}

// target is where connections to d go: a port of 0 (DR/TUN/fwmark style) follows the
// service's port.
func (d *dest) target(svcPort uint16) netip.AddrPort {
	if d.addr.Port() == 0 {
		return netip.AddrPortFrom(d.addr.Addr(), svcPort)
	}
	return d.addr
}

// updateOverload applies the kernel's threshold rules (ip_vs_bind_dest/ip_vs_unbind_dest):
// overloaded at total >= upper; cleared below lower, or below 3/4 of upper without one.
func (d *dest) updateOverload() {
	total := uint32(d.active + d.inactive)
	u, l := d.cfg.Upper, d.cfg.Lower
	switch {
	case u != 0 && total >= u:
		d.overloaded = true
	case !d.overloaded:
	case l != 0:
		if total < l {
			d.overloaded = false
		}
	case u != 0:
		if total*4 < u*3 {
			d.overloaded = false
		}
	default:
		d.overloaded = false
	}
}

// template is a persistence template (IP_VS_CONN_F_TEMPLATE): a masked client address
// bound to a real server.
type template struct {
	d       *dest
	conns   int       // connections it controls (n_control)
	expires time.Time // once conns is 0
}

// service is one virtual service: its listener, real servers, scheduler and templates.
type service struct {
	t   *Table
	key ipvs.ServiceKey

	mu        sync.Mutex
	cfg       ipvs.Service
	dests     []*dest // the kernel's order: most recently added first
	sched     scheduler
	templates map[netip.Prefix]*template
	conns     map[closer]struct{} // live connections and flows, for a forced shutdown
	listening bool
	stats     counters

	ln  listener // TCP: the carrier's listener; nil once closed
	udp *net.UDPConn
	wg  sync.WaitGroup // the listener, its paused accepts' timers and every connection

	// acceptErrors counts the failed accepts that paused one of the service's
	// listeners (acceptbackoff.go), on every loop: an io_uring accept that was in flight
	// when another failed, and fails too, joins that pause uncounted. acceptWarn
	// rate-limits their warnings. acceptPausedTill is when the last of those pauses ends
	// (Unix nanoseconds on the table's clock; 0 before the first).
	acceptErrors     atomic.Uint64
	acceptWarn       acceptWarning
	acceptPausedTill atomic.Int64
}

type closer interface{ cut() }

func newService(t *Table, cfg ipvs.Service) (*service, error) {
	sch, err := newScheduler(cfg.Scheduler)
	if err != nil {
		return nil, err
	}
	return &service{
		t: t, key: cfg.ServiceKey, cfg: cfg, sched: sch,
		templates: map[netip.Prefix]*template{}, conns: map[closer]struct{}{},
	}, nil
}

func (s *service) listen(ctx context.Context) error {
	switch s.key.Protocol {
	case ipvs.TCP:
		ln, err := s.t.tcp.listen(s)
		if err != nil {
			return err
		}
		s.mu.Lock()
		s.ln, s.listening = ln, true
		s.mu.Unlock()
	case ipvs.UDP:
		lc := net.ListenConfig{Control: freebind}
		pc, err := lc.ListenPacket(ctx, "udp", s.key.Addr.String())
		if err != nil {
			return fmt.Errorf("listen: %w", err)
		}
		s.udp = pc.(*net.UDPConn)
		s.listening = true
		s.wg.Add(1)
		go s.serveUDP()
	}
	return nil
}

// relisten moves a TCP service's listener to carrier c (Table.degrade): the old one is
// closed first, since both cannot bind the address.
func (s *service) relisten(c carrier) error {
	s.mu.Lock()
	old := s.ln
	s.ln = nil
	s.mu.Unlock()
	if old == nil {
		return nil // stopping already
	}
	old.close()
	// The failed carrier may hold the old socket a moment longer: a dead ring's accepts
	// keep it open until the kernel has cancelled them, once the ring is closed.
	var ln listener
	var err error
	for deadline := time.Now().Add(time.Second); ; time.Sleep(10 * time.Millisecond) {
		ln, err = c.listen(s)
		if !errors.Is(err, syscall.EADDRINUSE) || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.ln = ln
	s.mu.Unlock()
	return nil
}

func (s *service) stopListening() {
	s.mu.Lock()
	s.listening = false
	ln := s.ln
	s.ln = nil
	s.mu.Unlock()
	if ln != nil {
		ln.close()
	}
	if s.udp != nil {
		// UDP flows answer through this socket, so closing it ends them (see serveUDP):
		// a deleted UDP service frees its address at once for a re-add.
		s.udp.Close()
	}
}

// cutConnections closes every live connection and flow of the service.
func (s *service) cutConnections() {
	s.mu.Lock()
	cs := make([]closer, 0, len(s.conns))
	for c := range s.conns {
		cs = append(cs, c)
	}
	s.mu.Unlock()
	for _, c := range cs {
		c.cut()
	}
}

func (s *service) update(cfg ipvs.Service) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cfg.Scheduler != s.cfg.Scheduler {
		sch, err := newScheduler(cfg.Scheduler)
		if err != nil {
			return fmt.Errorf("update service %s: %w", s.key, err)
		}
		sch.changed(s.dests)
		s.sched = sch
	}
	if !cfg.Persistent || cfg.Netmask != s.cfg.Netmask {
		clear(s.templates)
	}
	s.cfg = cfg
	return nil
}

func (s *service) findDest(a netip.AddrPort) int {
	for i, d := range s.dests {
		if d.addr == a {
			return i
		}
	}
	return -1
}

func (s *service) addDest(cfg ipvs.Destination) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.findDest(cfg.Addr) >= 0 {
		return fmt.Errorf("add destination %s to %s: %w", cfg.Addr, s.key, syscall.EEXIST)
	}
	d := &dest{addr: cfg.Addr, cfg: cfg, lastWeight: cfg.Weight, available: true}
	if d.loops = s.connectsToItself(d.target(s.key.Addr.Port())); d.loops {
		s.t.log.Error("real server is this service's own listener: the userspace data plane never connects to it (each connection would come back to it)",
			"service", s.key.String(), "real_server", d.addr.String())
	}
	s.warnForwarding(d)
	s.dests = append([]*dest{d}, s.dests...)
	s.sched.changed(s.dests)
	return nil
}

func (s *service) warnForwarding(d *dest) {
	if d.cfg.Forwarding != ipvs.NAT && !d.warned {
		d.warned = true
		s.t.log.Warn("userspace data plane proxies this real server as nat",
			"service", s.key.String(), "real_server", d.addr.String(), "forwarding", d.cfg.Forwarding.String())
	}
}

func (s *service) updateDest(cfg ipvs.Destination) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := s.findDest(cfg.Addr)
	if i < 0 {
		return fmt.Errorf("update destination %s of %s: no such destination: %w", cfg.Addr, s.key, syscall.ENOENT)
	}
	d := s.dests[i]
	if cfg.Upper == 0 || cfg.Upper > d.cfg.Upper {
		d.overloaded = false
	}
	d.cfg = cfg
	if cfg.Weight != 0 {
		d.lastWeight = cfg.Weight
	}
	s.warnForwarding(d)
	s.sched.changed(s.dests)
	return nil
}

func (s *service) deleteDest(a netip.AddrPort) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := s.findDest(a)
	if i < 0 {
		return fmt.Errorf("delete destination %s from %s: no such destination: %w", a, s.key, syscall.ENOENT)
	}
	s.dests[i].available = false
	s.dests = append(s.dests[:i:i], s.dests[i+1:]...)
	s.sched.changed(s.dests)
	return nil
}

// clientPrefix is the persistence key: the client address masked to the netmask.
func (s *service) clientPrefix(a netip.Addr) netip.Prefix {
	bits := s.cfg.Netmask
	if bits == 0 {
		bits = a.BitLen()
	}
	p, _ := a.Prefix(bits)
	return p
}

// templateValid is ip_vs_check_template with expire_quiescent_template=1: the template's
// real server still exists and has a positive weight.
func templateValid(tp *template, now time.Time) bool {
	return tp.d.available && tp.d.weight() > 0 && (tp.conns > 0 || now.Before(tp.expires))
}

// pick chooses the real server for a new connection from client and accounts the
// connection to it as active (or inactive, for a UDP flow). skip is a real server that
// just refused this connection. It returns nil when no real server is available.
func (s *service) pick(client netip.AddrPort, skip *dest, udp bool, c closer) (*dest, *template) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.t.clock.Now()
	var tp *template
	var d *dest
	if s.cfg.Persistent {
		key := s.clientPrefix(client.Addr())
		tp = s.templates[key]
		if tp != nil && (!templateValid(tp, now) || tp.d == skip) {
			tp = nil // a connection still controlled by the old template keeps its count there
		}
		if tp == nil {
			pc := pickCtx{client: client, vip: s.key.Addr, flags: s.cfg.Flags, skip: skip, now: now}
			if d = s.sched.pick(s.dests, &pc); d == nil {
				return nil, nil
			}
			tp = &template{d: d}
			s.templates[key] = tp
		}
		d = tp.d
		tp.conns++
	} else {
		pc := pickCtx{client: client, vip: s.key.Addr, flags: s.cfg.Flags, skip: skip, now: now}
		if d = s.sched.pick(s.dests, &pc); d == nil {
			return nil, nil
		}
	}
	if udp {
		d.inactive++
	} else {
		d.active++
	}
	d.updateOverload()
	d.stats.conns.Add(1)
	s.conns[c] = struct{}{}
	return d, tp
}

// release ends a connection's accounting; wasActive tells which count it is in.
func (s *service) release(d *dest, tp *template, wasActive bool, c closer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c)
	if wasActive {
		d.active--
	} else {
		d.inactive--
	}
	d.updateOverload()
	if tp != nil {
		tp.conns--
		if tp.conns == 0 {
			tp.expires = s.t.clock.Now().Add(s.cfg.Timeout)
		}
	}
}

func (s *service) expireTemplatesLocked(now time.Time) {
	for k, tp := range s.templates {
		if tp.conns == 0 && !now.Before(tp.expires) || !tp.d.available {
			if tp.conns == 0 {
				delete(s.templates, k)
			}
		}
	}
}

// unreachable logs a failed connection attempt once per run of failures.
func (s *service) unreachable(d *dest, err error) {
	if d.unreached.CompareAndSwap(false, true) {
		s.t.log.Warn("real server unreachable", "service", s.key.String(), "real_server", d.addr.String(), "err", err)
	}
}

func (s *service) reached(d *dest) {
	if d.unreached.Load() && d.unreached.CompareAndSwap(true, false) {
		s.t.log.Info("real server reachable again", "service", s.key.String(), "real_server", d.addr.String())
	}
}
