package ipvstest

import (
	"context"
	"net/netip"
	"slices"
	"sync"

	"github.com/vigil-lb/vigil/ipvs"
)

// Recorder wraps any ipvs.Table (the kernel's, in VM tests) and logs the writes that
// succeed, so a test against the real kernel can assert "zero creations or deletions".
type Recorder struct {
	ipvs.Table
	mu  sync.Mutex
	ops []Op
}

// Record returns a Recorder around t.
func Record(t ipvs.Table) *Recorder { return &Recorder{Table: t} }

// Ops returns the logged writes.
func (r *Recorder) Ops() []Op {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.ops)
}

// Count returns how many writes of kind were logged.
func (r *Recorder) Count(kind OpKind) int {
	n := 0
	for _, o := range r.Ops() {
		if o.Kind == kind {
			n++
		}
	}
	return n
}

// ResetOps clears the log.
func (r *Recorder) ResetOps() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ops = nil
}

func (r *Recorder) log(err error, kind OpKind, k ipvs.ServiceKey, d netip.AddrPort) error {
	if err == nil {
		r.mu.Lock()
		r.ops = append(r.ops, Op{Kind: kind, Service: k, Dest: d})
		r.mu.Unlock()
	}
	return err
}

func (r *Recorder) AddService(ctx context.Context, s ipvs.Service) error {
	return r.log(r.Table.AddService(ctx, s), AddService, s.ServiceKey, netip.AddrPort{})
}

func (r *Recorder) UpdateService(ctx context.Context, s ipvs.Service) error {
	return r.log(r.Table.UpdateService(ctx, s), UpdateService, s.ServiceKey, netip.AddrPort{})
}

func (r *Recorder) DeleteService(ctx context.Context, k ipvs.ServiceKey) error {
	return r.log(r.Table.DeleteService(ctx, k), DeleteService, k, netip.AddrPort{})
}

func (r *Recorder) AddDestination(ctx context.Context, k ipvs.ServiceKey, d ipvs.Destination) error {
	return r.log(r.Table.AddDestination(ctx, k, d), AddDestination, k, d.Addr)
}

func (r *Recorder) UpdateDestination(ctx context.Context, k ipvs.ServiceKey, d ipvs.Destination) error {
	return r.log(r.Table.UpdateDestination(ctx, k, d), UpdateDestination, k, d.Addr)
}

func (r *Recorder) DeleteDestination(ctx context.Context, k ipvs.ServiceKey, a netip.AddrPort) error {
	return r.log(r.Table.DeleteDestination(ctx, k, a), DeleteDestination, k, a)
}

func (r *Recorder) SetTimeouts(ctx context.Context, t ipvs.Timeouts) error {
	return r.log(r.Table.SetTimeouts(ctx, t), SetTimeouts, ipvs.ServiceKey{}, netip.AddrPort{})
}
