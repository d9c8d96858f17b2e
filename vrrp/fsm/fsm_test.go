package fsm

import (
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var (
	t0   = time.Unix(1_800_000_000, 0)
	me   = netip.MustParseAddr("198.18.0.11")
	peer = netip.MustParseAddr("198.18.0.12") // greater than me
	low  = netip.MustParseAddr("198.18.0.10") // less than me
	ms   = time.Millisecond
)

func params(version int, prio uint8, interval time.Duration) Params {
	return Params{Version: version, Priority: prio, Interval: interval, Preempt: true, Primary: me}
}

func started(t *testing.T, p Params) Machine {
	t.Helper()
	m, _ := Step(Machine{Params: p}, Event{Kind: Startup}, t0)
	return m
}

func master(t *testing.T, p Params) Machine {
	t.Helper()
	m := started(t, p)
	m, _ = Step(m, Event{Kind: Tick}, m.MasterDownAt)
	if m.State != Master {
		t.Fatalf("setup: state %v, want MASTER", m.State)
	}
	return m
}

func adv(src netip.Addr, prio uint8, interval time.Duration) Event {
	return Event{Kind: Advert, Src: src, Priority: prio, Interval: interval}
}

func tr(from, to State) Action { return Action{Kind: Transition, From: from, To: to} }
func send(p uint8) Action      { return Action{Kind: SendAdvert, Priority: p} }

var (
	addVIPs    = Action{Kind: AddVIPs}
	removeVIPs = Action{Kind: RemoveVIPs}
	announce   = Action{Kind: Announce}
)

type step struct {
	ev       Event
	at       time.Duration // since t0
	wantAct  []Action
	wantSt   State
	wantDown time.Duration // MasterDownAt - t0 when Backup (checked if non-zero)
}

func run(t *testing.T, m Machine, steps []step) Machine {
	t.Helper()
	for i, s := range steps {
		var acts []Action
		m, acts = Step(m, s.ev, t0.Add(s.at))
		if diff := cmp.Diff(s.wantAct, acts); diff != "" {
			t.Errorf("step %d: actions (-want +got):\n%s", i, diff)
		}
		if m.State != s.wantSt {
			t.Errorf("step %d: state %v, want %v", i, m.State, s.wantSt)
		}
		if s.wantDown != 0 {
			if got := m.MasterDownAt.Sub(t0); got != s.wantDown {
				t.Errorf("step %d: master down at +%v, want +%v", i, got, s.wantDown)
			}
		}
	}
	return m
}

// RFC 3768 §6.1 / RFC 5798 §6.1 timer formulas, and the numbers keepalived showed.
func TestTimers(t *testing.T) {
	tests := []struct {
		version       int
		prio          uint8
		interval      time.Duration
		skew, mdInter time.Duration
	}{
		{2, 100, time.Second, 609375 * time.Microsecond, 3609375 * time.Microsecond},
		{2, 100, 3 * time.Second, 609375 * time.Microsecond, 9609375 * time.Microsecond}, // v2 skew does not scale
		{3, 100, 100 * ms, 60937500, 360937500},
		{3, 150, 100 * ms, 41406250, 341406250},
		{3, 255, 10 * ms, 39062, 30039062},
		{3, 1, time.Second, 996093750, 3996093750},
	}
	for _, tc := range tests {
		if got := SkewTime(tc.version, tc.prio, tc.interval); got != tc.skew {
			t.Errorf("SkewTime(v%d, %d, %v) = %v, want %v", tc.version, tc.prio, tc.interval, got, tc.skew)
		}
		if got := MasterDownInterval(tc.version, tc.prio, tc.interval); got != tc.mdInter {
			t.Errorf("MasterDownInterval(v%d, %d, %v) = %v, want %v", tc.version, tc.prio, tc.interval, got, tc.mdInter)
		}
	}
}

// RFC 5798 §6.4.1: a non-owner starts as Backup with the full Master_Down_Interval; the
// owner (priority 255) sends an advert, takes the addresses and announces at once.
func TestStartup(t *testing.T) {
	t.Run("backup", func(t *testing.T) {
		run(t, Machine{Params: params(3, 100, 100*ms)}, []step{
			{ev: Event{Kind: Startup}, wantAct: []Action{tr(Initialize, Backup)}, wantSt: Backup, wantDown: 360937500},
		})
	})
	t.Run("owner", func(t *testing.T) {
		m := run(t, Machine{Params: params(3, 255, 100*ms)}, []step{
			{ev: Event{Kind: Startup}, wantAct: []Action{send(255), addVIPs, announce, tr(Initialize, Master)}, wantSt: Master},
		})
		if got := m.AdverAt.Sub(t0); got != 100*ms {
			t.Errorf("adver timer +%v, want +100ms", got)
		}
	})
	t.Run("faulted before startup", func(t *testing.T) {
		m, _ := Step(Machine{Params: params(3, 100, 100*ms)}, Event{Kind: FaultOn}, t0)
		run(t, m, []step{{ev: Event{Kind: Startup}, wantAct: []Action{tr(Initialize, Fault)}, wantSt: Fault}})
	})
}

// RFC 5798 §6.4.2: Master_Down_Timer fires: advert, addresses, gratuitous ARP, Master.
func TestBackupMasterDownTimer(t *testing.T) {
	m := started(t, params(2, 100, time.Second))
	run(t, m, []step{
		{ev: Event{Kind: Tick}, at: 3609 * ms, wantSt: Backup},
		{ev: Event{Kind: Tick}, at: 3609375 * time.Microsecond, wantAct: []Action{send(100), addVIPs, announce, tr(Backup, Master)}, wantSt: Master},
	})
}

// RFC 5798 §6.4.3: the Adver_Timer sends an advert every Advertisement_Interval.
func TestMasterAdverTimer(t *testing.T) {
	m := master(t, params(3, 150, 100*ms))
	base := m.AdverAt.Sub(t0)
	run(t, m, []step{
		{ev: Event{Kind: Tick}, at: base - ms, wantSt: Master},
		{ev: Event{Kind: Tick}, at: base, wantAct: []Action{send(150)}, wantSt: Master},
		{ev: Event{Kind: Tick}, at: base + 100*ms, wantAct: []Action{send(150)}, wantSt: Master},
	})
}

// RFC 5798 §6.4.2: a backup hearing priority >= its own (or any, without preempt) resets
// the down timer; with preempt it ignores a lower priority and takes over.
func TestBackupAdvert(t *testing.T) {
	tests := []struct {
		name     string
		preempt  bool
		prio     uint8
		wantDown time.Duration // relative to the advert
	}{
		{"higher resets", true, 200, 360937500},
		{"equal resets (no address compare on a backup)", true, 100, 360937500},
		{"lower ignored with preempt", true, 50, 360937500 - 200*ms},
		{"lower resets with nopreempt", false, 50, 360937500},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := params(3, 100, 100*ms)
			p.Preempt = tc.preempt
			m := started(t, p)
			m = run(t, m, []step{{ev: adv(low, tc.prio, 100*ms), at: 200 * ms, wantSt: Backup}})
			if got := m.MasterDownAt.Sub(t0.Add(200 * ms)); got != tc.wantDown {
				t.Errorf("down timer +%v after the advert, want +%v", got, tc.wantDown)
			}
		})
	}
}

// RFC 5798 §6.4.2: priority 0 from the master: Master_Down_Timer = Skew_Time.
func TestBackupPriorityZero(t *testing.T) {
	t.Run("v3", func(t *testing.T) {
		m := started(t, params(3, 100, 100*ms))
		m = run(t, m, []step{
			{ev: adv(peer, 0, 100*ms), at: 50 * ms, wantSt: Backup, wantDown: 50*ms + 60937500},
			{ev: Event{Kind: Tick}, at: 50*ms + 60937500, wantAct: []Action{send(100), addVIPs, announce, tr(Backup, Master)}, wantSt: Master},
		})
	})
	t.Run("v2 skew in seconds", func(t *testing.T) {
		m := started(t, params(2, 100, time.Second))
		run(t, m, []step{{ev: adv(peer, 0, time.Second), at: time.Second, wantSt: Backup, wantDown: time.Second + 609375*time.Microsecond}})
	})
}

// RFC 5798 §6.4.2: a v3 backup adopts the master's advertised interval; v2 does not.
func TestBackupAdoptsInterval(t *testing.T) {
	m := started(t, params(3, 100, 100*ms))
	m = run(t, m, []step{{ev: adv(peer, 200, time.Second), at: 0, wantSt: Backup, wantDown: 3609375 * time.Microsecond}})
	if m.MasterAdverInterval != time.Second {
		t.Errorf("Master_Adver_Interval %v, want 1s", m.MasterAdverInterval)
	}
	m2 := started(t, params(2, 100, time.Second))
	m2, _ = Step(m2, adv(peer, 200, 2*time.Second), t0)
	if m2.MasterAdverInterval != time.Second {
		t.Errorf("v2 Master_Adver_Interval %v, want own 1s", m2.MasterAdverInterval)
	}
}

// keepalived's preempt_delay: a lower-priority master is tolerated for the delay.
func TestPreemptDelay(t *testing.T) {
	p := params(3, 200, 100*ms)
	p.PreemptDelay = time.Second
	m := started(t, p)
	mdi := MasterDownInterval(3, 200, 100*ms)
	m = run(t, m, []step{
		{ev: adv(low, 100, 100*ms), at: 0, wantSt: Backup, wantDown: mdi},
		{ev: adv(low, 100, 100*ms), at: 900 * ms, wantSt: Backup, wantDown: 900*ms + mdi},
		{ev: adv(low, 100, 100*ms), at: time.Second, wantSt: Backup, wantDown: 900*ms + mdi}, // delay over: ignored
		{ev: Event{Kind: Tick}, at: 900*ms + mdi, wantAct: []Action{send(200), addVIPs, announce, tr(Backup, Master)}, wantSt: Master},
	})
}

// RFC 5798 §6.4.3: a master hearing a higher priority, or an equal priority from a
// greater primary address, becomes backup and releases the addresses.
func TestMasterYields(t *testing.T) {
	tests := []struct {
		name string
		ev   Event
		want State
		acts []Action
	}{
		{"higher priority", adv(low, 200, 100*ms), Backup, []Action{removeVIPs, tr(Master, Backup)}},
		{"equal priority, greater address", adv(peer, 150, 100*ms), Backup, []Action{removeVIPs, tr(Master, Backup)}},
		{"equal priority, lower address", adv(low, 150, 100*ms), Master, []Action{send(150)}},
		{"lower priority: advertise at once (keepalived)", adv(peer, 100, 100*ms), Master, []Action{send(150)}},
		{"priority 0: advertise at once", adv(peer, 0, 100*ms), Master, []Action{send(150)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := master(t, params(3, 150, 100*ms))
			at := m.AdverAt.Sub(t0) - 50*ms
			m = run(t, m, []step{{ev: tc.ev, at: at, wantAct: tc.acts, wantSt: tc.want}})
			if tc.want == Master && m.AdverAt.Sub(t0) != at+100*ms {
				t.Errorf("adver timer not reset after the immediate advert")
			}
			if tc.want == Backup && m.Master != tc.ev.Src {
				t.Errorf("master %v, want %v", m.Master, tc.ev.Src)
			}
		})
	}
}

// The owner (255) never yields: nothing is higher, and a tie needs a second owner.
func TestOwnerKeepsMaster(t *testing.T) {
	m := master(t, params(3, 255, 100*ms))
	run(t, m, []step{{ev: adv(low, 254, 100*ms), at: 10 * ms, wantAct: []Action{send(255)}, wantSt: Master}})
	m, _ = Step(m, Event{Kind: SetPriority, Priority: 100}, t0)
	if m.Params.Priority != 255 {
		t.Errorf("owner priority changed to %d", m.Params.Priority)
	}
}

// RFC 5798 §6.4.3 Shutdown: a master sends priority 0 and releases the addresses.
func TestShutdown(t *testing.T) {
	m := master(t, params(3, 150, 100*ms))
	run(t, m, []step{{ev: Event{Kind: Shutdown}, at: 5 * time.Second, wantAct: []Action{send(0), removeVIPs, tr(Master, Initialize)}, wantSt: Initialize}})
	b := started(t, params(3, 100, 100*ms))
	run(t, b, []step{{ev: Event{Kind: Shutdown}, wantAct: []Action{tr(Backup, Initialize)}, wantSt: Initialize}})
}

// keepalived's Fault: a master goes like a shutdown (priority 0, addresses released); in
// Fault adverts and timers are ignored; recovery starts over as Backup.
func TestFault(t *testing.T) {
	m := master(t, params(3, 150, 100*ms))
	m = run(t, m, []step{
		{ev: Event{Kind: FaultOn}, at: 10 * time.Second, wantAct: []Action{send(0), removeVIPs, tr(Master, Fault)}, wantSt: Fault},
		{ev: Event{Kind: Tick}, at: 20 * time.Second, wantSt: Fault},
		{ev: adv(low, 0, 100*ms), at: 20 * time.Second, wantSt: Fault},
		{ev: Event{Kind: FaultOff}, at: 30 * time.Second, wantAct: []Action{tr(Fault, Backup)}, wantSt: Backup,
			wantDown: 30*time.Second + MasterDownInterval(3, 150, 100*ms)},
	})
	if !m.NextDeadline().Equal(m.MasterDownAt) {
		t.Errorf("NextDeadline %v, want the down timer", m.NextDeadline())
	}
}

// Tracking lowers the priority: the new value goes into the next advert and the skew.
func TestSetPriority(t *testing.T) {
	m := master(t, params(3, 150, 100*ms))
	m, _ = Step(m, Event{Kind: SetPriority, Priority: 90}, t0)
	base := m.AdverAt.Sub(t0)
	m = run(t, m, []step{
		{ev: Event{Kind: Tick}, at: base, wantAct: []Action{send(90)}, wantSt: Master},
		{ev: adv(low, 100, 100*ms), at: base + ms, wantAct: []Action{removeVIPs, tr(Master, Backup)}, wantSt: Backup,
			wantDown: base + ms + MasterDownInterval(3, 90, 100*ms)},
	})
}

// keepalived vrrp_sync_group: members follow each other to Master and out of it; a
// member forced to Backup does not preempt back until it is master again.
func TestSyncGroupForcing(t *testing.T) {
	b := started(t, params(3, 200, 100*ms))
	run(t, b, []step{{ev: Event{Kind: ForceMaster}, at: ms, wantAct: []Action{send(200), addVIPs, announce, tr(Backup, Master)}, wantSt: Master}})

	m := master(t, params(3, 200, 100*ms))
	at := m.AdverAt.Sub(t0)
	m = run(t, m, []step{
		{ev: Event{Kind: ForceBackup}, at: at, wantAct: []Action{removeVIPs, tr(Master, Backup)}, wantSt: Backup},
		// Held: a lower-priority master's advert resets the timer instead of being ignored.
		{ev: adv(low, 100, 100*ms), at: at + 50*ms, wantSt: Backup, wantDown: at + 50*ms + MasterDownInterval(3, 200, 100*ms)},
	})
	if !m.Held {
		t.Errorf("not held after ForceBackup")
	}
	m, _ = Step(m, Event{Kind: Tick}, m.MasterDownAt)
	if m.State != Master || m.Held {
		t.Errorf("after the down timer: %v held=%v, want MASTER not held", m.State, m.Held)
	}
}

// A sync group member whose down timer is due while another member still hears a live
// master stays Backup and restarts its timer (keepalived vrrp_sync_can_goto_master).
func TestDeferTakeover(t *testing.T) {
	m := started(t, params(3, 100, 100*ms))
	m, _ = Step(m, adv(peer, 150, 100*ms), t0)
	due := m.MasterDownAt
	m = run(t, m, []step{{ev: Event{Kind: DeferTakeover}, at: due.Sub(t0), wantSt: Backup, wantDown: due.Sub(t0) + MasterDownInterval(3, 100, 100*ms)}})
	if m.Master.IsValid() {
		t.Errorf("master %v kept after deferring", m.Master)
	}
}

func TestStateText(t *testing.T) {
	for _, s := range []State{Initialize, Backup, Master, Fault} {
		b, _ := s.MarshalText()
		var got State
		if err := got.UnmarshalText(b); err != nil || got != s {
			t.Errorf("%v -> %q -> %v (%v)", s, b, got, err)
		}
	}
	var s State
	if s.UnmarshalText([]byte("LEADER")) == nil {
		t.Error("unknown state accepted")
	}
}

// Handover: a master that is shut down keeps its addresses until a new master has
// advertised and had HandoverGrace for its gratuitous ARPs, re-sending priority 0 every
// interval until then; it never advertises its own priority again.
func TestShutdownHandover(t *testing.T) {
	p := params(3, 150, 100*ms)
	p.Handover = true
	m := master(t, p)
	at := m.AdverAt.Sub(t0) - 50*ms // mid-interval
	limit := HandoverLimit(3, 100*ms)
	if limit != 300*ms+SkewTime(3, 1, 100*ms) {
		t.Fatalf("HandoverLimit = %v", limit)
	}
	m = run(t, m, []step{
		{ev: Event{Kind: Shutdown}, at: at, wantAct: []Action{send(0)}, wantSt: Master},
		// Tracking and priority-0 adverts from others change nothing; no answer is sent.
		{ev: Event{Kind: SetPriority, Priority: 200}, at: at + ms, wantSt: Master},
		{ev: adv(low, 0, 100*ms), at: at + 2*ms, wantSt: Master},
		// The first priority-0 advert was lost: another one an interval later.
		{ev: Event{Kind: Tick}, at: at + 100*ms, wantAct: []Action{send(0)}, wantSt: Master},
		// The backup takes over: the addresses stay for the grace.
		{ev: adv(low, 100, 100*ms), at: at + 160*ms, wantSt: Master},
		{ev: Event{Kind: Tick}, at: at + 200*ms, wantSt: Master}, // no more priority 0
		{ev: Event{Kind: Tick}, at: at + 259*ms, wantSt: Master},
		{ev: Event{Kind: Tick}, at: at + 260*ms, wantAct: []Action{removeVIPs, tr(Master, Initialize)}, wantSt: Initialize},
	})
	if !m.NextDeadline().IsZero() || m.Leaving() {
		t.Errorf("after release: deadline %v, leaving %v", m.NextDeadline(), m.Leaving())
	}
	if m.Params.Priority != 150 {
		t.Errorf("priority changed while leaving: %d", m.Params.Priority)
	}
}

func TestShutdownHandoverEnds(t *testing.T) {
	p := params(2, 150, time.Second)
	p.Handover = true
	limit := HandoverLimit(2, time.Second)
	for _, tc := range []struct {
		name  string
		steps func(at time.Duration) []step
	}{
		{"no backup: released at the limit", func(at time.Duration) []step {
			return []step{
				{ev: Event{Kind: Tick}, at: at + limit - ms, wantAct: []Action{send(0)}, wantSt: Master},
				{ev: Event{Kind: Tick}, at: at + limit, wantAct: []Action{removeVIPs, tr(Master, Initialize)}, wantSt: Initialize},
			}
		}},
		{"second shutdown: released at once", func(at time.Duration) []step {
			return []step{{ev: Event{Kind: Shutdown}, at: at + ms, wantAct: []Action{removeVIPs, tr(Master, Initialize)}, wantSt: Initialize}}
		}},
		{"fault: released at once", func(at time.Duration) []step {
			return []step{{ev: Event{Kind: FaultOn}, at: at + ms, wantAct: []Action{removeVIPs, tr(Master, Initialize)}, wantSt: Initialize}}
		}},
		{"v2 grace is capped", func(at time.Duration) []step {
			return []step{
				{ev: adv(peer, 100, time.Second), at: at + 700*ms, wantSt: Master},
				{ev: Event{Kind: Tick}, at: at + 900*ms, wantAct: []Action{removeVIPs, tr(Master, Initialize)}, wantSt: Initialize},
			}
		}},
		{"sync group moves are ignored", func(at time.Duration) []step {
			return []step{
				{ev: Event{Kind: ForceBackup}, at: at + ms, wantSt: Master},
				{ev: Event{Kind: DeferTakeover}, at: at + 2*ms, wantSt: Master},
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := master(t, p)
			at := m.AdverAt.Sub(t0) - 500*ms
			m = run(t, m, append([]step{{ev: Event{Kind: Shutdown}, at: at, wantAct: []Action{send(0)}, wantSt: Master}}, tc.steps(at)...))
			_ = m
		})
	}
	// A backup that is shut down has nothing to hand over.
	b := started(t, p)
	run(t, b, []step{{ev: Event{Kind: Shutdown}, wantAct: []Action{tr(Backup, Initialize)}, wantSt: Initialize}})
}
