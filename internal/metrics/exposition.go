package metrics

import (
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/vigil-lb/vigil/internal/status"
)

// The vigil_* families are written as text exposition (format 0.0.4) straight from one
// snapshot: one pass over it, one reused buffer per family, no per-series objects.
// client_golang's const-metric path (a Desc lookup, label validation and a sort per series,
// then its encoder) cost about half a millisecond per real server (docs/benchmarks.md).

// family is one metric family being written: its HELP and TYPE and the series so far.
type family struct {
	name, help, typ string
	buf             []byte
	series          int
}

// label is one name="value" pair; labels of a series are given sorted by name, as
// client_golang writes them.
type label struct{ name, value string }

// add appends one series, labels escaped per the text format. A label with an empty
// value is left out: Prometheus stores an empty label as no label, so local_mark="" (as
// node_exporter writes it) and no local_mark select and join alike, and the bytes are saved.
func (f *family) add(v float64, labels ...label) {
	f.series++
	f.buf = append(f.buf, f.name...)
	first := true
	for _, l := range labels {
		if l.value == "" {
			continue
		}
		if first {
			f.buf = append(f.buf, '{')
			first = false
		} else {
			f.buf = append(f.buf, ',')
		}
		f.buf = append(f.buf, l.name...)
		f.buf = append(f.buf, '=', '"')
		f.buf = appendEscaped(f.buf, l.value, true)
		f.buf = append(f.buf, '"')
	}
	if !first {
		f.buf = append(f.buf, '}')
	}
	f.buf = append(f.buf, ' ')
	f.buf = appendValue(f.buf, v)
	f.buf = append(f.buf, '\n')
}

// addUint appends a counter series; integers are written as such (1234567890, not
// 1.23456789e+09), which parses to the same float64.
func (f *family) addUint(v uint64, labels ...label) {
	f.add(float64(v), labels...)
}

// appendTo writes the family, HELP and TYPE once, when it holds any series.
func (f *family) appendTo(b []byte) []byte {
	if f.series == 0 {
		return b
	}
	b = append(b, "# HELP "...)
	b = append(b, f.name...)
	b = append(b, ' ')
	b = appendEscaped(b, f.help, false)
	b = append(b, "\n# TYPE "...)
	b = append(b, f.name...)
	b = append(b, ' ')
	b = append(b, f.typ...)
	b = append(b, '\n')
	return append(b, f.buf...)
}

func (f *family) reset() { f.buf, f.series = f.buf[:0], 0 }

// appendEscaped escapes s as the text format asks: backslash and line feed always, the
// double quote inside a label value.
func appendEscaped(b []byte, s string, quote bool) []byte {
	// A byte loop, not strings.ContainsAny: it was a fifth of a scrape's CPU.
	i := 0
	for i < len(s) && s[i] != '\\' && s[i] != '\n' && s[i] != '"' {
		i++
	}
	if i == len(s) {
		return append(b, s...)
	}
	b = append(b, s[:i]...)
	for ; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\':
			b = append(b, '\\', '\\')
		case c == '\n':
			b = append(b, '\\', 'n')
		case c == '"' && quote:
			b = append(b, '\\', '"')
		default:
			b = append(b, c)
		}
	}
	return b
}

// appendValue writes v the way the text format spells it: +Inf, -Inf, NaN, integers
// without an exponent up to 2^53, else the shortest representation.
func appendValue(b []byte, v float64) []byte {
	switch {
	case math.IsInf(v, 1):
		return append(b, "+Inf"...)
	case math.IsInf(v, -1):
		return append(b, "-Inf"...)
	case math.IsNaN(v):
		return append(b, "NaN"...)
	case v == math.Trunc(v) && math.Abs(v) <= 1<<53:
		return strconv.AppendInt(b, int64(v), 10)
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}

// writer holds the vigil_* families of one exposition; reused from scrape to scrape.
type writer struct {
	buildInfo, startTime *family

	checkTransitions, checkFailures *family

	rsInfo, rsHealthy, rsAdmin *family

	vsHealthy, vsTotal, vsQuorumUp, vsInTable, vsMH *family

	svcConns, svcInPkts, svcOutPkts, svcInBytes, svcOutBytes *family
	beActive, beInactive, beWeight                           *family
	acceptErrors, acceptsPaused                              *family

	vrrpState, vrrpPriority, vrrpEffPriority, vrrpTransitions *family
	vrrpSent, vrrpReceived, vrrpInvalid, ipvsSync             *family

	reloads, lastReloadTime, lastReloadOK, lastReloadDuration, generation *family
	ipvsWrites, ipvsWriteErrors, ipvsRepairs, ipvsResyncs                 *family

	bgp bgpFamilies

	all []*family // sorted by name

	failures []checkCount // one virtual server's, by check
}

// checkCount is the failures of one check label over a virtual server's real servers.
type checkCount struct {
	check string
	n     uint64
}

func addFailures(cs []checkCount, check string, n uint64) []checkCount {
	for i := range cs {
		if cs[i].check == check {
			cs[i].n += n
			return cs
		}
	}
	return append(cs, checkCount{check, n})
}

func newWriter() *writer {
	w := &writer{}
	f := func(name, typ, help string) *family {
		fam := &family{name: name, help: help, typ: typ}
		w.all = append(w.all, fam)
		return fam
	}
	const g, c = "gauge", "counter"
	w.buildInfo = f("vigil_build_info", g, "A constant 1 labelled with the version of vigil that runs.")
	w.checkTransitions = f("vigil_check_transitions_total", c, "Health-check state changes (up to down or down to up).")
	w.checkFailures = f("vigil_check_failures_total", c, "Health-check probes of the virtual server's real servers that failed, by check.")
	w.rsInfo = f("vigil_real_server_info", g, "A constant 1 per IPVS destination the configuration defines, labelled with node_exporter's ipvs backend labels, to join vigil's virtual_server and real_server with node_ipvs_backend_*.")
	w.rsHealthy = f("vigil_real_server_healthy", g, "1 when every check of the real server is up (a real server without checks is always up).")
	w.rsAdmin = f("vigil_real_server_admin_state", g, "A constant 1 labelled with the real server's administrative state: ready (the weight follows health), drain or maint (vigil drain / maint / ready).")
	w.vsHealthy = f("vigil_virtual_server_healthy_real_servers", g, "Real servers of the virtual server that are up.")
	w.vsTotal = f("vigil_virtual_server_real_servers", g, "Real servers configured for the virtual server.")
	w.vsQuorumUp = f("vigil_virtual_server_quorum_up", g, "1 when the virtual server has its quorum of healthy real servers.")
	w.vsInTable = f("vigil_virtual_server_in_table", g, "1 when the IPVS table holds the virtual server as a service.")
	w.vsMH = f("vigil_ipvs_mh_fingerprint", g, "A constant 1 labelled with the fingerprint of the Maglev table of the virtual server's mh service: equal on directors that pick the same real server for every client.")
	w.svcConns = f("vigil_ipvs_service_connections_total", c, "Connections scheduled by the IPVS service.")
	w.svcInPkts = f("vigil_ipvs_service_incoming_packets_total", c, "Packets received by the IPVS service.")
	w.svcOutPkts = f("vigil_ipvs_service_outgoing_packets_total", c, "Packets sent by the IPVS service.")
	w.svcInBytes = f("vigil_ipvs_service_incoming_bytes_total", c, "Bytes received by the IPVS service.")
	w.svcOutBytes = f("vigil_ipvs_service_outgoing_bytes_total", c, "Bytes sent by the IPVS service.")
	w.acceptErrors = f("vigil_userspace_accept_errors_total", c, "Failed accepts on the userspace data plane's listeners of the virtual server (EMFILE, ENFILE, ENOBUFS, ENOMEM, ...), each of which paused accepting.")
	w.acceptsPaused = f("vigil_userspace_accepts_paused", g, "1 while a userspace data plane's listener of the virtual server pauses its accepts after a failed one (on at least one of its event loops).")
	w.beActive = f("vigil_ipvs_backend_connections_active", g, "Active (established) connections of the real server in the IPVS table (a group's services added up).")
	w.beInactive = f("vigil_ipvs_backend_connections_inactive", g, "Inactive connections of the real server in the IPVS table (a group's services added up).")
	w.beWeight = f("vigil_ipvs_backend_weight", g, "Weight of the real server in the IPVS table (0 while quiesced; a group's lowest); absent when the table does not hold it (in every service of a group).")
	w.vrrpState = f("vigil_vrrp_state", g, "VRRP state as the keepalived exporters number it: 0 init, 1 backup, 2 master, 3 fault.")
	w.vrrpPriority = f("vigil_vrrp_priority", g, "Configured VRRP priority.")
	w.vrrpEffPriority = f("vigil_vrrp_effective_priority", g, "VRRP priority after tracking adjustments, as advertised.")
	w.vrrpTransitions = f("vigil_vrrp_transitions_total", c, "VRRP state changes.")
	w.vrrpSent = f("vigil_vrrp_adverts_sent_total", c, "VRRP advertisements sent.")
	w.vrrpReceived = f("vigil_vrrp_adverts_received_total", c, "VRRP advertisements received.")
	w.vrrpInvalid = f("vigil_vrrp_adverts_dropped_total", c, "VRRP advertisements dropped, by reason (authentication, ttl, checksum, ...).")
	w.ipvsSync = f("vigil_ipvs_sync_daemon", g, "1 for the kernel IPVS connection-sync daemons an instance or the top-level ipvs_sync block runs (role master, backup, master+backup, none when stopped), 0 while the last attempt to set them failed.")
	w.reloads = f("vigil_reloads_total", c, "Configuration reloads, by result (success or failure).")
	w.lastReloadTime = f("vigil_last_reload_timestamp_seconds", g, "Unix time of the last reload attempt (of the initial load before any reload).")
	w.lastReloadOK = f("vigil_last_reload_success", g, "1 when the last reload attempt (or the initial load) succeeded.")
	w.lastReloadDuration = f("vigil_last_reload_duration_seconds", g, "Time the last reload took to apply (validation excluded); absent before the first reload.")
	w.generation = f("vigil_config_generation", g, "Generation of the running configuration: 1 after the first load, +1 per successful reload.")
	w.ipvsWrites = f("vigil_ipvs_writes_total", c, "Add, update and delete operations the IPVS table accepted.")
	w.ipvsWriteErrors = f("vigil_ipvs_write_errors_total", c, "IPVS table operations that failed.")
	w.ipvsRepairs = f("vigil_ipvs_resync_repairs_total", c, "Drift in the IPVS table repaired by the periodic resync (e.g. after ipvsadm -C).")
	w.ipvsResyncs = f("vigil_ipvs_resyncs_total", c, "Periodic comparisons of the IPVS table with the desired state.")
	w.startTime = f("vigil_start_time_seconds", g, "Unix time the director started.")
	w.bgp = newBGPFamilies(f)
	slices.SortFunc(w.all, func(a, b *family) int { return strings.Compare(a.name, b.name) })
	return w
}

// fill writes the series of one snapshot into the families and calls live for every
// (virtual_server, check) pair the snapshot holds.
func (w *writer) fill(s *status.Snapshot, info BuildInfo, live func(checkKey)) {
	for _, f := range w.all {
		f.reset()
	}
	w.buildInfo.add(1, label{"goversion", info.GoVersion}, label{"revision", info.Revision}, label{"version", info.Version})

	for i := range s.VirtualServers {
		vs := &s.VirtualServers[i]
		vl := label{"virtual_server", vs.Name}
		w.vsHealthy.add(float64(vs.Healthy), vl)
		w.vsTotal.add(float64(vs.Total), vl)
		w.vsQuorumUp.add(b2f(vs.QuorumUp), vl)
		w.vsInTable.add(b2f(vs.Present), vl)
		if vs.MHFingerprint != "" {
			w.vsMH.add(1, label{"fingerprint", vs.MHFingerprint}, vl)
		}
		// A userspace listener's, from 0 so that rate() sees the first failure; a group's
		// services added up. Keyed by virtual_server alone, as the virtual server's series
		// are: with node_exporter's service labels they would put a userspace director's
		// /metrics over issue 18's 4 MB.
		if n := vs.AcceptErrors; n != nil {
			w.acceptErrors.addUint(*n, vl)
			w.acceptsPaused.add(b2f(vs.AcceptsPaused), vl)
		}

		svc := serviceLabels(vs.FWMark, vs.Protocol, vs.Address)
		switch {
		case len(vs.Services) > 0:
			// A group's virtual server: each IPVS service on its own, and one info series
			// per destination, the key to node_ipvs_backend_* of each service.
			for j := range vs.Services {
				gs := &vs.Services[j]
				gsvc := serviceLabels(gs.FWMark, gs.Protocol, gs.Address)
				if gs.Present {
					w.service(vs.Name, gsvc, gs.Stats)
				}
				for k := range gs.Destinations {
					d := &gs.Destinations[k]
					w.info(vs.Name, d.RealServer, gsvc, d.Address)
				}
			}
		case vs.Present:
			w.service(vs.Name, svc, vs.Stats)
		}

		for j := range vs.RealServers {
			rs := &vs.RealServers[j]
			rl := label{"real_server", rs.Name}
			if len(vs.Services) == 0 {
				w.info(vs.Name, rs.Name, svc, rs.Address)
			}
			w.rsHealthy.add(b2f(rs.Health == "up"), rl, vl)
			w.rsAdmin.add(1, rl, label{"state", orReady(rs.AdminState)}, vl)
			if rs.InTable {
				// A group's: the lowest weight and the connections of all its services.
				if rs.AppliedWeight != nil {
					w.beWeight.add(float64(*rs.AppliedWeight), rl, vl)
				}
				w.beActive.add(float64(rs.ActiveConns), rl, vl)
				w.beInactive.add(float64(rs.InactiveConns), rl, vl)
			}
			for k, name := range CheckLabels(rs.Checks) {
				ck := &rs.Checks[k]
				live(checkKey{vs.Name, name})
				w.checkTransitions.addUint(ck.Transitions, label{"check", name}, rl, vl)
				w.failures = addFailures(w.failures, name, ck.Failures)
			}
		}
		// Sorted, so that two scrapes of one state are the same bytes.
		slices.SortFunc(w.failures, func(a, b checkCount) int { return strings.Compare(a.check, b.check) })
		for _, f := range w.failures {
			w.checkFailures.addUint(f.n, label{"check", f.check}, vl)
		}
		w.failures = w.failures[:0]
	}

	for i := range s.VRRP {
		vi := &s.VRRP[i]
		il, nl, rl := label{"instance", vi.Name}, label{"interface", vi.Interface}, label{"vrid", strconv.Itoa(vi.VRID)}
		if n, ok := status.VRRPStateNumber[strings.ToLower(vi.State)]; ok {
			w.vrrpState.add(float64(n), il, nl, rl)
		}
		w.vrrpPriority.add(float64(vi.BasePriority), il, nl, rl)
		w.vrrpEffPriority.add(float64(vi.EffectivePriority), il, nl, rl)
		w.vrrpTransitions.addUint(vi.Transitions, il, nl, rl)
		w.vrrpSent.addUint(vi.AdvertsSent, il, nl, rl)
		w.vrrpReceived.addUint(vi.AdvertsReceived, il, nl, rl)
		// Sorted, so that two scrapes of one state are the same bytes.
		for _, reason := range slices.Sorted(maps.Keys(vi.Invalid)) {
			w.vrrpInvalid.addUint(vi.Invalid[reason], il, nl, label{"reason", reason}, rl)
		}
		if sy := vi.IPVSSync; sy != nil {
			w.ipvsSync.add(b2f(sy.Error == ""), il, nl, label{"role", sy.Daemon}, rl)
		}
	}
	if sy := s.IPVSSync; sy != nil { // the top-level block: no instance, no vrid
		w.ipvsSync.add(b2f(sy.Error == ""), label{"instance", ""}, label{"interface", sy.Interface}, label{"role", sy.Daemon}, label{"vrid", ""})
	}

	cs := &s.Config
	w.reloads.addUint(cs.ReloadsFailed, label{"result", "failure"})
	w.reloads.addUint(cs.ReloadsOK, label{"result", "success"})
	// Before any reload the initial load stands in for the last one: the daemon would not be
	// running had it failed, and an absent series would break "time since reload" alerts.
	lastAt, lastOK := cs.LastReloadAt, cs.LastReloadOK == nil || *cs.LastReloadOK
	if lastAt.IsZero() {
		lastAt = cs.LoadedAt
	}
	if !lastAt.IsZero() {
		w.lastReloadTime.add(unixSeconds(lastAt))
	}
	w.lastReloadOK.add(b2f(lastOK))
	if !cs.LastReloadAt.IsZero() {
		w.lastReloadDuration.add(cs.LastReloadDuration.Seconds())
	}
	w.generation.add(float64(cs.Generation))

	w.ipvsWrites.addUint(s.IPVS.Writes)
	w.ipvsWriteErrors.addUint(s.IPVS.WriteErrors)
	w.ipvsRepairs.addUint(s.IPVS.Repairs)
	w.ipvsResyncs.addUint(s.IPVS.Resyncs)
	if !s.Started.IsZero() {
		w.startTime.add(unixSeconds(s.Started))
	}
	w.bgp.fill(s.BGP)
}

// svcLabels are node_exporter's service labels, sorted by name around virtual_server.
type svcLabels struct{ proto, addr, port, mark string }

func serviceLabels(fwmark uint32, protocol, address string) svcLabels {
	v := serviceLabelValues(fwmark, protocol, address)
	return svcLabels{proto: v[0], addr: v[1], port: v[2], mark: v[3]}
}

func (w *writer) service(vs string, l svcLabels, st status.Stats) {
	ls := []label{{"local_address", l.addr}, {"local_mark", l.mark}, {"local_port", l.port}, {"proto", l.proto}, {"virtual_server", vs}}
	w.svcConns.addUint(st.Conns, ls...)
	w.svcInPkts.addUint(st.InPkts, ls...)
	w.svcOutPkts.addUint(st.OutPkts, ls...)
	w.svcInBytes.addUint(st.InBytes, ls...)
	w.svcOutBytes.addUint(st.OutBytes, ls...)
}

// info writes the series that joins real server rs of virtual server vs with node_exporter's
// node_ipvs_backend_* of one IPVS destination: node_exporter's six labels, valued as it
// values them, beside vigil's two. The per-real-server series carry only vigil's two; the
// long label set is written once here (issue 18: it was 37% of /metrics).
func (w *writer) info(vs, rs string, l svcLabels, address string) {
	addr, port := splitAddrPort(address)
	w.rsInfo.add(1, label{"local_address", l.addr}, label{"local_mark", l.mark}, label{"local_port", l.port}, label{"proto", l.proto},
		label{"real_server", rs}, label{"remote_address", addr}, label{"remote_port", port}, label{"virtual_server", vs})
}
