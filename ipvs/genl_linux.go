package ipvs

import (
	"encoding/binary"
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// genlConn is a blocking generic-netlink socket for IPVS dumps and destination writes. Every receive is bounded
// by SO_RCVTIMEO, so a lost reply ends in an error, never in an endless wait.
type genlConn struct {
	fd      int
	timeout time.Duration // SO_RCVTIMEO: a receive that waits longer fails
	family  uint16        // the IPVS family id
	seq     uint32
	buf     []byte
}

// openGenlConn opens the socket inside netns ("" = here) and resolves the IPVS family.
// Every receive waits at most timeout.
func openGenlConn(netns string, timeout time.Duration) (*genlConn, error) {
	fd := -1
	err := inNetns(netns, func() error {
		var err error
		fd, err = unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_GENERIC)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("open generic netlink socket: %w", err)
	}
	g := &genlConn{fd: fd, timeout: timeout, buf: make([]byte, 64<<10)}
	tv := unix.NsecToTimeval(timeout.Nanoseconds())
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		g.close()
		return nil, fmt.Errorf("set netlink receive timeout: %w", err)
	}
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &tv); err != nil {
		g.close()
		return nil, fmt.Errorf("set netlink send timeout: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		g.close()
		return nil, fmt.Errorf("bind netlink socket: %w", err)
	}
	if err := g.resolveFamily(); err != nil {
		g.close()
		return nil, err
	}
	return g, nil
}

func (g *genlConn) close() {
	if g.fd >= 0 {
		unix.Close(g.fd)
		g.fd = -1
	}
}

// request sends one generic netlink request and calls fn with the body of every reply
// message of the same sequence number, until the dump is done or the ack arrives.
func (g *genlConn) request(family uint16, flags uint16, cmd uint8, attrs []byte, fn func(body []byte) error) error {
	g.seq++
	msg := make([]byte, unix.NLMSG_HDRLEN+genlHdrLen, unix.NLMSG_HDRLEN+genlHdrLen+len(attrs))
	msg = append(msg, attrs...)
	binary.NativeEndian.PutUint32(msg[0:4], uint32(len(msg)))
	binary.NativeEndian.PutUint16(msg[4:6], family)
	binary.NativeEndian.PutUint16(msg[6:8], unix.NLM_F_REQUEST|flags)
	binary.NativeEndian.PutUint32(msg[8:12], g.seq)
	msg[unix.NLMSG_HDRLEN] = cmd
	msg[unix.NLMSG_HDRLEN+1] = 1 // genl version
	if err := unix.Sendto(g.fd, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("netlink send: %w", err)
	}
	for {
		n, _, err := unix.Recvfrom(g.fd, g.buf, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			if err == unix.EAGAIN {
				return fmt.Errorf("netlink receive: no reply within %v: %w", g.timeout, err)
			}
			return fmt.Errorf("netlink receive: %w", err)
		}
		done, err := parseReplies(g.buf[:n], g.seq, flags&unix.NLM_F_DUMP != 0, fn)
		if done || err != nil {
			return err
		}
	}
}

func (g *genlConn) resolveFamily() error {
	attrs := appendAttr(nil, genlCtrlAttrName, append([]byte("IPVS"), 0))
	found := false
	err := g.request(genlCtrlFamily, unix.NLM_F_ACK, genlCtrlCmdGetFamily, attrs, func(body []byte) error {
		if len(body) < genlHdrLen {
			return errMalformed
		}
		return walkAttrs(body[genlHdrLen:], func(typ uint16, v []byte) error {
			if typ == genlCtrlAttrFamilyID {
				id, err := attrU16(v)
				g.family, found = id, err == nil
				return err
			}
			return nil
		})
	})
	if err != nil || !found {
		return fmt.Errorf("%w (generic netlink family IPVS: %v): %s", ErrUnavailable, err, unavailableHint)
	}
	return nil
}

func (g *genlConn) services() ([]ServiceInfo, error) {
	var out []ServiceInfo
	err := g.request(g.family, unix.NLM_F_DUMP, ipvsCmdGetService, nil, func(body []byte) error {
		s, err := decodeService(body)
		if err == nil {
			out = append(out, s)
		}
		return err
	})
	return out, err
}

func (g *genlConn) destinations(k ServiceKey) ([]DestinationInfo, error) {
	af := k.Family
	if af == 0 {
		af = FamilyOf(k.Addr.Addr())
	}
	var out []DestinationInfo
	err := g.request(g.family, unix.NLM_F_DUMP, ipvsCmdGetDest, serviceKeyAttrs(k), func(body []byte) error {
		d, err := decodeDestination(body, af)
		if err == nil {
			out = append(out, d)
		}
		return err
	})
	return out, err
}

func (g *genlConn) syncDaemons() ([]SyncDaemon, error) {
	var out []SyncDaemon
	err := g.request(g.family, unix.NLM_F_DUMP, ipvsCmdGetDaemon, nil, func(body []byte) error {
		d, err := decodeSyncDaemon(body)
		if err == nil {
			out = append(out, d)
		}
		return err
	})
	return out, err
}

// exec sends one IPVS command and waits for its acknowledgement.
func (g *genlConn) exec(cmd uint8, attrs []byte) error {
	return g.request(g.family, unix.NLM_F_ACK, cmd, attrs, func([]byte) error { return nil })
}
