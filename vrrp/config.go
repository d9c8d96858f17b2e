package vrrp

import (
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// Config is one virtual router (keepalived's vrrp_instance).
type Config struct {
	Name      string
	Interface string
	VRID      uint8
	// Priority is the base priority, 1-255; 255 means this router owns the addresses.
	Priority uint8
	// Version is 2 (RFC 3768, IPv4 only, whole-second intervals) or 3 (RFC 5798).
	Version int
	// Interval is the advertisement interval: 1-255 s for v2, 10 ms-40.95 s in
	// centiseconds for v3.
	Interval     time.Duration
	Preempt      bool
	PreemptDelay time.Duration
	// Accept is RFC 5798 Accept_Mode: a non-owner master accepts packets for the
	// virtual addresses. Linux accepts them whenever the address is on the interface,
	// so false is not enforced (keepalived needs nftables for no_accept).
	Accept bool
	// VIPs are the virtual addresses with their prefix length, all of one family; the
	// family of the first selects IPv4 or IPv6 (v3 only).
	VIPs []netip.Prefix
	// VIPDevices put some of VIPs on another interface or give them a label
	// (keepalived's dev and label); the others go on Interface.
	VIPDevices []VIPDevice
	// UnicastSrc and UnicastPeers replace multicast when UnicastPeers is not empty.
	UnicastSrc   netip.Addr
	UnicastPeers []netip.Addr
	GARP         GARPConfig
	Tracks       []Track
	Notify       Notify
	// Handover makes a clean stop make-before-break: the master sends priority 0 and
	// keeps its addresses until a new master advertises (plus a short grace for its
	// gratuitous ARPs), at most 3 x interval + skew; see fsm.Params.Handover. Without it
	// the addresses go at once (the RFC's and keepalived's behaviour) and clients see
	// nothing answer for the backup's skew time.
	Handover bool
	// Auth is the VRRPv2 authentication (keepalived's PASS or AH); none by default.
	Auth Auth
}

// GARPConfig says how a new master announces its addresses. Zero values take
// keepalived's defaults: 5 packets at once and 5 more after 5 s, no refresh.
type GARPConfig struct {
	// Count is how many gratuitous ARPs / NAs per address are sent on becoming master.
	Count int
	// Delay is when the second burst goes out; negative: no second burst.
	Delay time.Duration
	// Repeat is how many go out in the second burst and in each refresh (default Count).
	Repeat int
	// Refresh, when positive, repeats the announcement periodically while master.
	Refresh time.Duration
}

// TrackKind is what a tracked item is.
type TrackKind int

const (
	// TrackInterface is a network interface, watched inside this package.
	TrackInterface TrackKind = iota
	// TrackExternal is reported by the caller through SetTracked (a virtual server's
	// health, reported by the director).
	TrackExternal
	// TrackScript (a vrrp_script's verdict) and TrackProcess (a process quorum) are up or
	// down, reported through SetTracked by a Tracker that Trackers runs. The instance
	// starts only once each has reported.
	TrackScript
	TrackProcess
	// TrackFile is the integer in a file, reported through SetTrackedValue by a
	// FileTracker; the instance starts only once it has reported.
	TrackFile
)

// Track is one tracked item, with keepalived's rules. An up/down item: weight 0 puts
// the router in Fault while the item is down; a positive weight is added to the priority
// while it is up, a negative weight while it is down. A TrackFile: value x weight is
// added (limited to -254..253); at -254 the router is in Fault, and with weight 0 any
// value but 0 puts it in Fault. The priority stays within 1..254; an owner's (255)
// never changes.
type Track struct {
	Name   string
	Kind   TrackKind
	Weight int
}

// Notify holds commands run on transitions: Master, Backup or Fault on entering that
// state, Any on every transition. Each gets four extra arguments, like keepalived's
// generic notify: "INSTANCE" NAME STATE PRIORITY, and the environment VRRP_INSTANCE,
// VRRP_STATE, VRRP_PRIORITY beside PATH, and nothing of vigil's own environment (see
// ExecCommand). Commands of one instance run one at a time, in order.
type Notify struct {
	Master, Backup, Fault, Any []string
	// Timeout bounds each command (default 10 s); it is then killed.
	Timeout time.Duration
}

func (c *Config) family6() bool { return len(c.VIPs) > 0 && c.VIPs[0].Addr().Is6() }

// Validate reports what is wrong with c, all at once.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.Interface == "" {
		bad("no interface")
	}
	if c.VRID == 0 {
		bad("virtual router id 0: must be 1-255")
	}
	if c.Priority == 0 {
		bad("priority 0 is reserved for a master that stops (RFC 5798 §5.2.4)")
	}
	switch c.Version {
	case 2:
		if c.Interval < time.Second || c.Interval > 255*time.Second || c.Interval%time.Second != 0 {
			bad("v2 interval %s: must be 1-255 whole seconds (RFC 3768 §5.3.7)", c.Interval)
		}
		if c.family6() {
			bad("VRRP v2 is IPv4 only: use version 3 for IPv6")
		}
	case 3:
		if c.Interval < 10*time.Millisecond || c.Interval > 4095*10*time.Millisecond || c.Interval%(10*time.Millisecond) != 0 {
			bad("v3 interval %s: must be 10ms-40.95s in whole centiseconds (RFC 5798 §5.2.7)", c.Interval)
		}
	default:
		bad("version %d: must be 2 or 3", c.Version)
	}
	if len(c.VIPs) == 0 {
		bad("no virtual addresses")
	}
	if len(c.VIPs) > 255 {
		bad("%d virtual addresses: at most 255 fit in an advert", len(c.VIPs))
	}
	for _, v := range c.VIPs {
		if v.Addr().Is6() != c.family6() {
			bad("virtual address %s: all must be of one family", v)
		}
	}
	for _, p := range c.UnicastPeers {
		if p.Is6() != c.family6() {
			bad("unicast peer %s: not of the family of the virtual addresses", p)
		}
	}
	errs = append(errs, c.Auth.validate(c)...)
	c.validateDevices(bad)
	for _, t := range c.Tracks {
		if t.Weight < -254 || t.Weight > 254 {
			bad("track %q: weight %d outside -254..254", t.Name, t.Weight)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("vrrp instance %q: %w", c.Name, errors.Join(errs...))
	}
	return nil
}

func (g GARPConfig) withDefaults() GARPConfig {
	if g.Count <= 0 {
		g.Count = 5
	}
	if g.Delay == 0 {
		g.Delay = 5 * time.Second
	}
	if g.Repeat <= 0 {
		g.Repeat = g.Count
	}
	return g
}
