package director

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/checks"
	"github.com/vigil-lb/vigil/conf"
	"github.com/vigil-lb/vigil/internal/status"
	"github.com/vigil-lb/vigil/ipvs"
	"github.com/vigil-lb/vigil/ipvs/ipvstest"
	"github.com/vigil-lb/vigil/vrrp/vrrptest"
)

// Readers see one configuration generation at a time: while reloads alternate between two
// configurations that differ in virtual servers, real servers, checks and the VRRP
// instance's priority, every Snapshot taken concurrently is wholly one or the other. A
// reload that restarts a master VRRP instance waits for its handover, which is when a
// reader used to see the new configuration beside the old generation and no instance.
func TestSnapshotConsistentDuringReload(t *testing.T) {
	a, b, c := newBackend(t), newBackend(t), newBackend(t)
	type shape struct {
		cfg      *conf.Config
		vs       []string            // virtual servers in order
		rs       map[string][]string // real servers of each
		checks   int                 // checks per real server
		priority int
		diff     string // a line the reload to it logs
	}
	render := func(priority, checks int, withAPI bool) *conf.Config {
		t.Helper()
		var src strings.Builder
		src.WriteString("global {\n  resync_interval = \"24h\"\n}\n")
		// 20 ms adverts: master within 0.1 s, and a handover waits as long again.
		src.WriteString(strings.NewReplacer("priority = 150", fmt.Sprintf("priority = %d", priority),
			`advert_interval = "100ms"`, `advert_interval = "20ms"`).Replace(vrrpHCL(`  track_virtual_server "web" { weight = -60 }`)) + "\n")
		rs := func(name string, be *backend) string {
			out := fmt.Sprintf("  real_server %q {\n    address = \"%s\"\n", name, be.addr)
			for range checks {
				out += "    check \"tcp\" {\n      interval = \"50ms\"\n      timeout = \"50ms\"\n    }\n"
			}
			return out + "  }\n"
		}
		src.WriteString("virtual_server \"web\" {\n  address = \"198.18.0.254:80\"\n  protocol = \"tcp\"\n" + rs("a", a) + rs("b", b))
		if withAPI {
			src.WriteString(rs("c", c))
		}
		src.WriteString("}\n")
		if withAPI {
			src.WriteString("virtual_server \"api\" {\n  address = \"198.18.0.254:81\"\n  protocol = \"tcp\"\n" + rs("c", c) + "}\n")
		}
		cfg, diags := conf.Parse([]byte(src.String()), "consistent.hcl")
		if diags.HasErrors() {
			t.Fatalf("%v\n%s", diags, src.String())
		}
		return cfg
	}
	shapes := []shape{
		{cfg: render(150, 1, false), vs: []string{"web"}, rs: map[string][]string{"web": {"a", "b"}}, checks: 1, priority: 150,
			diff: `- virtual_server "api" (TCP 198.18.0.254:81)`},
		{cfg: render(140, 2, true), vs: []string{"web", "api"}, rs: map[string][]string{"web": {"a", "b", "c"}, "api": {"c"}}, checks: 2, priority: 140,
			diff: `+ virtual_server "api" (TCP 198.18.0.254:81) with 1 real servers`},
	}
	// Generation g runs shapes[(g-1)%2].
	check := func(s status.Snapshot) error {
		g := s.Config.Generation
		if g == 0 {
			return nil // not started yet
		}
		want := shapes[(g-1)%2]
		var names []string
		for _, vs := range s.VirtualServers {
			names = append(names, vs.Name)
			var rs []string
			for _, r := range vs.RealServers {
				rs = append(rs, r.Name)
				if len(r.Checks) != want.checks {
					return fmt.Errorf("generation %d: real server %s/%s shows %d checks, want %d", g, vs.Name, r.Name, len(r.Checks), want.checks)
				}
			}
			if !slices.Equal(rs, want.rs[vs.Name]) {
				return fmt.Errorf("generation %d: virtual server %s has real servers %v, want %v", g, vs.Name, rs, want.rs[vs.Name])
			}
		}
		if !slices.Equal(names, want.vs) {
			return fmt.Errorf("generation %d: virtual servers %v, want %v", g, names, want.vs)
		}
		if len(s.VRRP) != 1 || s.VRRP[0].BasePriority != want.priority {
			return fmt.Errorf("generation %d: VRRP %+v, want one instance of priority %d", g, s.VRRP, want.priority)
		}
		if g > 1 && (!slices.Contains(s.Config.LastReloadDiff, want.diff) || s.Config.ReloadsOK != g-1) {
			return fmt.Errorf("generation %d: %d reloads, diff %q, want %d reloads and %q", g, s.Config.ReloadsOK, s.Config.LastReloadDiff, g-1, want.diff)
		}
		return nil
	}

	d := New(Options{Table: ipvstest.New(), Logger: slog.New(slog.DiscardHandler), NewVRRP: fakeVRRP(&vrrptest.Link{})})
	if err := d.Start(context.Background(), shapes[0].cfg); err != nil {
		t.Fatal(err)
	}
	defer d.Stop(context.Background(), false)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var bad []error
	reads := 0
	for range 2 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				err := check(d.Snapshot())
				if err != nil {
					var ids []string
					for _, c := range d.sched.Snapshot() {
						ids = append(ids, c.ID)
					}
					err = fmt.Errorf("%w %q", err, ids)
				}
				if d.Healthy() != nil {
					err = fmt.Errorf("unhealthy while running: %v", d.Healthy())
				}
				mu.Lock()
				reads++
				if err != nil && len(bad) < 5 {
					bad = append(bad, err)
				}
				mu.Unlock()
			}
		})
	}
	for g := 2; g <= 5; g++ {
		// A master restarted by the reload hands over first: the reload takes a while.
		deadline := time.Now().Add(10 * time.Second)
		for s := d.Snapshot(); len(s.VRRP) != 1 || s.VRRP[0].State != "master"; s = d.Snapshot() {
			if time.Now().After(deadline) {
				t.Fatalf("generation %d: the instance never became master", g-1)
			}
			time.Sleep(5 * time.Millisecond)
		}
		if err := d.Reload(context.Background(), shapes[(g-1)%2].cfg); err != nil {
			t.Fatal(err)
		}
		if got := d.Snapshot().Config.Generation; got != uint64(g) {
			t.Fatalf("generation after reload = %d, want %d", got, g)
		}
	}
	close(stop)
	wg.Wait()
	for _, err := range bad {
		t.Error(err)
	}
	if reads < 10 {
		t.Errorf("only %d concurrent reads: the test proved nothing", reads)
	}
}

// blockingTable holds every destination update until released.
type blockingTable struct {
	*ipvstest.Table
	entered chan struct{}
	release chan struct{}
}

func (t *blockingTable) UpdateDestination(ctx context.Context, svc ipvs.ServiceKey, d ipvs.Destination) error {
	select {
	case t.entered <- struct{}{}:
	default:
	}
	<-t.release
	return t.Table.UpdateDestination(ctx, svc, d)
}

// /healthz and /status never wait for a write to the table: while a weight change hangs
// in the kernel, Healthy and Snapshot answer (with the state before the change).
func TestReadersDoNotWaitForTheTable(t *testing.T) {
	tbl := &blockingTable{Table: ipvstest.New(), entered: make(chan struct{}, 1), release: make(chan struct{})}
	src := `
global {
  resync_interval = "24h"
}
virtual_server "web" {
  address = "198.18.0.254:80"
  protocol = "tcp"
  real_server "a" {
    address = "198.18.0.21:80"
    check "tcp" {
      interval = "1h"
    }
  }
}`
	cfg, diags := conf.Parse([]byte(src), "blocking.hcl")
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	d := New(Options{Table: tbl, Logger: slog.New(slog.DiscardHandler)})
	if err := d.Start(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	defer d.Stop(context.Background(), false)
	release := sync.OnceFunc(func() { close(tbl.release) })
	defer release() // before Stop, also when the test fails
	server := rsKey{vsKey{svc: vip}, netip.MustParseAddrPort("198.18.0.21:80")}.String()
	d.enqueue(checks.ServerEvent{Server: server, Old: checks.Unknown, New: checks.Up, Weight: checks.NoWeight})
	<-tbl.entered
	answered := make(chan status.Snapshot)
	go func() {
		if err := d.Healthy(); err != nil {
			t.Errorf("Healthy() = %v while running", err)
		}
		answered <- d.Snapshot()
	}()
	select {
	case s := <-answered:
		if h := s.VirtualServers[0].RealServers[0].Health; h != "unknown" {
			t.Errorf("health during the write = %s, want the state before it (unknown)", h)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Healthy and Snapshot waited for the table write")
	}
	release()
	deadline := time.Now().Add(5 * time.Second)
	for d.Snapshot().VirtualServers[0].RealServers[0].Health != "up" {
		if time.Now().After(deadline) {
			t.Fatal("the health change was never published")
		}
		time.Sleep(time.Millisecond)
	}
}
