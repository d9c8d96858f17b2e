// Package director owns vigil's running state: it applies a configuration to the health
// checks, the IPVS reconciler and the VRRP instances, and turns health into weights.
//
// It is the one place that knows all of conf, checks, ipvs and vrrp; those packages do not
// know each other.
//
// # One owner
//
// One goroutine, the loop (loop.go), owns the running state: the configuration, every
// real server's health, each virtual server's quorum, the VRRP instances, the check
// fingerprints and the reconciler. Everything that changes state is a step of the loop:
// a batch of health events, a reload, a resync, the start of a shutdown. Before Start
// returns, Start's goroutine is that owner; once the loop has ended, Stop's is.
//
// After every step the loop publishes a view (view.go): an immutable value, stored
// through an atomic.Pointer, that shares with the previous one whatever the step did not
// change. Readers (Snapshot for /status and the metrics, Healthy for /healthz) load it
// and never take a lock the loop holds, so they never wait for a netlink call, and they
// see either the state before a reload or the state after it, never a mixture.
//
// The desired IPVS state is kept once, by the reconciler (ipvs.Reconciler): the loop
// hands it a virtual server's desired real servers and it writes what differs from its
// record of what it last wrote.
//
// # A weight change
//
//	probe ends (the checks' event loop or a probe goroutine)
//	  -> checks.Scheduler applies rise/fall; a changed real server becomes a ServerEvent,
//	     delivered outside the scheduler's lock (OnServer = enqueue)
//	  -> the director's mailbox (one short lock, never held by a reader) wakes the loop
//	  -> the loop: the real server's health in a new view, the virtual server planned
//	     (weights.go), Reconciler.Update writes the one UpdateDestination
//	  -> the kernel; then the loop publishes the view
//
// Events that arrive while the loop is busy are taken as one batch: each touched virtual
// server is planned and written once.
//
// # Adding a request
//
// A new kind of request is a method that runs a closure on the loop with do (loop.go),
// reading and changing the loop's state freely and publishing what it changed. A change
// to real servers (an administrative drain, say) edits them through a change (apply.go)
// and commits it, which plans and writes the touched virtual servers exactly as a health
// event does. A dry run of a reload ("plan") is planReload (reload.go) without
// applyReload.
//
// # Health to weight
//
// A real server whose checks all pass is up and gets its configured weight (or the one
// an exec check with dynamic_weight reports); when a check falls it is down and gets
// weight 0 (on_failure = "quiesce": established connections finish, no new ones arrive)
// or is deleted (on_failure = "remove"). Each change is one write to the table (one per
// service for a virtual server on a virtual_server_group, whose real servers are checked
// once and weighted in each of its services: groups.go). notify_up / notify_down and
// quorum_up / quorum_down commands are queued from the loop and never waited for
// (notify.go). A new
// real server is down until its first check result; at start-up a real server that the
// table already holds starts up (or down, if quiesced there) and its checks need fall
// failures (or rise passes) to change that, so a restart of vigil changes nothing the
// kernel does.
package director
