package metrics

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/status"
	"github.com/vigil-lb/vigil/internal/testing/testenv"
)

// largeSnapshot is vss virtual servers of 4 real servers each, every real server in the
// table with traffic and one HTTP check that has run: the 1,000 x 4.
func largeSnapshot(vss int) status.Snapshot { return largeSnapshotOn(vss, "kernel") }

// largeSnapshotOn is largeSnapshot on a data plane: "userspace" adds the failed accepts of
// each virtual server's listener.
func largeSnapshotOn(vss int, dataplane string) status.Snapshot {
	var s status.Snapshot
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	for i := range vss {
		vs := status.VirtualServer{Name: fmt.Sprintf("vs%04d", i), Protocol: "tcp",
			Address: fmt.Sprintf("198.18.%d.%d:80", i/250, i%250+1), Present: true, QuorumUp: true, Total: 4, Healthy: 4,
			Stats: status.Stats{Conns: 123456, InPkts: 9876543, OutPkts: 8765432, InBytes: 1234567890, OutBytes: 2345678901}}
		for j := range 4 {
			w := 1
			vs.RealServers = append(vs.RealServers, status.RealServer{Name: fmt.Sprintf("rs%d", j+1),
				Address: fmt.Sprintf("198.19.%d.%d:8080", i/60, (i%60)*4+j+1), Forwarding: "nat", Health: "up",
				ConfiguredWeight: 1, AppliedWeight: &w, InTable: true, ActiveConns: 12, InactiveConns: 3, AdminState: "ready",
				Stats:  status.Stats{Conns: 30864, InPkts: 2469135, OutPkts: 2191358, InBytes: 308641972, OutBytes: 586419725},
				Checks: []status.Check{{Kind: "http", State: "up", Probes: 86400, Failures: 12, Transitions: 4, LastOK: true, LastAt: now, LastLatency: 1234 * time.Microsecond}}})
		}
		if dataplane == "userspace" {
			vs.AcceptErrors = new(uint64(0))
		}
		s.VirtualServers = append(s.VirtualServers, vs)
	}
	s.Dataplane = dataplane
	return s
}

func largeMetrics(vss int) *Metrics { return largeMetricsOn(vss, "kernel") }

func largeMetricsOn(vss int, dataplane string) *Metrics {
	m := New(&fakeSource{s: largeSnapshotOn(vss, dataplane)}, BuildInfo{Version: "1.0.0"})
	for i := range vss {
		for j := range 4 {
			for _, d := range []time.Duration{800 * time.Microsecond, 3 * time.Millisecond, 40 * time.Millisecond} {
				m.ObserveCheck(fmt.Sprintf("vs%04d", i), fmt.Sprintf("rs%d", j+1), "http", d, true)
			}
			m.ObserveCheck(fmt.Sprintf("vs%04d", i), fmt.Sprintf("rs%d", j+1), "http", 2*time.Second, false)
		}
	}
	return m
}

// scrapeTimed GETs the exposition in the text format, uncompressed (the larger case), and
// returns its size and how long the request took.
func scrapeTimed(tb testing.TB, h http.Handler, encoding string) (int, time.Duration) {
	srv := httptest.NewServer(h)
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	req.Header.Set("Accept-Encoding", encoding)
	start := time.Now()
	resp, err := (&http.Transport{DisableCompression: true}).RoundTrip(req)
	if err != nil {
		tb.Fatal(err)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		tb.Fatal(err)
	}
	return int(n), time.Since(start)
}

// TestLeanPerRealServer: a checked real server costs at most 20 series (issue 18; 34
// before the check histogram moved to the virtual server, 12 before the info series), and
// /metrics for 4,000 of them stays under 4 MB uncompressed (16.8 MB, then 7.05 MB before;
// docs/benchmarks.md), on either data plane. -v logs the bytes of each family, largest
// first.
func TestLeanPerRealServer(t *testing.T) {
	for _, dataplane := range []string{"kernel", "userspace"} {
		t.Run(dataplane, func(t *testing.T) { testLeanPerRealServer(t, dataplane) })
	}
}

func testLeanPerRealServer(t *testing.T, dataplane string) {
	vsCounts := []int{250, 1000}
	if testing.Short() || testenv.Race {
		vsCounts = vsCounts[:1] // 4,000 scraped under the race detector takes a minute
	}
	for _, vss := range vsCounts {
		m := largeMetricsOn(vss, dataplane)
		text := scrape(t, m.Handler())
		perRS := 0
		for l := range strings.Lines(text) {
			if !strings.HasPrefix(l, "#") && strings.Contains(l, `real_server="`) {
				perRS++
			}
		}
		rss := vss * 4
		if perRS/rss > 20 || perRS%rss != 0 {
			t.Errorf("%d real servers: %d series with a real_server label, %.1f each; want at most 20 each", rss, perRS, float64(perRS)/float64(rss))
		}
		size, took := scrapeTimed(t, m.Handler(), "identity")
		gz, gzTook := scrapeTimed(t, m.Handler(), "gzip")
		t.Logf("%d checked real servers: %d series each, /metrics %d bytes (%.2f MB) scraped in %s; gzip %d bytes in %s",
			rss, perRS/rss, size, float64(size)/1e6, took.Round(time.Millisecond), gz, gzTook.Round(time.Millisecond))
		if at4000 := size / rss * 4000; at4000 >= 4e6 {
			t.Errorf("/metrics for %d real servers is %d bytes, %d at 4,000; want under 4 MB at 4,000", rss, size, at4000)
		}
		if vss == 1000 && testing.Verbose() {
			for _, f := range familyBytes(text) {
				t.Logf("%-45s %6d series %9d bytes %6.1f a real server", f.name, f.series, f.bytes, float64(f.bytes)/float64(rss))
			}
		}
	}
}

type familySize struct {
	name          string
	series, bytes int
}

// familyBytes adds up the bytes of each family's series (HELP and TYPE aside), largest
// first: where /metrics goes.
func familyBytes(text string) []familySize {
	by := map[string]*familySize{}
	var out []*familySize
	for l := range strings.Lines(text) {
		if strings.HasPrefix(l, "#") {
			continue
		}
		name := l[:strings.IndexAny(l, "{ ")]
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if base, ok := strings.CutSuffix(name, suffix); ok && strings.HasPrefix(base, "vigil_check_duration") {
				name = base
			}
		}
		f := by[name]
		if f == nil {
			f = &familySize{name: name}
			by[name] = f
			out = append(out, f)
		}
		f.series++
		f.bytes += len(l)
	}
	slices.SortStableFunc(out, func(a, b *familySize) int { return b.bytes - a.bytes })
	sizes := make([]familySize, 0, len(out))
	for _, f := range out {
		if f.bytes >= 1000 {
			sizes = append(sizes, *f)
		}
	}
	return sizes
}

// BenchmarkScrape4000 and BenchmarkScrape1000 are the figures of docs/benchmarks.md: one
// scrape of /metrics for 4,000 and 1,000 checked real servers (1,000 and 250 virtual
// servers of 4), uncompressed, over loopback HTTP.
func BenchmarkScrape4000(b *testing.B) { benchmarkScrape(b, 1000) }

func BenchmarkScrape1000(b *testing.B) { benchmarkScrape(b, 250) }

func benchmarkScrape(b *testing.B, vss int) {
	m := largeMetrics(vss)
	var size int
	for b.Loop() {
		size, _ = scrapeTimed(b, m.Handler(), "identity")
	}
	b.ReportMetric(float64(size), "bytes/scrape")
}
