package ipvs

import (
	"errors"
	"log/slog"
	"time"
)

// ErrUnavailable means the kernel has no IPVS in the table's network namespace. OpenKernel
// wraps it with the fix; test for it with errors.Is.
var ErrUnavailable = errors.New("kernel IPVS is not available")

// unavailableHint is what an operator can do about ErrUnavailable.
// (cmd/vigil adds the userspace data plane where it can serve the configuration.)
const unavailableHint = `load the ip_vs module as root (modprobe ip_vs; at every boot: ip_vs in /etc/modules-load.d/)`

// ErrClosed is returned by a Kernel table after Close.
var ErrClosed = errors.New("ipvs table is closed")

// DefaultDeadline bounds one netlink call when KernelOptions.Deadline is zero.
const DefaultDeadline = 5 * time.Second

// KernelOptions configure OpenKernel.
type KernelOptions struct {
	// Netns is the path of the network namespace whose IPVS table to program, such as
	// /var/run/netns/lb or /proc/PID/ns/net. Empty means the caller's namespace.
	Netns string
	// Deadline bounds every netlink call, the request and its whole answer
	// (DefaultDeadline when zero). A call that overruns fails with
	// context.DeadlineExceeded and the next call on that client opens a new socket
	// (ipvs/internal/session: the rule of both clients, ipvsnl and moby/ipvs).
	Deadline time.Duration
	// Logger receives warnings (nil discards them).
	Logger *slog.Logger
	// NoModprobe skips running `modprobe ip_vs` when the IPVS family is missing. (Looking
	// the family up may still make the kernel load ip_vs: see OpenKernel.)
	NoModprobe bool
}

// Sysctls are the IPVS sysctls (net.ipv4.vs.*) whose defaults keep sending traffic to a
// real server that vigil has taken out, and those vigil advises on without setting.
type Sysctls struct {
	// ExpireQuiescentTemplate (expire_quiescent_template = 1): with persistence, the
	// kernel keeps scheduling a client to a weight-0 destination through its persistence
	// template until the template expires; with 1 the template is expired as soon as the
	// destination is quiescent, so quiesce really moves the client (keepalived #1781).
	ExpireQuiescentTemplate bool
	// ExpireNodestConn (expire_nodest_conn = 1): connections to a deleted destination
	// linger until they time out, their packets dropped; with 1 the kernel expires them at
	// their next packet so the client reconnects at once (keepalived #1757).
	ExpireNodestConn bool
	// ConnReuseFinWait (bit 2 of conn_reuse_mode): with DR or TUN the director sees only the
	// client's side of a connection, so an old connection entry stays in FIN_WAIT for two
	// minutes; a client that reuses its port meanwhile (a busy client wraps its ephemeral
	// ports in a few thousand connections) is sent to the old real server even when that
	// server is quiesced or down. With the bit the kernel reschedules such a SYN.
	ConnReuseFinWait bool
	// SloppyTCP (sloppy_tcp = 1): IPVS creates a connection entry from any TCP packet, not
	// only a SYN, so a director that receives an established connection it has no entry
	// for (ECMP moved it from another director) schedules it instead of resetting it. Read
	// for advice only: EnsureSysctls never sets it (it applies to every service of the
	// namespace, and lets stray ACKs create entries).
	SloppyTCP bool
}

// Missing returns the sysctl names that need asks for and s does not have, for a warning.
func (s Sysctls) Missing(need Sysctls) []string {
	var out []string
	if need.ExpireQuiescentTemplate && !s.ExpireQuiescentTemplate {
		out = append(out, sysctlQuiescent)
	}
	if need.ExpireNodestConn && !s.ExpireNodestConn {
		out = append(out, sysctlNodest)
	}
	if need.ConnReuseFinWait && !s.ConnReuseFinWait {
		out = append(out, sysctlConnReuse+" (bit 2)")
	}
	return out
}

// Sysctl names as `sysctl` spells them.
const (
	sysctlQuiescent = "net.ipv4.vs.expire_quiescent_template"
	sysctlNodest    = "net.ipv4.vs.expire_nodest_conn"
	sysctlConnReuse = "net.ipv4.vs.conn_reuse_mode"
	// SysctlSloppyTCP is named in the director's advice on moved connections.
	SysctlSloppyTCP = "net.ipv4.vs.sloppy_tcp"
)

// SysctlTable is implemented by tables whose behaviour depends on the IPVS sysctls of
// their namespace: the kernel's (the userspace data plane has none).
type SysctlTable interface {
	Sysctls() (Sysctls, error)
	EnsureSysctls(need Sysctls) (changed []string, err error)
}

// NeededSysctls returns the sysctls a configuration needs: anyPersistentQuiesce when some
// persistent service quiesces failed real servers by weight 0, anyRemove when some
// service deletes them (on_failure = "remove"), anyDirectOrTunnel when some real server is
// reached by DR or TUN.
func NeededSysctls(anyPersistentQuiesce, anyRemove, anyDirectOrTunnel bool) Sysctls {
	return Sysctls{ExpireQuiescentTemplate: anyPersistentQuiesce, ExpireNodestConn: anyRemove, ConnReuseFinWait: anyDirectOrTunnel}
}
