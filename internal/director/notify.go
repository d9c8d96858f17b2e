package director

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-lb/vigil/checks"
	"github.com/vigil-lb/vigil/conf"
	"github.com/vigil-lb/vigil/internal/notify"
	"github.com/vigil-lb/vigil/internal/proc"
)

// Real servers' notify_up / notify_down and virtual servers' quorum_up / quorum_down run
// through internal/notify: in the order of the events per real server (per virtual
// server for quorum), each bounded by its timeout, never waited for by the loop.
//
// As keepalived, a command gets no arguments beyond its own; what happened is in its
// environment (and only that and PATH: not vigil's environment, which may hold secrets):
//
//	VIGIL_EVENT       notify_up, notify_down, quorum_up or quorum_down
//	VIGIL_VS_NAME     the virtual server; VIGIL_VS_KEY its service ("TCP 198.18.0.254:80",
//	                  "FWM 6", `group "vips" TCP`)
//	VIGIL_RS_NAME, VIGIL_RS_ADDRESS, VIGIL_RS_PORT, VIGIL_RS_WEIGHT (real servers)
//	VIGIL_REASON      what the check saw (real servers)
//	VIGIL_HEALTHY_REAL_SERVERS, VIGIL_QUORUM, VIGIL_SORRY_SERVER_ACTIVE (quorum)
//
// A real server's commands follow its health as traffic does: notify_up when it comes up
// (also the first time, once its checks pass), notify_down when it goes down from up. A
// new real server that is down from its first result was never up (keepalived's alpha,
// vigil's only start): no notify_down. A real server adopted from the kernel at start
// gets no command until it changes.

// notifyHealth queues the command of real server ri of vs changing from was to now. It
// runs on the loop and only queues.
func (d *Director) notifyHealth(vs *conf.VirtualServer, ri int, was, now Health, ev checks.ServerEvent) {
	if was == now {
		return
	}
	rs := vs.RealServers[ri]
	event, argv := "notify_up", rs.NotifyUp
	switch {
	case now == Down && was == Up:
		event, argv = "notify_down", rs.NotifyDown
	case now != Up:
		return
	}
	if len(argv) == 0 {
		return
	}
	env := append(checks.TargetEnv(rs.Address, vs.Name, rs.Name),
		"VIGIL_EVENT="+event,
		"VIGIL_VS_KEY="+vsKeyOf(vs).String(),
		"VIGIL_RS_WEIGHT="+strconv.Itoa(rs.Weight),
		"VIGIL_REASON="+ev.Reason)
	d.queueNotify(rsKey{vsKeyOf(vs), rs.Address}.String(), event, argv, env, rs.NotifyUser, rs.NotifyTimeout)
}

// notifyQuorum queues quorum_up or quorum_down for vs's new quorum state.
func (d *Director) notifyQuorum(vs *conf.VirtualServer, p vsPlan) {
	event, argv := "quorum_down", vs.QuorumDown
	if p.quorumUp {
		event, argv = "quorum_up", vs.QuorumUp
	}
	if len(argv) == 0 {
		return
	}
	env := []string{
		"VIGIL_EVENT=" + event,
		"VIGIL_VS_NAME=" + vs.Name,
		"VIGIL_VS_KEY=" + vsKeyOf(vs).String(),
		"VIGIL_HEALTHY_REAL_SERVERS=" + strconv.Itoa(p.healthy),
		"VIGIL_QUORUM=" + strconv.FormatUint(uint64(vs.Quorum), 10),
		"VIGIL_SORRY_SERVER_ACTIVE=" + strconv.FormatBool(p.sorry),
	}
	d.queueNotify("quorum "+vsKeyOf(vs).String(), event, argv, env, vs.NotifyUser, vs.NotifyTimeout)
}

func (d *Director) queueNotify(subject, event string, argv, env []string, user string, timeout time.Duration) {
	c := notify.Command{Event: event, Argv: argv, Env: env, Timeout: timeout}
	if user != "" {
		u, err := proc.LookupUser(user)
		if err != nil {
			d.log.Error("notify command not run: its user cannot be found", "subject", subject, "event", event, "err", err)
			return
		}
		c.User = u
	}
	d.notifier.Enqueue(subject, c)
}

// notifyStopGrace is how long notify commands still running at shutdown may finish before
// their process groups are killed: a hung one must not hold the stop.
const notifyStopGrace = 2 * time.Second

// stopNotify drops the waiting notify commands and ends the running ones.
func (d *Director) stopNotify(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, notifyStopGrace)
	defer cancel()
	d.notifier.Close(ctx)
}

// argvText renders a command for a reload's diff: ["/x", "y"], or none.
func argvText(argv []string) string {
	if len(argv) == 0 {
		return "none"
	}
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = strconv.Quote(a)
	}
	return "[" + strings.Join(q, ", ") + "]"
}
