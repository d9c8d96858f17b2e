// Package vrrptest provides in-memory fakes of the VRRP kernel boundary (a shared link,
// address managers, announcers) for tests of code that runs vrrp instances.
package vrrptest

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"sync"

	"github.com/vigil-lb/vigil/vrrp"
)

// Link is a fake broadcast segment: every packet one port sends reaches every other
// port that is up, with TTL 255.
type Link struct {
	mu    sync.Mutex
	ports []*Port
}

// Port is one host's Transport on a Link.
type Port struct {
	link   *Link
	src    netip.Addr
	in     chan vrrp.Packet
	mu     sync.Mutex
	down   bool
	closed bool
	sent   []vrrp.Packet
	done   chan struct{}
}

// NewPort attaches a host with source address src.
func (l *Link) NewPort(src netip.Addr) *Port {
	p := &Port{link: l, src: src, in: make(chan vrrp.Packet, 256), done: make(chan struct{})}
	l.mu.Lock()
	l.ports = append(l.ports, p)
	l.mu.Unlock()
	return p
}

func (p *Port) Source() netip.Addr { return p.src }

// Send delivers msg to every other up port.
func (p *Port) Send(msg []byte, dst netip.Addr) error {
	return p.send(vrrp.Packet{Src: p.src, Dst: dst, TTL: 255, Payload: slices.Clone(msg)})
}

// SendAH delivers an AH datagram (header included) to every other up port.
func (p *Port) SendAH(pkt []byte, dst netip.Addr) error {
	return p.send(vrrp.Packet{Src: p.src, Dst: dst, TTL: 255, Payload: slices.Clone(pkt), AH: true})
}

func (p *Port) send(pkt vrrp.Packet) error {
	p.mu.Lock()
	down := p.down
	if !down {
		p.sent = append(p.sent, pkt)
	}
	p.mu.Unlock()
	if down {
		return errors.New("fake link down")
	}
	p.link.mu.Lock()
	ports := slices.Clone(p.link.ports)
	p.link.mu.Unlock()
	for _, q := range ports {
		if q != p {
			q.Inject(pkt)
		}
	}
	return nil
}

// Inject delivers a packet to this port as if received (dropped while down or closed).
func (p *Port) Inject(pkt vrrp.Packet) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.down || p.closed {
		return
	}
	select {
	case p.in <- pkt:
	default:
	}
}

func (p *Port) Receive() (vrrp.Packet, error) {
	select {
	case pkt := <-p.in:
		return pkt, nil
	case <-p.done:
		return vrrp.Packet{}, errors.New("fake port closed")
	}
}

func (p *Port) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.closed {
		p.closed = true
		close(p.done)
	}
	return nil
}

// SetDown cuts the port off the link (nothing in or out) or reconnects it.
func (p *Port) SetDown(down bool) {
	p.mu.Lock()
	p.down = down
	p.mu.Unlock()
}

// Sent returns the packets this port sent.
func (p *Port) Sent() []vrrp.Packet {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.sent)
}

// Log records the order of operations across fakes, e.g. "send", "add", "remove".
type Log struct {
	mu  sync.Mutex
	ops []string
}

// Add records one operation.
func (l *Log) Add(op string) {
	if l == nil {
		return
	}
	l.mu.Lock()
	l.ops = append(l.ops, op)
	l.mu.Unlock()
}

// Ops returns the recorded operations.
func (l *Log) Ops() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.ops)
}

// Addresses is a fake AddressManager.
type Addresses struct {
	Log  *Log
	mu   sync.Mutex
	held map[netip.Prefix]bool
}

func (a *Addresses) Add(_ context.Context, vips []netip.Prefix) error {
	a.mu.Lock()
	if a.held == nil {
		a.held = map[netip.Prefix]bool{}
	}
	for _, v := range vips {
		a.held[v] = true
	}
	a.mu.Unlock()
	a.Log.Add("add")
	return nil
}

func (a *Addresses) Remove(_ context.Context, vips []netip.Prefix) error {
	a.mu.Lock()
	for _, v := range vips {
		delete(a.held, v)
	}
	a.mu.Unlock()
	a.Log.Add("remove")
	return nil
}

// Held reports whether vip is currently added.
func (a *Addresses) Held(vip netip.Prefix) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.held[vip]
}

// Announcer is a fake Announcer counting rounds.
type Announcer struct {
	Log *Log
	mu  sync.Mutex
	n   int
}

func (a *Announcer) Announce(vips []netip.Addr) error {
	a.mu.Lock()
	a.n++
	a.mu.Unlock()
	a.Log.Add("announce")
	return nil
}

// Count is how many rounds were announced.
func (a *Announcer) Count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.n
}

// Links is a fake LinkWatcher whose states the test sets.
type Links struct {
	mu    sync.Mutex
	state map[string]bool
	subs  []func(string, bool)
}

// Set changes a link's state and tells the watchers.
func (l *Links) Set(name string, up bool) {
	l.mu.Lock()
	if l.state == nil {
		l.state = map[string]bool{}
	}
	l.state[name] = up
	subs := slices.Clone(l.subs)
	l.mu.Unlock()
	for _, fn := range subs {
		fn(name, up)
	}
}

func (l *Links) Watch(ctx context.Context, names []string, fn func(string, bool)) error {
	l.mu.Lock()
	for _, n := range names {
		up, ok := l.state[n]
		fn(n, up || !ok)
	}
	l.subs = append(l.subs, func(n string, up bool) {
		if slices.Contains(names, n) {
			fn(n, up)
		}
	})
	l.mu.Unlock()
	<-ctx.Done()
	return nil
}
