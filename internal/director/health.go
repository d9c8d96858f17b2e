package director

import (
	"context"
	"sync"

	"github.com/vigil-lb/vigil/checks"
)

// mailbox queues the scheduler's server events for the loop. put never blocks the
// scheduler; the loop takes everything queued at once.
type mailbox struct {
	mu    sync.Mutex
	q     []checks.ServerEvent
	spare []checks.ServerEvent // the array the loop last took, reused
	wake  chan struct{}
}

func (m *mailbox) put(ev checks.ServerEvent) {
	m.mu.Lock()
	m.q = append(m.q, ev)
	m.mu.Unlock()
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// take returns the queued events; done hands their array back once they are applied.
func (m *mailbox) take() []checks.ServerEvent {
	m.mu.Lock()
	defer m.mu.Unlock()
	q := m.q
	m.q, m.spare = m.spare[:0], nil
	return q
}

func (m *mailbox) done(q []checks.ServerEvent) {
	clear(q) // drop the strings it holds
	m.mu.Lock()
	if m.spare == nil {
		m.spare = q[:0]
	}
	m.mu.Unlock()
}

// enqueue is the scheduler's OnServer.
func (d *Director) enqueue(ev checks.ServerEvent) { d.mail.put(ev) }

// observe is the scheduler's OnCheck: every probe's result, for the metrics histogram.
func (d *Director) observe(ev checks.CheckEvent) {
	if d.o.Observer == nil {
		return
	}
	label := ev.Kind
	if labels := d.labels.Load(); labels != nil {
		if l, ok := (*labels)[ev.ID]; ok {
			label = l
		}
	}
	d.o.Observer(ev.VirtualServer, ev.RealServer, label, ev.Result.Latency, ev.Result.OK)
}

// applyHealth applies a batch of real servers' new health (the loop's step for the
// mailbox): each touched virtual server is planned and written once, so a weight change
// is one write to the table, and a quorum change (which brings the sorry server in or
// out) is written with it.
func (d *Director) applyHealth(ctx context.Context, evs []checks.ServerEvent) {
	c := d.edit()
	now := d.o.Clock.Now()
	for _, ev := range evs {
		ref, ok := d.servers[ev.Server]
		if !ok {
			continue // a real server a reload removed
		}
		if c.base.services.at(ref.svc).rs[ref.rs].admin.state == Maint {
			continue // a result of a check that maint has just paused
		}
		var h Health
		switch ev.New {
		case checks.Up:
			h = Up
		case checks.Down:
			h = Down
		default:
			continue
		}
		s := c.realServer(ref)
		was := s.health
		s.health, s.dynamic = h, ev.Weight
		healthTransition(s, was, ev, now)
		d.notifyHealth(c.next.cfg.VirtualServers[ref.svc], ref.rs, was, h, ev)
	}
	d.commit(ctx, c)
}
