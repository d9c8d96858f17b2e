package metrics

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/vigil-lb/vigil/internal/status"
)

// plantedSecret stands for a configured MySQL password. The snapshot type has no place
// for it; the test still asserts that no exposition ever carries it.
const plantedSecret = "s3cr3t-Hunter2"

type fakeSource struct {
	mu sync.Mutex
	s  status.Snapshot
}

func (f *fakeSource) Snapshot() status.Snapshot {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.s
}

func (f *fakeSource) set(s status.Snapshot) {
	f.mu.Lock()
	f.s = s
	f.mu.Unlock()
}

var t0 = time.Date(2026, 11, 22, 17, 0, 0, 0, time.UTC)

// richSnapshot covers every metric family: a TCP service, an IPv6 one, a fwmark service, a
// real server out of the table, two checks of one kind, a VRRP instance with invalid adverts,
// the failed accepts of userspace listeners (which a kernel table has none of, as a fwmark
// service has not).
func richSnapshot() status.Snapshot {
	return status.Snapshot{
		Version: "1.2.3", RouterID: "lb-a", Dataplane: "kernel", Started: t0,
		Config: status.ConfigStatus{
			Path: "/etc/vigil/vigil.hcl", Generation: 3, LoadedAt: t0.Add(time.Minute),
			ReloadsOK: 2, ReloadsFailed: 1, LastReloadAt: t0.Add(2 * time.Minute), LastReloadOK: new(false),
			LastReloadErr: "vigil.hcl:3,5-9: Unsupported argument", LastReloadDuration: 2500 * time.Microsecond,
		},
		VirtualServers: []status.VirtualServer{
			{
				Name: "web", Key: "TCP 198.18.0.254:80", Protocol: "tcp", Address: "198.18.0.254:80",
				Family: "inet", Scheduler: "rr", OnFailure: "quiesce", Healthy: 1, Total: 2, QuorumUp: true, Present: true,
				Stats:   status.Stats{Conns: 100, InPkts: 1000, OutPkts: 900, InBytes: 64000, OutBytes: 1 << 40},
				Accepts: status.Accepts{AcceptErrors: new(uint64(12)), AcceptsPaused: true},
				RealServers: []status.RealServer{
					{
						Name: "rs1", Address: "198.18.0.21:80", Forwarding: "dr", Health: "up",
						ConfiguredWeight: 2, AppliedWeight: new(2), InTable: true,
						ActiveConns: 3, InactiveConns: 10,
						Stats: status.Stats{Conns: 60, InPkts: 600, OutPkts: 0, InBytes: 38000, OutBytes: 0},
						Checks: []status.Check{
							{Kind: "http", State: "up", LastOK: true, LastLatency: 1200 * time.Microsecond, Probes: 50, Failures: 1, Transitions: 1, Interval: 2 * time.Second, Timeout: time.Second, Rise: 2, Fall: 3},
							{Kind: "http", State: "up", LastOK: true, LastLatency: 900 * time.Microsecond, Probes: 50, Transitions: 1},
						},
					},
					{
						Name: "rs2", Address: "198.18.0.22:80", Forwarding: "dr", Health: "down",
						ConfiguredWeight: 1, AppliedWeight: new(0), InTable: true,
						ActiveConns: 0, InactiveConns: 2,
						Checks: []status.Check{
							{Kind: "tcp", State: "down", LastReason: "connect: connection refused", Probes: 50, Failures: 40, Transitions: 2},
						},
					},
				},
			},
			{
				Name: "web6", Key: "TCP [2001:db8::1]:443", Protocol: "tcp", Address: "[2001:db8::1]:443",
				Family: "inet6", Scheduler: "wlc", OnFailure: "remove", Healthy: 0, Total: 1, QuorumUp: false, Present: true,
				Accepts: status.Accepts{AcceptErrors: new(uint64(0))},
				RealServers: []status.RealServer{
					{Name: "v6a", Address: "[2001:db8::21]:443", Forwarding: "nat", Health: "down", ConfiguredWeight: 5, InTable: false,
						Checks: []status.Check{{Kind: "mysql", State: "down", LastReason: "Error 1045: Access denied for user 'monitor'"}}},
				},
			},
			{
				Name: "fw", Key: "FWM 6666", FWMark: 6666, Family: "inet", Scheduler: "sh", Flags: []string{"sh-port"},
				Persistence: "300s", OnFailure: "quiesce", Healthy: 1, Total: 1, QuorumUp: true, Present: true,
				Stats: status.Stats{Conns: 7},
				RealServers: []status.RealServer{
					{Name: "a", Address: "198.18.0.31:0", Forwarding: "tun", Health: "up", ConfiguredWeight: 1, AppliedWeight: new(1), InTable: true},
				},
			},
		},
		VRRP: []status.VRRPInstance{
			{
				Name: "VI_1", Interface: "eth0", VRID: 51, Version: 3, State: "master", BasePriority: 150, EffectivePriority: 90,
				MasterAddr: "198.18.0.11", VIPs: []string{"198.18.0.254/24"}, Transitions: 3, AdvertsSent: 1000, AdvertsReceived: 20,
				Invalid:  map[string]uint64{"ttl": 2, "vrid_mismatch_addresses": 1, "authentication": 5},
				Tracked:  []status.Tracked{{Kind: "virtual_server", Name: "web", Up: false, Weight: -60}},
				IPVSSync: &status.IPVSSync{Interface: "eth0", SyncID: 51, Daemon: "master"},
			},
		},
		// A real configuration has this or an instance's, not both; the fixture covers both.
		IPVSSync: &status.IPVSSync{Interface: "eth1", SyncID: 7, Daemon: "master+backup"},
		IPVS:     status.IPVSCounters{Writes: 42, WriteErrors: 1, Resyncs: 9, Repairs: 4, LastResyncAt: t0.Add(3 * time.Minute)},
		Warnings: []string{"real server web/rs2 has been down for 10m"},
	}
}

func scrape(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read /metrics: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: status %d, body:\n%s", resp.StatusCode, body)
	}
	return string(body)
}

func parse(t *testing.T, text string) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("parse exposition: %v\n%s", err, text)
	}
	return mfs
}

// series renders every sample of a family as `{a="x",b="y"} value`, sorted.
func series(mf *dto.MetricFamily) []string {
	if mf == nil {
		return nil
	}
	var out []string
	for _, m := range mf.GetMetric() {
		var ls []string
		for _, l := range m.GetLabel() {
			ls = append(ls, l.GetName()+"="+`"`+l.GetValue()+`"`)
		}
		var v float64
		switch {
		case m.Gauge != nil:
			v = m.GetGauge().GetValue()
		case m.Counter != nil:
			v = m.GetCounter().GetValue()
		case m.Untyped != nil:
			v = m.GetUntyped().GetValue()
		case m.Histogram != nil:
			v = float64(m.GetHistogram().GetSampleCount())
		case m.Summary != nil:
			v = float64(m.GetSummary().GetSampleCount())
		}
		out = append(out, "{"+strings.Join(ls, ",")+"} "+model.SampleValue(v).String())
	}
	sort.Strings(out)
	return out
}

func TestScrapeRichSnapshot(t *testing.T) {
	src := &fakeSource{s: richSnapshot()}
	m := New(src, BuildInfo{Version: "1.2.3", GoVersion: "go1.26.8", Revision: "abcdef123456"})
	m.ObserveCheck("web", "rs1", "http", 1200*time.Microsecond, true)
	m.ObserveCheck("web", "rs1", "http", 3*time.Second, false)
	m.ObserveCheck("web", "rs2", "tcp", 500*time.Microsecond, false)

	text := scrape(t, m.Handler())
	mfs := parse(t, text)

	tests := []struct {
		name string
		want []string
	}{
		{"vigil_build_info", []string{`{goversion="go1.26.8",revision="abcdef123456",version="1.2.3"} 1`}},
		{"vigil_check_transitions_total", []string{
			`{check="http",real_server="rs1",virtual_server="web"} 1`,
			`{check="http#2",real_server="rs1",virtual_server="web"} 1`,
			`{check="mysql",real_server="v6a",virtual_server="web6"} 0`,
			`{check="tcp",real_server="rs2",virtual_server="web"} 2`,
		}},
		// Per virtual server and check: rs1's one and rs2's 40.
		{"vigil_check_failures_total", []string{
			`{check="http",virtual_server="web"} 1`,
			`{check="http#2",virtual_server="web"} 0`,
			`{check="mysql",virtual_server="web6"} 0`,
			`{check="tcp",virtual_server="web"} 40`,
		}},
		{"vigil_check_duration_seconds", []string{
			`{check="http",virtual_server="web"} 2`,
			`{check="tcp",virtual_server="web"} 1`,
		}},
		// node_exporter's six labels, as it values them (an empty local_address or
		// local_mark is no label, as Prometheus stores it), once per destination.
		{"vigil_real_server_info", []string{
			`{local_address="198.18.0.254",local_port="80",proto="TCP",real_server="rs1",remote_address="198.18.0.21",remote_port="80",virtual_server="web"} 1`,
			`{local_address="198.18.0.254",local_port="80",proto="TCP",real_server="rs2",remote_address="198.18.0.22",remote_port="80",virtual_server="web"} 1`,
			`{local_address="2001:db8::1",local_port="443",proto="TCP",real_server="v6a",remote_address="2001:db8::21",remote_port="443",virtual_server="web6"} 1`,
			`{local_mark="00001A0A",local_port="0",proto="FWM",real_server="a",remote_address="198.18.0.31",remote_port="0",virtual_server="fw"} 1`,
		}},
		{"vigil_real_server_healthy", []string{
			`{real_server="a",virtual_server="fw"} 1`,
			`{real_server="rs1",virtual_server="web"} 1`,
			`{real_server="rs2",virtual_server="web"} 0`,
			`{real_server="v6a",virtual_server="web6"} 0`,
		}},
		{"vigil_real_server_admin_state", []string{
			`{real_server="a",state="ready",virtual_server="fw"} 1`,
			`{real_server="rs1",state="ready",virtual_server="web"} 1`,
			`{real_server="rs2",state="ready",virtual_server="web"} 1`,
			`{real_server="v6a",state="ready",virtual_server="web6"} 1`,
		}},
		// Only what the table holds: v6a is not in it.
		{"vigil_ipvs_backend_weight", []string{
			`{real_server="a",virtual_server="fw"} 1`,
			`{real_server="rs1",virtual_server="web"} 2`,
			`{real_server="rs2",virtual_server="web"} 0`,
		}},
		{"vigil_ipvs_backend_connections_active", []string{
			`{real_server="a",virtual_server="fw"} 0`,
			`{real_server="rs1",virtual_server="web"} 3`,
			`{real_server="rs2",virtual_server="web"} 0`,
		}},
		{"vigil_ipvs_backend_connections_inactive", []string{
			`{real_server="a",virtual_server="fw"} 0`,
			`{real_server="rs1",virtual_server="web"} 10`,
			`{real_server="rs2",virtual_server="web"} 2`,
		}},
		{"vigil_virtual_server_healthy_real_servers", []string{
			`{virtual_server="fw"} 1`, `{virtual_server="web"} 1`, `{virtual_server="web6"} 0`,
		}},
		{"vigil_virtual_server_real_servers", []string{
			`{virtual_server="fw"} 1`, `{virtual_server="web"} 2`, `{virtual_server="web6"} 1`,
		}},
		{"vigil_virtual_server_quorum_up", []string{
			`{virtual_server="fw"} 1`, `{virtual_server="web"} 1`, `{virtual_server="web6"} 0`,
		}},
		{"vigil_virtual_server_in_table", []string{
			`{virtual_server="fw"} 1`, `{virtual_server="web"} 1`, `{virtual_server="web6"} 1`,
		}},
		{"vigil_ipvs_service_connections_total", []string{
			`{local_address="198.18.0.254",local_port="80",proto="TCP",virtual_server="web"} 100`,
			`{local_address="2001:db8::1",local_port="443",proto="TCP",virtual_server="web6"} 0`,
			`{local_mark="00001A0A",local_port="0",proto="FWM",virtual_server="fw"} 7`,
		}},
		{"vigil_ipvs_service_outgoing_bytes_total", []string{
			`{local_address="198.18.0.254",local_port="80",proto="TCP",virtual_server="web"} 1099511627776`,
			`{local_address="2001:db8::1",local_port="443",proto="TCP",virtual_server="web6"} 0`,
			`{local_mark="00001A0A",local_port="0",proto="FWM",virtual_server="fw"} 0`,
		}},
		// A userspace listener's, from 0; none for the fwmark service.
		{"vigil_userspace_accept_errors_total", []string{`{virtual_server="web"} 12`, `{virtual_server="web6"} 0`}},
		{"vigil_userspace_accepts_paused", []string{`{virtual_server="web"} 1`, `{virtual_server="web6"} 0`}},
		{"vigil_vrrp_state", []string{`{instance="VI_1",interface="eth0",vrid="51"} 2`}},
		{"vigil_ipvs_sync_daemon", []string{
			`{instance="VI_1",interface="eth0",role="master",vrid="51"} 1`,
			`{interface="eth1",role="master+backup"} 1`, // the top-level block: empty instance and vrid
		}},
		{"vigil_vrrp_priority", []string{`{instance="VI_1",interface="eth0",vrid="51"} 150`}},
		{"vigil_vrrp_effective_priority", []string{`{instance="VI_1",interface="eth0",vrid="51"} 90`}},
		{"vigil_vrrp_transitions_total", []string{`{instance="VI_1",interface="eth0",vrid="51"} 3`}},
		{"vigil_vrrp_adverts_sent_total", []string{`{instance="VI_1",interface="eth0",vrid="51"} 1000`}},
		{"vigil_vrrp_adverts_received_total", []string{`{instance="VI_1",interface="eth0",vrid="51"} 20`}},
		{"vigil_vrrp_adverts_dropped_total", []string{
			`{instance="VI_1",interface="eth0",reason="authentication",vrid="51"} 5`,
			`{instance="VI_1",interface="eth0",reason="ttl",vrid="51"} 2`,
			`{instance="VI_1",interface="eth0",reason="vrid_mismatch_addresses",vrid="51"} 1`,
		}},
		{"vigil_reloads_total", []string{`{result="failure"} 1`, `{result="success"} 2`}},
		{"vigil_last_reload_timestamp_seconds", []string{`{} 1795366920`}},
		{"vigil_last_reload_success", []string{`{} 0`}},
		{"vigil_last_reload_duration_seconds", []string{`{} 0.0025`}},
		{"vigil_config_generation", []string{`{} 3`}},
		{"vigil_ipvs_writes_total", []string{`{} 42`}},
		{"vigil_ipvs_write_errors_total", []string{`{} 1`}},
		{"vigil_ipvs_resync_repairs_total", []string{`{} 4`}},
		{"vigil_ipvs_resyncs_total", []string{`{} 9`}},
		{"vigil_start_time_seconds", []string{`{} 1795366800`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := series(mfs[tt.name])
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("%s (-want +got):\n%s", tt.name, diff)
			}
		})
	}

	// The runtime and process collectors ride along.
	for _, name := range []string{"go_goroutines", "process_start_time_seconds"} {
		if mfs[name] == nil {
			t.Errorf("%s missing from the exposition", name)
		}
	}

	problems, err := promlint.New(strings.NewReader(text)).Lint()
	if err != nil {
		t.Fatalf("promlint: %v", err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}

	for _, bad := range []string{plantedSecret, "password"} {
		if strings.Contains(strings.ToLower(text), strings.ToLower(bad)) {
			t.Errorf("exposition contains %q", bad)
		}
	}
}

// TestCheckDurationSummary: the check latency is a summary per virtual server and check,
// its sum and count only (no quantiles, no buckets: issue 18's size budget).
func TestCheckDurationSummary(t *testing.T) {
	m := New(&fakeSource{s: richSnapshot()}, BuildInfo{})
	m.ObserveCheck("web", "rs1", "http", 1200*time.Microsecond, true)
	m.ObserveCheck("web", "rs2", "http", 800*time.Microsecond, false)
	text := scrape(t, m.Handler())
	mf := parse(t, text)["vigil_check_duration_seconds"]
	if mf == nil || mf.GetType() != dto.MetricType_SUMMARY || len(mf.GetMetric()) != 1 {
		t.Fatalf("vigil_check_duration_seconds: got %v, want one summary", mf)
	}
	sm := mf.GetMetric()[0].GetSummary()
	if got, want := sm.GetSampleSum(), 0.002; got < want-1e-9 || got > want+1e-9 {
		t.Errorf("sample sum: got %v, want %v", got, want)
	}
	if sm.GetSampleCount() != 2 || len(sm.GetQuantile()) != 0 {
		t.Errorf("count %d, quantiles %v: want 2 and none", sm.GetSampleCount(), sm.GetQuantile())
	}
	for _, want := range []string{
		`vigil_check_duration_seconds_sum{check="http",virtual_server="web"} 0.002` + "\n",
		`vigil_check_duration_seconds_count{check="http",virtual_server="web"} 2` + "\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("exposition lacks %q", want)
		}
	}
}

// A real server removed by a reload must stop being exported, the check summary included.
func TestRemovedRealServerIsForgotten(t *testing.T) {
	src := &fakeSource{s: richSnapshot()}
	m := New(src, BuildInfo{})
	m.ObserveCheck("web", "rs2", "tcp", time.Millisecond, false)
	if got := series(parse(t, scrape(t, m.Handler()))["vigil_check_duration_seconds"]); len(got) != 1 {
		t.Fatalf("before reload: got %v, want one series", got)
	}

	s := richSnapshot()
	s.VirtualServers[0].RealServers = s.VirtualServers[0].RealServers[:1] // drop rs2
	src.set(s)
	mfs := parse(t, scrape(t, m.Handler()))
	if got := series(mfs["vigil_check_duration_seconds"]); len(got) != 0 {
		t.Errorf("after reload: the summary still has %v", got)
	}
	for _, name := range []string{"vigil_real_server_healthy", "vigil_real_server_info", "vigil_check_transitions_total"} {
		for _, s := range series(mfs[name]) {
			if strings.Contains(s, `real_server="rs2"`) {
				t.Errorf("%s still exports %s", name, s)
			}
		}
	}
}

// An empty snapshot (a director still starting) is a valid, lint-clean exposition.
func TestEmptySnapshot(t *testing.T) {
	m := New(&fakeSource{}, BuildInfo{Version: "dev"})
	text := scrape(t, m.Handler())
	mfs := parse(t, text)
	if got, want := series(mfs["vigil_reloads_total"]), []string{`{result="failure"} 0`, `{result="success"} 0`}; !cmp.Equal(got, want) {
		t.Errorf("vigil_reloads_total: got %v, want %v", got, want)
	}
	for _, name := range []string{"vigil_last_reload_timestamp_seconds", "vigil_last_reload_duration_seconds"} {
		if mfs[name] != nil {
			t.Errorf("%s exported without any load", name)
		}
	}
	problems, err := promlint.New(strings.NewReader(text)).Lint()
	if err != nil {
		t.Fatalf("promlint: %v", err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}

func TestCheckLabels(t *testing.T) {
	got := CheckLabels([]status.Check{{Kind: "http"}, {Kind: "tcp"}, {Kind: "http"}, {Kind: "http"}})
	want := []string{"http", "tcp", "http#2", "http#3"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("CheckLabels (-want +got):\n%s", diff)
	}
}

func TestSplitAddrPort(t *testing.T) {
	tests := []struct{ in, addr, port string }{
		{"198.18.0.21:80", "198.18.0.21", "80"},
		{"[2001:db8::1]:443", "2001:db8::1", "443"},
		{"198.18.0.21", "198.18.0.21", "0"},
		{"", "", "0"},
	}
	for _, tt := range tests {
		addr, port := splitAddrPort(tt.in)
		if addr != tt.addr || port != tt.port {
			t.Errorf("splitAddrPort(%q): got %q %q, want %q %q", tt.in, addr, port, tt.addr, tt.port)
		}
	}
}

// Scrapes race with ObserveCheck from the check goroutines.
func TestConcurrentObserveAndScrape(t *testing.T) {
	m := New(&fakeSource{s: richSnapshot()}, BuildInfo{})
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			m.ObserveCheck("web", "rs1", "http", time.Duration(i)*time.Microsecond, i%2 == 0)
			m.ObserveCheck("gone", "x", "tcp", time.Millisecond, true)
		}
	}()
	for range 20 {
		parse(t, scrape(t, m.Handler()))
	}
	close(stop)
	wg.Wait()
}

// BenchmarkScrape1000x4 measures one scrape of 1,000 virtual servers with 4 real servers
// and one check each, the size issue 6 benchmarks the daemon at.
func BenchmarkScrape1000x4(b *testing.B) {
	var s status.Snapshot
	for i := range 1000 {
		vs := status.VirtualServer{
			Name: "vs" + strconv.Itoa(i), Protocol: "tcp", Address: fmt.Sprintf("198.18.%d.%d:80", i/250, i%250+1),
			Scheduler: "wlc", Healthy: 4, Total: 4, QuorumUp: true, Present: true,
		}
		for j := range 4 {
			vs.RealServers = append(vs.RealServers, status.RealServer{
				Name: "rs" + strconv.Itoa(j), Address: fmt.Sprintf("198.19.%d.%d:80", i/250, (i%250)*4/4+j+1),
				Forwarding: "dr", Health: "up", ConfiguredWeight: 1, AppliedWeight: new(1), InTable: true,
				Checks: []status.Check{{Kind: "http", State: "up", Probes: 100}},
			})
		}
		s.VirtualServers = append(s.VirtualServers, vs)
	}
	m := New(&fakeSource{s: s}, BuildInfo{})
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	b.ResetTimer()
	var n int64
	for b.Loop() {
		resp, err := http.Get(srv.URL)
		if err != nil {
			b.Fatal(err)
		}
		c, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		n = c
	}
	b.ReportMetric(float64(n), "bytes/scrape")
}
