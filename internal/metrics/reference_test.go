package metrics

import (
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-lb/vigil/internal/status"
)

// The client_golang collector /metrics was built with before the exposition was written
// directly (docs/benchmarks.md): kept as the reference the new output is compared with.

// Label sets. The IPVS ones take node_exporter's names (collector/ipvs_linux.go) so that
// vigil_ipvs_backend_* joins with node_ipvs_backend_* on the same host.
var (
	vsLabels         = []string{"virtual_server"}
	rsLabels         = []string{"virtual_server", "real_server"}
	checkLabels      = []string{"virtual_server", "real_server", "check"}
	refServiceLabels = []string{"virtual_server", "proto", "local_address", "local_port", "local_mark"}
	backendLabels    = []string{"virtual_server", "real_server", "proto", "local_address", "local_port", "local_mark", "remote_address", "remote_port"}
	vrrpLabels       = []string{"instance", "interface", "vrid"}
)

func desc(name, help string, labels []string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

// collector turns one Snapshot into const metrics per scrape: the director keeps its own
// counters, so nothing here holds state that could drift from /status.
type collector struct {
	src  Source
	info BuildInfo
	m    *Metrics

	buildInfo *prometheus.Desc

	checkUp, checkTransitions, checkProbes, checkFailures *prometheus.Desc

	rsHealthy, rsWeight, rsAppliedWeight, rsInTable, rsAdmin *prometheus.Desc

	vsHealthy, vsTotal, vsQuorumUp, vsInTable, vsMH *prometheus.Desc

	svcConns, svcInPkts, svcOutPkts, svcInBytes, svcOutBytes *prometheus.Desc
	beActive, beInactive                                     *prometheus.Desc
	beConns                                                  *prometheus.Desc

	vrrpState, vrrpPriority, vrrpEffPriority, vrrpTransitions *prometheus.Desc
	ipvsSync                                                  *prometheus.Desc
	vrrpSent, vrrpReceived, vrrpInvalid                       *prometheus.Desc

	reloads, lastReloadTime, lastReloadOK, generation     *prometheus.Desc
	lastReloadDuration                                    *prometheus.Desc
	ipvsWrites, ipvsWriteErrors, ipvsRepairs, ipvsResyncs *prometheus.Desc
	startTime                                             *prometheus.Desc
}

func newCollector(src Source, info BuildInfo, m *Metrics) *collector {
	return &collector{
		src: src, info: info, m: m,

		buildInfo: desc("vigil_build_info", "A constant 1 labelled with the version of vigil that runs.", []string{"version", "goversion", "revision"}),

		checkUp:          desc("vigil_check_up", "1 when the health check passes after rise/fall, else 0.", checkLabels),
		checkTransitions: desc("vigil_check_transitions_total", "Health-check state changes (up to down or down to up).", checkLabels),
		checkProbes:      desc("vigil_check_probes_total", "Health-check probes run.", checkLabels),
		checkFailures:    desc("vigil_check_failures_total", "Health-check probes that failed.", checkLabels),

		rsHealthy:       desc("vigil_real_server_healthy", "1 when every check of the real server is up (a real server without checks is always up).", rsLabels),
		rsWeight:        desc("vigil_real_server_weight", "Weight of the real server in the configuration.", rsLabels),
		rsAppliedWeight: desc("vigil_real_server_applied_weight", "Weight of the real server in the IPVS table (0 while quiesced); absent when it is not in the table.", rsLabels),
		rsInTable:       desc("vigil_real_server_in_table", "1 when the IPVS table holds the real server as a destination.", rsLabels),
		rsAdmin: desc("vigil_real_server_admin_state", "A constant 1 labelled with the real server's administrative state: ready (the weight follows health), drain or maint (vigil drain / maint / ready).",
			append(append([]string(nil), rsLabels...), "state")),

		vsHealthy:  desc("vigil_virtual_server_healthy_real_servers", "Real servers of the virtual server that are up.", vsLabels),
		vsTotal:    desc("vigil_virtual_server_real_servers", "Real servers configured for the virtual server.", vsLabels),
		vsQuorumUp: desc("vigil_virtual_server_quorum_up", "1 when the virtual server has its quorum of healthy real servers.", vsLabels),
		vsInTable:  desc("vigil_virtual_server_in_table", "1 when the IPVS table holds the virtual server as a service.", vsLabels),
		vsMH: desc("vigil_ipvs_mh_fingerprint", "A constant 1 labelled with the fingerprint of the Maglev table of the virtual server's mh service: equal on directors that pick the same real server for every client.",
			append(append([]string(nil), vsLabels...), "fingerprint")),

		svcConns:    desc("vigil_ipvs_service_connections_total", "Connections scheduled by the IPVS service.", refServiceLabels),
		svcInPkts:   desc("vigil_ipvs_service_incoming_packets_total", "Packets received by the IPVS service.", refServiceLabels),
		svcOutPkts:  desc("vigil_ipvs_service_outgoing_packets_total", "Packets sent by the IPVS service.", refServiceLabels),
		svcInBytes:  desc("vigil_ipvs_service_incoming_bytes_total", "Bytes received by the IPVS service.", refServiceLabels),
		svcOutBytes: desc("vigil_ipvs_service_outgoing_bytes_total", "Bytes sent by the IPVS service.", refServiceLabels),

		beActive:   desc("vigil_ipvs_backend_connections_active", "Active (established) connections of the IPVS destination.", backendLabels),
		beInactive: desc("vigil_ipvs_backend_connections_inactive", "Inactive connections of the IPVS destination.", backendLabels),
		beConns:    desc("vigil_ipvs_backend_connections_total", "Connections scheduled to the IPVS destination.", backendLabels),

		vrrpState:       desc("vigil_vrrp_state", "VRRP state as the keepalived exporters number it: 0 init, 1 backup, 2 master, 3 fault.", vrrpLabels),
		vrrpPriority:    desc("vigil_vrrp_priority", "Configured VRRP priority.", vrrpLabels),
		vrrpEffPriority: desc("vigil_vrrp_effective_priority", "VRRP priority after tracking adjustments, as advertised.", vrrpLabels),
		vrrpTransitions: desc("vigil_vrrp_transitions_total", "VRRP state changes.", vrrpLabels),
		vrrpSent:        desc("vigil_vrrp_adverts_sent_total", "VRRP advertisements sent.", vrrpLabels),
		vrrpReceived:    desc("vigil_vrrp_adverts_received_total", "VRRP advertisements received.", vrrpLabels),
		vrrpInvalid:     desc("vigil_vrrp_adverts_dropped_total", "VRRP advertisements dropped, by reason (authentication, ttl, checksum, ...).", append(append([]string(nil), vrrpLabels...), "reason")),
		ipvsSync: desc("vigil_ipvs_sync_daemon", "1 for the kernel IPVS connection-sync daemons an instance or the top-level ipvs_sync block runs (role master, backup, master+backup, none when stopped), 0 while the last attempt to set them failed.",
			append(append([]string(nil), vrrpLabels...), "role")),

		reloads:            desc("vigil_reloads_total", "Configuration reloads, by result (success or failure).", []string{"result"}),
		lastReloadTime:     desc("vigil_last_reload_timestamp_seconds", "Unix time of the last reload attempt (of the initial load before any reload).", nil),
		lastReloadOK:       desc("vigil_last_reload_success", "1 when the last reload attempt (or the initial load) succeeded.", nil),
		lastReloadDuration: desc("vigil_last_reload_duration_seconds", "Time the last reload took to apply (validation excluded); absent before the first reload.", nil),
		generation:         desc("vigil_config_generation", "Generation of the running configuration: 1 after the first load, +1 per successful reload.", nil),
		ipvsWrites:         desc("vigil_ipvs_writes_total", "Add, update and delete operations the IPVS table accepted.", nil),
		ipvsWriteErrors:    desc("vigil_ipvs_write_errors_total", "IPVS table operations that failed.", nil),
		ipvsRepairs:        desc("vigil_ipvs_resync_repairs_total", "Drift in the IPVS table repaired by the periodic resync (e.g. after ipvsadm -C).", nil),
		ipvsResyncs:        desc("vigil_ipvs_resyncs_total", "Periodic comparisons of the IPVS table with the desired state.", nil),
		startTime:          desc("vigil_start_time_seconds", "Unix time the director started.", nil),
	}
}

func (c *collector) descs() []*prometheus.Desc {
	return []*prometheus.Desc{
		c.buildInfo,
		c.checkUp, c.checkTransitions, c.checkProbes, c.checkFailures,
		c.rsHealthy, c.rsWeight, c.rsAppliedWeight, c.rsInTable, c.rsAdmin,
		c.vsHealthy, c.vsTotal, c.vsQuorumUp, c.vsInTable, c.vsMH,
		c.svcConns, c.svcInPkts, c.svcOutPkts, c.svcInBytes, c.svcOutBytes,
		c.beActive, c.beInactive, c.beConns,
		c.vrrpState, c.vrrpPriority, c.vrrpEffPriority, c.vrrpTransitions, c.vrrpSent, c.vrrpReceived, c.vrrpInvalid,
		c.ipvsSync,
		c.reloads, c.lastReloadTime, c.lastReloadOK, c.lastReloadDuration, c.generation,
		c.ipvsWrites, c.ipvsWriteErrors, c.ipvsRepairs, c.ipvsResyncs, c.startTime,
	}
}

// Describe implements prometheus.Collector.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs() {
		ch <- d
	}

}

// Collect implements prometheus.Collector from a single snapshot, so every series of one
// scrape describes the same instant.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	s := c.src.Snapshot()
	emit := func(d *prometheus.Desc, t prometheus.ValueType, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, t, v, labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) { emit(d, prometheus.GaugeValue, v, labels...) }
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		emit(d, prometheus.CounterValue, float64(v), labels...)
	}

	gauge(c.buildInfo, 1, c.info.Version, c.info.GoVersion, c.info.Revision)

	live := make(map[checkKey]struct{})
	for _, vs := range s.VirtualServers {
		gauge(c.vsHealthy, float64(vs.Healthy), vs.Name)
		gauge(c.vsTotal, float64(vs.Total), vs.Name)
		gauge(c.vsQuorumUp, b2f(vs.QuorumUp), vs.Name)
		gauge(c.vsInTable, b2f(vs.Present), vs.Name)
		if vs.MHFingerprint != "" {
			gauge(c.vsMH, 1, vs.Name, vs.MHFingerprint)
		}

		svc := serviceLabelValues(vs.FWMark, vs.Protocol, vs.Address)
		switch {
		case len(vs.Services) > 0:
			// A group's virtual server: each IPVS service and its destinations on their own.
			c.groupSeries(vs, gauge, counter)
		case vs.Present:
			c.serviceSeries(counter, vs.Stats, append([]string{vs.Name}, svc...))
		}

		for _, rs := range vs.RealServers {
			gauge(c.rsHealthy, b2f(rs.Health == "up"), vs.Name, rs.Name)
			gauge(c.rsWeight, float64(rs.ConfiguredWeight), vs.Name, rs.Name)
			gauge(c.rsInTable, b2f(rs.InTable), vs.Name, rs.Name)
			gauge(c.rsAdmin, 1, vs.Name, rs.Name, orReady(rs.AdminState))
			if rs.InTable && rs.AppliedWeight != nil {
				gauge(c.rsAppliedWeight, float64(*rs.AppliedWeight), vs.Name, rs.Name)
			}
			if rs.InTable && len(vs.Services) == 0 {
				l := append(append([]string{vs.Name, rs.Name}, svc...), remoteLabelValues(rs.Address)...)
				c.backendSeries(gauge, counter, l, rs.ActiveConns, rs.InactiveConns, rs.Stats)
			}
			for i, name := range CheckLabels(rs.Checks) {
				ck := rs.Checks[i]
				live[checkKey{vs.Name, name}] = struct{}{}
				gauge(c.checkUp, b2f(ck.State == "up"), vs.Name, rs.Name, name)
				counter(c.checkTransitions, ck.Transitions, vs.Name, rs.Name, name)
				counter(c.checkProbes, ck.Probes, vs.Name, rs.Name, name)
				counter(c.checkFailures, ck.Failures, vs.Name, rs.Name, name)
			}
		}
	}
	_ = live

	for _, vi := range s.VRRP {
		l := []string{vi.Name, vi.Interface, strconv.Itoa(vi.VRID)}
		if n, ok := status.VRRPStateNumber[strings.ToLower(vi.State)]; ok {
			gauge(c.vrrpState, float64(n), l...)
		}
		gauge(c.vrrpPriority, float64(vi.BasePriority), l...)
		gauge(c.vrrpEffPriority, float64(vi.EffectivePriority), l...)
		counter(c.vrrpTransitions, vi.Transitions, l...)
		counter(c.vrrpSent, vi.AdvertsSent, l...)
		counter(c.vrrpReceived, vi.AdvertsReceived, l...)
		for reason, n := range vi.Invalid {
			counter(c.vrrpInvalid, n, append(l[:3:3], reason)...)
		}
		if sy := vi.IPVSSync; sy != nil {
			gauge(c.ipvsSync, b2f(sy.Error == ""), append(l[:3:3], sy.Daemon)...)
		}
	}
	if sy := s.IPVSSync; sy != nil {
		gauge(c.ipvsSync, b2f(sy.Error == ""), "", sy.Interface, "", sy.Daemon)
	}

	cs := s.Config
	counter(c.reloads, cs.ReloadsOK, "success")
	counter(c.reloads, cs.ReloadsFailed, "failure")
	// Before any reload the initial load stands in for the last one: the daemon would not be
	// running had it failed, and an absent series would break "time since reload" alerts.
	lastAt, lastOK := cs.LastReloadAt, cs.LastReloadOK == nil || *cs.LastReloadOK
	if lastAt.IsZero() {
		lastAt = cs.LoadedAt
	}
	if !lastAt.IsZero() {
		gauge(c.lastReloadTime, unixSeconds(lastAt))
	}
	gauge(c.lastReloadOK, b2f(lastOK))
	if !cs.LastReloadAt.IsZero() {
		gauge(c.lastReloadDuration, cs.LastReloadDuration.Seconds())
	}
	gauge(c.generation, float64(cs.Generation))

	counter(c.ipvsWrites, s.IPVS.Writes)
	counter(c.ipvsWriteErrors, s.IPVS.WriteErrors)
	counter(c.ipvsRepairs, s.IPVS.Repairs)
	counter(c.ipvsResyncs, s.IPVS.Resyncs)
	if !s.Started.IsZero() {
		gauge(c.startTime, unixSeconds(s.Started))
	}
}

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
