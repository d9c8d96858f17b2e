package director

import (
	"slices"
	"time"

	"github.com/vigil-lb/vigil/conf"
	"github.com/vigil-lb/vigil/internal/status"
)

// view is the director's state as readers see it. The loop builds one after each step and
// publishes it (publish); nothing changes a view once published, so a reader needs no
// lock. A new view shares with the one before it everything the step did not touch.
type view struct {
	phase    phase
	started  time.Time
	cfg      *conf.Config
	services serviceList // by index in cfg.VirtualServers
	config   status.ConfigStatus
	counters status.IPVSCounters
	warnings []string
	vrrps    []*vrrpRun // the running instances, by name
	// names are the scheduler's names of cfg's real servers and checks (names.go).
	names map[*conf.VirtualServer]*vsNames
}

// chunkSize is the size of a serviceList's chunks.
const chunkSize = 64

// serviceList holds a view's virtual servers in chunks, so that a step that changes one
// of them copies one chunk and the chunk index, not a pointer per virtual server: a
// health event at 1,000 virtual servers copies 80 pointers instead of 1,000.
type serviceList struct {
	chunks []*[chunkSize]*serviceView
}

func makeServiceList(n int) serviceList {
	l := serviceList{chunks: make([]*[chunkSize]*serviceView, (n+chunkSize-1)/chunkSize)}
	for i := range l.chunks {
		l.chunks[i] = new([chunkSize]*serviceView)
	}
	return l
}

func (l serviceList) at(i int) *serviceView { return l.chunks[i/chunkSize][i%chunkSize] }

// set is for a list being built (install), which no view shares yet.
func (l serviceList) set(i int, sv *serviceView) { l.chunks[i/chunkSize][i%chunkSize] = sv }

// serviceView is one virtual server's state.
type serviceView struct {
	plan vsPlan
	rs   []rsState // by index in the virtual server's RealServers
}

type phase int

const (
	phaseNew phase = iota
	phaseRunning
	phaseStopping
	phaseStopped
)

// rsRef locates a real server in a view: the indexes of its virtual server and of it.
type rsRef struct{ svc, rs int }

// publish makes v the current view, for the loop and for readers. Only the owner calls it.
func (d *Director) publish(v *view) {
	d.cur = v
	d.view.Store(v)
	d.routes.sync(v, d.programmed)
}

// next returns a shallow copy of the current view for a step to change and publish.
func (d *Director) next() *view {
	v := *d.cur
	return &v
}

// change is one step's edit of the real servers' states: the next view, which copies a
// virtual server's states the first time the step touches it. commit (apply.go) plans and
// writes the touched virtual servers and publishes it.
type change struct {
	base    *view
	next    *view
	cloned  bool  // next.services has its own chunk index
	touched []int // virtual servers whose real servers changed, in the order touched
}

// edit starts a change of the current view.
func (d *Director) edit() *change {
	return &change{base: d.cur, next: d.next()}
}

// realServer returns the state of the real server at ref in the next view, to change.
func (c *change) realServer(ref rsRef) *rsState {
	l := &c.next.services
	if !c.cloned {
		l.chunks = slices.Clone(l.chunks)
		c.cloned = true
	}
	ci, i := ref.svc/chunkSize, ref.svc%chunkSize
	if l.chunks[ci] == c.base.services.chunks[ci] {
		cp := *l.chunks[ci]
		l.chunks[ci] = &cp
	}
	sv := l.chunks[ci][i]
	if sv == c.base.services.at(ref.svc) {
		sv = &serviceView{plan: sv.plan, rs: slices.Clone(sv.rs)}
		l.chunks[ci][i] = sv
		c.touched = append(c.touched, ref.svc)
	}
	return &sv.rs[ref.rs]
}
