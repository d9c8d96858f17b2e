package director

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/clock"
	"github.com/vigil-lb/vigil/ipvs"
	"github.com/vigil-lb/vigil/ipvs/ipvstest"
)

// closingTable is the fake table with inactive entries on every destination, of which
// Closing reports some as closing; each read of them costs cost on the fixture's clock.
type closingTable struct {
	*ipvstest.Table
	inactive uint32
	closing  uint32
	clk      *clock.Fake
	cost     time.Duration
	reads    atomic.Int32
}

func (c *closingTable) Destinations(ctx context.Context, k ipvs.ServiceKey) ([]ipvs.DestinationInfo, error) {
	list, err := c.Table.Destinations(ctx, k)
	for i := range list {
		list[i].InactiveConns = c.inactive
	}
	return list, err
}

func (c *closingTable) Closing() (map[ipvs.ConnDest]uint32, error) {
	c.reads.Add(1)
	c.clk.Advance(c.cost)
	svcs, _ := c.Table.Services(context.Background())
	m := map[ipvs.ConnDest]uint32{}
	for _, s := range svcs {
		dests, _ := c.Table.Destinations(context.Background(), s.ServiceKey)
		for _, d := range dests {
			m[ipvs.ConnDest{Protocol: s.Protocol, Virtual: s.Addr, Dest: d.Addr}] = c.closing
		}
	}
	return m, nil
}

// TestConnectionsClosingReadBounded: the closing entries are left out of what drain --wait
// waits for, and reading them (a walk of the kernel's whole connection table) is repeated
// at every poll while it is cheap, and no sooner than ten times its cost when it is not.
func TestConnectionsClosingReadBounded(t *testing.T) {
	a, b := newBackend(t), newBackend(t)
	table := &closingTable{Table: ipvstest.New(), inactive: 3, closing: 2}
	d := start(t, table, config(t, "", "quiesce", a, b))
	table.clk = d.clk
	d.waitWeight(a.addr, 2)
	ctx := context.Background()

	conns := func() RealServerConns {
		t.Helper()
		cs, err := d.Connections(ctx, "web/rs1")
		if err != nil || len(cs) != 1 {
			t.Fatalf("Connections: %+v, %v", cs, err)
		}
		return cs[0]
	}
	if c := conns(); c.Inactive != 1 || c.Closing != 2 || c.Left() != 1 {
		t.Errorf("3 inactive of which 2 closing: %+v (left %d), want 1 inactive and 2 closing, 1 left", c, c.Left())
	}

	cases := []struct {
		name      string
		cost      time.Duration
		polls     int
		every     time.Duration
		wantReads int32
	}{
		// A small table: a poll every 50 ms reads it each time.
		{"cheap_read_every_poll", time.Millisecond, 10, 50 * time.Millisecond, 10},
		// A read of a second (a million entries): once per ten seconds of polls at 50 ms.
		{"costly_read_bounded", time.Second, 300, 50 * time.Millisecond, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			table.cost = tc.cost
			forget(d.Director) // whatever was read before is stale
			table.reads.Store(0)
			for range tc.polls {
				conns()
				d.clk.Advance(tc.every)
			}
			if n := table.reads.Load(); n != tc.wantReads {
				t.Errorf("%d polls %s apart, each read costing %s: %d reads of the connection table, want %d", tc.polls, tc.every, tc.cost, n, tc.wantReads)
			}
		})
	}

	// What a read gave holds until the next: a connection that closed since is still open.
	table.cost = time.Second
	forget(d.Director)
	conns()
	table.closing = 3
	if c := conns(); c.Closing != 2 {
		t.Errorf("within ten read costs of the last read: %d closing, want the last read's 2", c.Closing)
	}
	d.clk.Advance(10 * time.Second)
	if c := conns(); c.Closing != 3 || c.Left() != 0 {
		t.Errorf("after ten read costs: %+v, want all 3 closing, none left", c)
	}
}

// forget drops the director's last read of the closing entries.
func forget(d *Director) {
	d.closing.mu.Lock()
	defer d.closing.mu.Unlock()
	d.closing.read = false
}
