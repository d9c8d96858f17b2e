package vrrp_test

import (
	"context"
	"log/slog"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/vigil-lb/vigil/internal/proc"
	"github.com/vigil-lb/vigil/internal/testing/testenv"
	"github.com/vigil-lb/vigil/vrrp"
	"github.com/vigil-lb/vigil/vrrp/advert"
	"github.com/vigil-lb/vigil/vrrp/vrrptest"
)

var (
	d1  = netip.MustParseAddr("198.18.0.11")
	d2  = netip.MustParseAddr("198.18.0.12")
	vip = netip.MustParsePrefix("198.18.0.254/24")
)

func baseConfig(name string, prio uint8) vrrp.Config {
	return vrrp.Config{
		Name: name, Interface: "eth0", VRID: 51, Priority: prio, Version: 3,
		Interval: 100 * time.Millisecond, Preempt: true, VIPs: []netip.Prefix{vip},
		GARP: vrrp.GARPConfig{Count: 2, Delay: -1},
	}
}

type node struct {
	in     *vrrp.Instance
	port   *vrrptest.Port
	addrs  *vrrptest.Addresses
	ann    *vrrptest.Announcer
	links  *vrrptest.Links
	log    *vrrptest.Log
	cancel context.CancelFunc
	done   chan error
}

func newNode(t *testing.T, link *vrrptest.Link, src netip.Addr, cfg vrrp.Config, notify vrrp.CommandRunner) *node {
	t.Helper()
	log := &vrrptest.Log{}
	n := &node{port: link.NewPort(src), addrs: &vrrptest.Addresses{Log: log}, ann: &vrrptest.Announcer{Log: log}, links: &vrrptest.Links{}, log: log}
	in, err := vrrp.NewInstance(cfg, vrrp.Deps{
		Transport: loggingPort{n.port, log}, Addresses: n.addrs, Announcer: n.ann, Links: n.links,
		Logger: slog.New(slog.DiscardHandler), Notify: notify,
	})
	if err != nil {
		t.Fatal(err)
	}
	n.in = in
	return n
}

func (n *node) start(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	n.done = make(chan error, 1)
	go func() { n.done <- n.in.Run(ctx) }()
	t.Cleanup(n.stop)
}

func (n *node) stop() {
	if n.cancel == nil {
		return
	}
	n.cancel()
	<-n.done
	n.cancel = nil
}

// loggingPort records sends (with their priority) in the shared operation log.
type loggingPort struct {
	*vrrptest.Port
	log *vrrptest.Log
}

func (p loggingPort) Send(msg []byte, dst netip.Addr) error {
	err := p.Port.Send(msg, dst)
	if a, perr := advert.Parse(msg, p.Source(), dst); perr == nil && a.Priority == 0 {
		p.log.Add("send0")
	} else {
		p.log.Add("send")
	}
	return err
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func state(n *node) vrrp.State { return n.in.Status().State }

func TestElectionAndFailover(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		link := &vrrptest.Link{}
		a := newNode(t, link, d1, baseConfig("a", 150), nil)
		b := newNode(t, link, d2, baseConfig("b", 100), nil)
		a.start(t)
		b.start(t)
		waitFor(t, "a master, b backup", func() bool { return state(a) == vrrp.Master && state(b) == vrrp.Backup })
		if !a.addrs.Held(vip) || b.addrs.Held(vip) {
			t.Errorf("VIP held: a=%v b=%v, want only a", a.addrs.Held(vip), b.addrs.Held(vip))
		}
		if got := b.in.Status().Master; got != d1 {
			t.Errorf("b sees master %v, want %v", got, d1)
		}
		// Cut a off (as kill -9 or link loss would): b takes over after the down interval.
		a.port.SetDown(true)
		waitFor(t, "b master", func() bool { return state(b) == vrrp.Master })
		if !b.addrs.Held(vip) || b.ann.Count() < 2 {
			t.Errorf("b: VIP held %v, %d announcements, want held and >= 2", b.addrs.Held(vip), b.ann.Count())
		}
		// a returns: it preempts, b yields.
		a.port.SetDown(false)
		waitFor(t, "a master again, b backup", func() bool {
			return state(a) == vrrp.Master && state(b) == vrrp.Backup && !b.addrs.Held(vip)
		})
	})
}

func TestNoPreempt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		link := &vrrptest.Link{}
		ca := baseConfig("a", 150)
		ca.Preempt = false
		a := newNode(t, link, d1, ca, nil)
		b := newNode(t, link, d2, baseConfig("b", 100), nil)
		b.start(t)
		waitFor(t, "b master", func() bool { return state(b) == vrrp.Master })
		a.start(t)
		waitFor(t, "a backup", func() bool {
			return state(a) == vrrp.Backup && a.in.Status().AdvertsReceived > 5 || state(a) == vrrp.Master
		})
		if state(a) == vrrp.Master {
			t.Fatalf("a %+v b %+v", a.in.Status(), b.in.Status())
		}
		time.Sleep(time.Second) // 10 intervals: a must not preempt
		if state(a) != vrrp.Backup || state(b) != vrrp.Master {
			t.Errorf("a %v, b %v: a preempted without preempt", state(a), state(b))
		}
	})
}

// Shutdown: the master sends priority 0 before removing its addresses, and the backup
// takes over after its skew rather than the full down interval.
func TestShutdownSendsPriorityZero(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		link := &vrrptest.Link{}
		a := newNode(t, link, d1, baseConfig("a", 150), nil)
		cb := baseConfig("b", 100)
		cb.Interval = 2 * time.Second // a full down interval would take 6 s; the skew is 0.76 s
		b := newNode(t, link, d2, cb, nil)
		a.start(t)
		waitFor(t, "a master", func() bool { return state(a) == vrrp.Master })
		b.start(t)
		waitFor(t, "b backup", func() bool { return state(b) == vrrp.Backup && b.in.Status().AdvertsReceived > 0 })
		stopped := time.Now()
		a.stop()
		sent := a.port.Sent()
		last, err := advert.Parse(sent[len(sent)-1].Payload, d1, advert.Group4)
		if err != nil || last.Priority != 0 {
			t.Fatalf("last advert %+v (%v), want priority 0", last, err)
		}
		if ops := a.log.Ops(); len(ops) < 2 || ops[len(ops)-2] != "send0" || ops[len(ops)-1] != "remove" || a.addrs.Held(vip) {
			t.Errorf("operations %v: want priority 0 sent, then the addresses removed", ops[max(0, len(ops)-4):])
		}
		waitFor(t, "b master", func() bool { return state(b) == vrrp.Master })
		if took := time.Since(stopped); took > 3*time.Second {
			t.Errorf("takeover after priority 0 took %v, want about the skew", took)
		}
	})
}

func TestTrackingWeights(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		link := &vrrptest.Link{}
		ca := baseConfig("a", 150)
		ca.Tracks = []vrrp.Track{{Name: "web", Kind: vrrp.TrackExternal, Weight: -60}, {Name: "db", Kind: vrrp.TrackExternal, Weight: 0}}
		a := newNode(t, link, d1, ca, nil)
		b := newNode(t, link, d2, baseConfig("b", 100), nil)
		a.start(t)
		b.start(t)
		waitFor(t, "a master", func() bool { return state(a) == vrrp.Master && state(b) == vrrp.Backup })

		a.in.SetTracked("web", false) // 150-60 = 90 < 100: b preempts
		waitFor(t, "b master after web down", func() bool { return state(b) == vrrp.Master && state(a) == vrrp.Backup })
		if s := a.in.Status(); s.Priority != 90 || s.BasePriority != 150 || s.Tracks["web"] {
			t.Errorf("a status %+v, want priority 90 base 150 web down", s)
		}
		a.in.SetTracked("web", true)
		waitFor(t, "a master after web up", func() bool { return state(a) == vrrp.Master && state(b) == vrrp.Backup })

		a.in.SetTracked("db", false) // weight 0: Fault, addresses released
		waitFor(t, "a fault", func() bool { return state(a) == vrrp.Fault && state(b) == vrrp.Master && !a.addrs.Held(vip) })
		a.in.SetTracked("db", true)
		waitFor(t, "a master after db up", func() bool { return state(a) == vrrp.Master && state(b) == vrrp.Backup })

		// The instance's own interface going down is a Fault too (keepalived).
		a.links.Set("eth0", false)
		waitFor(t, "a fault on link down", func() bool { return state(a) == vrrp.Fault && state(b) == vrrp.Master })
		a.links.Set("eth0", true)
		waitFor(t, "a master after link up", func() bool { return state(a) == vrrp.Master })
	})
}

func TestPriorityClamp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		link := &vrrptest.Link{}
		c := baseConfig("a", 250)
		c.Tracks = []vrrp.Track{{Name: "x", Kind: vrrp.TrackExternal, Weight: 100}, {Name: "y", Kind: vrrp.TrackExternal, Weight: -254}}
		a := newNode(t, link, d1, c, nil)
		a.start(t)
		waitFor(t, "clamped to 254", func() bool { return a.in.Status().Priority == 254 })
		a.in.SetTracked("x", false)
		a.in.SetTracked("y", false)
		waitFor(t, "clamped to 1", func() bool { return a.in.Status().Priority == 1 })
	})
}

// Hostile or foreign packets are counted by reason and change nothing.
func TestInvalidAdvertsCounted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		link := &vrrptest.Link{}
		a := newNode(t, link, d1, baseConfig("a", 150), nil)
		a.start(t)
		waitFor(t, "a master", func() bool { return state(a) == vrrp.Master })
		before := a.in.Status().Transitions
		evil := link.NewPort(d2)
		good := advert.Advert{Version: 3, VRID: 51, Priority: 254, Interval: 100 * time.Millisecond, Addrs: []netip.Addr{vip.Addr()}}
		enc := func(a advert.Advert) []byte {
			b, err := a.Marshal(d2, advert.Group4)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
		with := func(f func(*advert.Advert)) []byte { x := good; f(&x); return enc(x) }
		pkt := func(ttl int, b []byte) vrrp.Packet {
			return vrrp.Packet{Src: d2, Dst: advert.Group4, TTL: ttl, Payload: b}
		}
		badSum := enc(good)
		badSum[7] ^= 0xff
		wrongVersion := enc(good)
		wrongVersion[0] = 0x41
		countMismatch := enc(good)
		countMismatch[3] = 2
		cases := []struct {
			p    vrrp.Packet
			want advert.Reason
		}{
			{pkt(254, enc(good)), advert.ReasonTTL},
			{pkt(255, badSum), advert.ReasonChecksum},
			{pkt(255, with(func(a *advert.Advert) { a.VRID = 52 })), advert.ReasonVRID},
			{pkt(255, wrongVersion), advert.ReasonVersion},
			{pkt(255, with(func(a *advert.Advert) { a.Version = 2; a.Interval = time.Second })), advert.ReasonVersionMatch},
			{pkt(255, enc(good)[:10]), advert.ReasonTruncated},
			{pkt(255, append(enc(good), 0, 0)), advert.ReasonTrailing},
			{pkt(255, countMismatch), advert.ReasonCountMismatch},
			{pkt(255, with(func(a *advert.Advert) { a.Addrs = []netip.Addr{netip.MustParseAddr("198.18.0.253")} })), advert.ReasonAddrs},
		}
		for _, c := range cases {
			for range 3 {
				evil.Inject(c.p) // to itself: no-op
				a.port.Inject(c.p)
			}
		}
		waitFor(t, "all counted", func() bool {
			s := a.in.Status()
			for _, c := range cases {
				if s.Invalid[c.want] != 3 {
					return false
				}
			}
			return true
		})
		s := a.in.Status()
		if s.State != vrrp.Master || s.Transitions != before || s.AdvertsReceived != 0 {
			t.Errorf("status %+v: want still master, no transition, nothing valid received", s)
		}
	})
}

func TestSyncGroupFault(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		link := &vrrptest.Link{}
		c1, c2 := baseConfig("outside", 150), baseConfig("inside", 150)
		c2.VRID = 52
		c1.Tracks = []vrrp.Track{{Name: "uplink", Kind: vrrp.TrackExternal}}
		x := newNode(t, link, d1, c1, nil)
		y := newNode(t, link, d1, c2, nil)
		if _, err := vrrp.NewSyncGroup("g", x.in, y.in); err != nil {
			t.Fatal(err)
		}
		if _, err := vrrp.NewSyncGroup("g2", x.in); err == nil {
			t.Error("an instance joined two groups")
		}
		x.start(t)
		y.start(t)
		waitFor(t, "both master", func() bool { return state(x) == vrrp.Master && state(y) == vrrp.Master })
		x.in.SetTracked("uplink", false)
		waitFor(t, "both fault", func() bool { return state(x) == vrrp.Fault && state(y) == vrrp.Fault && !y.addrs.Held(vip) })
		x.in.SetTracked("uplink", true)
		waitFor(t, "both master again", func() bool { return state(x) == vrrp.Master && state(y) == vrrp.Master })
	})
}

// Notify commands run one at a time, in transition order, with instance, state and
// priority.
func TestNotifyOrdered(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var (
			mu      sync.Mutex
			calls   [][]string
			running atomic.Int32
			overlap atomic.Bool
		)
		rec := func(ctx context.Context, argv, env []string) error {
			if running.Add(1) > 1 {
				overlap.Store(true)
			}
			time.Sleep(30 * time.Millisecond) // slower than the transitions
			mu.Lock()
			calls = append(calls, append(slices.Clone(argv), env...))
			mu.Unlock()
			running.Add(-1)
			return nil
		}
		link := &vrrptest.Link{}
		c := baseConfig("a", 150)
		c.Tracks = []vrrp.Track{{Name: "x", Kind: vrrp.TrackExternal}}
		c.Notify = vrrp.Notify{Master: []string{"m"}, Backup: []string{"b"}, Fault: []string{"f"}, Any: []string{"any"}}
		a := newNode(t, link, d1, c, rec)
		a.start(t)
		waitFor(t, "master", func() bool { return state(a) == vrrp.Master })
		a.in.SetTracked("x", false)
		waitFor(t, "fault", func() bool { return state(a) == vrrp.Fault })
		a.in.SetTracked("x", true)
		waitFor(t, "master", func() bool { return state(a) == vrrp.Master })
		a.stop()
		var got []string
		mu.Lock()
		for _, c := range calls {
			got = append(got, c[0]+" "+c[3])
		}
		first := calls[0]
		mu.Unlock()
		want := []string{"b BACKUP", "any BACKUP", "m MASTER", "any MASTER", "f FAULT", "any FAULT",
			"b BACKUP", "any BACKUP", "m MASTER", "any MASTER", "any INIT"}
		if !slices.Equal(got, want) {
			t.Errorf("notify order:\n got %v\nwant %v", got, want)
		}
		if overlap.Load() {
			t.Error("two notify commands ran at once")
		}
		wantFirst := []string{"b", "INSTANCE", "a", "BACKUP", "150", "VRRP_INSTANCE=a", "VRRP_STATE=BACKUP", "VRRP_PRIORITY=150"}
		if !slices.Equal(first, wantFirst) {
			t.Errorf("first call %q, want %q", first, wantFirst)
		}
	})
}

func TestGARPSchedule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		link := &vrrptest.Link{}
		c := baseConfig("a", 150)
		c.GARP = vrrp.GARPConfig{Count: 3, Delay: 300 * time.Millisecond, Repeat: 2, Refresh: time.Second}
		a := newNode(t, link, d1, c, nil)
		a.start(t)
		waitFor(t, "master", func() bool { return state(a) == vrrp.Master })
		if n := a.ann.Count(); n != 3 {
			t.Errorf("%d announcements at once, want 3", n)
		}
		waitFor(t, "second burst", func() bool { return a.ann.Count() >= 5 })
		waitFor(t, "refresh", func() bool { return a.ann.Count() >= 7 })
		ops := a.log.Ops()
		if i := slices.Index(ops, "add"); i < 0 || slices.Index(ops, "announce") < i {
			t.Errorf("operations %v: want add before announce", ops)
		}
	})
}

func TestConfigValidate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		bad := []func(*vrrp.Config){
			func(c *vrrp.Config) { c.VRID = 0 },
			func(c *vrrp.Config) { c.Priority = 0 },
			func(c *vrrp.Config) { c.Version = 2; c.Interval = 1500 * time.Millisecond },
			func(c *vrrp.Config) { c.Interval = 5 * time.Millisecond },
			func(c *vrrp.Config) { c.VIPs = nil },
			func(c *vrrp.Config) { c.VIPs = append(c.VIPs, netip.MustParsePrefix("2001:db8::1/64")) },
			func(c *vrrp.Config) {
				c.Version = 2
				c.Interval = time.Second
				c.VIPs = []netip.Prefix{netip.MustParsePrefix("2001:db8::1/64")}
			},
			func(c *vrrp.Config) { c.Interface = "" },
		}
		for i, f := range bad {
			c := baseConfig("a", 100)
			f(&c)
			if err := c.Validate(); err == nil {
				t.Errorf("case %d: %+v validated", i, c)
			}
		}
		c := baseConfig("a", 100)
		if err := c.Validate(); err != nil {
			t.Errorf("good config: %v", err)
		}
	})
}

// A sync group takes over together when the other director's instances die, and a
// group whose members disagree (one hears a live master) waits instead of flapping.
func TestSyncGroupTakeover(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		link := &vrrptest.Link{}
		cfg := func(name string, vrid, prio uint8) vrrp.Config {
			c := baseConfig(name, prio)
			c.VRID = vrid
			return c
		}
		x := newNode(t, link, d1, cfg("x", 51, 100), nil)
		y := newNode(t, link, d1, cfg("y", 52, 100), nil)
		if _, err := vrrp.NewSyncGroup("g", x.in, y.in); err != nil {
			t.Fatal(err)
		}
		px := newNode(t, link, d2, cfg("px", 51, 150), nil)
		py := newNode(t, link, d2, cfg("py", 52, 150), nil)
		px.start(t)
		py.start(t)
		waitFor(t, "peers master", func() bool { return state(px) == vrrp.Master && state(py) == vrrp.Master })
		x.start(t)
		y.start(t)
		waitFor(t, "group backup", func() bool {
			return state(x) == vrrp.Backup && state(y) == vrrp.Backup && x.in.Status().AdvertsReceived > 3 && y.in.Status().AdvertsReceived > 3
		})

		// Only py dies: y's timer runs out, but x still hears px: the group stays backup.
		py.port.SetDown(true)
		before := y.in.Status().Transitions
		time.Sleep(1500 * time.Millisecond) // about 4 Master_Down_Intervals
		if s := y.in.Status(); s.State != vrrp.Backup || s.Transitions != before || state(x) != vrrp.Backup {
			t.Errorf("y %v (%d transitions, was %d), x %v: want the group held in backup", s.State, s.Transitions, before, state(x))
		}

		// px dies too: the group goes master together.
		px.port.SetDown(true)
		waitFor(t, "group master", func() bool { return state(x) == vrrp.Master && state(y) == vrrp.Master })
	})
}

// Real notify processes: arguments and environment arrive, a hung command is killed at
// its timeout with its whole process group and the next one still runs, in order.
func TestNotifyExec(t *testing.T) {
	dir := t.TempDir()
	out := dir + "/notify.log"
	link := &vrrptest.Link{}
	c := baseConfig("a", 150)
	c.Notify = vrrp.Notify{
		// Hangs, with a child: both are killed at the timeout.
		Backup:  []string{"/bin/sh", "-c", "sleep 1000 & echo $! > " + dir + "/child; wait"},
		Any:     []string{"/bin/sh", "-c", `echo "$0 $1 $2 $3 $VRRP_STATE $VRRP_PRIORITY" >> ` + out},
		Timeout: 300 * time.Millisecond,
	}
	a := newNode(t, link, d1, c, nil)
	a.start(t)
	waitFor(t, "master", func() bool { return state(a) == vrrp.Master })
	waitFor(t, "two notify lines", func() bool {
		b, _ := os.ReadFile(out)
		return strings.Count(string(b), "\n") >= 2
	})
	b, _ := os.ReadFile(out)
	want := "INSTANCE a BACKUP 150 BACKUP 150\nINSTANCE a MASTER 150 MASTER 150\n"
	if string(b) != want {
		t.Errorf("notify log %q, want %q", b, want)
	}
	b, err := os.ReadFile(dir + "/child")
	if err != nil {
		t.Fatalf("the hung notify command did not start: %v", err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if !testenv.WaitGone(pid, 5*time.Second) {
		t.Errorf("the hung notify command's child %d survived its timeout", pid)
	}
}

func TestInterfaceTrack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		link := &vrrptest.Link{}
		c := baseConfig("a", 150)
		c.Tracks = []vrrp.Track{{Name: "uplink0", Kind: vrrp.TrackInterface, Weight: -100}}
		a := newNode(t, link, d1, c, nil)
		a.links.Set("uplink0", false) // down before start
		a.start(t)
		waitFor(t, "priority 50", func() bool { s := a.in.Status(); return s.Priority == 50 && !s.Tracks["uplink0"] })
		a.links.Set("uplink0", true)
		waitFor(t, "priority 150", func() bool { s := a.in.Status(); return s.Priority == 150 && s.Tracks["uplink0"] })
	})
}

// A router restarted after a kill finds its addresses still on the interface: it removes
// them before it runs, so as a backup it never answers for the VIP beside the master.
func TestStartRemovesStaleAddresses(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		link := &vrrptest.Link{}
		a := newNode(t, link, d1, baseConfig("a", 150), nil)
		a.start(t)
		waitFor(t, "a master", func() bool { return state(a) == vrrp.Master })
		b := newNode(t, link, d2, baseConfig("b", 100), nil)
		if err := b.addrs.Add(context.Background(), []netip.Prefix{vip}); err != nil { // left by a killed run
			t.Fatal(err)
		}
		b.start(t)
		waitFor(t, "b backup", func() bool { return state(b) == vrrp.Backup && b.in.Status().AdvertsReceived > 0 })
		if b.addrs.Held(vip) {
			t.Errorf("backup b still holds %s from an earlier run", vip)
		}
		if !a.addrs.Held(vip) {
			t.Errorf("master a lost %s", vip)
		}
	})
}

// taggedAddrs records its operations in a log shared by several nodes.
type taggedAddrs struct {
	*vrrptest.Addresses
	tag    string
	shared *vrrptest.Log
}

func (a taggedAddrs) Add(ctx context.Context, v []netip.Prefix) error {
	err := a.Addresses.Add(ctx, v)
	a.shared.Add(a.tag + ":add")
	return err
}

func (a taggedAddrs) Remove(ctx context.Context, v []netip.Prefix) error {
	err := a.Addresses.Remove(ctx, v)
	a.shared.Add(a.tag + ":remove")
	return err
}

func handoverNode(t *testing.T, link *vrrptest.Link, src netip.Addr, cfg vrrp.Config, tag string, shared *vrrptest.Log) *node {
	t.Helper()
	n := &node{port: link.NewPort(src), addrs: &vrrptest.Addresses{}, ann: &vrrptest.Announcer{}, links: &vrrptest.Links{}, log: &vrrptest.Log{}}
	in, err := vrrp.NewInstance(cfg, vrrp.Deps{
		Transport: loggingPort{n.port, n.log}, Addresses: taggedAddrs{n.addrs, tag, shared}, Announcer: n.ann,
		Links: n.links, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	n.in = in
	return n
}

// Handover: a master stopped cleanly keeps the VIP until the backup has taken it
// (make-before-break), so there is no moment without an owner; then it releases it. The
// setting works from the configuration and set on a running instance (a reload).
func TestShutdownHandover(t *testing.T) {
	t.Run("configured", func(t *testing.T) { synctest.Test(t, func(t *testing.T) { testShutdownHandover(t, false) }) })
	t.Run("set while running", func(t *testing.T) { synctest.Test(t, func(t *testing.T) { testShutdownHandover(t, true) }) })
}

func testShutdownHandover(t *testing.T, setLater bool) {
	shared := &vrrptest.Log{}
	link := &vrrptest.Link{}
	ca := baseConfig("a", 150)
	ca.Handover = !setLater
	a := handoverNode(t, link, d1, ca, "a", shared)
	b := handoverNode(t, link, d2, baseConfig("b", 100), "b", shared)
	a.start(t)
	waitFor(t, "a master", func() bool { return state(a) == vrrp.Master })
	if setLater {
		a.in.SetHandover(true)
	}
	b.start(t)
	waitFor(t, "b backup", func() bool { return state(b) == vrrp.Backup && b.in.Status().AdvertsReceived > 0 })

	stopped := time.Now()
	a.stop() // returns when a has released
	took := time.Since(stopped)
	if state(b) != vrrp.Master || !b.addrs.Held(vip) || a.addrs.Held(vip) {
		t.Fatalf("after a stopped: a %v (VIP %v), b %v (VIP %v); want b master holding the VIP alone",
			state(a), a.addrs.Held(vip), state(b), b.addrs.Held(vip))
	}
	ops := shared.Ops()
	last := -1
	for i, op := range ops {
		if op == "a:remove" {
			last = i
		}
	}
	if i := slices.Index(ops, "b:add"); i < 0 || last < i {
		t.Errorf("shared log %v: a must remove the VIP only after b added it", ops)
	}
	// b took over after its skew (61 ms) plus at most the grace; never the full limit.
	if limit := 3*100*time.Millisecond + 100*time.Millisecond; took >= limit {
		t.Errorf("a released after %v: the handover ran to its limit instead of ending at b's advert", took)
	}
	sends := a.log.Ops()
	if i := slices.Index(sends, "send0"); i < 0 || slices.Contains(sends[i:], "send") {
		t.Errorf("a's adverts %v: want priority 0 only once stopping", sends)
	}
}

// A master without a backup keeps the VIP for at most the handover limit; Release ends
// the wait at once.
func TestShutdownHandoverBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		for _, release := range []bool{false, true} {
			link := &vrrptest.Link{}
			ca := baseConfig("a", 150)
			ca.Handover = true
			if release {
				ca.Interval = 5 * time.Second // a limit of ~20 s: only Release can end it in time
				ca.Priority = 255             // the owner: master at once
			}
			a := handoverNode(t, link, d1, ca, "a", &vrrptest.Log{})
			a.start(t)
			waitFor(t, "a master", func() bool { return state(a) == vrrp.Master })
			stopped := time.Now()
			a.cancel()
			if release {
				time.Sleep(50 * time.Millisecond)
				if !a.addrs.Held(vip) {
					t.Fatal("VIP released before Release")
				}
				a.in.Release()
			}
			select {
			case <-a.done:
			case <-time.After(10 * time.Second):
				t.Fatalf("release=%v: Run did not return", release)
			}
			a.cancel = nil
			if a.addrs.Held(vip) || state(a) != vrrp.Initialize {
				t.Errorf("release=%v: VIP held %v, state %v after Run returned", release, a.addrs.Held(vip), state(a))
			}
			if took := time.Since(stopped); !release && took < 300*time.Millisecond {
				t.Errorf("released after %v without a new master: want the limit (~0.4 s)", took)
			}
		}
	})
}

// A notify command gets PATH and the VRRP_ variables only: none of vigil's environment,
// where env() secrets (a VRRP password, a MySQL check's password) live.
func TestNotifyCleanEnvironment(t *testing.T) {
	t.Setenv("VRRP_PASSWORD", "s3cret-vrrp")
	t.Setenv("MYSQL_PASSWORD", "s3cret-mysql")
	out := t.TempDir() + "/env"
	link := &vrrptest.Link{}
	c := baseConfig("a", 150)
	c.Notify = vrrp.Notify{Any: []string{"/bin/sh", "-c", "/usr/bin/env > " + out + ".tmp && mv " + out + ".tmp " + out}}
	a := newNode(t, link, d1, c, nil)
	a.start(t)
	waitFor(t, "master", func() bool { return state(a) == vrrp.Master })
	var env []string
	waitFor(t, "the MASTER notify's environment", func() bool {
		b, err := os.ReadFile(out)
		env = strings.Fields(string(b))
		return err == nil && slices.Contains(env, "VRRP_STATE=MASTER")
	})
	for _, e := range env {
		if strings.Contains(e, "s3cret") {
			t.Errorf("notify command saw vigil's %s", e)
		}
	}
	for _, want := range []string{proc.Path, "VRRP_INSTANCE=a", "VRRP_PRIORITY=150"} {
		if !slices.Contains(env, want) {
			t.Errorf("notify environment %q lacks %s", env, want)
		}
	}
}
