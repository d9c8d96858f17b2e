package link_test

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/testing/netlab"
	"github.com/vigil-lb/vigil/internal/testing/testenv"
	"github.com/vigil-lb/vigil/vrrp/link"
)

func TestWatchUpDown(t *testing.T) {
	testenv.RequireRoot(t)
	lab := netlab.New(t)
	br := lab.Bridge("lan")
	h := lab.Host("d1")
	lab.Link(h, "eth0", br, netip.MustParsePrefix("198.18.0.11/24"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type ev struct {
		name string
		up   bool
	}
	events := make(chan ev, 16)
	go h.Do(func() error {
		return link.Watcher{}.Watch(ctx, []string{"eth0", "missing0"}, func(n string, up bool) { events <- ev{n, up} })
	})
	next := func() ev {
		select {
		case e := <-events:
			return e
		case <-time.After(5 * time.Second):
			t.Fatal("no link event within 5 s")
			return ev{}
		}
	}
	initial := map[string]bool{}
	for range 2 {
		e := next()
		initial[e.name] = e.up
	}
	if !initial["eth0"] || initial["missing0"] {
		t.Fatalf("initial states %v, want eth0 up and missing0 down", initial)
	}
	if err := h.SetLinkDown("eth0"); err != nil {
		t.Fatal(err)
	}
	if e := next(); e != (ev{"eth0", false}) {
		t.Errorf("got %+v, want eth0 down", e)
	}
	if err := h.SetLinkUp("eth0"); err != nil {
		t.Fatal(err)
	}
	if e := next(); e != (ev{"eth0", true}) {
		t.Errorf("got %+v, want eth0 up", e)
	}
}
