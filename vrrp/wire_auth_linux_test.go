package vrrp_test

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/testing/testenv"
	"github.com/vigil-lb/vigil/vrrp"
	"github.com/vigil-lb/vigil/vrrp/advert"
	"github.com/vigil-lb/vigil/vrrp/fsm"
	"github.com/vigil-lb/vigil/vrrp/vrrptest/vrrplab"
)

// authPeer is one side's authentication in a mixed vigil + keepalived pair.
type authPeer struct {
	typ      advert.AuthType
	password string
}

func (a authPeer) keepalived() vrrplab.KeepalivedAuth {
	return vrrplab.KeepalivedAuth{Type: strings.ToUpper(a.typ.String()), Password: a.password}
}

func (a authPeer) vigil(t *testing.T) vrrp.Auth {
	k, err := advert.NewKey(a.password)
	if err != nil {
		t.Fatal(err)
	}
	return vrrp.Auth{Type: a.typ, Key: k}
}

// pairOpts is one mixed pair: d1 priority 150, d2 100, VRRPv2 at 1 s (the only interval
// v2 allows keepalived), authentication, multicast or unicast.
type pairOpts struct {
	vigilMaster bool // vigil is d1
	auth        authPeer
	unicast     bool
}

func startPair(t *testing.T, lab *vrrplab.Lab, o pairOpts, name string) *vrrplab.Daemon {
	t.Helper()
	h := lab.Director(name)
	self, peer := labD1, labD2
	prio := uint8(150)
	if name == "d2" {
		self, peer, prio = labD2, labD1, 100
	}
	if o.vigilMaster == (name == "d1") {
		cfg := vrrplab.VigilConfig(name, prio, 2, time.Second)
		cfg.Auth = o.auth.vigil(t)
		if o.unicast {
			cfg.UnicastSrc, cfg.UnicastPeers = self, []netip.Addr{peer}
		}
		return lab.StartVigil(h, cfg)
	}
	kc := vrrplab.KeepalivedConfig{Priority: prio, Version: 2, Interval: time.Second, Auth: o.auth.keepalived()}
	if o.unicast {
		kc.Unicast = vrrplab.KeepalivedUnicast{Src: self, Peers: []netip.Addr{peer}}
	}
	return lab.StartKeepalived(h, kc)
}

// vigil and keepalived authenticating alike, PASS and AH, multicast and unicast (keepalived's
// unicast_src_ip / unicast_peer against vigil's unicast_src / unicast_peers), in both
// roles: the right master, failover to the other on SIGTERM, preemption back by a
// restarted d1 (whose AH sequence starts again at 1), nothing refused on either side.
// The cases run in parallel: VRRPv2 spends its time waiting whole seconds.
func TestWireKeepalivedAuth(t *testing.T) {
	testenv.RequireBinary(t, "keepalived")
	for _, unicast := range []bool{false, true} {
		for _, typ := range []advert.AuthType{advert.AuthPass, advert.AuthAH} {
			for _, vigilMaster := range []bool{true, false} {
				o := pairOpts{vigilMaster: vigilMaster, auth: authPeer{typ, "Vig1l-pw"}, unicast: unicast}
				mode := "multicast"
				if unicast {
					mode = "unicast"
				}
				role := "keepalived master"
				if vigilMaster {
					role = "vigil master"
				}
				t.Run(fmt.Sprintf("%s %s %s", typ, mode, role), func(t *testing.T) {
					t.Parallel()
					lab := requireLab(t)
					mdi := fsm.MasterDownInterval(2, 100, time.Second)
					d1 := startPair(t, lab, o, "d1")
					d2 := startPair(t, lab, o, "d2")
					waitHolder(t, lab, "d1", mdi+10*time.Second)
					settleOne(t, lab, "d1", 1500*time.Millisecond)

					d1.Term()
					if err := d1.Wait(10 * time.Second); err != nil {
						t.Fatalf("d1: %v", err)
					}
					waitHolder(t, lab, "d2", mdi+5*time.Second)
					settleOne(t, lab, "d2", 1500*time.Millisecond)

					d1 = startPair(t, lab, o, "d1")
					waitHolder(t, lab, "d1", 2*mdi+10*time.Second)
					settleOne(t, lab, "d1", 1500*time.Millisecond)

					d2.Term()
					d2.Wait(10 * time.Second)
					d1.Term()
					d1.Wait(10 * time.Second)
					for _, d := range []*vrrplab.Daemon{d1, d2} {
						if d.Keepalived {
							checkKeepalivedLog(t, d.Output())
							continue
						}
						s, err := d.Status()
						if err != nil {
							t.Fatalf("vigil status: %v", err)
						}
						if len(s.Invalid) != 0 || s.AdvertsReceived == 0 {
							t.Errorf("vigil on %s: received %d, dropped %v; want keepalived's adverts, none refused", d.Name, s.AdvertsReceived, s.Invalid)
						}
						if strings.Contains(d.Output(), o.auth.password) {
							t.Errorf("vigil on %s logged the password", d.Name)
						}
					}
				})
			}
		}
	}
}

// A wrong password, PASS and AH: each side refuses the other's adverts, so both become
// master (keepalived's own behaviour between two keepalived); keepalived says so in its
// log, vigil counts them under "authentication".
func TestWireKeepalivedWrongPassword(t *testing.T) {
	testenv.RequireBinary(t, "keepalived")
	for _, tc := range []struct {
		typ        advert.AuthType
		complaint  string // keepalived's log line (docs/reference.md, keepalived's authentication)
		vigilCount string
	}{
		{advert.AuthPass, "received an invalid passwd!", "wrong password"},
		{advert.AuthAH, "invalid IPSEC HMAC-MD5 value", "AH ICV does not verify"},
	} {
		t.Run(tc.typ.String(), func(t *testing.T) {
			t.Parallel()
			lab := requireLab(t)
			mdi := fsm.MasterDownInterval(2, 100, time.Second)
			k := lab.StartKeepalived(lab.D1, vrrplab.KeepalivedConfig{Priority: 150, Version: 2, Interval: time.Second,
				Auth: authPeer{tc.typ, "keepalvd"}.keepalived()})
			cfg := vrrplab.VigilConfig("d2", 100, 2, time.Second)
			cfg.Auth = authPeer{tc.typ, "vigil-pw"}.vigil(t)
			v := lab.StartVigil(lab.D2, cfg)
			vrrplab.WaitFor(t, mdi+10*time.Second, "both holding the VIP", func() bool { return len(lab.Holders()) == 2 })
			deadline := time.Now().Add(5 * time.Second)
			for s, _ := v.Status(); s.Invalid[advert.ReasonAuthentication] < 2 || !strings.Contains(k.Output(), tc.complaint); s, _ = v.Status() {
				if time.Now().After(deadline) {
					t.Fatalf("after 5 s: vigil's status %+v; keepalived's complaint %q logged: %v", s, tc.complaint, strings.Contains(k.Output(), tc.complaint))
				}
				time.Sleep(20 * time.Millisecond)
			}
			if s, _ := v.Status(); s.AdvertsReceived != 0 || len(s.Invalid) != 1 {
				t.Errorf("vigil received %d, dropped %v; want every advert refused for authentication", s.AdvertsReceived, s.Invalid)
			}
			if out := v.Output(); !strings.Contains(out, tc.vigilCount) || strings.Contains(out, "vigil-pw") || strings.Contains(out, "keepalvd") {
				t.Errorf("vigil's log: want %q and no password:\n%s", tc.vigilCount, out)
			}
		})
	}
}
