package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-lb/vigil/internal/status"
)

// The IPVS series of services and destinations, node_exporter's, emitted for one service
// or, for a group's virtual server, once per service of the group.

type (
	gaugeFunc   func(d *prometheus.Desc, v float64, labels ...string)
	counterFunc func(d *prometheus.Desc, v uint64, labels ...string)
)

// serviceSeries emits one service's counters; l is virtual_server then the service labels.
func (c *collector) serviceSeries(counter counterFunc, s status.Stats, l []string) {
	counter(c.svcConns, s.Conns, l...)
	counter(c.svcInPkts, s.InPkts, l...)
	counter(c.svcOutPkts, s.OutPkts, l...)
	counter(c.svcInBytes, s.InBytes, l...)
	counter(c.svcOutBytes, s.OutBytes, l...)
}

// backendSeries emits one destination's connections and counters; l is backendLabels.
func (c *collector) backendSeries(gauge gaugeFunc, counter counterFunc, l []string, active, inactive uint32, s status.Stats) {
	gauge(c.beActive, float64(active), l...)
	gauge(c.beInactive, float64(inactive), l...)
	// Packets and bytes per destination are node_exporter's node_ipvs_backend_* (kernel
	// IPVS) and /status's: here they were 4 of a real server's 34 series (issue 18). The
	// services keep theirs.
	counter(c.beConns, s.Conns, l...)
}

// groupSeries emits the series of every service of a group's virtual server and of the
// destinations each holds, labelled with the service's own protocol, address and port (or
// mark), so that they join with node_exporter's node_ipvs_* on the same host.
func (c *collector) groupSeries(vs status.VirtualServer, gauge gaugeFunc, counter counterFunc) {
	for _, s := range vs.Services {
		if !s.Present {
			continue
		}
		svc := serviceLabelValues(s.FWMark, s.Protocol, s.Address)
		c.serviceSeries(counter, s.Stats, append([]string{vs.Name}, svc...))
		for _, d := range s.Destinations {
			if d.InTable {
				l := append(append([]string{vs.Name, d.RealServer}, svc...), remoteLabelValues(d.Address)...)
				c.backendSeries(gauge, counter, l, d.ActiveConns, d.InactiveConns, d.Stats)
			}
		}
	}
}
