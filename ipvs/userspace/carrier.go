package userspace

import (
	"errors"
	"fmt"
	"syscall"

	"github.com/vigil-lb/vigil/ipvs"
)

// A carrier moves the bytes of a table's TCP connections, and nothing else: it listens
// on a service's address, connects each connection it accepts to the real server the
// service's flow names (tcpflow.go), copies both ways until both directions have ended,
// and reports to the flow what happened. Three carriers exist: io_uring event loops
// (uloop_linux.go) and epoll event loops (evloop_linux.go) on Linux, and a goroutine
// per direction (tcp.go) everywhere.
//
// A carrier that cannot go on (a system call of its loops fails in a way that retrying
// cannot mend) reports it through its env's fail, after cutting the connections it can
// no longer move; the table then moves every TCP service to the next data path
// (degrade).
type carrier interface {
	// listen accepts connections to s's address until the listener is closed.
	listen(s *service) (listener, error)
	// stop ends the carrier; every connection it carried has ended or been cut.
	stop()
	// String names the data path for the log.
	String() string
}

// listener is a carrier's listening socket for one service.
type listener interface {
	// close stops accepting and frees the address before it returns; every connection
	// accepted before then is in its service's set, where a forced shutdown finds it.
	close()
}

// carrierEnv is what a table gives the carriers it starts.
type carrierEnv struct {
	// fail reports that c cannot go on; it may be called from any goroutine, once.
	fail func(c carrier, err error)
	// fault, when set (tests), is asked before a loop's system calls named here
	// (epoll_pwait, io_uring_enter, listen) and its errno, if not 0, is taken as the
	// call's.
	fault func(call string) syscall.Errno
}

// faulted is the injected error for call, or 0.
func (e *carrierEnv) faulted(call string) syscall.Errno {
	if e.fault == nil {
		return 0
	}
	return e.fault(call)
}

// dataPath is one way of carrying TCP: a name and how to start it.
type dataPath struct {
	name  string
	start func(env carrierEnv) (carrier, error)
}

// goroutinePath is the portable data path, and the last resort of every table.
var goroutinePath = dataPath{"goroutines", func(carrierEnv) (carrier, error) { return goroutineCarrier{}, nil }}

// dataPaths lists the data paths a table tries, best first (dataPathsFor is per OS).
func dataPaths(o Options) []dataPath {
	if o.goroutines {
		return []dataPath{goroutinePath}
	}
	return append(dataPathsFor(o), goroutinePath)
}

// startCarrier starts the first data path from t.paths[from:] that starts, logging why
// the ones before it did not. The goroutine path always starts.
func (t *Table) startCarrier(from int) {
	var why error
	for i := from; i < len(t.paths); i++ {
		c, err := t.paths[i].start(t.env)
		if err != nil {
			why = errors.Join(why, fmt.Errorf("%s: %w", t.paths[i].name, err))
			continue
		}
		t.tcp, t.path = c, i
		if why != nil {
			t.log.Info("userspace TCP data path: "+c.String(), "unavailable", why.Error())
		} else {
			t.log.Info("userspace TCP data path: " + c.String())
		}
		return
	}
}

// carrierFailed is env.fail: the table leaves c for the next data path.
func (t *Table) carrierFailed(c carrier, err error) {
	t.log.Error("userspace TCP data path failed", "data_path", c.String(), "err", err)
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return
	}
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		t.degrade(c)
	}()
}

// degrade moves every TCP service from the failed carrier to the next data path. A
// service whose address the new carrier cannot listen on stops, as if deleted, with an
// error in the log: the reconciler then sees it missing and adds it again, reporting why
// that fails. Connections the failed carrier still moves (on its loops that did not
// fail) continue until they end; the table stops it when it closes.
func (t *Table) degrade(failed carrier) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed || t.tcp != failed {
		return
	}
	t.oldCarriers = append(t.oldCarriers, failed)
	t.startCarrier(t.path + 1)
	for k, s := range t.services {
		if k.Protocol != ipvs.TCP {
			continue
		}
		if err := s.relisten(t.tcp); err != nil {
			t.log.Error("userspace service stopped: cannot listen on the next data path",
				"service", k.String(), "data_path", t.tcp.String(), "err", err)
			t.retireLocked(k, s)
			s.stopListening()
		}
	}
}
