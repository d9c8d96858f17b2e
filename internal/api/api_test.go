package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/vigil-lb/vigil/internal/metrics"
	"github.com/vigil-lb/vigil/internal/status"
)

const plantedSecret = "s3cr3t-Hunter2"

type fakeDirector struct {
	mu     sync.Mutex
	snap   status.Snapshot
	health error
}

func (f *fakeDirector) Snapshot() status.Snapshot {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.snap
}

func (f *fakeDirector) Healthy() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.health
}

var t0 = time.Date(2026, 11, 22, 17, 0, 0, 0, time.UTC)

func snapshot() status.Snapshot {
	return status.Snapshot{
		Version: "1.2.3", RouterID: "lb-a", Dataplane: "kernel", Started: t0,
		Config: status.ConfigStatus{
			Path: "/etc/vigil/vigil.hcl", Generation: 2, LoadedAt: t0.Add(time.Minute),
			ReloadsOK: 1, LastReloadAt: t0.Add(time.Minute), LastReloadOK: new(true),
			LastReloadDiff: []string{"+ real_server web/rs3 198.18.0.23:80 weight 1"},
		},
		VirtualServers: []status.VirtualServer{{
			Name: "web", Key: "TCP 198.18.0.254:80", Protocol: "tcp", Address: "198.18.0.254:80",
			Family: "inet", Scheduler: "wrr", Flags: []string{"sh-port"}, Persistence: "300s", OnFailure: "quiesce",
			Healthy: 1, Total: 2, QuorumUp: true, Present: true, Stats: status.Stats{Conns: 5, InBytes: 1 << 33},
			RealServers: []status.RealServer{
				{Name: "rs1", Address: "198.18.0.21:80", Forwarding: "dr", Health: "up", ConfiguredWeight: 3, AppliedWeight: new(3), InTable: true, ActiveConns: 2, InactiveConns: 7, Stats: status.Stats{Conns: 5},
					Checks: []status.Check{{Kind: "http", State: "up", LastOK: true, LastLatency: 1500 * time.Microsecond,
						LastAt: t0.Add(90 * time.Second), Probes: 10, Interval: 2 * time.Second, Timeout: time.Second, Rise: 2, Fall: 3}}},
				{Name: "db", Address: "198.18.0.22:80", Forwarding: "dr", Health: "down", ConfiguredWeight: 1, InTable: false,
					Checks: []status.Check{{Kind: "mysql", State: "down", LastReason: "Error 1045: Access denied for user 'monitor'", Probes: 10, Failures: 10, Transitions: 0}}},
			},
		}},
		VRRP: []status.VRRPInstance{{
			Name: "VI_1", Interface: "eth0", VRID: 51, Version: 3, State: "backup", BasePriority: 100, EffectivePriority: 100,
			MasterAddr: "198.18.0.12", VIPs: []string{"198.18.0.254/24"}, Invalid: map[string]uint64{"ttl": 1},
			Tracked: []status.Tracked{{Kind: "virtual_server", Name: "web", Up: true, Weight: -60}},
		}},
		IPVS:     status.IPVSCounters{Writes: 9, Resyncs: 3, LastResyncAt: t0.Add(2 * time.Minute)},
		Warnings: []string{"something to look at"},
	}
}

func newTestAPI(t *testing.T) (*fakeDirector, *httptest.Server) {
	t.Helper()
	d := &fakeDirector{snap: snapshot()}
	m := metrics.New(d, metrics.BuildInfo{Version: "1.2.3"})
	srv := httptest.NewServer(New(d, m, slog.New(slog.DiscardHandler)))
	t.Cleanup(srv.Close)
	return d, srv
}

func do(t *testing.T, method, url string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, url, err)
	}
	return resp.StatusCode, resp.Header, string(body)
}

func TestStatusRoundTrip(t *testing.T) {
	d, srv := newTestAPI(t)
	code, hdr, body := do(t, http.MethodGet, srv.URL+"/status")
	if code != http.StatusOK {
		t.Fatalf("GET /status: status %d, body %s", code, body)
	}
	if ct := hdr.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type: got %q, want application/json", ct)
	}
	if !strings.Contains(body, "\n  \"version\": ") {
		t.Errorf("/status is not indented:\n%s", body)
	}
	var got status.Snapshot
	dec := json.NewDecoder(strings.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("decode /status: %v", err)
	}
	if diff := cmp.Diff(d.Snapshot(), got); diff != "" {
		t.Errorf("/status round trip (-want +got):\n%s", diff)
	}
	for _, bad := range []string{plantedSecret, "password"} {
		if strings.Contains(strings.ToLower(body), strings.ToLower(bad)) {
			t.Errorf("/status contains %q", bad)
		}
	}
}

func TestMetricsEndpoint(t *testing.T) {
	_, srv := newTestAPI(t)
	code, _, body := do(t, http.MethodGet, srv.URL+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("GET /metrics: status %d", code)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	if mfs["vigil_real_server_healthy"] == nil || mfs["vigil_vrrp_state"] == nil {
		t.Errorf("/metrics lacks vigil series:\n%s", body)
	}
	problems, err := promlint.New(strings.NewReader(body)).Lint()
	if err != nil {
		t.Fatalf("promlint: %v", err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
	for _, bad := range []string{plantedSecret, "password"} {
		if strings.Contains(strings.ToLower(body), strings.ToLower(bad)) {
			t.Errorf("/metrics contains %q", bad)
		}
	}
}

func TestMethods(t *testing.T) {
	_, srv := newTestAPI(t)
	tests := []struct {
		method, path string
		want         int
	}{
		{http.MethodGet, "/status", 200},
		{http.MethodHead, "/status", 200},
		{http.MethodGet, "/metrics", 200},
		{http.MethodHead, "/metrics", 200},
		{http.MethodGet, "/healthz", 200},
		{http.MethodHead, "/healthz", 200},
		{http.MethodGet, "/", 200},
		{http.MethodPost, "/status", 405},
		{http.MethodPut, "/status", 405},
		{http.MethodDelete, "/status", 405},
		{http.MethodPost, "/metrics", 405},
		{http.MethodPost, "/healthz", 405},
		{http.MethodPatch, "/healthz", 405},
		{http.MethodGet, "/nope", 404},
		{http.MethodGet, "/status/extra", 404},
	}
	for _, tt := range tests {
		code, hdr, body := do(t, tt.method, srv.URL+tt.path)
		if code != tt.want {
			t.Errorf("%s %s: got %d, want %d (body %q)", tt.method, tt.path, code, tt.want, body)
		}
		if code == 405 && hdr.Get("Allow") != "GET, HEAD" {
			t.Errorf("%s %s: Allow %q, want \"GET, HEAD\"", tt.method, tt.path, hdr.Get("Allow"))
		}
		if tt.method == http.MethodHead && body != "" {
			t.Errorf("HEAD %s: got a body of %d bytes", tt.path, len(body))
		}
	}
}

func TestHealthz(t *testing.T) {
	d, srv := newTestAPI(t)
	tests := []struct {
		health   error
		wantCode int
		wantBody string
	}{
		{nil, 200, "ok\n"},
		{errors.New("shutting down"), 503, "unhealthy: shutting down\n"},
		{nil, 200, "ok\n"},
	}
	for _, tt := range tests {
		d.mu.Lock()
		d.health = tt.health
		d.mu.Unlock()
		code, _, body := do(t, http.MethodGet, srv.URL+"/healthz")
		if code != tt.wantCode || body != tt.wantBody {
			t.Errorf("health %v: got %d %q, want %d %q", tt.health, code, body, tt.wantCode, tt.wantBody)
		}
	}
}

func TestNilMetrics(t *testing.T) {
	d := &fakeDirector{snap: snapshot()}
	srv := httptest.NewServer(New(d, nil, slog.New(slog.DiscardHandler)))
	defer srv.Close()
	if code, _, _ := do(t, http.MethodGet, srv.URL+"/metrics"); code != 404 {
		t.Errorf("GET /metrics without metrics: got %d, want 404", code)
	}
}

func TestServeShutsDownOnCancel(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	d := &fakeDirector{snap: snapshot()}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ServeListener(ctx, ln, New(d, nil, log), log) }()

	if code, _, body := do(t, http.MethodGet, "http://"+addr+"/healthz"); code != 200 {
		t.Fatalf("GET /healthz: %d %q", code, body)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("ServeListener after cancel: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("ServeListener did not return after cancel")
	}
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Errorf("still accepting on %s after shutdown", addr)
	}
}

func TestServeListenError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	err = Serve(context.Background(), ln.Addr().String(), http.NotFoundHandler(), slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "listen for the API on "+ln.Addr().String()) {
		t.Fatalf("Serve on a busy port: got %v, want a listen error naming the address", err)
	}
}
