// Package checks probes real servers (http, tcp, mysql, exec, dns, udp, ping, smtp) and
// turns the results into up/down health with rise/fall, on a jittered schedule.
//
// A Checker runs one probe bounded by a context; the Scheduler decides when probes run,
// how long they may take, and what a run of results means.
//
// # Initial state
//
// A check, and a real server, start Unknown. The Scheduler reports Unknown distinctly so
// that the caller can choose what it means: a new real server gets no traffic (Unknown
// counts as down), while a director that adopted a kernel weight on restart may let that
// weight stand until the first result. The first result decides at once: the first pass
// makes the check Up, the first failure makes it Down, without waiting for rise or fall.
// From then on a check needs Rise consecutive passes to go from Down to Up and Fall
// consecutive failures to go from Up to Down, so a flapping target stays where it is.
//
// A real server is Up when all its checks are Up and Down as soon as any of them is Down.
// While some of its checks are still Unknown and none is Down it keeps its previous state
// (Unknown for a new server), so adding a check to a healthy server does not drain it.
//
// keepalived's checkers have no rise counter and go up on one success
// (docs/reference.md, keepalived checker defaults); rise/fall here follows HAProxy.
package checks

import (
	"context"
	"fmt"
	"net/netip"
	"time"
)

// Checker runs one probe of one target. Check must return when ctx is done; the Scheduler
// sets ctx's deadline to the check's timeout. Check is safe for concurrent use, although
// the Scheduler never runs two probes of the same check at once.
type Checker interface {
	Check(ctx context.Context) Result
}

// CheckerFunc adapts a function to the Checker interface.
type CheckerFunc func(ctx context.Context) Result

// Check calls f(ctx).
func (f CheckerFunc) Check(ctx context.Context) Result { return f(ctx) }

// NoWeight is Result.Weight when the check does not set a dynamic weight.
const NoWeight = -1

// Result is the outcome of one probe.
type Result struct {
	OK bool
	// Reason says what was seen in words an operator can act on, e.g.
	// "http 503 from 198.18.0.21:80 (want 200-299)". It is set for passes too.
	Reason string
	// Latency is the time the probe took, from its start to its verdict.
	Latency time.Duration
	// Weight is a dynamic weight reported by the target (exec checks in dynamic mode), or
	// NoWeight.
	Weight int
}

// Kinds lists the kinds New understands.
var Kinds = []string{"http", "tcp", "mysql", "exec", "dns", "udp", "ping", "smtp"}

// New builds a checker of the named kind for target. cfg must be the kind's config, by
// value or pointer: HTTPConfig, TCPConfig, MySQLConfig, ExecConfig, DNSConfig, UDPConfig,
// PingConfig or SMTPConfig. A ping check ignores target's port.
func New(kind string, target netip.AddrPort, cfg any) (Checker, error) {
	switch kind {
	case "http":
		c, ok := deref[HTTPConfig](cfg)
		if !ok {
			break
		}
		return NewHTTP(target, c)
	case "tcp":
		c, ok := deref[TCPConfig](cfg)
		if !ok {
			break
		}
		return NewTCP(target, c)
	case "mysql":
		c, ok := deref[MySQLConfig](cfg)
		if !ok {
			break
		}
		return NewMySQL(target, c)
	case "exec":
		c, ok := deref[ExecConfig](cfg)
		if !ok {
			break
		}
		return NewExec(target, c)
	case "dns":
		if c, ok := deref[DNSConfig](cfg); ok {
			return NewDNS(target, c)
		}
	case "udp":
		if c, ok := deref[UDPConfig](cfg); ok {
			return NewUDP(target, c)
		}
	case "ping":
		if c, ok := deref[PingConfig](cfg); ok {
			return NewPing(target.Addr(), c)
		}
	case "smtp":
		if c, ok := deref[SMTPConfig](cfg); ok {
			return NewSMTP(target, c)
		}
	default:
		return nil, fmt.Errorf("new check for %s: unknown kind %q (want one of %v)", target, kind, Kinds)
	}
	return nil, fmt.Errorf("new %s check for %s: config is %T, not the %s config", kind, target, cfg, kind)
}

func deref[T any](cfg any) (T, bool) {
	switch c := cfg.(type) {
	case T:
		return c, true
	case *T:
		if c != nil {
			return *c, true
		}
	}
	var zero T
	return zero, false
}

type budgetKey struct{}

// WithTimeout is context.WithTimeout for one probe: it also records the timeout, so that a
// probe that runs out of time names the configured budget ("timeout after 500ms") rather
// than what was left of it when the checker started.
func WithTimeout(ctx context.Context, timeout time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	return context.WithValue(ctx, budgetKey{}, timeout), cancel
}

// timeoutReason describes a probe that ran out of time, naming the budget it had.
func timeoutReason(ctx context.Context, start time.Time, doing string) string {
	return fmt.Sprintf("timeout after %s %s", roundDur(budgetOf(ctx, start)), doing)
}

// budgetOf is the time a probe that started at start had: the configured timeout when
// WithTimeout set it, else what its context allowed.
func budgetOf(ctx context.Context, start time.Time) time.Duration {
	if b, ok := ctx.Value(budgetKey{}).(time.Duration); ok {
		return b
	}
	if dl, ok := ctx.Deadline(); ok {
		return dl.Sub(start)
	}
	return time.Since(start)
}

func roundDur(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(10 * time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(time.Millisecond)
	default:
		return d.Round(time.Microsecond)
	}
}

// dialTarget returns the address a check connects to: target, with connect address and
// port overrides applied (keepalived's connect_ip/connect_port).
func dialTarget(target netip.AddrPort, addr netip.Addr, port uint16) netip.AddrPort {
	a, p := target.Addr(), target.Port()
	if addr.IsValid() {
		a = addr
	}
	if port != 0 {
		p = port
	}
	return netip.AddrPortFrom(a, p)
}
