package checks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"
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
	argv []string
	cfg  ExecConfig
	env  []string
	proc procAttr
}

// NewExec returns a check that runs a command once per probe. The command runs in its own
// process group; when the probe's context ends first the whole group gets SIGTERM and,
// after TermGrace, SIGKILL, so a hung script cannot leave children behind.
func NewExec(target netip.AddrPort, cfg ExecConfig) (Checker, error) {
	if len(cfg.Argv) == 0 || cfg.Argv[0] == "" {
		return nil, fmt.Errorf("new exec check for %s: no command", target)
	}
	argv := cfg.Argv
	if cfg.Shell {
		if len(argv) != 1 {
			return nil, fmt.Errorf("new exec check for %s: a shell command is one string, got %d", target, len(argv))
		}
		argv = []string{"/bin/sh", "-c", argv[0]}
	}
	if cfg.TermGrace <= 0 {
		cfg.TermGrace = time.Second
	}
	if cfg.MaxOutputBytes <= 0 {
		cfg.MaxOutputBytes = 512
	}
	proc, err := newProcAttr(cfg.User)
	if err != nil {
		return nil, fmt.Errorf("new exec check for %s: %w", target, err)
	}
	env := append([]string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}, cfg.Env...)
	return &execChecker{argv: argv, cfg: cfg, env: env, proc: proc}, nil
}

func (e *execChecker) Check(ctx context.Context) Result {
	start := time.Now()
	res := e.check(ctx, start)
	res.Latency = time.Since(start)
	return res
}

func (e *execChecker) check(ctx context.Context, start time.Time) Result {
	res := Result{Weight: NoWeight}
	cmd := exec.Command(e.argv[0], e.argv[1:]...)
	cmd.Env = e.env
	cmd.Dir = "/"
	out := &capBuffer{max: e.cfg.MaxOutputBytes}
	cmd.Stdout, cmd.Stderr = out, out
	// A grandchild holding the output pipe must not hold the verdict: stop waiting for the
	// pipe shortly after the command exits.
	cmd.WaitDelay = 100 * time.Millisecond
	e.proc.apply(cmd)
	if err := cmd.Start(); err != nil {
		res.Reason = fmt.Sprintf("exec %s: %v", e.name(), err)
		return res
	}
	pgid := cmd.Process.Pid
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	var err error
	timedOut := false
	select {
	case err = <-waited:
	case <-ctx.Done():
		timedOut = true
		_ = killGroup(pgid, false)
		t := time.NewTimer(e.cfg.TermGrace)
		select {
		case <-waited:
			t.Stop()
		case <-t.C:
			_ = killGroup(pgid, true)
			<-waited
		}
	}
	// Whatever the command left running in its group goes with it.
	_ = killGroup(pgid, true)
	if timedOut {
		res.Reason = timeoutReason(ctx, start, "running "+e.name()+"; process group killed")
		return res
	}
	st := cmd.ProcessState
	if st == nil {
		res.Reason = fmt.Sprintf("exec %s: %v", e.name(), err)
		return res
	}
	if err != nil && !errors.Is(err, exec.ErrWaitDelay) && !isExitError(err) {
		res.Reason = fmt.Sprintf("exec %s: %v", e.name(), err)
		return res
	}
	code := st.ExitCode()
	tail := out.summary()
	switch {
	case code < 0:
		res.Reason = fmt.Sprintf("exec %s: %s%s", e.name(), st.String(), tail)
	case code == 0:
		res.OK = true
		res.Reason = fmt.Sprintf("exec %s: exit 0%s", e.name(), tail)
	case e.cfg.Dynamic && code >= 2:
		res.OK = true
		res.Weight = code - 2
		res.Reason = fmt.Sprintf("exec %s: exit %d, weight %d%s", e.name(), code, res.Weight, tail)
	default:
		res.Reason = fmt.Sprintf("exec %s: exit %d%s", e.name(), code, tail)
	}
	return res
}

func isExitError(err error) bool {
	var ee *exec.ExitError
	return errors.As(err, &ee)
}

func (e *execChecker) name() string {
	if e.cfg.Shell {
		return strconv.Quote(e.cfg.Argv[0])
	}
	return e.argv[0]
}

// capBuffer keeps the first max bytes written to it.
type capBuffer struct {
	mu  sync.Mutex
	max int
	buf bytes.Buffer
}

func (c *capBuffer) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if room := c.max - c.buf.Len(); room > 0 {
		c.buf.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

func (c *capBuffer) summary() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := strings.TrimSpace(c.buf.String())
	if s == "" {
		return ""
	}
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:] // the last line is usually the one that explains
	}
	return ": " + strconv.Quote(s)
}
