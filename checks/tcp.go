package checks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"regexp"
	"strconv"
	"time"
)

// TCPConfig configures a tcp check.
type TCPConfig struct {
	// ConnectAddr and ConnectPort override the target's address and port (checking a
	// service on another port than the one balanced, e.g. a health port).
	ConnectAddr netip.Addr
	ConnectPort uint16
	// SourceAddr binds the probe's source address.
	SourceAddr netip.Addr
	// Send is written once the connection is up.
	Send []byte
	// Expect, when set, must match the first bytes the server sends (a banner such as
	// "^220 " or "^\\+PONG"), read until it matches, ExpectMaxBytes are read, or the
	// server closes.
	Expect *regexp.Regexp
	// ExpectMaxBytes caps what is read for Expect; default 4096.
	ExpectMaxBytes int
}

type tcpChecker struct {
	addr netip.AddrPort
	cfg  TCPConfig
	d    *dialer
	fast *fastProbe
}

// NewTCP returns a check that connects to target. With neither Send nor Expect it passes
// once the handshake completes and closes with an RST.
func NewTCP(target netip.AddrPort, cfg TCPConfig) (Checker, error) {
	if !target.IsValid() {
		return nil, fmt.Errorf("new tcp check: invalid target %v", target)
	}
	if cfg.ExpectMaxBytes <= 0 {
		cfg.ExpectMaxBytes = 4096
	}
	// When the server speaks first (a banner), delaying our ACK would delay the banner.
	lazy := cfg.Expect == nil || len(cfg.Send) > 0
	t := &tcpChecker{
		addr: dialTarget(target, cfg.ConnectAddr, cfg.ConnectPort),
		cfg:  cfg,
		d:    newDialer(cfg.SourceAddr, lazy),
	}
	if len(cfg.Send) == 0 && cfg.Expect == nil && t.addr.Addr().Zone() == "" {
		t.fast = &fastProbe{addr: t.addr, source: cfg.SourceAddr, passReason: "connected to " + t.addr.String()}
	}
	return t, nil
}

func (t *tcpChecker) fastProbe() *fastProbe { return t.fast }

func (t *tcpChecker) Check(ctx context.Context) Result {
	start := time.Now()
	res := t.check(ctx, start)
	res.Latency = time.Since(start)
	res.Weight = NoWeight
	return res
}

func (t *tcpChecker) check(ctx context.Context, start time.Time) Result {
	if rawConnectSupported && len(t.cfg.Send) == 0 && t.cfg.Expect == nil && t.addr.Addr().Zone() == "" {
		if err := connectOnly(ctx, t.addr, t.cfg.SourceAddr); err != nil {
			return Result{Reason: connectReason(ctx, start, t.addr, err)}
		}
		return Result{OK: true, Reason: "connected to " + t.addr.String()}
	}
	c, err := t.d.dial(ctx, t.addr)
	if err != nil {
		return Result{Reason: connectReason(ctx, start, t.addr, err)}
	}
	defer abort(c)
	if len(t.cfg.Send) == 0 && t.cfg.Expect == nil {
		return Result{OK: true, Reason: "connected to " + t.addr.String()}
	}
	stop := deadlineConn(ctx, c)
	defer stop()
	if len(t.cfg.Send) > 0 {
		if _, err := c.Write(t.cfg.Send); err != nil {
			return Result{Reason: ioReason(ctx, start, "sending to "+t.addr.String(), err)}
		}
	}
	if t.cfg.Expect == nil {
		return Result{OK: true, Reason: fmt.Sprintf("connected to %s and sent %d bytes", t.addr, len(t.cfg.Send))}
	}
	buf := make([]byte, 0, 512)
	for {
		if t.cfg.Expect.Match(buf) {
			return Result{OK: true, Reason: fmt.Sprintf("%s answered %s", t.addr, quoteHead(buf))}
		}
		if len(buf) >= t.cfg.ExpectMaxBytes {
			break
		}
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := c.Read(buf[len(buf):min(cap(buf), t.cfg.ExpectMaxBytes)])
		buf = buf[:len(buf)+n]
		if err != nil {
			if t.cfg.Expect.Match(buf) {
				return Result{OK: true, Reason: fmt.Sprintf("%s answered %s", t.addr, quoteHead(buf))}
			}
			if errors.Is(err, os.ErrDeadlineExceeded) || ctx.Err() != nil {
				return Result{Reason: fmt.Sprintf("%s (want /%s/, got %s)", timeoutReason(ctx, start, "waiting for "+t.addr.String()), t.cfg.Expect, quoteHead(buf))}
			}
			break
		}
	}
	return Result{Reason: fmt.Sprintf("%s answered %s, want /%s/", t.addr, quoteHead(buf), t.cfg.Expect)}
}

// deadlineConn applies ctx's deadline to c and unblocks c's I/O when ctx is cancelled.
func deadlineConn(ctx context.Context, c interface{ SetDeadline(time.Time) error }) (stop func() bool) {
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	return context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Unix(1, 0)) })
}

// connectReason turns a dial error into "connect 198.18.0.21:80: connection refused".
func connectReason(ctx context.Context, start time.Time, addr netip.AddrPort, err error) string {
	if ctx.Err() != nil || isTimeout(err) {
		return timeoutReason(ctx, start, "connecting to "+addr.String())
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		err = op.Err
	}
	var sys *os.SyscallError
	if errors.As(err, &sys) {
		err = sys.Err
	}
	return fmt.Sprintf("connect %s: %v", addr, err)
}

func ioReason(ctx context.Context, start time.Time, doing string, err error) string {
	if ctx.Err() != nil || isTimeout(err) {
		return timeoutReason(ctx, start, doing)
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		err = op.Err
		var sys *os.SyscallError
		if errors.As(err, &sys) {
			err = sys.Err
		}
	}
	return fmt.Sprintf("%s: %v", doing, err)
}

// quoteHead quotes the first bytes of b for a reason line.
func quoteHead(b []byte) string {
	const max = 64
	if len(b) > max {
		return strconv.Quote(string(b[:max])) + "..."
	}
	if len(b) == 0 {
		return "nothing"
	}
	return strconv.Quote(string(bytes.TrimRight(b, "\x00")))
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}
