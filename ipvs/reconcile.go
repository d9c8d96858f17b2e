package ipvs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"slices"
)

// VirtualService is one service of the desired state with its real servers.
type VirtualService struct {
	Service
	Destinations []RealServer
}

// RealServer is a destination of the desired state. Weight is the weight it should have
// now (the configured weight, or 0 while it is quiesced).
type RealServer struct {
	Destination
	// Removed keeps the destination out of the table while it is down and its service
	// says on_failure = "remove". The reconciler remembers it, so it can be restored.
	Removed bool
}

// Changes counts the writes one reconciliation made, per kind.
type Changes struct {
	ServicesAdded, ServicesUpdated, ServicesDeleted             int
	DestinationsAdded, DestinationsUpdated, DestinationsDeleted int
}

// Total is the number of writes.
func (c Changes) Total() int {
	return c.ServicesAdded + c.ServicesUpdated + c.ServicesDeleted +
		c.DestinationsAdded + c.DestinationsUpdated + c.DestinationsDeleted
}

// Add adds o's counts to c.
func (c *Changes) Add(o Changes) {
	c.ServicesAdded += o.ServicesAdded
	c.ServicesUpdated += o.ServicesUpdated
	c.ServicesDeleted += o.ServicesDeleted
	c.DestinationsAdded += o.DestinationsAdded
	c.DestinationsUpdated += o.DestinationsUpdated
	c.DestinationsDeleted += o.DestinationsDeleted
}

// ReconcilerOptions configure NewReconciler.
type ReconcilerOptions struct {
	Logger *slog.Logger // nil discards
}

// Reconciler keeps the services it owns in a Table equal to a desired state with the
// fewest writes. It owns the services of its desired state and the ones it has owned
// before (a service dropped from the configuration is deleted); it never touches any other
// service and never flushes, so kube-proxy or an operator can share the table. Existing
// matching services and destinations are adopted in place, so a restart of vigil resets
// no connection.
//
// Its record of the desired state is the only one: a caller hands it the whole desired
// state (Apply) or one service's (Update) and it works out the writes by comparing with
// that record, which is what it last wrote. A write that failed marks its service
// unknown, so the next Update of it reads the table first and Resync repairs it.
//
// A Reconciler belongs to one goroutine (the director's loop); it is not safe for
// concurrent use.
type Reconciler struct {
	table Table
	log   *slog.Logger

	desired map[ServiceKey]*desiredService
	order   []ServiceKey        // desired services in configuration order
	owned   map[ServiceKey]bool // every service ever desired; dropped ones are deleted
	writes  Changes             // cumulative
}

type desiredService struct {
	svc   Service
	dests []RealServer
	// unknown: a write failed, so the table may hold anything; the next Update reads it.
	unknown bool
}

func (d *desiredService) dest(addr netip.AddrPort) *RealServer {
	for i := range d.dests {
		if d.dests[i].Addr == addr {
			return &d.dests[i]
		}
	}
	return nil
}

// NewReconciler returns a reconciler for table that owns nothing yet.
func NewReconciler(table Table, opts ReconcilerOptions) *Reconciler {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Reconciler{table: table, log: log, desired: map[ServiceKey]*desiredService{}, owned: map[ServiceKey]bool{}}
}

// Writes returns the writes made since NewReconciler, per kind (for metrics).
func (r *Reconciler) Writes() Changes {
	return r.writes
}

// Programmed reports whether key is in the desired state and its last write succeeded:
// the table holds the service as desired (the director announces a virtual IP only then).
func (r *Reconciler) Programmed(key ServiceKey) bool {
	ds := r.desired[canonicalKey(key)]
	return ds != nil && !ds.unknown
}

// ErrUnknown means SetWeight or SetRemoved named a service or destination that is not in
// the desired state.
var ErrUnknown = errors.New("not in the desired state")

// Apply makes desired the new desired state and brings the table in line with it: it reads
// the table, then adds, updates and deletes only what differs. A weight differing is one
// UpdateDestination, never a delete and re-add. Services that were desired before and are
// not now are deleted. Errors on one service do not stop the others; they are joined. The
// desired state is recorded even on error, so the next Resync retries.
func (r *Reconciler) Apply(ctx context.Context, desired []VirtualService) (Changes, error) {
	next := make(map[ServiceKey]*desiredService, len(desired))
	order := make([]ServiceKey, 0, len(desired))
	for _, vs := range desired {
		k := canonicalKey(vs.ServiceKey)
		vs.ServiceKey = k
		if _, dup := next[k]; dup {
			return Changes{}, fmt.Errorf("apply: service %s listed twice", k)
		}
		next[k] = &desiredService{svc: vs.Service, dests: slices.Clone(vs.Destinations)}
		order = append(order, k)
		r.owned[k] = true
	}
	r.desired, r.order = next, order
	return r.sync(ctx)
}

// Update makes vs the desired state of its service and writes only what differs from the
// reconciler's record of that service, without reading the table: a weight is one
// UpdateDestination, a real server taken out or put back (on_failure = "remove") one
// DeleteDestination or AddDestination, a sorry server coming in one AddDestination. It is
// what a health change costs. A service not desired before is created; a service whose
// last write failed is first read back from the table, as Apply would. The service
// becomes owned if it was not. An mh service that gained a destination is read back and
// put in its canonical order (reconcile_mh.go).
func (r *Reconciler) Update(ctx context.Context, vs VirtualService) (Changes, error) {
	k := canonicalKey(vs.ServiceKey)
	vs.ServiceKey = k
	var c Changes
	defer func() { r.writes.Add(c) }()
	ds := r.desired[k]
	var err error
	switch {
	case ds == nil:
		ds = &desiredService{svc: vs.Service, dests: slices.Clone(vs.Destinations)}
		r.desired[k] = ds
		r.order = append(r.order, k)
		r.owned[k] = true
		err = r.syncService(ctx, ds, Service{}, false, &c)
	case ds.unknown:
		ds.svc, ds.dests = vs.Service, append(ds.dests[:0], vs.Destinations...)
		err = r.readAndSync(ctx, ds, &c)
	default:
		err = r.writeDiff(ctx, ds, vs, &c)
		// The record keeps its array: a health change allocates nothing here.
		ds.svc, ds.dests = vs.Service, append(ds.dests[:0], vs.Destinations...)
	}
	ds.unknown = err != nil
	return c, err
}

// readAndSync brings one service in line after reading it from the table.
func (r *Reconciler) readAndSync(ctx context.Context, ds *desiredService, c *Changes) error {
	have, err := r.table.Services(ctx)
	if err != nil {
		return err
	}
	for _, s := range have {
		if s.ServiceKey == ds.svc.ServiceKey {
			return r.syncService(ctx, ds, s.Service, true, c)
		}
	}
	return r.syncService(ctx, ds, Service{}, false, c)
}

// writeDiff makes the writes that turn the recorded old into want.
func (r *Reconciler) writeDiff(ctx context.Context, old *desiredService, want VirtualService, c *Changes) error {
	k := want.ServiceKey
	if old.svc.Canonical() != want.Service.Canonical() {
		if err := r.table.UpdateService(ctx, want.Service); err != nil {
			return err
		}
		c.ServicesUpdated++
	}
	var errs []error
	var buf [64]bool
	matched := buf[:0]
	if len(old.dests) <= len(buf) {
		matched = buf[:len(old.dests)]
	} else {
		matched = make([]bool, len(old.dests))
	}
	for i, d := range want.Destinations {
		// The director lists a service's real servers in the same order every time, so
		// the old entry is almost always at the same index.
		j := i
		if j >= len(old.dests) || old.dests[j].Addr != d.Addr {
			j = slices.IndexFunc(old.dests, func(o RealServer) bool { return o.Addr == d.Addr })
		}
		inTable := j >= 0 && !old.dests[j].Removed
		if j >= 0 {
			matched[j] = true
		}
		switch {
		case d.Removed && inTable:
			if err := r.table.DeleteDestination(ctx, k, d.Addr); err != nil {
				errs = append(errs, err)
				continue
			}
			c.DestinationsDeleted++
		case d.Removed:
		case !inTable:
			if err := r.table.AddDestination(ctx, k, d.Destination); err != nil {
				errs = append(errs, err)
				continue
			}
			c.DestinationsAdded++
		case old.dests[j].Destination != d.Destination:
			if err := r.table.UpdateDestination(ctx, k, d.Destination); err != nil {
				errs = append(errs, err)
				continue
			}
			c.DestinationsUpdated++
		}
	}
	// Recorded destinations the new state no longer names (a sorry server going out).
	for j, o := range old.dests {
		if matched[j] || o.Removed {
			continue
		}
		if err := r.table.DeleteDestination(ctx, k, o.Addr); err != nil {
			errs = append(errs, err)
			continue
		}
		c.DestinationsDeleted++
	}
	if isMH(want.Service) && c.DestinationsAdded > 0 {
		errs = append(errs, r.orderMH(ctx, k, c))
	}
	return errors.Join(errs...)
}

// Resync compares the table with the last desired state and repairs any drift: missing
// services and destinations are re-added, wrong settings and weights fixed, foreign
// destinations in owned services removed. repairs counts the writes.
func (r *Reconciler) Resync(ctx context.Context) (repairs int, err error) {
	c, err := r.sync(ctx)
	if n := c.Total(); n > 0 {
		r.log.Info("IPVS resync repaired drift", "writes", n, "changes", c)
	}
	return c.Total(), err
}

// SetWeight records a new weight for one destination and writes it with exactly one
// UpdateDestination. A destination kept out by SetRemoved only has its weight recorded.
func (r *Reconciler) SetWeight(ctx context.Context, svc ServiceKey, addr netip.AddrPort, weight int) error {
	d, err := r.lookup(svc, addr)
	if err != nil {
		return fmt.Errorf("set weight of %s in %s: %w", addr, svc, err)
	}
	d.Weight = weight
	if d.Removed {
		return nil
	}
	if err := r.table.UpdateDestination(ctx, svc, d.Destination); err != nil {
		r.desired[svc].unknown = true
		return err
	}
	r.writes.DestinationsUpdated++
	return nil
}

// SetRemoved takes a destination out of the table (one DeleteDestination) or puts it back
// with its recorded settings (one AddDestination): on_failure = "remove".
func (r *Reconciler) SetRemoved(ctx context.Context, svc ServiceKey, addr netip.AddrPort, removed bool) error {
	d, err := r.lookup(svc, addr)
	if err != nil {
		return fmt.Errorf("remove %s from %s: %w", addr, svc, err)
	}
	if d.Removed == removed {
		return nil
	}
	d.Removed = removed
	if removed {
		if err := r.table.DeleteDestination(ctx, svc, addr); err != nil {
			r.desired[svc].unknown = true
			return err
		}
		r.writes.DestinationsDeleted++
		return nil
	}
	if err := r.table.AddDestination(ctx, svc, d.Destination); err != nil {
		r.desired[svc].unknown = true
		return err
	}
	r.writes.DestinationsAdded++
	if ds := r.desired[svc]; isMH(ds.svc) {
		if err := r.orderMH(ctx, svc, &r.writes); err != nil {
			ds.unknown = true
			return err
		}
	}
	return nil
}

func (r *Reconciler) lookup(svc ServiceKey, addr netip.AddrPort) (*RealServer, error) {
	ds := r.desired[svc]
	if ds == nil {
		return nil, ErrUnknown
	}
	d := ds.dest(addr)
	if d == nil {
		return nil, ErrUnknown
	}
	return d, nil
}

// sync brings the table in line with r.desired.
func (r *Reconciler) sync(ctx context.Context) (Changes, error) {
	var c Changes
	defer func() { r.writes.Add(c) }()
	have, err := r.table.Services(ctx)
	if err != nil {
		for _, ds := range r.desired {
			ds.unknown = true
		}
		return c, fmt.Errorf("reconcile: %w", err)
	}
	haveBy := make(map[ServiceKey]Service, len(have))
	for _, s := range have {
		haveBy[s.ServiceKey] = s.Service
	}
	var errs []error
	for _, k := range r.order {
		ds := r.desired[k]
		cur, exists := haveBy[k]
		err := r.syncService(ctx, ds, cur, exists, &c)
		ds.unknown = err != nil
		if err != nil {
			errs = append(errs, err)
		}
	}
	// Owned services no longer desired: delete them, in a stable order.
	var gone []ServiceKey
	for k := range r.owned {
		if r.desired[k] == nil {
			gone = append(gone, k)
		}
	}
	slices.SortFunc(gone, func(a, b ServiceKey) int { return compareKeys(a, b) })
	for _, k := range gone {
		if _, exists := haveBy[k]; !exists {
			delete(r.owned, k)
			continue
		}
		if err := r.table.DeleteService(ctx, k); err != nil {
			errs = append(errs, err)
			continue
		}
		c.ServicesDeleted++
		delete(r.owned, k)
	}
	return c, errors.Join(errs...)
}

func (r *Reconciler) syncService(ctx context.Context, ds *desiredService, cur Service, exists bool, c *Changes) error {
	want := ds.svc.Canonical()
	if !exists {
		if err := r.table.AddService(ctx, ds.svc); err != nil {
			return err
		}
		c.ServicesAdded++
		var errs []error
		for _, d := range r.addOrder(ds) {
			if d.Removed {
				continue
			}
			if err := r.table.AddDestination(ctx, want.ServiceKey, d.Destination); err != nil {
				errs = append(errs, err)
				continue
			}
			c.DestinationsAdded++
		}
		return errors.Join(errs...)
	}
	if cur.Canonical() != want {
		if err := r.table.UpdateService(ctx, ds.svc); err != nil {
			return err
		}
		c.ServicesUpdated++
	}
	have, err := r.table.Destinations(ctx, want.ServiceKey)
	if err != nil {
		return err
	}
	haveBy := make(map[netip.AddrPort]Destination, len(have))
	for _, d := range have {
		haveBy[d.Addr] = d.Destination
	}
	var errs []error
	for _, d := range r.addOrder(ds) {
		got, ok := haveBy[d.Addr]
		delete(haveBy, d.Addr)
		switch {
		case d.Removed && ok:
			if err := r.table.DeleteDestination(ctx, want.ServiceKey, d.Addr); err != nil {
				errs = append(errs, err)
				continue
			}
			c.DestinationsDeleted++
		case d.Removed:
		case !ok:
			if err := r.table.AddDestination(ctx, want.ServiceKey, d.Destination); err != nil {
				errs = append(errs, err)
				continue
			}
			c.DestinationsAdded++
		case got != d.Destination:
			if err := r.table.UpdateDestination(ctx, want.ServiceKey, d.Destination); err != nil {
				errs = append(errs, err)
				continue
			}
			c.DestinationsUpdated++
		}
	}
	// Destinations in an owned service that the configuration does not name.
	extra := make([]netip.AddrPort, 0, len(haveBy))
	for a := range haveBy {
		extra = append(extra, a)
	}
	slices.SortFunc(extra, netip.AddrPort.Compare)
	for _, a := range extra {
		if err := r.table.DeleteDestination(ctx, want.ServiceKey, a); err != nil {
			errs = append(errs, err)
			continue
		}
		c.DestinationsDeleted++
	}
	if isMH(ds.svc) {
		errs = append(errs, r.orderMH(ctx, want.ServiceKey, c))
	}
	return errors.Join(errs...)
}

// canonicalKey is k as the table lists it: a firewall mark's family defaults to IPv4, an
// address's is taken from the address.
func canonicalKey(k ServiceKey) ServiceKey {
	switch {
	case k.Family == 0 && k.IsFWMark():
		k.Family = Inet4
	case !k.IsFWMark():
		k = AddrKey(k.Protocol, k.Addr)
	}
	return k
}

// compareKeys orders services as ipvsadm lists them: address services before firewall
// marks, then by family, protocol, address and port.
func compareKeys(a, b ServiceKey) int {
	if a.FWMark != b.FWMark {
		if a.FWMark < b.FWMark {
			return -1
		}
		return 1
	}
	if a.Family != b.Family {
		return int(a.Family) - int(b.Family)
	}
	if a.Protocol != b.Protocol {
		return int(a.Protocol) - int(b.Protocol)
	}
	return a.Addr.Compare(b.Addr)
}

// Own adds keys to the services r owns, so that one of them absent from the next Apply's
// desired state is deleted from the table: a director that remembers, across a restart,
// the services it created (its state file) removes those its configuration dropped
// meanwhile.
func (r *Reconciler) Own(keys []ServiceKey) {
	for _, k := range keys {
		r.owned[canonicalKey(k)] = true
	}
}

// Owned returns the services r owns, in ipvsadm's order.
func (r *Reconciler) Owned() []ServiceKey {
	out := make([]ServiceKey, 0, len(r.owned))
	for k := range r.owned {
		out = append(out, k)
	}
	slices.SortFunc(out, compareKeys)
	return out
}
