// Package fsm is the VRRP router state machine of RFC 5798 §6.4 (and RFC 3768 §6.4) as a
// pure step function: state, event and time in; next state and actions out.
package fsm

import (
	"fmt"
	"net/netip"
	"time"
)

// State is a VRRP router state. Fault is keepalived's extra state for a router whose
// tracked interface or check is down: it neither advertises nor takes over.
type State uint8

const (
	Initialize State = iota
	Backup
	Master
	Fault
)

func (s State) String() string {
	switch s {
	case Initialize:
		return "INIT"
	case Backup:
		return "BACKUP"
	case Master:
		return "MASTER"
	case Fault:
		return "FAULT"
	}
	return "UNKNOWN"
}

// Params are the router's configuration as the state machine needs it.
type Params struct {
	Version int
	// Priority is the effective priority (after tracking); 255 is the address owner.
	Priority uint8
	// Interval is this router's own Advertisement_Interval.
	Interval     time.Duration
	Preempt      bool
	PreemptDelay time.Duration
	// Primary is the address this router sends from; it breaks priority ties
	// (RFC 5798 §6.4.3).
	Primary netip.Addr
	// Handover makes a clean stop make-before-break: on Shutdown a master sends
	// priority 0 as the RFC says but keeps its addresses (and keeps sending priority 0
	// every interval) until a new master advertises, plus HandoverGrace for its
	// gratuitous ARPs to land, or at most HandoverLimit. Without it the addresses go at
	// once, and clients see no answer for the backup's skew time.
	Handover bool
}

// HandoverGrace is how long a leaving master keeps its addresses after the new
// master's first advert: one interval, at most 200 ms. The new master advertises before
// it adds the addresses and sends its gratuitous ARPs; the grace covers that.
func HandoverGrace(interval time.Duration) time.Duration { return min(interval, 200*time.Millisecond) }

// HandoverLimit is the longest a leaving master keeps its addresses: the master down
// interval of the lowest possible priority. Any live backup has taken over by then,
// even one that heard none of the priority-0 adverts.
func HandoverLimit(version int, interval time.Duration) time.Duration {
	return MasterDownInterval(version, 1, interval)
}

// Machine is the whole state of one virtual router. It is a value: Step returns a new one.
type Machine struct {
	Params Params
	State  State
	// MasterAdverInterval is the interval the current master advertises: ours when we
	// are master, the master's when v3 backup (RFC 5798 §6.1).
	MasterAdverInterval time.Duration
	// MasterDownAt is when the Master_Down_Timer fires (Backup); AdverAt when the
	// Adver_Timer fires (Master). Zero means not running.
	MasterDownAt time.Time
	AdverAt      time.Time
	// PreemptAt is when a backup stops deferring to a lower-priority master
	// (keepalived's preempt_delay); zero when no delay is running.
	PreemptAt time.Time
	// Master is the address of the master we last heard (Backup) or our own (Master).
	Master netip.Addr
	// Faulted is set while a tracked item holds the router in Fault.
	Faulted bool
	// Held is set when a sync group forced this router to Backup: it then defers to any
	// master, as without preempt, until it becomes master again; otherwise it would
	// preempt back and drag its group with it.
	Held bool
	// LeaveBy is set while a master that was shut down hands over (Params.Handover): it
	// still holds the addresses and releases them at LeaveBy, or HandoverGrace after a
	// new master's advert, whichever is first. Master is then the new master.
	LeaveBy time.Time
}

// Leaving reports whether the machine is a master handing over after Shutdown.
func (m Machine) Leaving() bool { return m.State == Master && !m.LeaveBy.IsZero() }

// EventKind says what happened.
type EventKind uint8

const (
	// Startup: the router is enabled (RFC 5798 §6.4.1).
	Startup EventKind = iota
	// Shutdown: the router is disabled; a master sends priority 0 (RFC 5798 §6.4.3).
	Shutdown
	// Tick: time passed; timers whose deadline is not after now fire.
	Tick
	// Advert: a valid advertisement for our VRID arrived.
	Advert
	// FaultOn / FaultOff: a tracked item that forces Fault went down / came back.
	FaultOn
	FaultOff
	// SetPriority: tracking changed the effective priority to Event.Priority.
	SetPriority
	// ForceMaster / ForceBackup: another member of our sync group became master / left
	// master, and the group moves together (keepalived vrrp_sync_group).
	ForceMaster
	ForceBackup
	// DeferTakeover: the Master_Down_Timer is due but the sync group cannot go master
	// (another member still hears a live master): forget the master, restart the timer.
	DeferTakeover
)

// Event is one input to Step.
type Event struct {
	Kind EventKind
	// For Advert: the sender, its priority and its advertised interval.
	// For SetPriority: the new priority.
	Src      netip.Addr
	Priority uint8
	Interval time.Duration
}

// ActionKind says what the runner must do.
type ActionKind uint8

const (
	// SendAdvert: send an advertisement with Action.Priority.
	SendAdvert ActionKind = iota
	// AddVIPs / RemoveVIPs: take / release the virtual addresses.
	AddVIPs
	RemoveVIPs
	// Announce: gratuitous ARP / unsolicited NA for the virtual addresses.
	Announce
	// Transition: the state changed from Action.From to Action.To (notify, metrics).
	Transition
)

// Action is one output of Step, to be carried out in order.
type Action struct {
	Kind     ActionKind
	Priority uint8
	From, To State
}

func (k ActionKind) String() string {
	return [...]string{"SendAdvert", "AddVIPs", "RemoveVIPs", "Announce", "Transition"}[k]
}

// SkewTime is Skew_Time: RFC 3768 §6.1 (v2) (256-Priority)/256 seconds, not scaled by the
// interval; RFC 5798 §6.1 (v3) ((256-Priority) x Master_Adver_Interval)/256.
func SkewTime(version int, priority uint8, masterAdverInterval time.Duration) time.Duration {
	if version == 2 {
		return time.Duration(256-int(priority)) * time.Second / 256
	}
	return time.Duration(256-int(priority)) * masterAdverInterval / 256
}

// MasterDownInterval is 3 x Master_Adver_Interval + Skew_Time (RFC 5798 §6.1).
func MasterDownInterval(version int, priority uint8, masterAdverInterval time.Duration) time.Duration {
	return 3*masterAdverInterval + SkewTime(version, priority, masterAdverInterval)
}

// NextDeadline is when Step next needs a Tick, or the zero time when no timer runs.
func (m Machine) NextDeadline() time.Time {
	switch m.State {
	case Backup:
		return m.MasterDownAt
	case Master:
		if !m.LeaveBy.IsZero() && m.LeaveBy.Before(m.AdverAt) {
			return m.LeaveBy
		}
		return m.AdverAt
	}
	return time.Time{}
}

func (m *Machine) to(s State, acts []Action) []Action {
	if m.State == s {
		return acts
	}
	acts = append(acts, Action{Kind: Transition, From: m.State, To: s})
	m.State = s
	return acts
}

func (m *Machine) becomeMaster(now time.Time, acts []Action) []Action {
	// keepalived's order (and the RFC's): advertise first so that the old master and the
	// other backups stand down, then take the addresses, then move the clients.
	acts = append(acts,
		Action{Kind: SendAdvert, Priority: m.Params.Priority},
		Action{Kind: AddVIPs},
		Action{Kind: Announce})
	m.MasterAdverInterval = m.Params.Interval
	m.AdverAt = now.Add(m.Params.Interval)
	m.MasterDownAt = time.Time{}
	m.PreemptAt = time.Time{}
	m.Held = false
	m.Master = m.Params.Primary
	return m.to(Master, acts)
}

func (m *Machine) becomeBackup(now time.Time, acts []Action) []Action {
	m.AdverAt = time.Time{}
	m.MasterDownAt = now.Add(MasterDownInterval(m.Params.Version, m.Params.Priority, m.MasterAdverInterval))
	return m.to(Backup, acts)
}

// start is RFC 5798 §6.4.1: the owner becomes master at once, any other router backup.
func (m *Machine) start(now time.Time, acts []Action) []Action {
	if m.Params.Priority == 255 {
		return m.becomeMaster(now, acts)
	}
	m.MasterAdverInterval = m.Params.Interval
	m.Master = netip.Addr{}
	return m.becomeBackup(now, acts)
}

// Step applies one event at time now and returns the next machine and the actions to
// carry out, in order.
func Step(m Machine, ev Event, now time.Time) (Machine, []Action) {
	var acts []Action
	if m.Leaving() && ev.Kind != Shutdown {
		return m, m.leaving(ev, now, acts)
	}
	switch ev.Kind {
	case SetPriority:
		// An owner's priority never changes (keepalived); others follow tracking. The new
		// value enters the skew at the next timer reset and the next advert.
		if m.Params.Priority != 255 {
			m.Params.Priority = ev.Priority
		}
		return m, nil
	case FaultOn:
		m.Faulted = true
		if m.State == Master {
			// Like a shutdown: let a backup take over after only its skew.
			acts = append(acts, Action{Kind: SendAdvert, Priority: 0}, Action{Kind: RemoveVIPs})
		}
		if m.State == Initialize {
			return m, nil // stays disabled; Startup will find Faulted
		}
		m.MasterDownAt, m.AdverAt, m.PreemptAt = time.Time{}, time.Time{}, time.Time{}
		m.Master = netip.Addr{}
		return m, m.to(Fault, acts)
	case FaultOff:
		m.Faulted = false
		if m.State != Fault {
			return m, nil
		}
		return m, m.start(now, acts)
	case ForceMaster:
		if m.State == Backup {
			return m, m.becomeMaster(now, acts)
		}
		return m, nil
	case ForceBackup:
		if m.State == Master {
			m.Held = true
			acts = append(acts, Action{Kind: RemoveVIPs})
			m.Master = netip.Addr{}
			return m, m.becomeBackup(now, acts)
		}
		if m.State == Backup {
			m.Held = true
		}
		return m, nil
	case DeferTakeover:
		if m.State == Backup {
			m.Master = netip.Addr{}
			m.MasterDownAt = now.Add(MasterDownInterval(m.Params.Version, m.Params.Priority, m.MasterAdverInterval))
		}
		return m, nil
	case Shutdown:
		if m.State == Master && m.Params.Handover && !m.Leaving() {
			m.LeaveBy = now.Add(HandoverLimit(m.Params.Version, m.Params.Interval))
			m.AdverAt = now.Add(m.Params.Interval)
			return m, append(acts, Action{Kind: SendAdvert, Priority: 0})
		}
		if m.State == Master && !m.Leaving() {
			acts = append(acts, Action{Kind: SendAdvert, Priority: 0})
		}
		return m, m.release(acts)
	}

	switch m.State {
	case Initialize:
		if ev.Kind == Startup {
			if m.Faulted {
				return m, m.to(Fault, acts)
			}
			return m, m.start(now, acts)
		}
	case Backup:
		switch ev.Kind {
		case Tick:
			if !m.MasterDownAt.IsZero() && !now.Before(m.MasterDownAt) {
				return m, m.becomeMaster(now, acts)
			}
		case Advert:
			return m, m.backupAdvert(ev, now, acts)
		}
	case Master:
		switch ev.Kind {
		case Tick:
			if !m.AdverAt.IsZero() && !now.Before(m.AdverAt) {
				acts = append(acts, Action{Kind: SendAdvert, Priority: m.Params.Priority})
				m.AdverAt = now.Add(m.Params.Interval)
			}
		case Advert:
			return m, m.masterAdvert(ev, now, acts)
		}
	}
	return m, acts
}

// release ends a master's (or a leaving master's) tenure on Shutdown: the addresses go
// and the router is disabled.
func (m *Machine) release(acts []Action) []Action {
	if m.State == Master {
		acts = append(acts, Action{Kind: RemoveVIPs})
	}
	m.MasterDownAt, m.AdverAt, m.PreemptAt, m.LeaveBy = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	m.Master = netip.Addr{}
	return m.to(Initialize, acts)
}

// leaving handles a master handing over after Shutdown. It never advertises its own
// priority again: only priority 0, every interval, until a new master is heard (a lost
// priority-0 advert then costs one interval, not the backup's whole master down
// interval). A fault ends the handover at once; tracking and sync-group moves are
// ignored, the router is going away.
func (m *Machine) leaving(ev Event, now time.Time, acts []Action) []Action {
	switch ev.Kind {
	case Tick:
		if !now.Before(m.LeaveBy) {
			return m.release(acts)
		}
		if !m.AdverAt.IsZero() && !now.Before(m.AdverAt) {
			m.AdverAt = now.Add(m.Params.Interval)
			if m.Master == m.Params.Primary {
				acts = append(acts, Action{Kind: SendAdvert, Priority: 0})
			}
		}
	case Advert:
		if ev.Priority == 0 {
			return acts // another router leaving too; answering would call the backups off
		}
		if m.Master == m.Params.Primary {
			m.Master = ev.Src
			if by := now.Add(HandoverGrace(m.Params.Interval)); by.Before(m.LeaveBy) {
				m.LeaveBy = by
			}
		}
	case FaultOn:
		m.Faulted = true
		return m.release(acts)
	case FaultOff:
		m.Faulted = false
	}
	return acts
}

// backupAdvert is RFC 5798 §6.4.2 "If an ADVERTISEMENT is received".
func (m *Machine) backupAdvert(ev Event, now time.Time, acts []Action) []Action {
	if ev.Priority == 0 {
		// The master is leaving: take over after the skew only.
		m.MasterDownAt = now.Add(SkewTime(m.Params.Version, m.Params.Priority, m.MasterAdverInterval))
		m.Master = netip.Addr{}
		return acts
	}
	preempt := m.Params.Preempt && !m.Held
	yield := !preempt || ev.Priority >= m.Params.Priority
	if !yield && m.Params.PreemptDelay > 0 {
		// keepalived's preempt_delay: keep deferring to a lower-priority master until the
		// delay, counted from the first such advert, has passed.
		if m.PreemptAt.IsZero() {
			m.PreemptAt = now.Add(m.Params.PreemptDelay)
		}
		yield = now.Before(m.PreemptAt)
	}
	if !yield {
		return acts // discard: the down timer runs out and we preempt
	}
	if ev.Priority >= m.Params.Priority || !preempt {
		m.PreemptAt = time.Time{}
	}
	if m.Params.Version == 3 && ev.Interval > 0 {
		m.MasterAdverInterval = ev.Interval // RFC 5798 §6.4.2: adopt the master's interval
	}
	m.MasterDownAt = now.Add(MasterDownInterval(m.Params.Version, m.Params.Priority, m.MasterAdverInterval))
	m.Master = ev.Src
	return acts
}

// masterAdvert is RFC 5798 §6.4.3 "If an ADVERTISEMENT is received".
func (m *Machine) masterAdvert(ev Event, now time.Time, acts []Action) []Action {
	if ev.Priority == 0 {
		// Another router leaves: advertise at once so backups do not take over after skew.
		m.AdverAt = now.Add(m.Params.Interval)
		return append(acts, Action{Kind: SendAdvert, Priority: m.Params.Priority})
	}
	higher := ev.Priority > m.Params.Priority ||
		ev.Priority == m.Params.Priority && addrGreater(ev.Src, m.Params.Primary)
	if higher {
		if m.Params.Version == 3 && ev.Interval > 0 {
			m.MasterAdverInterval = ev.Interval
		}
		acts = append(acts, Action{Kind: RemoveVIPs})
		m.Master = ev.Src
		return m.becomeBackup(now, acts)
	}
	// A lower priority master exists (after a partition heals, or a nopreempt peer that
	// thinks it is master): keepalived answers at once instead of waiting for the timer,
	// so the other side stands down one interval sooner. The RFC would discard it.
	m.AdverAt = now.Add(m.Params.Interval)
	return append(acts, Action{Kind: SendAdvert, Priority: m.Params.Priority})
}

// addrGreater compares primary addresses as unsigned integers in network byte order
// (RFC 5798 §6.4.3).
func addrGreater(a, b netip.Addr) bool { return a.Compare(b) > 0 }

// MarshalText writes the state as keepalived names it (MASTER, BACKUP, FAULT, INIT).
func (s State) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads a state written by MarshalText.
func (s *State) UnmarshalText(b []byte) error {
	for _, c := range []State{Initialize, Backup, Master, Fault} {
		if c.String() == string(b) {
			*s = c
			return nil
		}
	}
	return fmt.Errorf("unknown VRRP state %q", b)
}
