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

	// observed remembers which (virtual_server, real_server, check) series the histogram
	// holds, so that a scrape can drop those of real servers a reload removed.
	mu       sync.Mutex
	observed map[checkKey]struct{}
}

type checkKey struct{ vs, rs, check string }

// checkBuckets span a loopback TCP connect (~100µs) to a check that hits a multi-second
// timeout.
var checkBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// New returns the metrics of src on a registry of their own, with the Go runtime and
// process collectors beside them.
func New(src Source, info BuildInfo) *Metrics {
	if info.GoVersion == "" {
		info.GoVersion = runtime.Version()
	}
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		checkDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "vigil_check_duration_seconds",
			Help:    "Duration of health-check probes, by result (ok or fail).",
			Buckets: checkBuckets,
		}, []string{"virtual_server", "real_server", "check", "result"}),
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
// several checks of one kind) on real server rs of virtual server vs.
func (m *Metrics) ObserveCheck(vs, rs, kind string, d time.Duration, ok bool) {
	result := "fail"
	if ok {
		result = "ok"
	}
	m.mu.Lock()
	m.observed[checkKey{vs, rs, kind}] = struct{}{}
	m.mu.Unlock()
	m.checkDuration.WithLabelValues(vs, rs, kind, result).Observe(d.Seconds())
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
		m.checkDuration.DeleteLabelValues(k.vs, k.rs, k.check, "ok")
		m.checkDuration.DeleteLabelValues(k.vs, k.rs, k.check, "fail")
		delete(m.observed, k)
	}
}
