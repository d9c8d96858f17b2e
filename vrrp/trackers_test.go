package vrrp_test

import (
	"context"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/vigil-lb/vigil/vrrp"
	"github.com/vigil-lb/vigil/vrrp/vrrptest"
)

// chanTracker reports what the test sends it.
type chanTracker chan vrrp.TrackReport

func (c chanTracker) Run(ctx context.Context, report func(vrrp.TrackReport)) {
	for {
		select {
		case <-ctx.Done():
			return
		case r := <-c:
			report(r)
		}
	}
}

func startTrackers(t *testing.T, trackers map[string]chanTracker) *vrrp.Trackers {
	ts := vrrp.NewTrackers(slog.New(slog.DiscardHandler))
	t.Cleanup(ts.Close)
	for name, tr := range trackers {
		kind := vrrp.TrackScript
		if strings.HasPrefix(name, "file:") {
			kind = vrrp.TrackFile
		}
		ts.Start(context.Background(), name, kind, tr)
	}
	return ts
}

// An instance that tracks a script does not start before the script's first result: it
// never advertises a priority the script would not allow. A failing script with weight
// -60 then moves the master to the peer, and back when it passes (keepalived's rules).
func TestTrackedScriptMovesMaster(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		link := &vrrptest.Link{}
		chk := make(chanTracker)
		ts := startTrackers(t, map[string]chanTracker{"script:chk": chk})
		ca := baseConfig("a", 150)
		ca.Tracks = []vrrp.Track{{Name: "script:chk", Kind: vrrp.TrackScript, Weight: -60}}
		a := newNode(t, link, d1, ca, nil)
		b := newNode(t, link, d2, baseConfig("b", 100), nil)
		ts.Attach(a.in)
		a.start(t)
		b.start(t)
		waitFor(t, "b master alone", func() bool { return state(b) == vrrp.Master })
		time.Sleep(300 * time.Millisecond) // a master-down interval and more
		if s := a.in.Status(); s.State != vrrp.Initialize || len(a.port.Sent()) != 0 {
			t.Fatalf("a is %s and sent %d adverts before its script reported", s.State, len(a.port.Sent()))
		}
		chk <- vrrp.TrackReport{Value: 1}
		waitFor(t, "a master once the script passes", func() bool { return state(a) == vrrp.Master && state(b) == vrrp.Backup })
		chk <- vrrp.TrackReport{Value: 0}
		waitFor(t, "b master while the script fails", func() bool { return state(b) == vrrp.Master && state(a) == vrrp.Backup })
		if s := a.in.Status(); s.Priority != 90 || s.Tracks["script:chk"] {
			t.Errorf("a: priority %d, tracks %v; want 90 with the script down", s.Priority, s.Tracks)
		}
		chk <- vrrp.TrackReport{Value: 1}
		waitFor(t, "a master again", func() bool { return state(a) == vrrp.Master && state(b) == vrrp.Backup })
	})
}

// A tracker's last state reaches an instance attached later (a reload), and a file's
// value times the weight is added.
func TestTrackersReplayAndFileValue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		link := &vrrptest.Link{}
		f := make(chanTracker)
		ts := startTrackers(t, map[string]chanTracker{"file:prio": f})
		f <- vrrp.TrackReport{Value: 7}
		waitFor(t, "the report kept", func() bool { return len(ts.Names()) == 1 })
		time.Sleep(20 * time.Millisecond)
		c := baseConfig("a", 100)
		c.Tracks = []vrrp.Track{{Name: "file:prio", Kind: vrrp.TrackFile, Weight: 10}}
		a := newNode(t, link, d1, c, nil)
		ts.Attach(a.in)
		a.start(t)
		waitFor(t, "priority 170", func() bool { s := a.in.Status(); return s.State == vrrp.Master && s.Priority == 170 })
		f <- vrrp.TrackReport{Value: -30} // -300: keepalived's FAULT threshold
		waitFor(t, "fault", func() bool { return state(a) == vrrp.Fault })
		f <- vrrp.TrackReport{Value: -3}
		waitFor(t, "priority 70", func() bool { s := a.in.Status(); return s.State == vrrp.Master && s.Priority == 70 })
		ts.Detach(a.in)
		f <- vrrp.TrackReport{Value: 1}
		time.Sleep(50 * time.Millisecond)
		if p := a.in.Status().Priority; p != 70 {
			t.Errorf("a detached instance got a report: priority %d", p)
		}
	})
}

// A tracked item of a sync group moves the whole group: the script fails on one
// director and both of its instances go to FAULT, so the peer's group takes both.
func TestSyncGroupTracksScript(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		link := &vrrptest.Link{}
		chk := make(chanTracker)
		ts := startTrackers(t, map[string]chanTracker{"script:chk": chk})
		tracks := []vrrp.Track{{Name: "script:chk", Kind: vrrp.TrackScript}}
		mk := func(name string, vrid, prio uint8, src int, tr []vrrp.Track) *node {
			c := baseConfig(name, prio)
			c.VRID, c.Tracks = vrid, tr
			n := newNode(t, link, []netip.Addr{d1, d2}[src], c, nil)
			ts.Attach(n.in)
			return n
		}
		ax, ay := mk("ax", 51, 150, 0, tracks), mk("ay", 52, 150, 0, tracks)
		bx, by := mk("bx", 51, 100, 1, nil), mk("by", 52, 100, 1, nil)
		for _, g := range [][2]*node{{ax, ay}, {bx, by}} {
			if _, err := vrrp.NewSyncGroup(g[0].in.Config().Name, g[0].in, g[1].in); err != nil {
				t.Fatal(err)
			}
		}
		for _, n := range []*node{ax, ay, bx, by} {
			n.start(t)
		}
		chk <- vrrp.TrackReport{Value: 1}
		waitFor(t, "a's group master", func() bool {
			return state(ax) == vrrp.Master && state(ay) == vrrp.Master && state(bx) == vrrp.Backup && state(by) == vrrp.Backup
		})
		chk <- vrrp.TrackReport{Value: 0}
		waitFor(t, "b's group master, a's in FAULT", func() bool {
			return state(ax) == vrrp.Fault && state(ay) == vrrp.Fault && state(bx) == vrrp.Master && state(by) == vrrp.Master
		})
		chk <- vrrp.TrackReport{Value: 1}
		waitFor(t, "a's group master again", func() bool {
			return state(ax) == vrrp.Master && state(ay) == vrrp.Master && state(bx) == vrrp.Backup && state(by) == vrrp.Backup
		})
	})
}
