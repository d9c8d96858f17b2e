package director

import (
	"context"
	"net/netip"
	"sync"
	"time"

	"github.com/vigil-lb/vigil/ipvs"
)

// RealServerConns is what a real server still carries, for `vigil drain --wait`.
type RealServerConns struct {
	VirtualServer string `json:"virtual_server"`
	RealServer    string `json:"real_server"`
	Address       string `json:"address"`
	AdminState    string `json:"admin_state"`
	Active        uint32 `json:"active"`
	// Inactive leaves out the connections that are only closing where the table can tell
	// (kernel IPVS keeps a closed TCP connection's entry for two minutes: TIME_WAIT).
	Inactive uint32 `json:"inactive"`
	Closing  uint32 `json:"closing,omitempty"`
	// Templates are persistence templates pointing at the real server.
	Templates uint32 `json:"persistence_templates"`
}

// Left is what --wait waits for: every connection and template gone.
func (c RealServerConns) Left() uint32 { return c.Active + c.Inactive + c.Templates }

// Connections reads from the table the connections of the real servers sel selects,
// summed over the services of each (a group's). Like Snapshot it reads the current view
// and the table, never the loop, so it can be asked as often as a drain needs.
func (d *Director) Connections(ctx context.Context, sel string) ([]RealServerConns, error) {
	s, err := parseSelector(sel)
	if err != nil {
		return nil, err
	}
	v := d.view.Load()
	if v == nil {
		return nil, errNotRunning
	}
	refs, err := s.match(v.cfg)
	if err != nil {
		return nil, err
	}
	dests := map[ipvs.ServiceKey]map[netip.AddrPort]ipvs.DestinationInfo{}
	var closing map[ipvs.ConnDest]uint32
	closingRead := false
	out := make([]RealServerConns, 0, len(refs))
	for _, ref := range refs {
		vs := v.cfg.VirtualServers[ref.svc]
		rs := vs.RealServers[ref.rs]
		c := RealServerConns{VirtualServer: vs.Name, RealServer: rs.Name, Address: rs.Address.String(),
			AdminState: adminText(v.services.at(ref.svc).rs[ref.rs].admin)}
		for _, k := range kernelKeys(vs) {
			byAddr, ok := dests[k]
			if !ok {
				list, err := d.o.Table.Destinations(ctx, k)
				if err != nil {
					return nil, err
				}
				byAddr = map[netip.AddrPort]ipvs.DestinationInfo{}
				for _, di := range list {
					byAddr[di.Addr] = di
				}
				dests[k] = byAddr
			}
			addr := destAddr(rs.Address, k)
			di, ok := byAddr[addr]
			if !ok {
				continue
			}
			c.Active += di.ActiveConns
			c.Templates += di.PersistConns
			inactive := di.InactiveConns
			if inactive > 0 && !k.IsFWMark() {
				if !closingRead {
					closingRead = true
					if cc, ok := d.o.Table.(ipvs.ClosingConnections); ok {
						closing = d.closing.get(d.o.Clock.Now, cc.Closing)
					}
				}
				n := min(closing[ipvs.ConnDest{Protocol: k.Protocol, Virtual: k.Addr, Dest: addr}], inactive)
				inactive -= n
				c.Closing += n
			}
			c.Inactive += inactive
		}
		out = append(out, c)
	}
	return out, nil
}

// closingCostFactor bounds what reading the closing entries costs: the table is read again
// no sooner than this many times what its last read took.
const closingCostFactor = 10

// closingCache keeps the last count of the table's closing connection entries. Reading it
// walks the kernel's whole connection table (/proc/net/ip_vs_conn; there is no count per
// destination and no netlink dump of connections), which a drain --wait asks for at every
// poll: a table of a few thousand entries is read at every poll, one of a million, whose
// read takes about a second, every ten seconds. A waiting drain so costs the daemon at most
// about a tenth of a core; what it gives up is that a connection that closed since the last
// read keeps the wait until the next one. Calls wait for a read in progress rather than
// walk the table beside it.
type closingCache struct {
	mu   sync.Mutex
	at   time.Time
	took time.Duration
	read bool
	m    map[ipvs.ConnDest]uint32
}

// get returns the last count while it is fresh by the rule above, else reads it again. An
// unreadable table gives nil: every inactive entry counts as open.
func (c *closingCache) get(now func() time.Time, read func() (map[ipvs.ConnDest]uint32, error)) map[ipvs.ConnDest]uint32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := now()
	if c.read && t.Sub(c.at) < closingCostFactor*c.took {
		return c.m
	}
	m, err := read()
	if err != nil {
		m = nil
	}
	c.at, c.took, c.read, c.m = t, now().Sub(t), true, m
	return m
}
