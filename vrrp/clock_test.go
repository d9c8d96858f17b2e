package vrrp_test

import (
	"log/slog"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/vigil-lb/vigil/internal/clock"
	"github.com/vigil-lb/vigil/vrrp"
	"github.com/vigil-lb/vigil/vrrp/fsm"
	"github.com/vigil-lb/vigil/vrrp/vrrptest"
)

// TestInstanceFollowsDepsClock: an instance times everything on Deps.Clock. On a fake
// clock a backup with no master stays backup until exactly its master down interval has
// passed, then becomes master and advertises once per interval, however long the test
// takes in real time. (synctest only tells when the instance's goroutines are idle.)
func TestInstanceFollowsDepsClock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
		link := &vrrptest.Link{}
		cfg := baseConfig("b", 100)
		log := &vrrptest.Log{}
		n := &node{port: link.NewPort(d2), addrs: &vrrptest.Addresses{Log: log}, ann: &vrrptest.Announcer{Log: log}, links: &vrrptest.Links{}, log: log}
		in, err := vrrp.NewInstance(cfg, vrrp.Deps{
			Transport: loggingPort{n.port, log}, Addresses: n.addrs, Announcer: n.ann, Links: n.links,
			Logger: slog.New(slog.DiscardHandler), Clock: clk,
		})
		if err != nil {
			t.Fatal(err)
		}
		n.in = in
		n.start(t)
		synctest.Wait()
		down := fsm.MasterDownInterval(cfg.Version, cfg.Priority, cfg.Interval)
		clk.Advance(down - time.Millisecond)
		synctest.Wait()
		if s := state(n); s != vrrp.Backup {
			t.Fatalf("%v before the master down interval (%v) has passed on the fake clock: %v, want backup", down-time.Millisecond, down, s)
		}
		clk.Advance(time.Millisecond)
		synctest.Wait()
		if s := state(n); s != vrrp.Master || !n.addrs.Held(vip) {
			t.Fatalf("at the master down interval: %v (VIP held %v), want master holding the VIP", s, n.addrs.Held(vip))
		}
		sends := func() int { return strings.Count(strings.Join(log.Ops(), " "), "send") }
		before := sends()
		for range 10 {
			clk.Advance(cfg.Interval)
			synctest.Wait()
		}
		if got := sends() - before; got != 10 {
			t.Errorf("%d adverts in 10 intervals of the fake clock, want 10", got)
		}
	})
}
