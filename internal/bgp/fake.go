package bgp

import (
	"context"
	"errors"
	"net/netip"
	"sync"
)

// Fake is a Speaker that records what it is asked, for tests of its users.
type Fake struct {
	mu        sync.Mutex
	announced map[netip.Prefix]bool
	log       []string
	neighbors []Neighbor
	peers     []Peer
	closed    bool
	// Fail, if set, is returned by Announce and Withdraw (and the call not recorded).
	Fail error
}

var _ Speaker = (*Fake)(nil)

// NewFake returns a Fake with nothing announced.
func NewFake() *Fake { return &Fake{announced: map[netip.Prefix]bool{}} }

// Announce implements Speaker.
func (f *Fake) Announce(_ context.Context, p netip.Prefix) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case f.closed:
		return errors.New("closed")
	case f.Fail != nil:
		return f.Fail
	case !f.announced[p]:
		f.announced[p] = true
		f.log = append(f.log, "announce "+p.String())
	}
	return nil
}

// Withdraw implements Speaker.
func (f *Fake) Withdraw(_ context.Context, p netip.Prefix) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.Fail != nil {
		return f.Fail
	}
	if f.announced[p] {
		delete(f.announced, p)
		f.log = append(f.log, "withdraw "+p.String())
	}
	return nil
}

// SetNeighbors implements Speaker.
func (f *Fake) SetNeighbors(_ context.Context, ns []Neighbor) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.neighbors = append([]Neighbor(nil), ns...)
	f.log = append(f.log, "neighbors")
	return nil
}

// SetPeers sets what Peers returns.
func (f *Fake) SetPeers(ps []Peer) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.peers = append([]Peer(nil), ps...)
}

// Peers implements Speaker.
func (f *Fake) Peers() []Peer {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Peer(nil), f.peers...)
}

// Close implements Speaker.
func (f *Fake) Close(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for p := range f.announced {
		f.log = append(f.log, "withdraw "+p.String())
	}
	clear(f.announced)
	f.closed = true
	f.log = append(f.log, "close")
	return nil
}

// Announced lists the prefixes announced now, sorted.
func (f *Fake) Announced() []netip.Prefix {
	f.mu.Lock()
	defer f.mu.Unlock()
	return sortedPrefixes(f.announced)
}

// Log returns the calls that changed something, in order ("announce P", "withdraw P",
// "neighbors", "close"), and forgets them.
func (f *Fake) Log() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := f.log
	f.log = nil
	return out
}

// Neighbors returns the neighbors last set.
func (f *Fake) Neighbors() []Neighbor {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Neighbor(nil), f.neighbors...)
}
