// Package metrics exposes a running director to Prometheus, built at scrape time from one
// status.Snapshot plus the check-duration summary that only events can feed.
//
// Naming follows prometheus.io/docs/practices/naming: a vigil_ prefix, base units
// (seconds, bytes), _total on counters, _info-style metadata. A real server's series carry
// only virtual_server and real_server; vigil_real_server_info carries, once per IPVS
// destination, node_exporter's ipvs labels (local_address, local_port, local_mark, proto,
// remote_address, remote_port, valued as node_exporter values them) so that
// node_ipvs_backend_* join with vigil's names. The budget is issue 18's: /metrics for
// 4,000 checked real servers under 4 MB (TestLeanPerRealServer).
package metrics

import (
	"bytes"
	"compress/gzip"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

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
	src  Source
	info BuildInfo

	// reg holds what client_golang keeps best: the check histogram, the Go runtime and
	// process collectors and the handler's own counters. The snapshot's families are
	// written by w.
	reg *prometheus.Registry

	checkDuration *prometheus.SummaryVec

	// scrapeMu serialises scrapes over w and out, reused from one to the next.
	scrapeMu   sync.Mutex
	w          *writer
	out        []byte
	liveChecks int // the last scrape's (virtual_server, check) pairs, to size the next

	// observed remembers which (virtual_server, check) series the histogram holds, so
	// that a scrape can drop those of checks a reload removed.
	mu       sync.Mutex
	observed map[checkKey]struct{}
}

type checkKey struct{ vs, check string }

// New returns the metrics of src on a registry of their own, with the Go runtime and
// process collectors beside them.
func New(src Source, info BuildInfo) *Metrics {
	if info.GoVersion == "" {
		info.GoVersion = runtime.Version()
	}
	m := &Metrics{
		src: src, info: info,
		reg: prometheus.NewRegistry(),
		// Per virtual server and check, not per real server and result: 34 series a real
		// server made /metrics 16.8 MB at 4,000 of them (issue 18). A summary without
		// quantiles (sum and count: the mean and the probe rate) rather than a histogram:
		// a histogram of 6 buckets per virtual server was 190 bytes a real server, a fifth
		// of the 1,000 that /metrics under 4 MB leaves. /status has each real server's
		// latency.
		checkDuration: prometheus.NewSummaryVec(prometheus.SummaryOpts{
			Name: "vigil_check_duration_seconds",
			Help: "Duration of the health-check probes of a virtual server's real servers, by check: the sum and the count of probes run.",
		}, []string{"virtual_server", "check"}),
		w:        newWriter(),
		observed: make(map[checkKey]struct{}),
	}
	m.reg.MustRegister(
		m.checkDuration,
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

// Handler serves the exposition in the Prometheus text format (0.0.4), gzipped when the
// scraper accepts it, as Prometheus does.
func (m *Metrics) Handler() http.Handler {
	return promhttp.InstrumentMetricHandler(m.reg, http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		m.scrapeMu.Lock()
		defer m.scrapeMu.Unlock()
		m.out = m.exposition(m.out[:0])
		h := rw.Header()
		h.Set("Content-Type", string(expfmt.NewFormat(expfmt.TypeTextPlain)))
		if gzipAccepted(r.Header.Get("Accept-Encoding")) {
			h.Set("Content-Encoding", "gzip")
			h.Add("Vary", "Accept-Encoding")
			gz, _ := gzip.NewWriterLevel(rw, gzip.BestSpeed)
			_, _ = gz.Write(m.out)
			_ = gz.Close()
			return
		}
		_, _ = rw.Write(m.out)
	}))
}

func gzipAccepted(header string) bool {
	for part := range strings.SplitSeq(header, ",") {
		enc, _, _ := strings.Cut(part, ";")
		if strings.TrimSpace(enc) == "gzip" {
			return true
		}
	}
	return false
}

// exposition appends the whole exposition of one instant to b: the snapshot's families and
// the registry's, each family once, in name order.
func (m *Metrics) exposition(b []byte) []byte {
	s := m.src.Snapshot()
	live := make(map[checkKey]struct{}, m.liveChecks)
	m.w.fill(&s, m.info, func(k checkKey) { live[k] = struct{}{} })
	m.liveChecks = len(live)
	m.pruneChecks(live)

	// A failing collector must not hide the others: what was gathered is served.
	gathered, _ := m.reg.Gather()
	var enc bytes.Buffer
	own := m.w.all
	for _, mf := range gathered {
		for len(own) > 0 && own[0].name < mf.GetName() {
			b = own[0].appendTo(b)
			own = own[1:]
		}
		enc.Reset()
		if _, err := expfmt.MetricFamilyToText(&enc, mf); err == nil {
			b = append(b, enc.Bytes()...)
		}
	}
	for _, f := range own {
		b = f.appendTo(b)
	}
	return b
}

// Gatherer is the whole exposition as metric families, for tests and for embedding in
// another exposition.
func (m *Metrics) Gatherer() prometheus.Gatherer {
	return prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
		m.scrapeMu.Lock()
		m.out = m.exposition(m.out[:0])
		text := bytes.Clone(m.out)
		m.scrapeMu.Unlock()
		p := expfmt.NewTextParser(model.UTF8Validation)
		fams, err := p.TextToMetricFamilies(bytes.NewReader(text))
		if err != nil {
			return nil, err
		}
		out := make([]*dto.MetricFamily, 0, len(fams))
		for _, mf := range fams {
			out = append(out, mf)
		}
		slices.SortFunc(out, func(a, b *dto.MetricFamily) int { return strings.Compare(a.GetName(), b.GetName()) })
		return out, nil
	})
}

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
