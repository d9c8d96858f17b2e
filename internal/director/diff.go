package director

import (
	"fmt"
	"reflect"
	"strings"

	"github.com/vigil-lb/vigil/conf"
)

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
		if was == vs {
			continue // the Loader kept its file's decode: nothing in it changed
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
	var out changeList
	add := out.add
	add("name", a.Name, b.Name)
	add("weight", a.Weight, b.Weight)
	add("forwarding", a.Forwarding, b.Forwarding)
	add("upper_threshold", a.UpperThreshold, b.UpperThreshold)
	add("lower_threshold", a.LowerThreshold, b.LowerThreshold)
	add("notify_up", argvText(a.NotifyUp), argvText(b.NotifyUp))
	add("notify_down", argvText(a.NotifyDown), argvText(b.NotifyDown))
	add("notify_timeout", a.NotifyTimeout, b.NotifyTimeout)
	add("notify_user", a.NotifyUser, b.NotifyUser)
	return out
}

// vsChanges lists the service-level attributes that differ, as "scheduler rr -> wrr".
func vsChanges(a, b *conf.VirtualServer) []string {
	var out changeList
	add := out.add
	add("name", a.Name, b.Name)
	add("scheduler", a.Scheduler, b.Scheduler)
	add("scheduler_flags", a.SchedulerFlags, b.SchedulerFlags)
	add("persistence", persistenceText(a.Persistence), persistenceText(b.Persistence))
	add("forwarding", a.Forwarding, b.Forwarding)
	add("on_failure", a.OnFailure, b.OnFailure)
	add("quorum", a.Quorum, b.Quorum)
	add("hysteresis", a.Hysteresis, b.Hysteresis)
	add("sorry_server", a.SorryServer, b.SorryServer)
	add("quorum_up", argvText(a.QuorumUp), argvText(b.QuorumUp))
	add("quorum_down", argvText(a.QuorumDown), argvText(b.QuorumDown))
	add("notify_timeout", a.NotifyTimeout, b.NotifyTimeout)
	add("notify_user", a.NotifyUser, b.NotifyUser)
	return append(out, memberChanges(a, b)...)
}

// changeList collects the attributes that differ, as "name old -> new".
type changeList []string

func (l *changeList) add(name string, x, y any) {
	if !reflect.DeepEqual(x, y) {
		*l = append(*l, fmt.Sprintf("%s %v -> %v", name, x, y))
	}
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
