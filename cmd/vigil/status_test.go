package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"log/slog"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-lb/vigil/internal/api"
	"github.com/vigil-lb/vigil/internal/metrics"
	"github.com/vigil-lb/vigil/internal/status"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

var t0 = time.Date(2026, 11, 22, 17, 0, 0, 0, time.UTC)

// fixedSnapshot has a bit of everything `vigil status` renders: DR, NAT and tunnel real
// servers, a quiesced one, one absent from the table, IPv6, a fwmark service, a failed
// reload, two VRRP instances and a warning.
func fixedSnapshot() status.Snapshot {
	return status.Snapshot{
		Version: "1.2.3", RouterID: "lb-a", Dataplane: "kernel", Started: t0,
		Config: status.ConfigStatus{
			Path: "/etc/vigil/vigil.hcl", Generation: 3, LoadedAt: t0.Add(time.Minute),
			ReloadsOK: 2, ReloadsFailed: 1, LastReloadAt: t0.Add(2 * time.Minute), LastReloadOK: new(false),
			LastReloadErr: "vigil.hcl:12,3-9: Unsupported argument; An argument named \"wieght\" is not expected here. Did you mean \"weight\"?",
		},
		VirtualServers: []status.VirtualServer{
			{
				Name: "web", Key: "TCP 198.18.0.254:80", Protocol: "tcp", Address: "198.18.0.254:80", Family: "inet",
				Scheduler: "rr", OnFailure: "quiesce", Healthy: 2, Total: 3, QuorumUp: true, Present: true,
				RealServers: []status.RealServer{
					{Name: "rs1", Address: "198.18.0.21:80", Forwarding: "dr", Health: "up", ConfiguredWeight: 1, AppliedWeight: new(1), InTable: true,
						ActiveConns: 3, InactiveConns: 10,
						Checks: []status.Check{{Kind: "http", State: "up", LastOK: true, LastLatency: 1234567 * time.Nanosecond, LastAt: t0, Probes: 40}}},
					{Name: "rs2", Address: "198.18.0.22:80", Forwarding: "dr", Health: "up", ConfiguredWeight: 1, AppliedWeight: new(1), InTable: true,
						ActiveConns: 2, InactiveConns: 8,
						Checks: []status.Check{
							{Kind: "http", State: "up", LastOK: false, LastReason: "context deadline exceeded", LastAt: t0, Probes: 40, Failures: 1},
							{Kind: "tcp", State: "up", LastOK: true, LastLatency: 870 * time.Microsecond, LastAt: t0, Probes: 40},
						}},
					{Name: "rs3", Address: "198.18.0.23:80", Forwarding: "dr", Health: "down", ConfiguredWeight: 2, AppliedWeight: new(0), InTable: true,
						ActiveConns: 0, InactiveConns: 4,
						Checks: []status.Check{{Kind: "http", State: "down", LastReason: "dial tcp 198.18.0.23:80: connect: connection refused", LastAt: t0, Probes: 40, Failures: 12}}},
				},
			},
			{
				Name: "mysql", Key: "TCP 198.18.0.254:3306", Protocol: "tcp", Address: "198.18.0.254:3306", Family: "inet",
				Scheduler: "wlc", OnFailure: "remove", Healthy: 0, Total: 1, QuorumUp: false, SorryActive: true, Present: true,
				RealServers: []status.RealServer{
					{Name: "db1", Address: "198.18.0.31:3306", Forwarding: "nat", Health: "down", ConfiguredWeight: 1, InTable: false,
						Checks: []status.Check{{Kind: "mysql", State: "down", LastReason: "Error 1045 (28000): Access denied for user 'monitor'@'198.18.0.1'", LastAt: t0, Probes: 5, Failures: 5}}},
					{Name: "sorry", Address: "198.18.0.40:3306", Forwarding: "nat", Health: "up", ConfiguredWeight: 1, AppliedWeight: new(1), InTable: true, Sorry: true},
				},
			},
			{
				Name: "web6", Key: "TCP [2001:db8::1]:443", Protocol: "tcp", Address: "[2001:db8::1]:443", Family: "inet6",
				Scheduler: "mh", Flags: []string{"mh-port"}, OnFailure: "quiesce", Healthy: 1, Total: 1, QuorumUp: true, Present: true,
				RealServers: []status.RealServer{
					{Name: "v6a", Address: "[2001:db8::21]:443", Forwarding: "tun", Health: "up", ConfiguredWeight: 10, DynamicWeight: new(7), AppliedWeight: new(7), InTable: true,
						ActiveConns: 1200, InactiveConns: 34000,
						Checks: []status.Check{{Kind: "exec", State: "up", LastOK: true, LastLatency: 2500 * time.Millisecond, LastAt: t0, Probes: 3}}},
				},
			},
			{
				Name: "marked", Key: "FWM 6666", FWMark: 6666, Family: "inet", Scheduler: "sh", Persistence: "300s",
				OnFailure: "quiesce", Healthy: 1, Total: 1, QuorumUp: true, Present: false,
				RealServers: []status.RealServer{
					{Name: "a", Address: "198.18.0.51:0", Forwarding: "dr", Health: "unknown", ConfiguredWeight: 1, Checks: []status.Check{{Kind: "tcp", State: "unknown"}}},
				},
			},
		},
		VRRP: []status.VRRPInstance{
			{Name: "VI_1", Interface: "eth0", VRID: 51, Version: 3, State: "master", BasePriority: 150, EffectivePriority: 150,
				MasterAddr: "198.18.0.11", VIPs: []string{"198.18.0.254/24"},
				Tracked: []status.Tracked{{Kind: "virtual_server", Name: "web", Up: true, Weight: -60}}},
			{Name: "VI_DB", Interface: "eth1.100", VRID: 7, Version: 2, State: "backup", BasePriority: 100, EffectivePriority: 40,
				MasterAddr: "198.18.1.12", VIPs: []string{"198.18.1.254/24", "198.18.1.253/24"},
				Tracked: []status.Tracked{{Kind: "virtual_server", Name: "mysql", Up: false, Weight: -60}, {Kind: "interface", Name: "eth1", Up: true}}},
		},
		IPVS:     status.IPVSCounters{Writes: 42, WriteErrors: 1, Resyncs: 9, Repairs: 4, LastResyncAt: t0.Add(3 * time.Minute), LastResyncErr: "list services: netlink receive: interrupted"},
		Warnings: []string{"virtual server mysql: no healthy real server, sorry server in use"},
	}
}

func TestRenderStatusGolden(t *testing.T) {
	var got bytes.Buffer
	renderStatus(&got, fixedSnapshot())
	golden(t, "status.golden", got.Bytes())
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run with -update to create it): %v", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s mismatch (-want +got), rerun with -update if intended:\n%s", name, diff)
	}
}

// fakeDirector serves a snapshot through the real API handler, so the CLI tests cover the
// wire format too.
type fakeDirector struct {
	mu   sync.Mutex
	snap status.Snapshot
}

func (f *fakeDirector) Snapshot() status.Snapshot {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.snap
}

func (f *fakeDirector) Healthy() error { return nil }

func (f *fakeDirector) update(fn func(*status.Snapshot)) {
	f.mu.Lock()
	fn(&f.snap)
	f.mu.Unlock()
}

func serveFake(t *testing.T, d *fakeDirector) string {
	t.Helper()
	h := api.New(d, metrics.New(d, metrics.BuildInfo{}), slog.New(slog.DiscardHandler))
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// closedAddr is a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestCmdStatusTable(t *testing.T) {
	addr := serveFake(t, &fakeDirector{snap: fixedSnapshot()})
	var stdout, stderr bytes.Buffer
	if code := cmdStatus([]string{"--addr", addr}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d, stderr %s", code, stderr.String())
	}
	// Through HTTP and JSON the table is the same as rendered from the value itself.
	golden(t, "status.golden", stdout.Bytes())
	if strings.Contains(strings.ToLower(stdout.String()), "password") {
		t.Errorf("status output mentions a password:\n%s", stdout.String())
	}
}

func TestCmdStatusJSON(t *testing.T) {
	want := fixedSnapshot()
	addr := serveFake(t, &fakeDirector{snap: want})
	var stdout, stderr bytes.Buffer
	if code := cmdStatus([]string{"--addr", "http://" + addr + "/", "--json"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d, stderr %s", code, stderr.String())
	}
	var got status.Snapshot
	if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
		t.Fatalf("--json output does not decode: %v\n%s", err, stdout.String())
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("--json round trip (-want +got):\n%s", diff)
	}
}

func TestCmdStatusUnreachable(t *testing.T) {
	addr := closedAddr(t)
	var stdout, stderr bytes.Buffer
	code := cmdStatus([]string{"--addr", addr}, &stdout, &stderr)
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	for _, want := range []string{"vigil status: cannot reach vigil at " + addr + ": ", "is `vigil run` running? is global.listen set?"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr %q lacks %q", stderr.String(), want)
		}
	}
	if stdout.Len() != 0 {
		t.Errorf("stdout not empty: %q", stdout.String())
	}
}

func TestCmdStatusNotVigil(t *testing.T) {
	srv := httptest.NewServer(api.New(&fakeDirector{}, nil, slog.New(slog.DiscardHandler)))
	defer srv.Close()
	var stdout, stderr bytes.Buffer
	// /metrics is 404 here; point --addr at a path whose /status is not vigil's.
	code := cmdStatus([]string{"--addr", srv.URL + "/nope"}, &stdout, &stderr)
	if code != 1 || !strings.Contains(stderr.String(), "404") {
		t.Errorf("got exit %d stderr %q, want 1 and a 404", code, stderr.String())
	}
}

func TestFlagHandling(t *testing.T) {
	cmds := map[string]func([]string, *bytes.Buffer, *bytes.Buffer) int{
		"status": func(a []string, o, e *bytes.Buffer) int { return cmdStatus(a, o, e) },
		"reload": func(a []string, o, e *bytes.Buffer) int { return cmdReload(a, o, e) },
	}
	tests := []struct {
		args       []string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{[]string{"-h"}, 0, "Usage: vigil ", ""},
		{[]string{"--help"}, 0, "Usage: vigil ", ""},
		{[]string{"--bogus"}, 2, "", "flag provided but not defined: -bogus"},
		{[]string{"--timeout", "soon"}, 2, "", "invalid value"},
		{[]string{"extra"}, 2, "", `unexpected argument "extra"`},
	}
	for name, run := range cmds {
		for _, tt := range tests {
			var stdout, stderr bytes.Buffer
			code := run(tt.args, &stdout, &stderr)
			if code != tt.wantCode {
				t.Errorf("%s %v: exit %d, want %d", name, tt.args, code, tt.wantCode)
			}
			if tt.wantStdout != "" && !strings.Contains(stdout.String(), tt.wantStdout) {
				t.Errorf("%s %v: stdout %q lacks %q", name, tt.args, stdout.String(), tt.wantStdout)
			}
			if tt.wantStderr != "" && !strings.Contains(stderr.String(), tt.wantStderr) {
				t.Errorf("%s %v: stderr %q lacks %q", name, tt.args, stderr.String(), tt.wantStderr)
			}
			if tt.wantCode == 2 && !strings.Contains(stderr.String(), "Usage:") {
				t.Errorf("%s %v: usage not on stderr", name, tt.args)
			}
		}
	}
}

func TestFmtLatency(t *testing.T) {
	tests := []struct {
		in   time.Duration
		want string
	}{
		{870 * time.Microsecond, "870µs"},
		{1234567 * time.Nanosecond, "1.23ms"},
		{2500 * time.Millisecond, "2.5s"},
		{0, "0s"},
	}
	for _, tt := range tests {
		if got := fmtLatency(tt.in); got != tt.want {
			t.Errorf("fmtLatency(%v): got %q, want %q", tt.in, got, tt.want)
		}
	}
}

// FuzzRenderStatus feeds arbitrary /status bodies through the decoder and the table:
// whatever a daemon (or something else on that port) answers, `vigil status` must not panic.
func FuzzRenderStatus(f *testing.F) {
	seed, err := json.Marshal(fixedSnapshot())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Fuzz(func(t *testing.T, body []byte) {
		var s status.Snapshot
		if json.Unmarshal(body, &s) != nil {
			return
		}
		var out bytes.Buffer
		renderStatus(&out, s)
		if !strings.HasPrefix(out.String(), "vigil ") {
			t.Errorf("output does not start with the header line:\n%s", out.String())
		}
	})
}

func TestRenderStatsGolden(t *testing.T) {
	s := fixedSnapshot()
	s.VirtualServers[0].Stats = status.Stats{Conns: 1234, InPkts: 98765, OutPkts: 0, InBytes: 12345678, OutBytes: 0}
	s.VirtualServers[0].RealServers[0].Stats = status.Stats{Conns: 617, InPkts: 49000, InBytes: 6000000}
	s.VirtualServers[0].RealServers[1].Stats = status.Stats{Conns: 617, InPkts: 49765, InBytes: 6345678}
	var got bytes.Buffer
	renderStats(&got, s)
	golden(t, "stats.golden", got.Bytes())
}

func TestRenderStatusLastReload(t *testing.T) {
	tests := []struct {
		name string
		cfg  status.ConfigStatus
		want string // the third line, "" for none
	}{
		{"never reloaded", status.ConfigStatus{Generation: 1, LoadedAt: t0}, ""},
		{"ok", status.ConfigStatus{Generation: 2, ReloadsOK: 1, LastReloadAt: t0, LastReloadOK: new(true), LastReloadDuration: 4200 * time.Microsecond},
			"last reload ok at 2026-11-22T17:00:00Z, applied in 4.2ms"},
		{"failed", status.ConfigStatus{Generation: 1, ReloadsFailed: 1, LastReloadAt: t0, LastReloadOK: new(false),
			LastReloadResult: status.ReloadRejected, LastReloadErr: "x.hcl:1:1: error: Bad\n    1 | x\n      | ^\nx.hcl: 1 error(s)\n"},
			"last reload FAILED at 2026-11-22T17:00:00Z: x.hcl:1:1: error: Bad (and more: vigil status --json)"},
		{"applied with errors", status.ConfigStatus{Generation: 2, ReloadsFailed: 1, LastReloadAt: t0, LastReloadOK: new(false),
			LastReloadResult: status.ReloadPartial, LastReloadErr: "add destination 198.18.0.21:80 to TCP 198.18.0.254:80: file exists"},
			"last reload APPLIED WITH ERRORS at 2026-11-22T17:00:00Z: add destination 198.18.0.21:80 to TCP 198.18.0.254:80: file exists"},
	}
	for _, tt := range tests {
		var out bytes.Buffer
		renderStatus(&out, status.Snapshot{Config: tt.cfg})
		lines := strings.Split(out.String(), "\n")
		got := lines[2]
		if got != tt.want {
			t.Errorf("%s: third line %q, want %q", tt.name, got, tt.want)
		}
	}
}
