package vrrp_test

import (
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/vigil-lb/vigil/internal/testing/testenv"
	"github.com/vigil-lb/vigil/vrrp"
	"github.com/vigil-lb/vigil/vrrp/advert"
	"github.com/vigil-lb/vigil/vrrp/vrrptest"
)

func authConfig(t *testing.T, name string, prio uint8, typ advert.AuthType, password string) vrrp.Config {
	t.Helper()
	cfg := baseConfig(name, prio)
	cfg.Version, cfg.Interval = 2, time.Second
	cfg.Auth.Type = typ
	if password != "" {
		k, err := advert.NewKey(password)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Auth.Key = k
	}
	return cfg
}

// logged gives n's instance a logger writing to the returned buffer.
func logged(t *testing.T, link *vrrptest.Link, src netip.Addr, cfg vrrp.Config) (*node, *testenv.Buffer) {
	t.Helper()
	buf := &testenv.Buffer{}
	n := newNode(t, link, src, cfg, nil)
	in, err := vrrp.NewInstance(cfg, vrrp.Deps{
		Transport: n.port, Addresses: n.addrs, Announcer: n.ann, Links: n.links,
		Logger: slog.New(slog.NewTextHandler(buf, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	n.in = in
	return n, buf
}

// Two routers with the same authentication elect one master and drop nothing; the
// password is in no log line.
func TestAuthenticatedPair(t *testing.T) {
	for _, typ := range []advert.AuthType{advert.AuthPass, advert.AuthAH} {
		t.Run(typ.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				link := &vrrptest.Link{}
				a, alog := logged(t, link, d1, authConfig(t, "a", 150, typ, "pw-8char"))
				b, blog := logged(t, link, d2, authConfig(t, "b", 100, typ, "pw-8char"))
				a.start(t)
				b.start(t)
				waitFor(t, "a master, b backup hearing it", func() bool {
					return state(a) == vrrp.Master && state(b) == vrrp.Backup && b.in.Status().AdvertsReceived >= 2
				})
				if inv := b.in.Status().Invalid; len(inv) != 0 {
					t.Errorf("b dropped %v", inv)
				}
				for _, p := range a.port.Sent() {
					if p.AH != (typ == advert.AuthAH) {
						t.Fatalf("a sent %+v: AH %v, want %v", p, p.AH, typ == advert.AuthAH)
					}
				}
				for _, out := range []string{alog.String(), blog.String()} {
					if strings.Contains(out, "pw-8char") {
						t.Errorf("log shows the password: %s", out)
					}
				}
			})
		})
	}
}

// advertFrom is the advert d1 sends at priority 150 with the given authentication: as
// a Packet its port delivers.
func advertFrom(t *testing.T, typ advert.AuthType, password string, seq uint32) vrrp.Packet {
	t.Helper()
	a := advert.Advert{Version: 2, VRID: 51, Priority: 150, Interval: time.Second, Addrs: []netip.Addr{vip.Addr()}, Auth: typ}
	var key advert.Key
	if password != "" {
		key, _ = advert.NewKey(password)
	}
	if typ == advert.AuthPass {
		a.AuthData = key
	}
	msg, err := a.Marshal(d1, advert.Group4)
	if err != nil {
		t.Fatal(err)
	}
	p := vrrp.Packet{Src: d1, Dst: advert.Group4, TTL: 255, Payload: msg}
	if typ == advert.AuthAH {
		if p.Payload, err = advert.SealAH(msg, d1, advert.Group4, uint16(seq), seq, key, false); err != nil {
			t.Fatal(err)
		}
		p.AH = true
	}
	return p
}

// Any difference in authentication is refused, counted under "authentication" and
// logged without the password; an advert that matches is accepted.
func TestAuthenticationMismatch(t *testing.T) {
	type side struct {
		typ advert.AuthType
		pw  string
	}
	for _, tc := range []struct {
		name        string
		peer, local side
	}{
		{"pass wrong password", side{advert.AuthPass, "peer-pw"}, side{advert.AuthPass, "mine-pw"}},
		{"pass to none", side{advert.AuthPass, "peer-pw"}, side{advert.AuthNone, ""}},
		{"none to pass", side{advert.AuthNone, ""}, side{advert.AuthPass, "peer-pw"}},
		{"ah wrong password", side{advert.AuthAH, "peer-pw"}, side{advert.AuthAH, "mine-pw"}},
		{"ah to none", side{advert.AuthAH, "peer-pw"}, side{advert.AuthNone, ""}},
		{"none to ah", side{advert.AuthNone, ""}, side{advert.AuthAH, "peer-pw"}},
		{"ah to pass", side{advert.AuthAH, "peer-pw"}, side{advert.AuthPass, "peer-pw"}},
		{"pass to ah", side{advert.AuthPass, "peer-pw"}, side{advert.AuthAH, "peer-pw"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				link := &vrrptest.Link{}
				b, blog := logged(t, link, d2, authConfig(t, "b", 100, tc.local.typ, tc.local.pw))
				b.start(t)
				b.port.Inject(advertFrom(t, tc.peer.typ, tc.peer.pw, 1))
				waitFor(t, "the advert refused", func() bool { return b.in.Status().Invalid[advert.ReasonAuthentication] == 1 })
				out := blog.String()
				if !strings.Contains(out, "dropped VRRP advert: authentication") || strings.Contains(out, "-pw") {
					t.Errorf("log: %s", out)
				}
				// The local side's own authentication is accepted.
				b.port.Inject(advertFrom(t, tc.local.typ, tc.local.pw, 2))
				waitFor(t, "a matching advert accepted", func() bool { return b.in.Status().AdvertsReceived == 1 })
			})
		})
	}
}

// A flood of refused adverts is counted one by one and logged once a second.
func TestAuthenticationLogLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		link := &vrrptest.Link{}
		b, blog := logged(t, link, d2, authConfig(t, "b", 100, advert.AuthPass, "right"))
		b.start(t)
		bad := advertFrom(t, advert.AuthPass, "wrong", 0)
		start := time.Now()
		for range 50 {
			b.port.Inject(bad)
		}
		waitFor(t, "50 counted", func() bool { return b.in.Status().Invalid[advert.ReasonAuthentication] == 50 })
		lines := strings.Count(blog.String(), "dropped VRRP advert: authentication")
		if time.Since(start) < time.Second && lines != 1 {
			t.Errorf("%d log lines for 50 drops within a second, want 1:\n%s", lines, blog)
		}
	})
}

// AH anti-replay with keepalived's one counter: a datagram seen once is refused the
// second time; a backup that heard sequence N sends N+1 when it becomes master; the old
// master's next advert must be above that.
func TestAHSequence(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		link := &vrrptest.Link{}
		b := newNode(t, link, d2, authConfig(t, "b", 100, advert.AuthAH, "pw"), nil)
		b.start(t)
		heard := advertFrom(t, advert.AuthAH, "pw", 1000)
		b.port.Inject(heard)
		waitFor(t, "b hearing sequence 1000", func() bool { return b.in.Status().AdvertsReceived == 1 })
		b.port.Inject(heard)
		waitFor(t, "the replay refused", func() bool { return b.in.Status().Invalid[advert.ReasonAuthentication] == 1 })

		waitFor(t, "b master", func() bool { return state(b) == vrrp.Master })
		first, _, err := advert.ParseAH(b.port.Sent()[0].Payload)
		if err != nil {
			t.Fatal(err)
		}
		if first.Seq != 1001 {
			t.Errorf("b's first advert has sequence %d, want 1001 after hearing 1000", first.Seq)
		}
		b.port.Inject(advertFrom(t, advert.AuthAH, "pw", 1001))
		waitFor(t, "1001, which b sent itself, refused", func() bool { return b.in.Status().Invalid[advert.ReasonAuthentication] == 2 })
		b.port.Inject(advertFrom(t, advert.AuthAH, "pw", 5000))
		waitFor(t, "b yields to the higher priority", func() bool { return state(b) == vrrp.Backup })
	})
}

func TestAuthValidate(t *testing.T) {
	v3 := authConfig(t, "a", 100, advert.AuthPass, "pw")
	v3.Version, v3.Interval = 3, 100*time.Millisecond
	nokey := authConfig(t, "a", 100, advert.AuthAH, "")
	keyOnly := authConfig(t, "a", 100, advert.AuthNone, "pw")
	for name, cfg := range map[string]vrrp.Config{"v3": v3, "no password": nokey, "password without type": keyOnly} {
		if err := cfg.Validate(); err == nil {
			t.Errorf("%s: Validate accepted it", name)
		} else if strings.Contains(err.Error(), "pw") && name != "no password" {
			t.Errorf("%s: %v shows the password", name, err)
		}
	}
	if err := v3.Validate(); !strings.Contains(err.Error(), "RFC 5798 §9") {
		t.Errorf("v3 error %v does not cite RFC 5798 §9", err)
	}
}
