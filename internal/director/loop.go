package director

import (
	"context"
	"errors"
	"time"
)

// loop is the only goroutine that changes state after Start. Each case is one step: it
// reads and changes the loop's state and publishes a new view.
func (d *Director) loop(ctx context.Context) {
	defer close(d.loopDone)
	d.resync = d.o.Clock.NewTicker(time.Hour)
	defer d.resync.Stop()
	d.setResyncInterval(d.cur.cfg.Global.ResyncInterval)
	for {
		select {
		case <-ctx.Done():
			return
		case <-d.mail.wake:
			evs := d.mail.take()
			d.applyHealth(ctx, evs)
			d.mail.done(evs)
		case fn := <-d.reqs:
			fn(ctx)
		case <-d.resync.C():
			if d.resyncOn {
				d.resyncTable(ctx)
			}
		}
	}
}

var errNotRunning = errors.New("director is not running")

// do runs fn on the loop and waits for it; fn gets the loop's context, which ends at
// Stop. It is how every request other than health reaches the running state: Reload,
// ReloadFailed, Resync and Stop's first step each are one call of do, and so is any new
// request (an administrative state, a dry run).
func (d *Director) do(ctx context.Context, fn func(context.Context)) error {
	if d.view.Load() == nil {
		return errNotRunning
	}
	done := make(chan struct{})
	select {
	case d.reqs <- func(c context.Context) { fn(c); close(done) }:
	case <-d.loopDone:
		return errNotRunning
	case <-ctx.Done():
		return ctx.Err()
	}
	<-done
	return nil
}

// setResyncInterval (re)arms the periodic resync; 0 turns it off.
func (d *Director) setResyncInterval(every time.Duration) {
	d.resyncOn = every > 0
	if every > 0 {
		d.resync.Reset(every)
	}
}

// resyncTable repairs drift between the table and the desired state (an operator's
// ipvsadm -C, a destination deleted by hand).
func (d *Director) resyncTable(ctx context.Context) {
	repairs, err := d.rec.Resync(ctx)
	next := d.next()
	c := &next.counters
	c.Resyncs++
	c.Repairs += uint64(repairs)
	c.LastResyncAt = d.o.Clock.Now()
	c.LastResyncErr = ""
	c.Writes = uint64(d.rec.Writes().Total())
	if err != nil {
		c.LastResyncErr = err.Error()
		d.log.Error("IPVS resync", "err", err)
	}
	if repairs > 0 {
		d.log.Warn("IPVS table drifted from the configuration; repaired", "repairs", repairs)
	}
	d.publish(next)
}

// Resync runs one resync now (for tests and operators) and returns the repairs made.
func (d *Director) Resync(ctx context.Context) (int, error) {
	var repairs uint64
	err := d.do(ctx, func(c context.Context) {
		before := d.cur.counters.Repairs
		d.resyncTable(c)
		repairs = d.cur.counters.Repairs - before
	})
	return int(repairs), err
}
