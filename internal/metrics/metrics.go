// Package metrics exposes a running director to Prometheus, built at scrape time from one
// status.Snapshot plus the check-duration histogram that only events can feed.
//
// Naming follows prometheus.io/docs/practices/naming: a vigil_ prefix, base units
// (seconds, bytes), _total on counters, _info-style build metadata. IPVS series reuse the
// label names of node_exporter's ipvs collector (local_address, local_port, local_mark,
// proto, remote_address, remote_port) so that the two can be joined.
package metrics

import (
	"net/http"
	"runtime"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/vigil-lb/vigil/internal/status"
)

// Source gives the current state of the director. Snapshot is called once per scrape and
// must be safe to call from any goroutine.
type Source interface {
	Snapshot() status.Snapshot
}

// BuildInfo labels vigil_build_info. An empty GoVersion means runtime.Version().
type BuildInfo struct {
	Version   string
	GoVersion string
	Revision  string
}

// Metrics is the Prometheus view of one director. The zero value is not usable: call New.
type Metrics struct {
	reg *prometheus.Registry
	col *collector

	checkDuration *prometheus.HistogramVec

	// observed remembers which (virtual_server, check) series the histogram holds, so
	// that a scrape can drop those of checks a reload removed.
	mu       sync.Mutex
	observed map[checkKey]struct{}
}

type checkKey struct{ vs, check string }

// checkBuckets span a loopback TCP connect (~100µs) to a check that hits a multi-second
// timeout, in few buckets: the histogram is per virtual server.
var checkBuckets = []float64{.001, .005, .025, .1, .5, 2.5}

// New returns the metrics of src on a registry of their own, with the Go runtime and
// process collectors beside them.
func New(src Source, info BuildInfo) *Metrics {
	if info.GoVersion == "" {
		info.GoVersion = runtime.Version()
	}
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		// Per virtual server and check, not per real server and result: 34 series a real
		// server made /metrics 16.8 MB at 4,000 of them (issue 18). A failed probe is
		// counted in vigil_check_failures_total; /status has each real server's latency.
		checkDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "vigil_check_duration_seconds",
			Help:    "Duration of the health-check probes of a virtual server's real servers, by check.",
			Buckets: checkBuckets,
		}, []string{"virtual_server", "check"}),
		observed: make(map[checkKey]struct{}),
	}
	m.col = newCollector(src, info, m)
	m.reg.MustRegister(
		m.col,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// ObserveCheck records one probe of check kind (the check label; see CheckLabels for
// several checks of one kind) on real server rs of virtual server vs, in the histogram of
// vs and kind.
func (m *Metrics) ObserveCheck(vs, rs, kind string, d time.Duration, ok bool) {
	m.mu.Lock()
	m.observed[checkKey{vs, kind}] = struct{}{}
	m.mu.Unlock()
	m.checkDuration.WithLabelValues(vs, kind).Observe(d.Seconds())
}

// Handler serves the registry in the Prometheus exposition formats.
func (m *Metrics) Handler() http.Handler {
	return promhttp.InstrumentMetricHandler(m.reg, promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		// A failing collector must not hide the others: serve what was gathered.
		ErrorHandling: promhttp.ContinueOnError,
		Registry:      m.reg,
	}))
}

// Gatherer is the registry behind Handler, for tests and for embedding in another
// exposition.
func (m *Metrics) Gatherer() prometheus.Gatherer { return m.reg }

// pruneChecks forgets the histogram series of checks the snapshot no longer holds, so a
// real server removed by a reload stops being exported.
func (m *Metrics) pruneChecks(live map[checkKey]struct{}) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k := range m.observed {
		if _, ok := live[k]; ok {
			continue
		}
		m.checkDuration.DeleteLabelValues(k.vs, k.check)
		delete(m.observed, k)
	}
}
