package director

import (
	"context"
	"log/slog"
	"net/netip"
	"testing"

	"github.com/vigil-lb/vigil/checks"
	"github.com/vigil-lb/vigil/ipvs"
	"github.com/vigil-lb/vigil/ipvs/ipvstest"
)

// signalTable is the in-memory table that reports every weight written to one destination.
type signalTable struct {
	*ipvstest.Table
	watch   netip.AddrPort
	written chan int
}

func (t *signalTable) UpdateDestination(ctx context.Context, svc ipvs.ServiceKey, d ipvs.Destination) error {
	err := t.Table.UpdateDestination(ctx, svc, d)
	if d.Addr == t.watch {
		t.written <- d.Weight
	}
	return err
}

// BenchmarkHealthToWeight is the director's half of the weight-change figure: a real
// server's health event, as the check scheduler delivers it, to the table write of its new
// weight, in a director running 1,000 virtual servers x 4 real servers with checks (every
// hour: the watched one's first probe falls in the run's second or so once in thousands).
func BenchmarkHealthToWeight(b *testing.B) {
	cfg := parseBench(b, benchSource())
	vs := cfg.VirtualServers[500]
	rs := vs.RealServers[2]
	table := &signalTable{Table: ipvstest.New(), watch: rs.Address, written: make(chan int, 1)}
	d := New(Options{Table: table, Logger: slog.New(slog.DiscardHandler)})
	ctx := context.Background()
	if err := d.Start(ctx, cfg); err != nil {
		b.Fatal(err)
	}
	defer d.Stop(ctx, false)
	server := rsKey{vsKeyOf(vs), rs.Address}.String()
	up := false
	b.ResetTimer()
	for b.Loop() {
		up = !up
		ev := checks.ServerEvent{Server: server, VirtualServer: vs.Name, RealServer: rs.Name,
			Old: checks.Down, New: checks.Down, Weight: checks.NoWeight}
		want := 0
		if up {
			ev.Old, ev.New, want = checks.Down, checks.Up, rs.Weight
		} else {
			ev.Old = checks.Up
		}
		d.enqueue(ev)
		if got := <-table.written; got != want {
			b.Fatalf("weight written %d, want %d", got, want)
		}
		if up {
			table.ResetOps()
		}
	}
}
