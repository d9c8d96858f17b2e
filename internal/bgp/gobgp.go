package bgp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	api "github.com/osrg/gobgp/v4/api"
	"github.com/osrg/gobgp/v4/pkg/apiutil"
	"github.com/osrg/gobgp/v4/pkg/packet/bgp"
	"github.com/osrg/gobgp/v4/pkg/server"
)

// Options configure Start.
type Options struct {
	Logger *slog.Logger
	Now    func() time.Time
	// OnPeer, if set, is called after each session state change, outside any lock the
	// Server holds.
	OnPeer func(Peer)
}

// Server is the GoBGP speaker.
type Server struct {
	s      *server.BgpServer
	log    *slog.Logger
	now    func() time.Time
	onPeer func(Peer)
	stop   context.CancelFunc

	mu        sync.Mutex
	neighbors map[netip.Addr]Neighbor
	peers     map[netip.Addr]*Peer
	bfdOn     map[netip.Addr]bool // GoBGP runs the neighbor's BFD session (see bfdFollow)
	announced map[netip.Prefix]bool
	closed    bool
}

var _ Speaker = (*Server)(nil)

// Start starts a speaker with cfg's identity and neighbors. It dials them; it listens
// only with cfg.ListenPort set.
func Start(ctx context.Context, cfg Config, o Options) (*Server, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	id := cfg.RouterID
	if !id.IsValid() {
		var err error
		if id, err = HostRouterID(); err != nil {
			return nil, err
		}
	}
	// GoBGP's own log at warning and above only: its informational lines are one per FSM
	// step, and vigil logs the session changes itself (OnPeerUpdate below).
	gl := slog.New(levelAtLeast{slog.LevelWarn, o.Logger.Handler()}).With("component", "gobgp")
	bs := server.NewBgpServer(server.LoggerOption(gl, nil))
	go bs.Serve()
	listen := int32(-1) // GoBGP: a negative port opens no listener
	if cfg.ListenPort != 0 {
		listen = int32(cfg.ListenPort)
	}
	err := bs.StartBgp(ctx, &api.StartBgpRequest{Global: &api.Global{
		Asn: cfg.ASN, RouterId: id.String(), ListenPort: listen,
	}})
	if err != nil {
		bs.Stop()
		return nil, fmt.Errorf("start BGP speaker (AS %d, router id %s): %w", cfg.ASN, id, err)
	}
	s := &Server{
		s: bs, log: o.Logger, now: o.Now, onPeer: o.OnPeer,
		neighbors: map[netip.Addr]Neighbor{},
		peers:     map[netip.Addr]*Peer{},
		bfdOn:     map[netip.Addr]bool{},
		announced: map[netip.Prefix]bool{},
	}
	wctx, cancel := context.WithCancel(context.Background())
	s.stop = cancel
	err = bs.WatchEvent(wctx, server.WatchEventMessageCallbacks{OnPeerUpdate: s.peerEvent}, server.WatchPeer())
	if err != nil {
		cancel()
		bs.Stop()
		return nil, fmt.Errorf("watch BGP sessions: %w", err)
	}
	if err := s.SetNeighbors(ctx, cfg.Neighbors); err != nil {
		s.Close(ctx)
		return nil, err
	}
	s.log.Info("BGP speaker started", "asn", cfg.ASN, "router_id", id.String(), "neighbors", len(cfg.Neighbors),
		"listen_port", cfg.ListenPort)
	return s, nil
}

// levelAtLeast passes on the records of min and above.
type levelAtLeast struct {
	min slog.Level
	slog.Handler
}

func (h levelAtLeast) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}
func (h levelAtLeast) WithAttrs(as []slog.Attr) slog.Handler {
	return levelAtLeast{h.min, h.Handler.WithAttrs(as)}
}
func (h levelAtLeast) WithGroup(n string) slog.Handler {
	return levelAtLeast{h.min, h.Handler.WithGroup(n)}
}

func (s *Server) peerEvent(ev *apiutil.WatchEventMessage_PeerEvent, at time.Time) {
	if ev.Type != apiutil.PEER_EVENT_STATE && ev.Type != apiutil.PEER_EVENT_INIT {
		return
	}
	st := ev.Peer.State
	addr := st.NeighborAddress.Unmap()
	state := stateName(st.SessionState)
	s.mu.Lock()
	p, ok := s.peers[addr]
	if !ok || p.State == state {
		s.mu.Unlock()
		return
	}
	was := p.State
	p.State, p.Since = state, s.now()
	if state == StateEstablished {
		p.Established++
	}
	if was == StateEstablished {
		p.Reason = downReason(st.DisconnectReason, st.DisconnectMessage)
	}
	s.bfdFollow(addr, state)
	cp := *p
	s.mu.Unlock()
	switch {
	case state == StateEstablished:
		s.log.Info("BGP session established", "neighbor", addr.String(), "asn", cp.ASN)
	case was == StateEstablished:
		s.log.Warn("BGP session down", "neighbor", addr.String(), "asn", cp.ASN, "state", state, "reason", cp.Reason)
	default:
		s.log.Debug("BGP session state", "neighbor", addr.String(), "from", was, "to", state)
	}
	if s.onPeer != nil {
		s.onPeer(cp)
	}
}

func stateName(st bgp.FSMState) string {
	switch st {
	case bgp.BGP_FSM_IDLE:
		return StateIdle
	case bgp.BGP_FSM_CONNECT:
		return StateConnect
	case bgp.BGP_FSM_ACTIVE:
		return StateActive
	case bgp.BGP_FSM_OPENSENT:
		return StateOpenSent
	case bgp.BGP_FSM_OPENCONFIRM:
		return StateOpenConfirm
	case bgp.BGP_FSM_ESTABLISHED:
		return StateEstablished
	}
	return strings.ToLower(st.String())
}

// downReason renders GoBGP's disconnect reason: "hold timer expired", or the message the
// router sent.
func downReason(r api.PeerState_DisconnectReason, msg string) string {
	s := strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(r.String(), "DISCONNECT_REASON_"), "_", " "))
	if msg != "" {
		s += ": " + msg
	}
	return s
}

// SetNeighbors implements Speaker.
func (s *Server) SetNeighbors(ctx context.Context, ns []Neighbor) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	want := map[netip.Addr]Neighbor{}
	for _, n := range ns {
		n.Address = n.Address.Unmap()
		want[n.Address] = n
	}
	var errs []error
	for a, have := range s.neighbors {
		if n, ok := want[a]; ok && n == have {
			continue
		}
		if err := s.s.DeletePeer(ctx, &api.DeletePeerRequest{Address: a.String()}); err != nil {
			errs = append(errs, fmt.Errorf("remove BGP neighbor %s: %w", a, err))
			continue
		}
		delete(s.neighbors, a)
		delete(s.peers, a)
		delete(s.bfdOn, a)
	}
	for _, n := range ns {
		n.Address = n.Address.Unmap()
		if _, ok := s.neighbors[n.Address]; ok {
			continue
		}
		if err := s.s.AddPeer(ctx, &api.AddPeerRequest{Peer: apiPeer(n, false)}); err != nil {
			// GoBGP's error may quote the request; the password is not in it (apiPeer's
			// String is never taken), but say only what was being done to what.
			errs = append(errs, fmt.Errorf("add BGP neighbor %s (AS %d): %w", n.Address, n.ASN, err))
			continue
		}
		s.neighbors[n.Address] = n
		s.peers[n.Address] = &Peer{Address: n.Address, ASN: n.ASN, State: StateIdle, Since: s.now(), BFD: n.BFD}
	}
	return errors.Join(errs...)
}

// bfdFollow starts the BFD session of a neighbor with BFD when its BGP session reaches
// Established and stops it when the BGP session leaves Established; s.mu is held.
//
// GoBGP would run BFD from AddPeer on, before the BGP session exists. FRR's bgpd (8.4, and
// later: bgp_peer_bfd_update_source in bgpd/bgp_bfd.c) registers its BFD session with
// bfdd without a source address until the BGP connection gives it one, then registers it
// again with that address: bfdd deletes the first session, and deleting sends one last
// packet in state Down (_ptm_bfd_session_del in bfdd/ptm_adapter.c). A GoBGP session
// already Up with the first one takes that, as RFC 5880 §6.8.6 says it must, for the
// neighbor signalling the session down (GoBGP's bfd_peer.go, remoteDown) and resets the
// BGP session that has just come up. Started after Established, GoBGP's BFD meets only
// the session bfdd keeps.
func (s *Server) bfdFollow(addr netip.Addr, state string) {
	n, ok := s.neighbors[addr]
	want := state == StateEstablished
	if !ok || !n.BFD || s.bfdOn[addr] == want {
		return
	}
	// UpdatePeer with only the BFD settings changed leaves the BGP session alone (GoBGP
	// resets it only for what the OPEN message carries) and deletes or adds the BFD peer.
	// GoBGP queues its watch events without bound, so this call from the watcher does not
	// wait for the watcher.
	if _, err := s.s.UpdatePeer(context.Background(), &api.UpdatePeerRequest{Peer: apiPeer(n, want)}); err != nil {
		s.log.Warn("BFD towards BGP neighbor not changed", "neighbor", addr.String(), "bfd", want, "err", err)
		return
	}
	s.bfdOn[addr] = want
	s.log.Debug("BFD session follows the BGP session", "neighbor", addr.String(), "bfd", want)
}

// apiPeer is n as GoBGP configures a neighbor: active (it dials), with n's timers, the
// family of its address, and BFD when bfd is set (see bfdFollow).
func apiPeer(n Neighbor, bfd bool) *api.Peer {
	hold := uint64(n.HoldTime / time.Second)
	fam := &api.Family{Afi: api.Family_AFI_IP, Safi: api.Family_SAFI_UNICAST}
	if n.Address.Is6() {
		fam.Afi = api.Family_AFI_IP6
	}
	p := &api.Peer{
		Conf: &api.PeerConf{NeighborAddress: n.Address.String(), PeerAsn: n.ASN, AuthPassword: n.Password},
		Timers: &api.Timers{Config: &api.TimersConfig{
			HoldTime: hold, KeepaliveInterval: max(hold/3, 1),
			// A router that restarts is dialled again within a few seconds, not GoBGP's
			// default two minutes.
			ConnectRetry: 3, IdleHoldTimeAfterReset: 1,
		}},
		Transport: &api.Transport{RemotePort: uint32(n.Port)},
		AfiSafis:  []*api.AfiSafi{{Config: &api.AfiSafiConfig{Family: fam, Enabled: true}}},
	}
	if n.BFD && bfd {
		us := uint32(n.BFDInterval / time.Microsecond)
		p.Bfd = &api.BfdPeerConfig{Enabled: true, DesiredMinimumTxInterval: us, RequiredMinimumReceive: us,
			DetectionMultiplier: uint32(n.BFDMultiplier)}
	}
	return p
}

// path is p as a locally originated route. The next hop is unspecified: GoBGP puts the
// session's local address there (eBGP always; iBGP for an unspecified one).
func path(p netip.Prefix, withdraw bool) (*apiutil.Path, error) {
	nlri, err := bgp.NewIPAddrPrefix(p)
	if err != nil {
		return nil, err
	}
	attrs := []bgp.PathAttributeInterface{bgp.NewPathAttributeOrigin(bgp.BGP_ORIGIN_ATTR_TYPE_IGP)}
	fam := bgp.RF_IPv4_UC
	if p.Addr().Is4() {
		nh, err := bgp.NewPathAttributeNextHop(netip.IPv4Unspecified())
		if err != nil {
			return nil, err
		}
		attrs = append(attrs, nh)
	} else {
		fam = bgp.RF_IPv6_UC
		mp, err := bgp.NewPathAttributeMpReachNLRI(fam, []bgp.PathNLRI{{NLRI: nlri}}, netip.IPv6Unspecified())
		if err != nil {
			return nil, err
		}
		attrs = append(attrs, mp)
	}
	return &apiutil.Path{Family: fam, Nlri: nlri, Attrs: attrs, Withdrawal: withdraw}, nil
}

// Announce implements Speaker.
func (s *Server) Announce(ctx context.Context, p netip.Prefix) error {
	p = p.Masked()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("BGP speaker closed")
	}
	if s.announced[p] {
		return nil
	}
	ap, err := path(p, false)
	if err == nil {
		_, err = s.s.AddPath(apiutil.AddPathRequest{Paths: []*apiutil.Path{ap}})
	}
	if err != nil {
		return fmt.Errorf("announce %s: %w", p, err)
	}
	s.announced[p] = true
	return nil
}

// Withdraw implements Speaker.
func (s *Server) Withdraw(ctx context.Context, p netip.Prefix) error {
	p = p.Masked()
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.announced[p] {
		return nil
	}
	ap, err := path(p, true)
	if err == nil {
		err = s.s.DeletePath(apiutil.DeletePathRequest{Paths: []*apiutil.Path{ap}})
	}
	if err != nil {
		return fmt.Errorf("withdraw %s: %w", p, err)
	}
	delete(s.announced, p)
	return nil
}

// Announced lists the prefixes announced, sorted.
func (s *Server) Announced() []netip.Prefix {
	s.mu.Lock()
	defer s.mu.Unlock()
	return sortedPrefixes(s.announced)
}

func sortedPrefixes(m map[netip.Prefix]bool) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(m))
	for p := range m {
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) })
	return out
}

// Peers implements Speaker.
func (s *Server) Peers() []Peer {
	s.mu.Lock()
	defer s.mu.Unlock()
	return sortedPeers(s.peers)
}

func sortedPeers(m map[netip.Addr]*Peer) []Peer {
	out := make([]Peer, 0, len(m))
	for _, p := range m {
		out = append(out, *p)
	}
	slices.SortFunc(out, func(a, b Peer) int { return a.Address.Compare(b.Address) })
	return out
}

// Close implements Speaker. The routes go with the sessions: a router withdraws what a
// neighbor announced when its session ends (RFC 4271 §6.7 and §9).
func (s *Server) Close(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	var errs []error
	for p := range s.announced {
		ap, err := path(p, true)
		if err == nil {
			err = s.s.DeletePath(apiutil.DeletePathRequest{Paths: []*apiutil.Path{ap}})
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("withdraw %s: %w", p, err))
		}
	}
	clear(s.announced)
	s.mu.Unlock()
	s.stop()
	s.s.Stop()
	s.log.Info("BGP speaker stopped")
	return errors.Join(errs...)
}
