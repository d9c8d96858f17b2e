package userspace

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/vigil-lb/vigil/ipvs"
)

// pickCtx is what a scheduler may look at for one new connection.
type pickCtx struct {
	client netip.AddrPort // the connection's source
	vip    netip.AddrPort // the connection's destination: the service address
	flags  ipvs.SchedFlags
	skip   *dest // a real server that just refused a connection, or nil
	now    time.Time
}

// scheduler chooses a real server for a new connection, as an IPVS scheduler module does.
// Both methods are called with the service lock held; ds is the destination list in the
// kernel's order (most recently added first, as list_add_rcu puts it at the head).
type scheduler interface {
	pick(ds []*dest, c *pickCtx) *dest
	// changed is the kernel's add_dest/del_dest/upd_dest hook.
	changed(ds []*dest)
}

func newScheduler(name string) (scheduler, error) {
	switch name {
	case "rr":
		return &rr{}, nil
	case "wrr":
		return &wrr{}, nil
	case "lc":
		return lc{}, nil
	case "wlc":
		return wlc{overhead: connOverhead}, nil
	case "sed":
		return wlc{overhead: sedOverhead}, nil
	case "nq":
		return nq{}, nil
	case "sh":
		return &sh{}, nil
	case "dh":
		return &dh{}, nil
	case "mh":
		return &mh{}, nil
	case "fo":
		return fo{}, nil
	case "ovf":
		return ovf{}, nil
	case "lblc":
		return &lblc{entries: map[netip.Addr]*lblcEntry{}}, nil
	case "lblcr":
		return &lblcr{entries: map[netip.Addr]*lblcrEntry{}}, nil
	}
	return nil, fmt.Errorf("unknown scheduler %q (want one of %v)", name, ipvs.Schedulers)
}

// usable is the common test of the kernel schedulers: a positive weight, and not
// IP_VS_DEST_F_OVERLOAD (the upper threshold reached).
func (c *pickCtx) usable(d *dest) bool {
	return d.weight() > 0 && !d.overloaded && d != c.skip
}

// connOverhead is ip_vs_dest_conn_overhead: an active connection weighs 256 inactive ones.
func connOverhead(d *dest) int64 { return int64(d.active)<<8 + int64(d.inactive) }

// sedOverhead is ip_vs_sed_dest_overhead (also nq's): active connections plus one.
func sedOverhead(d *dest) int64 { return int64(d.active) + 1 }

// rr is ip_vs_rr.c: the next usable destination after the previous pick.
type rr struct{ last *dest }

func (s *rr) pick(ds []*dest, c *pickCtx) *dest {
	start := indexOf(ds, s.last) // -1: the list head
	for k := range len(ds) {
		// After the previous pick to the end of the list, then from the head up to and
		// including the previous pick.
		if d := ds[(start+1+k)%len(ds)]; c.usable(d) {
			s.last = d
			return d
		}
	}
	return nil
}

func (s *rr) changed([]*dest) {}

func indexOf(ds []*dest, d *dest) int {
	for i, x := range ds {
		if x == d {
			return i
		}
	}
	return -1
}

// wrr is ip_vs_wrr.c: passes over the list with a current weight cw stepping down from
// the maximum weight by the weights' gcd; a pass picks destinations with weight >= cw.
type wrr struct {
	cl         int // index of the current destination, -1 for the list head
	cw, mw, di int
}

func (s *wrr) changed(ds []*dest) {
	s.cl = -1
	g, mx := 0, 0
	for _, d := range ds {
		w := d.weight()
		if w > 0 {
			g = gcd(w, g)
		}
		mx = max(mx, w)
	}
	if g == 0 {
		g = 1
	}
	s.di = g
	s.mw = mx - (g - 1)
	if s.cw > s.mw || s.cw == 0 {
		s.cw = s.mw
	} else if s.di > 1 {
		s.cw = (s.cw/s.di)*s.di + 1
	}
}

func (s *wrr) pick(ds []*dest, c *pickCtx) *dest {
	if s.mw <= 0 {
		return nil
	}
	last, stop := s.cl, -2
	lastPass, restarted := false, false
	i := s.cl
	for {
		for i++; i < len(ds); i++ {
			d := ds[i]
			if !d.overloaded && d != c.skip && d.weight() >= s.cw {
				s.cl = i
				return d
			}
			if i == stop {
				s.cl = i
				return nil
			}
		}
		i = -1
		s.cw -= s.di
		if s.cw <= 0 {
			s.cw = s.mw
			// The kernel stops after one pass with cw <= di over every destination.
			if lastPass || last == -1 {
				s.cl = -1
				return nil
			}
			restarted = true
		}
		lastPass = s.cw <= s.di
		if lastPass && restarted && last != -1 {
			stop = last
		}
	}
}

func gcd(a, b int) int {
	if b == 0 {
		return a
	}
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// lc is ip_vs_lc.c: the least overhead, ignoring weights (except 0).
type lc struct{}

func (lc) pick(ds []*dest, c *pickCtx) *dest {
	var least *dest
	var loh int64
	for _, d := range ds {
		if !c.usable(d) {
			continue
		}
		if doh := connOverhead(d); least == nil || doh < loh {
			least, loh = d, doh
		}
	}
	return least
}

func (lc) changed([]*dest) {}

// wlc is ip_vs_wlc.c (overhead = connOverhead) and ip_vs_sed.c (sedOverhead): the least
// overhead/weight, compared by cross-multiplication as the kernel does.
type wlc struct{ overhead func(*dest) int64 }

func (s wlc) pick(ds []*dest, c *pickCtx) *dest {
	return weightedLeast(ds, c, s.overhead)
}

func (wlc) changed([]*dest) {}

func weightedLeast(ds []*dest, c *pickCtx, overhead func(*dest) int64) *dest {
	var least *dest
	var loh int64
	for _, d := range ds {
		if !c.usable(d) {
			continue
		}
		doh := overhead(d)
		if least == nil || loh*int64(d.weight()) > doh*int64(least.weight()) {
			least, loh = d, doh
		}
	}
	return least
}

// nq is ip_vs_nq.c: the first idle destination, else sed.
type nq struct{}

func (nq) pick(ds []*dest, c *pickCtx) *dest {
	var least *dest
	var loh int64
	for _, d := range ds {
		if !c.usable(d) {
			continue
		}
		doh := sedOverhead(d)
		if d.active == 0 {
			return d
		}
		if least == nil || loh*int64(d.weight()) > doh*int64(least.weight()) {
			least, loh = d, doh
		}
	}
	return least
}

func (nq) changed([]*dest) {}

// fo is ip_vs_fo.c: the usable destination with the highest weight (the first of equals).
type fo struct{}

func (fo) pick(ds []*dest, c *pickCtx) *dest {
	var h *dest
	for _, d := range ds {
		if c.usable(d) && (h == nil || d.weight() > h.weight()) {
			h = d
		}
	}
	return h
}

func (fo) changed([]*dest) {}

// ovf is ip_vs_ovf.c: the highest-weight destination whose active connections do not
// exceed its weight (the kernel skips a destination only when active > weight).
type ovf struct{}

func (ovf) pick(ds []*dest, c *pickCtx) *dest {
	var h *dest
	for _, d := range ds {
		w := d.weight()
		if !c.usable(d) || int(d.active) > w {
			continue
		}
		if h == nil || w > h.weight() {
			h = d
		}
	}
	return h
}

func (ovf) changed([]*dest) {}

// sh is ip_vs_sh.c: a 256-bucket table filled in list order, each destination taking
// as many consecutive buckets as its weight; the source address (and port with sh-port)
// hashes to a bucket. With sh-fallback an unusable bucket is skipped by rehashing with
// increasing offsets; without it there is no destination.
type sh struct{ buckets [256]*dest }

const shTabBits = 8

func (s *sh) changed(ds []*dest) {
	n, j := 0, 0
	for i := range s.buckets {
		if len(ds) == 0 {
			s.buckets[i] = nil
			continue
		}
		d := ds[j]
		s.buckets[i] = d
		if n++; n >= d.weight() {
			j = (j + 1) % len(ds)
			n = 0
		}
	}
}

func shHash(a netip.Addr, port uint16, offset uint32) uint32 {
	return (offset + hash32(uint32(port)+addrFold(a), shTabBits)) & (1<<shTabBits - 1)
}

func (s *sh) pick(_ []*dest, c *pickCtx) *dest {
	var port uint16
	if c.flags&ipvs.SchedFlag2 != 0 {
		port = c.client.Port()
	}
	a := c.client.Addr()
	ih := shHash(a, port, 0)
	d := s.buckets[ih]
	if d == nil {
		return nil
	}
	if c.usable(d) {
		return d
	}
	if c.flags&ipvs.SchedFlag1 == 0 {
		return nil
	}
	for off := uint32(0); off < 1<<shTabBits; off++ {
		roff := (off + ih) % (1 << shTabBits)
		d := s.buckets[shHash(a, port, roff)]
		if d == nil {
			return nil
		}
		if c.usable(d) {
			return d
		}
	}
	return nil
}

// dh is ip_vs_dh.c: a 256-bucket table filled round robin (weights ignored), indexed by
// the destination address. A proxied connection's destination is always the service
// address, so every connection of a service goes to one real server, as in the kernel
// for a service with one virtual address.
type dh struct{ buckets [256]*dest }

func (s *dh) changed(ds []*dest) {
	for i := range s.buckets {
		if len(ds) == 0 {
			s.buckets[i] = nil
			continue
		}
		s.buckets[i] = ds[i%len(ds)]
	}
}

func (s *dh) pick(_ []*dest, c *pickCtx) *dest {
	d := s.buckets[(addrFold(c.vip.Addr())*2654435761)&255]
	if d == nil || !c.usable(d) {
		return nil
	}
	return d
}

// mh is ip_vs_mh.c: Maglev hashing (NSDI '16, section 3.4) over the table ipvs.MaglevTable
// computes, the kernel's, populated from each destination's last non-zero weight so that
// quiescing one does not move the others' clients.
type mh struct{ lookup [ipvs.MaglevSize]*dest }

func (s *mh) changed(ds []*dest) {
	md := make([]ipvs.MaglevDest, len(ds))
	for i, d := range ds {
		md[i] = ipvs.MaglevDest{Addr: d.addr, LastWeight: d.lastWeight}
	}
	for slot, i := range ipvs.MaglevTable(md) {
		s.lookup[slot] = nil
		if i >= 0 {
			s.lookup[slot] = ds[i]
		}
	}
}

func (s *mh) pick(_ []*dest, c *pickCtx) *dest {
	var port uint16
	if c.flags&ipvs.SchedFlag2 != 0 {
		port = c.client.Port()
	}
	a := c.client.Addr()
	ih := ipvs.MaglevHash(a, port, 0) % ipvs.MaglevSize
	d := s.lookup[ih]
	if d == nil {
		return nil
	}
	if c.usable(d) {
		return d
	}
	if c.flags&ipvs.SchedFlag1 == 0 {
		return nil
	}
	for off := uint32(0); off < ipvs.MaglevSize; off++ {
		roff := (off + ih) % ipvs.MaglevSize
		d := s.lookup[ipvs.MaglevHash(a, port, roff)%ipvs.MaglevSize]
		if d == nil {
			return nil
		}
		if c.usable(d) {
			return d
		}
	}
	return nil
}

// lblcExpiration is the default of net.ipv4.vs.lblc_expiration and lblcr_expiration.
const lblcExpiration = 24 * time.Hour

// lblcOverloaded is is_overloaded of ip_vs_lblc.c and ip_vs_lblcr.c: more active
// connections than its weight while some destination is below half its weight.
func lblcOverloaded(d *dest, ds []*dest) bool {
	if int(d.active) <= d.weight() {
		return false
	}
	for _, x := range ds {
		if int(x.active)*2 < x.weight() {
			return true
		}
	}
	return false
}

// lblc is ip_vs_lblc.c: a destination address keeps the server it was last given unless
// that server is unusable or overloaded, then wlc picks a new one. For a proxy the
// destination address is the service address (see dh).
type lblc struct{ entries map[netip.Addr]*lblcEntry }

type lblcEntry struct {
	d       *dest
	lastUse time.Time
}

func (s *lblc) pick(ds []*dest, c *pickCtx) *dest {
	key := c.vip.Addr()
	for k, e := range s.entries { // the kernel's periodic lblc_check_expire
		if c.now.Sub(e.lastUse) > lblcExpiration {
			delete(s.entries, k)
		}
	}
	if e := s.entries[key]; e != nil {
		e.lastUse = c.now
		if e.d.available && c.usable(e.d) && !lblcOverloaded(e.d, ds) {
			return e.d
		}
	}
	d := weightedLeast(ds, c, connOverhead)
	if d != nil {
		s.entries[key] = &lblcEntry{d: d, lastUse: c.now}
	}
	return d
}

func (s *lblc) changed([]*dest) {}

// lblcr is ip_vs_lblcr.c: like lblc, but a destination address maps to a set of servers
// that grows when its least loaded member is overloaded and sheds its most loaded member
// when it has not changed for lblcr_expiration.
type lblcr struct{ entries map[netip.Addr]*lblcrEntry }

type lblcrEntry struct {
	set              []*dest
	lastUse, lastMod time.Time
}

func (s *lblcr) pick(ds []*dest, c *pickCtx) *dest {
	key := c.vip.Addr()
	for k, e := range s.entries {
		if c.now.Sub(e.lastUse) > lblcExpiration {
			delete(s.entries, k)
		}
	}
	e := s.entries[key]
	if e == nil {
		d := weightedLeast(ds, c, connOverhead)
		if d != nil {
			s.entries[key] = &lblcrEntry{set: []*dest{d}, lastUse: c.now, lastMod: c.now}
		}
		return d
	}
	e.lastUse = c.now
	// Members that were deleted leave the set (the kernel drops them in del_dest).
	live := e.set[:0]
	for _, d := range e.set {
		if d.available {
			live = append(live, d)
		}
	}
	e.set = live
	d := weightedLeast(e.set, c, connOverhead)
	if len(e.set) > 1 && c.now.Sub(e.lastMod) > lblcExpiration {
		var most *dest
		var moh int64
		for _, x := range e.set {
			if x.weight() <= 0 || x.overloaded {
				continue
			}
			if xoh := connOverhead(x); most == nil || moh*int64(x.weight()) < xoh*int64(most.weight()) {
				most, moh = x, xoh
			}
		}
		if most != nil {
			e.set = deleteDest(e.set, most)
			e.lastMod = c.now
		}
	}
	if d != nil && !lblcOverloaded(d, ds) {
		return d
	}
	d = weightedLeast(ds, c, connOverhead)
	if d != nil && indexOf(e.set, d) < 0 {
		e.set = append(e.set, d)
		e.lastMod = c.now
	}
	return d
}

func (s *lblcr) changed([]*dest) {}

func deleteDest(ds []*dest, d *dest) []*dest {
	out := ds[:0]
	for _, x := range ds {
		if x != d {
			out = append(out, x)
		}
	}
	return out
}
