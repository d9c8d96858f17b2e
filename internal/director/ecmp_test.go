package director

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/vigil-lb/vigil/conf"
	"github.com/vigil-lb/vigil/internal/bgp"
	"github.com/vigil-lb/vigil/ipvs"
	"github.com/vigil-lb/vigil/ipvs/ipvstest"
)

// ecmpConf is one announcing director: web (%SCHED%) announces 198.18.30.1, tls shares
// that address without announce, dns is UDP on it, local is not announced.
const ecmpConf = `
bgp {
  asn            = 65000
  router_id      = "198.18.20.11"
  withdraw_delay = "0s"
  neighbor "198.18.20.1" {
    asn = 65001
  }
}
%SYNC%
virtual_server "web" {
  address   = "198.18.30.1:80"
  protocol  = "tcp"
  scheduler = "%SCHED%"
  announce  = %ANNOUNCE%
  real_server "a" {
    address = "198.18.31.1:80"
  }
}
virtual_server "tls" {
  address   = "198.18.30.1:443"
  protocol  = "tcp"
  scheduler = "%TLSSCHED%"
  real_server "a" {
    address = "198.18.31.1:443"
  }
}
virtual_server "dns" {
  address  = "198.18.30.1:53"
  protocol = "udp"
  real_server "a" {
    address = "198.18.31.1:53"
  }
}
virtual_server "local" {
  address  = "198.18.30.3:80"
  protocol = "tcp"
  real_server "a" {
    address = "198.18.31.4:80"
  }
}
`

const topLevelSync = "ipvs_sync {\n  interface = \"eth0\"\n  sync_id   = 7\n}"

func ecmpConfig(t *testing.T, sched, tlsSched, sync, announce string) *conf.Config {
	t.Helper()
	src := strings.NewReplacer("%SCHED%", sched, "%TLSSCHED%", tlsSched, "%SYNC%", sync, "%ANNOUNCE%", announce).Replace(ecmpConf)
	cfg, diags := conf.Parse([]byte(src), "ecmp.hcl")
	if diags.HasErrors() {
		t.Fatalf("config: %v", diags)
	}
	return cfg
}

// TestMovedConnectionsWarning: an announcing director with kernel IPVS is warned unless
// connection sync or mh with sloppy_tcp keeps the connections ECMP moves to it; the
// warning names the TCP virtual servers at risk and both remedies.
func TestMovedConnectionsWarning(t *testing.T) {
	readErr := errors.New("open /proc/sys/net/ipv4/vs/sloppy_tcp: no such file or directory")
	tests := []struct {
		name                      string
		sched, tlsSched, sync, an string
		sloppy                    bool
		sloppyErr                 error
		want                      []string // substrings; nil: no warning
		wantRead                  bool     // the sysctl is read
	}{
		{name: "rr, no sync", sched: "rr", tlsSched: "rr", an: "true",
			want: []string{"web, tls announced", "ipvs_sync", `scheduler = "mh"`, "net.ipv4.vs.sloppy_tcp=1"}},
		{name: "mh, sloppy_tcp 0", sched: "mh", tlsSched: "mh", an: "true", wantRead: true,
			want: []string{"web, tls announced", "net.ipv4.vs.sloppy_tcp is 0"}},
		{name: "mh, sloppy_tcp 1", sched: "mh", tlsSched: "mh", an: "true", sloppy: true, wantRead: true},
		{name: "mh and sloppy_tcp 1, but tls on the announced address is rr", sched: "mh", tlsSched: "wrr", an: "true", sloppy: true, wantRead: true,
			want: []string{"virtual server(s) tls announced"}},
		{name: "sysctl unreadable", sched: "mh", tlsSched: "mh", an: "true", sloppyErr: readErr, wantRead: true,
			want: []string{"web, tls announced", "could not be read: open /proc/sys"}},
		{name: "top-level ipvs_sync", sched: "rr", tlsSched: "rr", sync: topLevelSync, an: "true"},
		{name: "nothing announced", sched: "rr", tlsSched: "rr", an: "false"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := ecmpConfig(t, tt.sched, tt.tlsSched, tt.sync, tt.an)
			read := false
			got := movedConnectionsWarning(cfg, func() (bool, error) { read = true; return tt.sloppy, tt.sloppyErr })
			if tt.want == nil && got != "" {
				t.Errorf("warning %q, want none", got)
			}
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("warning %q, want it to contain %q", got, w)
				}
			}
			if strings.Contains(got, "dns") || strings.Contains(got, "local") {
				t.Errorf("warning %q names a UDP or unannounced virtual server", got)
			}
			if read != tt.wantRead {
				t.Errorf("sloppy_tcp read: %v, want %v", read, tt.wantRead)
			}
		})
	}
}

// sysctlTable is a kernel-like table whose IPVS sysctls the test sets.
type sysctlTable struct {
	ipvs.Table
	sysctls ipvs.Sysctls
}

func (s *sysctlTable) Sysctls() (ipvs.Sysctls, error) { return s.sysctls, nil }
func (s *sysctlTable) EnsureSysctls(ipvs.Sysctls) ([]string, error) {
	return nil, nil
}

// TestMovedConnectionsWarningPerApply: the advice is in /status and the log once for the
// configuration applied, at start and at each reload, and goes with the cause.
func TestMovedConnectionsWarningPerApply(t *testing.T) {
	ctx := context.Background()
	table := &sysctlTable{Table: ipvstest.New()}
	logged := &countingHandler{match: "announced over BGP with kernel IPVS"}
	d := New(Options{Table: table, Logger: slog.New(logged), Dataplane: "kernel", Loopback: &fakeLoopback{addrs: map[netip.Prefix]bool{}, log: new([]string), lock: new(sync.Mutex)},
		NewSpeaker: func(context.Context, bgp.Config, *slog.Logger) (bgp.Speaker, error) { return bgp.NewFake(), nil }})
	if err := d.Start(ctx, ecmpConfig(t, "mh", "mh", "", "true")); err != nil {
		t.Fatal(err)
	}
	defer d.Stop(ctx, false)
	count := func() int {
		n := 0
		for _, w := range d.Snapshot().Warnings {
			if strings.Contains(w, "announced over BGP with kernel IPVS") {
				n++
			}
		}
		return n
	}
	if n, l := count(), logged.n(); n != 1 || l != 1 {
		t.Fatalf("after start: %d warnings in /status, %d in the log; want 1 and 1", n, l)
	}
	d.Resync(ctx)
	if l := logged.n(); l != 1 {
		t.Errorf("after a resync the log has it %d times, want still 1", l)
	}
	table.sysctls.SloppyTCP = true
	if err := d.Reload(ctx, ecmpConfig(t, "mh", "mh", "", "true")); err != nil {
		t.Fatal(err)
	}
	if n, l := count(), logged.n(); n != 0 || l != 1 {
		t.Errorf("after sysctl sloppy_tcp=1 and a reload: %d in /status, %d in the log; want 0 and 1", n, l)
	}
	table.sysctls.SloppyTCP = false
	if err := d.Reload(ctx, ecmpConfig(t, "rr", "rr", topLevelSync, "true")); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 0 {
		t.Errorf("with ipvs_sync: %d in /status, want 0", n)
	}
}

// countingHandler counts the log records whose message contains match.
type countingHandler struct {
	match string
	count atomic.Int32
}

func (h *countingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *countingHandler) Handle(_ context.Context, r slog.Record) error {
	if strings.Contains(r.Message, h.match) {
		h.count.Add(1)
	}
	return nil
}
func (h *countingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *countingHandler) WithGroup(string) slog.Handler      { return h }
func (h *countingHandler) n() int                             { return int(h.count.Load()) }
