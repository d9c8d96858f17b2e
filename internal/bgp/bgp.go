// Package bgp announces vigil's virtual IPs to its routers over BGP-4 (RFC 4271).
//
// The speaker is GoBGP, embedded as a library; this package is the only one that imports
// it, so a new GoBGP version touches nothing else. Speaker is the small interface the
// director uses; Start returns the real one and Fake stands in for it in tests.
//
// vigil dials its neighbors and listens only when Config.ListenPort is set. A neighbor's
// TCP MD5 password (RFC 2385) goes to the kernel and nowhere else: not to a log, not to
// Peers.
package bgp

import (
	"context"
	"net/netip"
	"time"
)

// Config is the speaker's configuration.
type Config struct {
	ASN uint32
	// RouterID is the BGP identifier; invalid: HostRouterID.
	RouterID netip.Addr
	// ListenPort: 0 dials the neighbors without listening for them.
	ListenPort uint16
	Neighbors  []Neighbor
}

// Neighbor is one router to peer with.
type Neighbor struct {
	Address netip.Addr
	Port    uint16 // 0: 179
	ASN     uint32
	// HoldTime is offered in OPEN; keepalives go every third of it (RFC 4271 §10).
	HoldTime time.Duration
	// Password is the TCP MD5 key; "" for none.
	Password string
	// BFD runs an asynchronous BFD session (RFC 5880) towards the neighbor: Interval is the
	// desired transmit and required receive interval, Multiplier the detection multiplier.
	BFD           bool
	BFDInterval   time.Duration
	BFDMultiplier int
}

// Peer is a neighbor's session as the speaker last saw it.
type Peer struct {
	Address netip.Addr `json:"address"`
	ASN     uint32     `json:"asn"`
	// State is the session's FSM state (RFC 4271 §8.2.2): idle, connect, active, opensent,
	// openconfirm or established.
	State string    `json:"state"`
	Since time.Time `json:"since,omitzero"`
	// Reason is why the session last went down, "" before that.
	Reason string `json:"last_down_reason,omitempty"`
	// Established counts the times the session came up.
	Established uint64 `json:"established_count"`
	BFD         bool   `json:"bfd"`
}

// Session states, as Peer.State names them.
const (
	StateIdle        = "idle"
	StateConnect     = "connect"
	StateActive      = "active"
	StateOpenSent    = "opensent"
	StateOpenConfirm = "openconfirm"
	StateEstablished = "established"
)

// Speaker announces and withdraws host routes to every neighbor.
type Speaker interface {
	// Announce advertises p with this speaker as the next hop, to every neighbor of p's
	// family; announcing an announced prefix does nothing.
	Announce(ctx context.Context, p netip.Prefix) error
	// Withdraw withdraws p; withdrawing what is not announced does nothing.
	Withdraw(ctx context.Context, p netip.Prefix) error
	// SetNeighbors makes the speaker peer with exactly ns: it adds the new ones, removes
	// the ones no longer there and re-creates the changed ones.
	SetNeighbors(ctx context.Context, ns []Neighbor) error
	// Peers lists the neighbors' sessions, by address.
	Peers() []Peer
	// Close withdraws everything, closes the sessions with a Cease NOTIFICATION (RFC 4486
	// §4) and stops the speaker.
	Close(ctx context.Context) error
}
