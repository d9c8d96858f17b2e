package director

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/vigil-lb/vigil/checks"
	"github.com/vigil-lb/vigil/conf"
)

// checkSpecs are the scheduler's checks for cfg. A check's ID is stable across reloads
// while its real server keeps its service and address; its Key changes with its
// configuration, so an unchanged check keeps its state and phase and a changed one
// restarts.
//
// prints holds the new configuration's fingerprints computed so far (by configDiff); nil
// starts empty.
func (d *Director) checkSpecs(cfg *conf.Config, prints map[*conf.Check]string) []checks.Spec {
	var specs []checks.Spec
	if prints == nil {
		prints = map[*conf.Check]string{}
	}
	labels := map[string]string{}
	defer func() {
		d.evMu.Lock()
		d.labels = labels
		d.evMu.Unlock()
	}()
	keys := map[string]string{}
	for _, vs := range cfg.VirtualServers {
		key := vsKeyOf(vs)
		for _, rs := range vs.RealServers {
			server := rsKey{key, rs.Address}.String()
			seen := map[conf.CheckKind]int{}
			for i, c := range rs.Checks {
				seen[c.Kind]++
				id := fmt.Sprintf("%s#%d:%s", server, i, c.Kind)
				// The metric label, as metrics.CheckLabels names it: the kind, and
				// "kind#N" for the N-th check of one kind on a real server.
				labels[id] = string(c.Kind)
				if n := seen[c.Kind]; n > 1 {
					labels[id] = fmt.Sprintf("%s#%d", c.Kind, n)
				}
				sp := checks.Spec{
					ID:            id,
					Server:        server,
					VirtualServer: vs.Name,
					RealServer:    rs.Name,
					Kind:          string(c.Kind),
					Checker:       unchangedChecker,
					Interval:      c.Interval,
					Timeout:       c.Timeout,
					Rise:          c.Rise,
					Fall:          c.Fall,
					Key:           d.fingerprint(prints, c) + "|" + vs.Name + "|" + rs.Name,
					Initial:       checkState(d.states[rsKey{key, rs.Address}]),
				}
				keys[id] = sp.Key
				// An unchanged check keeps the checker the scheduler runs; only a new or
				// changed one gets a new checker.
				if d.specKeys[id] != sp.Key {
					sp.Checker = d.buildChecker(vs, rs, c)
				}
				specs = append(specs, sp)
			}
		}
	}
	d.prints, d.specKeys = prints, keys
	return specs
}

// buildChecker builds the checker of c. conf validated everything a checker needs, so a
// failure here is a file that vanished (a CA) or the like: the check then fails visibly.
func (d *Director) buildChecker(vs *conf.VirtualServer, rs *conf.RealServer, c *conf.Check) checks.Checker {
	chk, err := newChecker(vs, rs, c)
	if err == nil {
		return chk
	}
	d.log.Error("build health check", "virtual_server", vs.Name, "real_server", rs.Name, "err", err)
	msg := err.Error()
	return checks.CheckerFunc(func(context.Context) checks.Result {
		return checks.Result{Reason: "check cannot run: " + msg, Weight: checks.NoWeight}
	})
}

// unchangedChecker stands in for the checker of a check whose configuration did not change
// on a reload: the scheduler keeps the one it runs. It is never probed.
var unchangedChecker = checks.CheckerFunc(func(context.Context) checks.Result {
	return checks.Result{Reason: "placeholder of an unchanged check", Weight: checks.NoWeight}
})

// checkState is the state a new check of a real server starts in: what the director
// already knows of the server (adopted at start-up, or up before a check was added).
func checkState(s *rsState) checks.State {
	if s == nil {
		return checks.Unknown
	}
	switch s.health {
	case Up:
		return checks.Up
	case Down:
		return checks.Down
	}
	return checks.Unknown
}

// fingerprint is checkFingerprint memoised across one reload: the running configuration's
// fingerprints (d.prints) are reused, the new one's computed once and kept in next.
func (d *Director) fingerprint(next map[*conf.Check]string, c *conf.Check) string {
	if fp, ok := next[c]; ok {
		return fp
	}
	fp, ok := d.prints[c]
	if !ok {
		fp = checkFingerprint(c)
	}
	next[c] = fp
	return fp
}

// Reload applies cfg as the difference from the running configuration: unchanged real
// servers keep their health and their checks' phase, changed checks restart, removed
// virtual servers are deleted and added ones created; nothing is flushed. The diff is
// logged as one block.
func (d *Director) Reload(ctx context.Context, cfg *conf.Config) error {
	var err error
	doErr := d.do(ctx, func(runCtx context.Context) { err = d.reload(ctx, runCtx, cfg) })
	if doErr != nil {
		d.ReloadFailed(doErr)
		return doErr
	}
	return err
}

func (d *Director) reload(ctx, runCtx context.Context, cfg *conf.Config) error {
	began := time.Now()
	d.mu.Lock()
	running := d.cfg
	d.mu.Unlock()
	warnings := d.prepareKernel(ctx, running, cfg) // only the loop changes d.cfg
	d.mu.Lock()
	defer d.mu.Unlock()
	d.warnings = warnings
	old := d.cfg
	prints := map[*conf.Check]string{}
	diff := configDiff(old, cfg, func(c *conf.Check) string { return d.fingerprint(prints, c) })
	d.install(cfg, nil)
	changes, applyErr := d.syncLocked(ctx)
	setErr := d.sched.Set(d.checkSpecs(cfg, prints))
	vrrpDiff, vrrpErr := d.reloadVRRPLocked(ctx, runCtx, cfg)
	diff = append(diff, vrrpDiff...)
	if ot, nt := syncConfig(old), syncConfig(cfg); ot != nt {
		switch {
		case !nt.configure:
			diff = append(diff, fmt.Sprintf("- ipvs_sync (vrrp_instance %q)", ot.instance))
		case !ot.configure:
			diff = append(diff, fmt.Sprintf("+ ipvs_sync (vrrp_instance %q, %s, sync id %d)", nt.instance, nt.iface, nt.syncID))
		default:
			diff = append(diff, fmt.Sprintf("~ ipvs_sync (vrrp_instance %q, %s, sync id %d)", nt.instance, nt.iface, nt.syncID))
		}
		if d.syncd != nil {
			d.syncd.configure(nt)
		}
	}
	err := errors.Join(applyErr, setErr, vrrpErr)
	if cfg.Global.ResyncInterval != old.Global.ResyncInterval {
		d.setResyncInterval(cfg.Global.ResyncInterval)
	}

	now := d.o.Now()
	d.config.LastReloadAt = now
	d.config.LastReloadDiff = diff
	if err != nil {
		d.config.ReloadsFailed++
		d.config.LastReloadOK = false
		d.config.LastReloadErr = err.Error()
		d.log.Error("reload applied with errors; the next resync retries the table", "err", err)
	} else {
		d.config.ReloadsOK++
		d.config.LastReloadOK = true
		d.config.LastReloadErr = ""
	}
	d.config.Generation++
	d.config.LoadedAt = now
	d.config.LastReloadDuration = time.Since(began)
	if len(diff) == 0 {
		diff = []string{"(no change)"}
	}
	d.log.Info("configuration reloaded\n  "+strings.Join(diff, "\n  "),
		"generation", d.config.Generation, "writes", changes.Total(), "took", d.config.LastReloadDuration)
	return err
}

// ReloadFailed records a reload that never reached the director (the file did not
// validate): everything keeps running as it was.
func (d *Director) ReloadFailed(err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.config.ReloadsFailed++
	d.config.LastReloadAt = d.o.Now()
	d.config.LastReloadOK = false
	d.config.LastReloadErr = err.Error()
	d.config.LastReloadDiff = nil
}

// configDiff describes what changed between two configurations, one line per change, in
// the words of the file.
func configDiff(old, cur *conf.Config, fingerprint func(*conf.Check) string) []string {
	var out []string
	if !reflect.DeepEqual(old.Global, cur.Global) {
		out = append(out, globalDiff(old.Global, cur.Global)...)
	}
	oldVS := map[vsKey]*conf.VirtualServer{}
	for _, vs := range old.VirtualServers {
		oldVS[vsKeyOf(vs)] = vs
	}
	seen := map[vsKey]bool{}
	for _, vs := range cur.VirtualServers {
		key := vsKeyOf(vs)
		seen[key] = true
		was := oldVS[key]
		if was == nil {
			out = append(out, fmt.Sprintf("+ virtual_server %q (%s) with %d real servers", vs.Name, key, len(vs.RealServers)))
			continue
		}
		if changes := vsChanges(was, vs); len(changes) > 0 {
			out = append(out, fmt.Sprintf("~ virtual_server %q (%s): %s", vs.Name, key, strings.Join(changes, ", ")))
		}
		oldRS := map[string]*conf.RealServer{}
		for _, rs := range was.RealServers {
			oldRS[rs.Address.String()] = rs
		}
		for _, rs := range vs.RealServers {
			o := oldRS[rs.Address.String()]
			delete(oldRS, rs.Address.String())
			switch {
			case o == nil:
				out = append(out, fmt.Sprintf("+ real_server %q %s in %q", rs.Name, rs.Address, vs.Name))
			default:
				if changes := rsChanges(o, rs); len(changes) > 0 {
					out = append(out, fmt.Sprintf("~ real_server %q %s in %q: %s", rs.Name, rs.Address, vs.Name, strings.Join(changes, ", ")))
				}
			}
			if o != nil && !sameChecks(o.Checks, rs.Checks, fingerprint) {
				out = append(out, fmt.Sprintf("~ checks of real_server %q %s in %q (restarted)", rs.Name, rs.Address, vs.Name))
			}
		}
		for _, rs := range was.RealServers {
			if _, gone := oldRS[rs.Address.String()]; gone {
				out = append(out, fmt.Sprintf("- real_server %q %s from %q", rs.Name, rs.Address, vs.Name))
			}
		}
	}
	for _, vs := range old.VirtualServers {
		if !seen[vsKeyOf(vs)] {
			out = append(out, fmt.Sprintf("- virtual_server %q (%s)", vs.Name, vsKeyOf(vs)))
		}
	}
	return out
}

// rsChanges lists the real-server attributes that differ, as "weight 1 -> 3".
func rsChanges(a, b *conf.RealServer) []string {
	var out []string
	add := func(name string, x, y any) {
		if x != y {
			out = append(out, fmt.Sprintf("%s %v -> %v", name, x, y))
		}
	}
	add("name", a.Name, b.Name)
	add("weight", a.Weight, b.Weight)
	add("forwarding", a.Forwarding, b.Forwarding)
	add("upper_threshold", a.UpperThreshold, b.UpperThreshold)
	add("lower_threshold", a.LowerThreshold, b.LowerThreshold)
	return append(out, notifyChanges(
		[]string{"notify_up", "notify_down"}, [][]string{a.NotifyUp, a.NotifyDown}, [][]string{b.NotifyUp, b.NotifyDown},
		a.NotifyTimeout, b.NotifyTimeout, a.NotifyUser, b.NotifyUser)...)
}

// vsChanges lists the service-level attributes that differ, as "scheduler rr -> wrr".
func vsChanges(a, b *conf.VirtualServer) []string {
	var out []string
	add := func(name string, x, y any) {
		if !reflect.DeepEqual(x, y) {
			out = append(out, fmt.Sprintf("%s %v -> %v", name, x, y))
		}
	}
	add("name", a.Name, b.Name)
	add("scheduler", a.Scheduler, b.Scheduler)
	add("scheduler_flags", a.SchedulerFlags, b.SchedulerFlags)
	add("persistence", persistenceText(a.Persistence), persistenceText(b.Persistence))
	add("forwarding", a.Forwarding, b.Forwarding)
	add("on_failure", a.OnFailure, b.OnFailure)
	add("quorum", a.Quorum, b.Quorum)
	add("hysteresis", a.Hysteresis, b.Hysteresis)
	add("sorry_server", a.SorryServer, b.SorryServer)
	out = append(out, notifyChanges(
		[]string{"quorum_up", "quorum_down"}, [][]string{a.QuorumUp, a.QuorumDown}, [][]string{b.QuorumUp, b.QuorumDown},
		a.NotifyTimeout, b.NotifyTimeout, a.NotifyUser, b.NotifyUser)...)
	return append(out, memberChanges(a, b)...)
}

func persistenceText(p *conf.Persistence) string {
	if p == nil {
		return "off"
	}
	return fmt.Sprintf("%s/%d", p.Timeout, p.Netmask)
}

func sameChecks(a, b []*conf.Check, fingerprint func(*conf.Check) string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if fingerprint(a[i]) != fingerprint(b[i]) {
			return false
		}
	}
	return true
}

// globalDiff names changed global settings; those that only take effect at a restart say so.
func globalDiff(a, b conf.Global) []string {
	var out []string
	add := func(name string, x, y any, restart bool) {
		if reflect.DeepEqual(x, y) {
			return
		}
		line := fmt.Sprintf("~ global.%s: %v -> %v", name, x, y)
		if restart {
			line += " (takes effect at the next start)"
		}
		out = append(out, line)
	}
	add("router_id", a.RouterID, b.RouterID, false)
	add("listen", a.Listen, b.Listen, true)
	add("log_level", a.LogLevel, b.LogLevel, false)
	add("log_format", a.LogFormat, b.LogFormat, true)
	add("dataplane", a.Dataplane, b.Dataplane, true)
	add("resync_interval", a.ResyncInterval, b.ResyncInterval, false)
	add("manage_sysctls", a.ManageSysctls, b.ManageSysctls, false)
	add("ipvs_timeouts", a.IPVSTimeouts, b.IPVSTimeouts, false)
	add("remove_on_shutdown", a.RemoveOnShutdown, b.RemoveOnShutdown, false)
	return out
}
