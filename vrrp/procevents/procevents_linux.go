package procevents

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// Listener receives process events.
type Listener struct {
	conn *netlink.Conn
}

// Listen subscribes to the proc connector (CAP_NET_ADMIN). The connector exists only in
// the initial network namespace: from another one (a director in a container, or
// started into a namespace by nsenter or ip netns exec) the socket is opened in the
// namespace of pid 1 or, failing that, of the nearest ancestor process whose namespace
// accepts the subscription (entering one needs CAP_SYS_ADMIN).
func Listen() (*Listener, error) {
	l, err := listen(nil)
	if !noConnectorHere(err) {
		if err != nil {
			return nil, fmt.Errorf("open the proc connector: %w", err)
		}
		return l, nil
	}
	errs := []error{fmt.Errorf("this network namespace: %w", err)}
	seen := map[string]bool{}
	for _, pid := range append([]int{1}, ancestors()...) {
		ns := fmt.Sprintf("/proc/%d/ns/net", pid)
		if id, err := os.Readlink(ns); err == nil {
			if seen[id] {
				continue
			}
			seen[id] = true
		}
		l, err := listen(func() (*netlink.Conn, error) { return dialIn(ns) })
		if err == nil {
			return l, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", ns, err))
	}
	return nil, fmt.Errorf("open the proc connector (it lives in the initial network namespace): %w", errors.Join(errs...))
}

// noConnectorHere: a connector socket outside the initial namespace has no kernel end,
// and the subscription is refused.
func noConnectorHere(err error) bool {
	return errors.Is(err, unix.ECONNREFUSED) || errors.Is(err, unix.EPROTONOSUPPORT) || errors.Is(err, unix.ENOENT)
}

func dialIn(path string) (*netlink.Conn, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return netlink.Dial(unix.NETLINK_CONNECTOR, &netlink.Config{Groups: cnIdxProc, NetNS: int(f.Fd())})
}

func listen(dial func() (*netlink.Conn, error)) (*Listener, error) {
	if dial == nil {
		dial = func() (*netlink.Conn, error) {
			return netlink.Dial(unix.NETLINK_CONNECTOR, &netlink.Config{Groups: cnIdxProc})
		}
	}
	c, err := dial()
	if err != nil {
		return nil, err
	}
	l := &Listener{conn: c}
	if err := l.subscribe(true); err != nil {
		c.Close()
		return nil, err
	}
	return l, nil
}

func (l *Listener) subscribe(on bool) error {
	_, err := l.conn.Send(netlink.Message{Header: netlink.Header{Type: netlink.Done}, Data: subscribeMessage(on)})
	if err != nil {
		return fmt.Errorf("subscribe to process events: %w", err)
	}
	return nil
}

// Next blocks for the next events. It returns ErrLost when the kernel dropped events,
// and an error once the listener is closed.
func (l *Listener) Next() ([]Event, error) {
	msgs, err := l.conn.Receive()
	if err != nil {
		if errors.Is(err, unix.ENOBUFS) {
			return nil, ErrLost
		}
		return nil, fmt.Errorf("receive process events: %w", err)
	}
	var out []Event
	for _, m := range msgs {
		ev, ok, err := Decode(m.Data)
		var se SubscribeError
		if errors.As(err, &se) {
			return out, err
		}
		if ok { // a malformed message (none seen from a real kernel) is skipped
			out = append(out, ev)
		}
	}
	return out, nil
}

// Close unsubscribes and closes the socket; a blocked Next returns.
func (l *Listener) Close() error {
	_ = l.subscribe(false) // the kernel counts listeners; stop being one
	return l.conn.Close()
}

// ancestors lists the parent, grandparent... of this process, up to (not including)
// pid 1, from /proc/PID/status.
func ancestors() []int {
	var out []int
	for pid := os.Getppid(); pid > 1 && len(out) < 64; {
		out = append(out, pid)
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			break
		}
		next := 0
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "PPid:"); ok {
				next, _ = strconv.Atoi(strings.TrimSpace(v))
				break
			}
		}
		pid = next
	}
	return out
}
