package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/vigil-lb/vigil/internal/status"
)

// defaultAddr is global.listen's documented default.
const defaultAddr = "127.0.0.1:9110"

// cmdStatus is `vigil status`: fetch /status from a running vigil and render it in the
// spirit of `ipvsadm -Ln`, with health columns.
func cmdStatus(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("vigil status", flag.ContinueOnError)
	file := fs.String("f", "", "read the API's address from this configuration `file` (its global.listen)")
	addr := fs.String("addr", defaultAddr, "`host:port` of the running vigil's API (global.listen)")
	asJSON := fs.Bool("json", false, "print the raw /status JSON instead of the table")
	stats := fs.Bool("stats", false, "show traffic counters (connections, packets, bytes) instead of health, like ipvsadm -Ln --stats")
	timeout := fs.Duration("timeout", 5*time.Second, "give up on the request after this long")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: vigil status [-f FILE | --addr %s] [--json | --stats]\n\n"+
			"Show the virtual servers, real servers, health checks and VRRP instances of a\n"+
			"running vigil, read from its /status endpoint.\n\nFlags:\n", defaultAddr)
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return code
	}

	if *file != "" {
		a, err := apiAddr(*file)
		if err != nil {
			fmt.Fprintf(stderr, "vigil status: %v\n", err)
			return 1
		}
		*addr = a
	}

	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	snap, raw, err := fetchStatus(ctx, *addr)
	if err != nil {
		fmt.Fprintf(stderr, "vigil status: %v\n", err)
		return 1
	}
	if *asJSON {
		stdout.Write(raw)
		if !bytes.HasSuffix(raw, []byte("\n")) {
			fmt.Fprintln(stdout)
		}
		return 0
	}
	if *stats {
		renderStats(stdout, snap)
		return 0
	}
	renderStatus(stdout, snap)
	return 0
}

// renderStats is the table of `ipvsadm -Ln --stats`: cumulative counters per service and
// destination, as exact numbers.
func renderStats(w io.Writer, s status.Snapshot) {
	type row struct {
		first, name string
		st          status.Stats
	}
	rows := []row{{first: "Prot LocalAddress:Port", name: "Name"}, {first: "  -> RemoteAddress:Port"}}
	for _, vs := range s.VirtualServers {
		rows = append(rows, row{fmt.Sprintf("%-4s %s", vsProto(vs), vsAddr(vs)), vs.Name, vs.Stats})
		for _, rs := range vs.RealServers {
			rows = append(rows, row{"  -> " + rs.Address, rs.Name, rs.Stats})
		}
	}
	// Addresses and names read left-aligned, numbers right-aligned: pad the text columns
	// here and let tabwriter right-align the rest.
	wFirst, wName := 0, 0
	for _, r := range rows {
		wFirst, wName = max(wFirst, len(r.first)), max(wName, len(r.name))
	}
	var b bytes.Buffer
	// Padding 0 with the gap written into each numeric cell: right alignment would
	// otherwise indent the first column too.
	tw := tabwriter.NewWriter(&b, 0, 0, 0, ' ', tabwriter.AlignRight)
	for i, r := range rows {
		fmt.Fprintf(tw, "%-*s  %-*s\t", wFirst, r.first, wName, r.name)
		switch i {
		case 0:
			fmt.Fprint(tw, "  Conns\t  InPkts\t  OutPkts\t  InBytes\t  OutBytes\t\n")
		case 1:
			fmt.Fprint(tw, "\t\t\t\t\t\n")
		default:
			fmt.Fprintf(tw, "  %d\t  %d\t  %d\t  %d\t  %d\t\n", r.st.Conns, r.st.InPkts, r.st.OutPkts, r.st.InBytes, r.st.OutBytes)
		}
	}
	tw.Flush()
	for line := range strings.Lines(b.String()) {
		io.WriteString(w, strings.TrimRight(line, " \n")+"\n")
	}
}

// statusURL accepts host:port (global.listen's form) or a full http:// URL.
func statusURL(addr string) string {
	base := addr
	if !strings.Contains(addr, "://") {
		base = "http://" + addr
	}
	return strings.TrimRight(base, "/") + "/status"
}

// fetchStatus GETs /status from addr and decodes it. raw is the body as served.
func fetchStatus(ctx context.Context, addr string) (snap status.Snapshot, raw []byte, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, statusURL(addr), nil)
	if err != nil {
		return snap, nil, fmt.Errorf("bad --addr %q: %w", addr, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return snap, nil, fmt.Errorf("cannot reach vigil at %s: %w (is `vigil run` running? is global.listen set?)", addr, err)
	}
	defer resp.Body.Close()
	raw, err = io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return snap, nil, fmt.Errorf("read /status from %s: %w", addr, err)
	}
	if resp.StatusCode != http.StatusOK {
		return snap, nil, fmt.Errorf("GET %s: %s: %s", statusURL(addr), resp.Status, strings.TrimSpace(string(raw)))
	}
	if err := json.Unmarshal(raw, &snap); err != nil {
		return snap, nil, fmt.Errorf("decode /status from %s (is it vigil?): %w", addr, err)
	}
	return snap, raw, nil
}

// firstLine is the first line of s, saying where the rest is when there is more: a
// rejected file's diagnostics run to many lines.
func firstLine(s string) string {
	if first, rest, ok := strings.Cut(strings.TrimSpace(s), "\n"); ok && rest != "" {
		return first + " (and more: vigil status --json)"
	}
	return strings.TrimSpace(s)
}

// renderStatus writes the snapshot as an operator reads it: a header, the VRRP instances,
// then the IPVS table as `ipvsadm -Ln` lays it out with vigil's health columns, then the
// director's own counters and warnings.
func renderStatus(w io.Writer, s status.Snapshot) {
	var b bytes.Buffer

	fmt.Fprintf(&b, "vigil %s  router %s  dataplane %s  started %s\n",
		orDash(s.Version), orDash(s.RouterID), orDash(s.Dataplane), fmtTime(s.Started))
	c := s.Config
	fmt.Fprintf(&b, "config %s  generation %d  loaded %s  reloads %d ok, %d failed\n",
		orDash(c.Path), c.Generation, fmtTime(c.LoadedAt), c.ReloadsOK, c.ReloadsFailed)
	switch {
	case c.LastReloadAt.IsZero():
	case c.LastReloadResult == status.ReloadPartial:
		fmt.Fprintf(&b, "last reload APPLIED WITH ERRORS at %s: %s\n", fmtTime(c.LastReloadAt), firstLine(c.LastReloadErr))
	case c.LastReloadOK != nil && !*c.LastReloadOK:
		fmt.Fprintf(&b, "last reload FAILED at %s: %s\n", fmtTime(c.LastReloadAt), firstLine(c.LastReloadErr))
	default:
		fmt.Fprintf(&b, "last reload ok at %s, applied in %s\n", fmtTime(c.LastReloadAt), fmtLatency(c.LastReloadDuration))
	}

	if len(s.VRRP) > 0 {
		b.WriteString("\n")
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		for _, vi := range s.VRRP {
			fmt.Fprintf(tw, "VRRP\t%s\t%s\tvrid %d\tv%d\t%s\tprio %d (eff %d)\tmaster %s\tVIPs %s",
				vi.Name, vi.Interface, vi.VRID, vi.Version, strings.ToUpper(vi.State),
				vi.BasePriority, vi.EffectivePriority, orDash(vi.MasterAddr), orDash(strings.Join(vi.VIPs, ",")))
			if len(vi.Tracked) > 0 {
				var ts []string
				for _, t := range vi.Tracked {
					ts = append(ts, fmt.Sprintf("%s %s %s (%+d)", t.Kind, t.Name, upDown(t.Up), t.Weight))
				}
				fmt.Fprintf(tw, "\ttrack %s", strings.Join(ts, ", "))
			}
			if sy := vi.IPVSSync; sy != nil {
				fmt.Fprintf(tw, "\t%s", ipvsSyncText(sy))
			}
			fmt.Fprintln(tw)
		}
		tw.Flush()
	}

	renderBGP(&b, s.BGP)
	if sy := s.IPVSSync; sy != nil {
		fmt.Fprintf(&b, "\n%s\n", ipvsSyncText(sy))
	}

	if len(s.VirtualServers) > 0 {
		b.WriteString("\n")
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "Prot LocalAddress:Port\tScheduler\tFlags\tName\tHealthy\t\t\t")
		fmt.Fprintln(tw, "  -> RemoteAddress:Port\tForward\tWeight(cfg/applied)\tName\tHealth\tActiveConn\tInActConn\tCheck")
		for _, vs := range s.VirtualServers {
			fmt.Fprintf(tw, "%-4s %s\t%s\t%s\t%s\t%d/%d\t\t\t%s\n",
				vsProto(vs), vsAddr(vs), vs.Scheduler, vsFlags(vs), vs.Name, vs.Healthy, vs.Total, vsNotes(vs))
			for _, rs := range vs.RealServers {
				fmt.Fprintf(tw, "  -> %s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\n",
					rs.Address, forwardName(rs.Forwarding), rsWeight(rs), rs.Name, rsHealth(rs),
					rs.ActiveConns, rs.InactiveConns, checksSummary(rs.Checks))
			}
		}
		tw.Flush()
	}

	i := s.IPVS
	fmt.Fprintf(&b, "\nIPVS writes %d (%d failed)  resyncs %d  repairs %d  last resync %s\n",
		i.Writes, i.WriteErrors, i.Resyncs, i.Repairs, fmtTime(i.LastResyncAt))
	if i.LastResyncErr != "" {
		fmt.Fprintf(&b, "last resync error: %s\n", i.LastResyncErr)
	}
	for _, warn := range s.Warnings {
		fmt.Fprintf(&b, "warning: %s\n", warn)
	}

	// tabwriter pads the empty trailing cells of service lines; trim them.
	for line := range strings.Lines(b.String()) {
		io.WriteString(w, strings.TrimRight(line, " \n")+"\n")
	}
}

func vsProto(vs status.VirtualServer) string {
	if vs.FWMark != 0 {
		return "FWM"
	}
	return strings.ToUpper(orDash(vs.Protocol))
}

func vsAddr(vs status.VirtualServer) string {
	if vs.Group != "" {
		return "group " + vs.Group
	}
	if vs.FWMark != 0 {
		return fmt.Sprint(vs.FWMark)
	}
	return vs.Address
}

func vsFlags(vs status.VirtualServer) string {
	flags := append([]string(nil), vs.Flags...)
	if vs.Persistence != "" {
		flags = append(flags, "persistent "+vs.Persistence)
	}
	if vs.OnFailure != "" && vs.OnFailure != "quiesce" {
		flags = append(flags, "on_failure "+vs.OnFailure)
	}
	return strings.Join(flags, ",")
}

// vsNotes are the conditions an operator must not miss, in the wide last column so they
// do not stretch the Healthy one.
func vsNotes(vs status.VirtualServer) string {
	var notes []string
	if !vs.QuorumUp {
		notes = append(notes, "QUORUM DOWN")
	}
	if vs.SorryActive {
		notes = append(notes, "sorry server active")
	}
	if vs.MHFingerprint != "" {
		notes = append(notes, "mh "+vs.MHFingerprint)
	}
	// The userspace listener ran out of descriptors or memory: the log's "accept failed;
	// pausing accepts" says when; this says it happened, and whether it still does.
	if n := vs.AcceptErrors; n != nil && *n > 0 {
		notes = append(notes, fmt.Sprintf("accept errors %d", *n))
	}
	if vs.AcceptsPaused {
		notes = append(notes, "ACCEPTS PAUSED")
	}
	if len(vs.Services) > 0 {
		in := 0
		for _, s := range vs.Services {
			if s.Present {
				in++
			}
		}
		notes = append(notes, fmt.Sprintf("%d services, %d in table", len(vs.Services), in))
	} else if !vs.Present {
		notes = append(notes, "NOT IN TABLE")
	}
	return strings.Join(notes, ", ")
}

// forwardName uses ipvsadm's words for the forwarding method.
func forwardName(f string) string {
	switch f {
	case "nat":
		return "Masq"
	case "dr":
		return "Route"
	case "tun":
		return "Tunnel"
	}
	return orDash(f)
}

func rsWeight(rs status.RealServer) string {
	applied := "-"
	if rs.InTable && rs.AppliedWeight != nil {
		applied = fmt.Sprint(*rs.AppliedWeight)
	}
	w := fmt.Sprintf("%d/%s", rs.ConfiguredWeight, applied)
	if rs.DynamicWeight != nil {
		w += fmt.Sprintf(" (dyn %d)", *rs.DynamicWeight)
	}
	return w
}

func rsHealth(rs status.RealServer) string {
	h := orDash(rs.Health)
	if rs.Sorry {
		h += " (sorry)"
	}
	if !rs.InTable {
		h += " (absent)"
	}
	// The operator's word over health: shown loud, it explains a weight of 0.
	switch rs.AdminState {
	case "", "ready":
	default:
		h += " " + strings.ToUpper(rs.AdminState)
		if rs.AdminRemove {
			h += " (removed)"
		}
	}
	return h
}

// checksSummary is one phrase per check: kind and state, then the last probe's latency
// when it passed or its reason when it failed.
func checksSummary(checks []status.Check) string {
	if len(checks) == 0 {
		return "-"
	}
	var parts []string
	for _, ck := range checks {
		p := ck.Kind + " " + orDash(ck.State)
		switch {
		case ck.Probes == 0 && ck.LastAt.IsZero():
			p += " (no probe yet)"
		case ck.LastOK:
			p += " " + fmtLatency(ck.LastLatency)
		case ck.State == "up":
			p += ", last probe failed: " + orDash(ck.LastReason)
		default:
			p += ": " + orDash(ck.LastReason)
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, "; ")
}

// fmtLatency keeps three significant digits or so: 1.23ms, 870µs, 2.5s.
func fmtLatency(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return d.Round(time.Microsecond).String()
	case d < time.Second:
		return d.Round(10 * time.Microsecond).String()
	}
	return d.Round(time.Millisecond).String()
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Format(time.RFC3339)
}

func upDown(up bool) string {
	if up {
		return "up"
	}
	return "down"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// ipvsSyncText is the kernel's connection-sync daemons as `vigil status` shows them:
// "ipvs sync master+backup on eth0 (id 7)".
func ipvsSyncText(sy *status.IPVSSync) string {
	t := fmt.Sprintf("ipvs sync %s on %s (id %d)", sy.Daemon, sy.Interface, sy.SyncID)
	if sy.Error != "" {
		t += ": " + sy.Error
	}
	return t
}
