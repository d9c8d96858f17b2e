// Package ipvstest provides an in-memory ipvs.Table that logs every write, for tests that
// assert which kernel operations a change costs.
package ipvstest

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"syscall"

	"github.com/vigil-lb/vigil/ipvs"
)

// OpKind is the kind of a write to the table.
type OpKind string

// Write kinds, one per Table method that changes the table.
const (
	AddService        OpKind = "add-service"
	UpdateService     OpKind = "update-service"
	DeleteService     OpKind = "delete-service"
	AddDestination    OpKind = "add-destination"
	UpdateDestination OpKind = "update-destination"
	DeleteDestination OpKind = "delete-destination"
	SetTimeouts       OpKind = "set-timeouts"
)

// Op is one logged write. Dest is zero for service operations.
type Op struct {
	Kind    OpKind
	Service ipvs.ServiceKey
	Dest    netip.AddrPort
}

func (o Op) String() string {
	if o.Dest.IsValid() {
		return fmt.Sprintf("%s %s %s", o.Kind, o.Service, o.Dest)
	}
	return fmt.Sprintf("%s %s", o.Kind, o.Service)
}

// Table is an in-memory ipvs.Table. It answers with the kernel's errnos (EEXIST, ESRCH for
// a missing service, ENOENT for a missing destination) and keeps services and destinations
// in insertion order, as the kernel lists them. Safe for concurrent use.
type Table struct {
	// KernelOrder lists a service's destinations as the kernel does, most recently added
	// first (list_add_rcu at the head); otherwise in the order they were added.
	KernelOrder bool

	mu       sync.Mutex
	svcs     []*svc
	ops      []Op
	timeouts ipvs.Timeouts
	fail     map[OpKind]error
	closed   bool
	daemons  []ipvs.SyncDaemon
}

type svc struct {
	s     ipvs.Service
	dests []ipvs.Destination
}

var (
	_ ipvs.Table       = (*Table)(nil)
	_ ipvs.SyncDaemons = (*Table)(nil)
)

// New returns an empty table.
func New() *Table { return &Table{} }

// Ops returns the writes logged since New or the last ResetOps.
func (t *Table) Ops() []Op {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.ops)
}

// Count returns how many writes of kind were logged.
func (t *Table) Count(kind OpKind) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, o := range t.ops {
		if o.Kind == kind {
			n++
		}
	}
	return n
}

// ResetOps clears the operation log.
func (t *Table) ResetOps() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.ops = nil
}

// Fail makes every later write of kind fail with err (nil clears it).
func (t *Table) Fail(kind OpKind, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.fail == nil {
		t.fail = map[OpKind]error{}
	}
	if err == nil {
		delete(t.fail, kind)
		return
	}
	t.fail[kind] = err
}

// Flush empties the table without logging, as an operator's `ipvsadm -C` would.
func (t *Table) Flush() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.svcs = nil
}

// Seed puts a service and its destinations in the table without logging, as if someone
// else (an operator, kube-proxy, an earlier vigil) had created them.
func (t *Table) Seed(s ipvs.Service, dests ...ipvs.Destination) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.svcs = append(t.svcs, &svc{s: s.Canonical(), dests: slices.Clone(dests)})
}

// SeedRemove deletes a service or (with a valid addr) one destination without logging.
func (t *Table) SeedRemove(k ipvs.ServiceKey, addr netip.AddrPort) {
	t.mu.Lock()
	defer t.mu.Unlock()
	i := t.find(k)
	if i < 0 {
		return
	}
	if !addr.IsValid() {
		t.svcs = slices.Delete(t.svcs, i, i+1)
		return
	}
	s := t.svcs[i]
	s.dests = slices.DeleteFunc(s.dests, func(d ipvs.Destination) bool { return d.Addr == addr })
}

func (t *Table) find(k ipvs.ServiceKey) int {
	return slices.IndexFunc(t.svcs, func(s *svc) bool { return s.s.ServiceKey == k })
}

func (t *Table) write(kind OpKind, k ipvs.ServiceKey, d netip.AddrPort) error {
	if t.closed {
		return ipvs.ErrClosed
	}
	if err := t.fail[kind]; err != nil {
		return err
	}
	t.ops = append(t.ops, Op{Kind: kind, Service: k, Dest: d})
	return nil
}

// Services lists the services.
func (t *Table) Services(ctx context.Context) ([]ipvs.ServiceInfo, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]ipvs.ServiceInfo, 0, len(t.svcs))
	for _, s := range t.svcs {
		out = append(out, ipvs.ServiceInfo{Service: s.s})
	}
	return out, nil
}

// Destinations lists a service's destinations.
func (t *Table) Destinations(ctx context.Context, k ipvs.ServiceKey) ([]ipvs.DestinationInfo, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	i := t.find(k)
	if i < 0 {
		return nil, fmt.Errorf("list destinations of %s: %w", k, syscall.ESRCH)
	}
	out := make([]ipvs.DestinationInfo, 0, len(t.svcs[i].dests))
	for _, d := range t.svcs[i].dests {
		out = append(out, ipvs.DestinationInfo{Destination: d})
	}
	return out, nil
}

// AddService adds a service.
func (t *Table) AddService(ctx context.Context, s ipvs.Service) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.find(s.ServiceKey) >= 0 {
		return fmt.Errorf("add service %s: %w", s.ServiceKey, syscall.EEXIST)
	}
	if err := t.write(AddService, s.ServiceKey, netip.AddrPort{}); err != nil {
		return fmt.Errorf("add service %s: %w", s.ServiceKey, err)
	}
	t.svcs = append(t.svcs, &svc{s: s.Canonical()})
	return nil
}

// UpdateService replaces a service's scheduler, flags and persistence.
func (t *Table) UpdateService(ctx context.Context, s ipvs.Service) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	i := t.find(s.ServiceKey)
	if i < 0 {
		return fmt.Errorf("update service %s: %w", s.ServiceKey, syscall.ESRCH)
	}
	if err := t.write(UpdateService, s.ServiceKey, netip.AddrPort{}); err != nil {
		return fmt.Errorf("update service %s: %w", s.ServiceKey, err)
	}
	t.svcs[i].s = s.Canonical()
	return nil
}

// DeleteService deletes a service.
func (t *Table) DeleteService(ctx context.Context, k ipvs.ServiceKey) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	i := t.find(k)
	if i < 0 {
		return fmt.Errorf("delete service %s: %w", k, syscall.ESRCH)
	}
	if err := t.write(DeleteService, k, netip.AddrPort{}); err != nil {
		return fmt.Errorf("delete service %s: %w", k, err)
	}
	t.svcs = slices.Delete(t.svcs, i, i+1)
	return nil
}

func (t *Table) destIndex(k ipvs.ServiceKey, addr netip.AddrPort) (*svc, int, error) {
	i := t.find(k)
	if i < 0 {
		return nil, -1, syscall.ESRCH
	}
	s := t.svcs[i]
	return s, slices.IndexFunc(s.dests, func(d ipvs.Destination) bool { return d.Addr == addr }), nil
}

// AddDestination adds a destination.
func (t *Table) AddDestination(ctx context.Context, k ipvs.ServiceKey, d ipvs.Destination) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	s, j, err := t.destIndex(k, d.Addr)
	if err == nil && j >= 0 {
		err = syscall.EEXIST
	}
	if err == nil {
		err = t.write(AddDestination, k, d.Addr)
	}
	if err != nil {
		return fmt.Errorf("add destination %s to %s: %w", d.Addr, k, err)
	}
	if t.KernelOrder {
		s.dests = append([]ipvs.Destination{d}, s.dests...)
	} else {
		s.dests = append(s.dests, d)
	}
	return nil
}

// UpdateDestination replaces a destination's weight, forwarding and thresholds.
func (t *Table) UpdateDestination(ctx context.Context, k ipvs.ServiceKey, d ipvs.Destination) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	s, j, err := t.destIndex(k, d.Addr)
	if err == nil && j < 0 {
		err = syscall.ENOENT
	}
	if err == nil {
		err = t.write(UpdateDestination, k, d.Addr)
	}
	if err != nil {
		return fmt.Errorf("update destination %s of %s: %w", d.Addr, k, err)
	}
	s.dests[j] = d
	return nil
}

// DeleteDestination removes a destination.
func (t *Table) DeleteDestination(ctx context.Context, k ipvs.ServiceKey, addr netip.AddrPort) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	s, j, err := t.destIndex(k, addr)
	if err == nil && j < 0 {
		err = syscall.ENOENT
	}
	if err == nil {
		err = t.write(DeleteDestination, k, addr)
	}
	if err != nil {
		return fmt.Errorf("delete destination %s of %s: %w", addr, k, err)
	}
	s.dests = slices.Delete(s.dests, j, j+1)
	return nil
}

// Timeouts returns the timeouts last set.
func (t *Table) Timeouts(ctx context.Context) (ipvs.Timeouts, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.timeouts, nil
}

// SetTimeouts sets the non-zero timeouts.
func (t *Table) SetTimeouts(ctx context.Context, v ipvs.Timeouts) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.write(SetTimeouts, ipvs.ServiceKey{}, netip.AddrPort{}); err != nil {
		return fmt.Errorf("set IPVS timeouts: %w", err)
	}
	if v.TCP != 0 {
		t.timeouts.TCP = v.TCP
	}
	if v.TCPFin != 0 {
		t.timeouts.TCPFin = v.TCPFin
	}
	if v.UDP != 0 {
		t.timeouts.UDP = v.UDP
	}
	return nil
}

// Close makes later writes fail with ipvs.ErrClosed.
func (t *Table) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closed = true
	return nil
}

// SyncDaemons lists the sync daemons started, as the kernel does.
func (t *Table) SyncDaemons(ctx context.Context) ([]ipvs.SyncDaemon, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.daemons), nil
}

// StartSyncDaemon starts a daemon of d.State (EEXIST if one runs).
func (t *Table) StartSyncDaemon(ctx context.Context, d ipvs.SyncDaemon) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, r := range t.daemons {
		if r.State == d.State {
			return fmt.Errorf("start %s sync daemon: %w", d.State, syscall.EEXIST)
		}
	}
	t.daemons = append(t.daemons, d)
	return nil
}

// StopSyncDaemon stops the daemon of state s (ESRCH if none runs).
func (t *Table) StopSyncDaemon(ctx context.Context, s ipvs.SyncState) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	i := slices.IndexFunc(t.daemons, func(r ipvs.SyncDaemon) bool { return r.State == s })
	if i < 0 {
		return fmt.Errorf("stop %s sync daemon: %w", s, syscall.ESRCH)
	}
	t.daemons = slices.Delete(t.daemons, i, i+1)
	return nil
}
