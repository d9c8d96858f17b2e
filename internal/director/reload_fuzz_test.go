package director

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-lb/vigil/conf"
	"github.com/vigil-lb/vigil/internal/clock"
	"github.com/vigil-lb/vigil/internal/status"
	"github.com/vigil-lb/vigil/ipvs/ipvstest"
	"github.com/vigil-lb/vigil/vrrp/vrrptest"
)

// reloadBaseline is what the fuzzed director runs between inputs.
const reloadBaseline = `
global {
  resync_interval = "24h"
}
virtual_server "web" {
  address  = "198.18.0.254:80"
  protocol = "tcp"
  real_server "rs1" {
    address = "198.18.0.21:80"
    weight  = 3
    check "tcp" {}
  }
  real_server "rs2" {
    address = "198.18.0.22:80"
  }
}
virtual_server "dns" {
  address  = "198.18.0.254:53"
  protocol = "udp"
  real_server "ns1" {
    address = "198.18.0.31"
  }
}
`

// reloadHarness is one director for the whole fuzzing process: its checks run on a clock
// that never moves (so no probe reaches any address), its table and VRRP are in memory,
// and notify commands are not run.
type reloadHarness struct {
	d     *Director
	table *ipvstest.Table
	path  string
}

var (
	harnessOnce sync.Once
	harness     *reloadHarness
	harnessErr  error
)

func getReloadHarness() (*reloadHarness, error) {
	harnessOnce.Do(func() {
		dir, err := os.MkdirTemp("", "vigil-reload-fuzz-")
		if err != nil {
			harnessErr = err
			return
		}
		h := &reloadHarness{table: ipvstest.New(), path: filepath.Join(dir, "vigil.hcl")}
		h.d = New(Options{
			Table:           h.table,
			Logger:          slog.New(slog.DiscardHandler),
			Dataplane:       "kernel",
			ConfigPath:      h.path,
			Clock:           clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)),
			CheckGoroutines: true,
			NewVRRP:         fakeVRRP(&vrrptest.Link{}),
		})
		cfg, diags := conf.Parse([]byte(reloadBaseline), h.path)
		if diags.HasErrors() {
			harnessErr = diags
			return
		}
		if err := os.WriteFile(h.path, []byte(reloadBaseline), 0o600); err != nil {
			harnessErr = err
			return
		}
		harnessErr = h.d.Start(context.Background(), cfg)
		harness = h
	})
	return harness, harnessErr
}

// TestMain removes the harness's directory: the harness lives as long as the process
// (each fuzzing worker has one), so no test's cleanup can.
func TestMain(m *testing.M) {
	code := m.Run()
	if harness != nil {
		os.RemoveAll(filepath.Dir(harness.path))
	}
	os.Exit(code)
}

// reloadState is what a rejected reload must leave as it was.
type reloadState struct {
	Table          map[string][]string
	VirtualServers []status.VirtualServer
	Generation     uint64
	LoadedAt       time.Time
}

func (h *reloadHarness) state(t *testing.T) reloadState {
	t.Helper()
	ctx := context.Background()
	st := reloadState{Table: map[string][]string{}}
	svcs, err := h.table.Services(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range svcs {
		dests, err := h.table.Destinations(ctx, s.ServiceKey)
		if err != nil {
			t.Fatal(err)
		}
		var ds []string
		for _, d := range dests {
			ds = append(ds, fmt.Sprintf("%s w%d %s", d.Addr, d.Weight, d.Forwarding))
		}
		slices.Sort(ds)
		st.Table[fmt.Sprintf("%s %s", s.ServiceKey, s.Scheduler)] = ds
	}
	snap := h.d.Snapshot()
	st.VirtualServers, st.Generation, st.LoadedAt = snap.VirtualServers, snap.Config.Generation, snap.Config.LoadedAt
	return st
}

// openFDs counts this process's file descriptors (Linux; -1 elsewhere).
func openFDs() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(ents)
}

// settles waits up to a few seconds for count() to come back to at most want: stopped
// checks and VRRP instances end their goroutines asynchronously.
func settles(count func() int, want int) (int, bool) {
	deadline := time.Now().Add(5 * time.Second)
	for {
		n := count()
		if n <= want || time.Now().After(deadline) {
			return n, n <= want
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// FuzzReload applies arbitrary bytes to a running director as SIGHUP does
// (Director.ReloadFile): a file that is rejected changes nothing (table, virtual servers,
// generation), one that is applied is undone by reloading the baseline, and neither
// leaves a goroutine or a file descriptor behind.
func FuzzReload(f *testing.F) {
	rnd := rand.New(rand.NewPCG(14, 6))
	random := make([]byte, 64<<10)
	for i := range random {
		random[i] = byte(rnd.Uint32())
	}
	for _, s := range []string{
		"",
		"\n# nothing but a comment\n",
		"global {\n  router_id = \"x\"\n}\n",
		"x = " + strings.Repeat("[", 60_000) + strings.Repeat("]", 60_000),
		strings.Repeat("a {\n", 30_000),
		"x = " + strings.Repeat(`"${`, 20_000),
		string(random),
		strings.Repeat("unknown = 1\n", 2_000),
		reloadBaseline + "virtual_server \"web\" {\n",
		reloadBaseline,
		strings.Replace(reloadBaseline, "weight  = 3", "weight  = 7", 1),
		strings.Replace(reloadBaseline, `real_server "rs2"`, `real_server "rs3" {
    address = "198.18.0.23:80"
  }
  real_server "rs2"`, 1),
		reloadBaseline + `virtual_server "mail" {
  address  = "198.18.0.254:25"
  protocol = "tcp"
  real_server "mx" {
    address = "198.18.0.41"
    check "exec" {
      command = ["/bin/false"]
    }
  }
}
vrrp_instance "VI_1" {
  interface           = "eth0"
  virtual_router_id   = 51
  virtual_ipaddresses = ["198.18.0.254/24"]
  notify_master       = ["/bin/false"]
}
`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		h, err := getReloadHarness()
		if err != nil {
			t.Fatalf("start the director: %v", err)
		}
		ctx := context.Background()
		before := h.state(t)
		goroutines, fds := runtime.NumGoroutine(), openFDs()

		if err := os.WriteFile(h.path, src, 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := h.d.ReloadFile(ctx, h.path, conf.Limits{})
		snap := h.d.Snapshot()
		switch {
		case cfg == nil:
			if !errors.Is(err, ErrRejected) {
				t.Fatalf("no configuration and error %v, want ErrRejected", err)
			}
			if diff := cmp.Diff(before, h.state(t)); diff != "" {
				t.Fatalf("a rejected reload changed the director (-before +after):\n%s", diff)
			}
			if snap.Config.LastReloadResult != status.ReloadRejected || !strings.Contains(snap.Config.LastReloadErr, "error(s)") {
				t.Fatalf("status after a rejected reload: %+v", snap.Config)
			}
			if n := len(snap.Config.LastReloadErr); n > 80<<10 {
				t.Fatalf("a reload error of %d bytes in /status", n)
			}
		default:
			// Applied: the baseline must come back whole.
			if err := os.WriteFile(h.path, []byte(reloadBaseline), 0o600); err != nil {
				t.Fatal(err)
			}
			if cfg, err := h.d.ReloadFile(ctx, h.path, conf.Limits{}); cfg == nil || err != nil {
				t.Fatalf("reload of the baseline after an applied file: %v", err)
			}
			after := h.state(t)
			if diff := cmp.Diff(before.Table, after.Table); diff != "" {
				t.Fatalf("the baseline did not come back (-before +after):\n%s", diff)
			}
		}
		if n, ok := settles(runtime.NumGoroutine, goroutines); !ok {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines after the reload, %d before:\n%s", n, goroutines, buf[:runtime.Stack(buf, true)])
		}
		if fds >= 0 {
			if n, ok := settles(openFDs, fds); !ok {
				t.Fatalf("%d file descriptors after the reload, %d before", n, fds)
			}
		}
	})
}

// The reload path keeps its promises for the hostile files of issue 14 at full size;
// FuzzReload's seeds are smaller.
func TestReloadFileHostile(t *testing.T) {
	h, err := getReloadHarness()
	if err != nil {
		t.Fatalf("start the director: %v", err)
	}
	before := h.state(t)
	for name, src := range map[string][]byte{
		"nested 120 KB": []byte("x = " + strings.Repeat("[", 60_000) + strings.Repeat("]", 60_000)),
		"empty":         nil,
		"garbage 1 MB":  []byte(strings.Repeat("}{ ][ )( ,; x = = \n", 55_000)),
		"20 MiB":        make([]byte, 20<<20),
	} {
		if err := os.WriteFile(h.path, src, 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := h.d.ReloadFile(context.Background(), h.path, conf.Limits{})
		if cfg != nil || !errors.Is(err, ErrRejected) {
			t.Errorf("%s: %v, %v; want rejected", name, cfg, err)
		}
		if diff := cmp.Diff(before, h.state(t)); diff != "" {
			t.Errorf("%s: the director changed (-before +after):\n%s", name, diff)
		}
		if e := h.d.Snapshot().Config.LastReloadErr; len(e) > 80<<10 || strings.Contains(e, "<nil>") {
			t.Errorf("%s: reload error of %d bytes: %.300s", name, len(e), e)
		}
	}
}
