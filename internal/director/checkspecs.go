package director

import (
	"context"
	"fmt"

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
func (d *Director) checkSpecs(next *view, prints map[*conf.Check]string) []checks.Spec {
	var specs []checks.Spec
	if prints == nil {
		prints = map[*conf.Check]string{}
	}
	labels := map[string]string{}
	keys := map[string]string{}
	for vi, vs := range next.cfg.VirtualServers {
		names := next.names[vs]
		if names == nil { // a view install did not build (tests)
			names = formatNames(vs)
		}
		for ri, rs := range vs.RealServers {
			if next.services.at(vi).rs[ri].admin.state == Maint {
				continue // maint pauses its checks
			}
			server := names.servers[ri]
			for i, c := range rs.Checks {
				id := names.checks[ri][i]
				labels[id] = names.labels[ri][i]
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
					Initial:       checkState(next.services.at(vi).rs[ri]),
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
	// Before the scheduler runs them: their first results need the labels.
	d.labels.Store(&labels)
	return specs
}

// checkID names the i-th check (of kind) of a real server, the scheduler's server ID.
// It is stable across reloads while the real server keeps its service and address.
func checkID(server string, i int, kind conf.CheckKind) string {
	return fmt.Sprintf("%s#%d:%s", server, i, kind)
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
func checkState(s rsState) checks.State {
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
