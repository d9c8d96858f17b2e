package checks

import (
	"context"
	"net"
	"net/netip"
	"syscall"
)

// dialer opens one fresh TCP connection per probe.
type dialer struct {
	d net.Dialer
}

// newDialer returns a dialer bound to source (when valid). lazyACK asks the kernel to hold
// back the ACK that completes the handshake until the first data leaves (see
// setLazyACK), which is what a check that speaks first, or only connects, wants.
func newDialer(source netip.Addr, lazyACK bool) *dialer {
	d := &dialer{}
	if source.IsValid() {
		d.d.LocalAddr = &net.TCPAddr{IP: source.AsSlice(), Zone: source.Zone()}
	}
	d.d.Control = func(network, address string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) { serr = prepareSocket(fd, lazyACK) })
		if err != nil {
			return err
		}
		return serr
	}
	// No keep-alive probes: the connection lives for one check.
	d.d.KeepAlive = -1
	return d
}

func (d *dialer) dial(ctx context.Context, addr netip.AddrPort) (*net.TCPConn, error) {
	c, err := d.d.DialContext(ctx, "tcp", addr.String())
	if err != nil {
		return nil, err
	}
	return c.(*net.TCPConn), nil
}

// abort closes c, with an RST as set up by the dialer (SO_LINGER 0) instead of a FIN: the
// check leaves no TIME_WAIT socket behind, which at thousands of checks per second would
// fill the kernel's TIME_WAIT table (HAProxy does the same; docs/reference.md, peer figures).
func abort(c *net.TCPConn) {
	if !lingerAtDial {
		_ = c.SetLinger(0)
	}
	_ = c.Close()
}
