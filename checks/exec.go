package checks

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"time"

	"github.com/vigil-lb/vigil/internal/proc"
)

// ExecConfig configures an exec check: a command whose exit status is the verdict.
type ExecConfig struct {
	// Argv is the command and its arguments, run without a shell. With Shell set, Argv must
	// hold one element, run as `sh -c Argv[0]`.
	Argv  []string
	Shell bool
	// Env is added to the command's environment (KEY=value). The caller passes the target
	// here: VIGIL_RS_ADDRESS, VIGIL_RS_PORT, VIGIL_VS_NAME, VIGIL_RS_NAME (see TargetEnv).
	// The command does not inherit vigil's own environment, only PATH.
	Env []string
	// User runs the command as "user" or "user:group" (names or numeric ids); default:
	// vigil's own user.
	User string
	// Dynamic is keepalived's misc_dynamic: exit 0 passes with no weight, 1 fails, and
	// 2..255 pass with weight = code - 2.
	Dynamic bool
	// TermGrace is how long the process group has between SIGTERM and SIGKILL once the
	// probe's time is up; default 1s.
	TermGrace time.Duration
	// MaxOutputBytes of stdout+stderr are kept for the reason; default 512.
	MaxOutputBytes int
}

// TargetEnv returns the environment an exec check's command finds its target in.
func TargetEnv(target netip.AddrPort, virtualServer, realServer string) []string {
	return []string{
		"VIGIL_RS_ADDRESS=" + target.Addr().String(),
		"VIGIL_RS_PORT=" + strconv.Itoa(int(target.Port())),
		"VIGIL_VS_NAME=" + virtualServer,
		"VIGIL_RS_NAME=" + realServer,
	}
}

type execChecker struct {
	cmd     proc.Command
	dynamic bool
}

// NewExec returns a check that runs a command once per probe through internal/proc: in
// its own process group, and when the probe's context ends first the whole group gets
// SIGTERM and, after TermGrace, SIGKILL, so a hung script cannot leave children behind.
func NewExec(target netip.AddrPort, cfg ExecConfig) (Checker, error) {
	cmd := proc.Command{
		Argv: cfg.Argv, Shell: cfg.Shell,
		Env:       append([]string{proc.Path}, cfg.Env...),
		TermGrace: cfg.TermGrace, MaxOutput: cfg.MaxOutputBytes,
	}
	if err := cmd.Check(); err != nil {
		return nil, fmt.Errorf("new exec check for %s: %w", target, err)
	}
	if cfg.User != "" {
		u, err := proc.LookupUser(cfg.User)
		if err != nil {
			return nil, fmt.Errorf("new exec check for %s: %w", target, err)
		}
		cmd.User = u
	}
	return &execChecker{cmd: cmd, dynamic: cfg.Dynamic}, nil
}

func (e *execChecker) Check(ctx context.Context) Result {
	start := time.Now()
	r := proc.Run(ctx, e.cmd)
	res := Result{Weight: NoWeight, Latency: time.Since(start)}
	name := e.cmd.Name()
	switch {
	case r.TimedOut:
		res.Reason = timeoutReason(ctx, start, "running "+name+"; process group killed")
	case r.OK():
		res.OK = true
		res.Reason = fmt.Sprintf("exec %s: %s", name, r.Summary())
	case e.dynamic && r.Started && r.Err == nil && r.ExitCode >= 2:
		res.OK = true
		res.Weight = r.ExitCode - 2
		res.Reason = fmt.Sprintf("exec %s: exit %d, weight %d%s", name, r.ExitCode, res.Weight, quotedTail(r.Output))
	default:
		res.Reason = fmt.Sprintf("exec %s: %s", name, r.Summary())
	}
	return res
}

func quotedTail(out []byte) string {
	if s := proc.LastLine(out); s != "" {
		return ": " + strconv.Quote(s)
	}
	return ""
}
