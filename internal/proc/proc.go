// Package proc runs one command as a child process group, bounded by a timeout after
// which the whole group is killed, and reaps it.
//
// It is the one place that starts programs: exec health checks, vrrp_script tracking and
// notify commands all go through Run, so every one of them runs as its configured user,
// cannot outlive its timeout, and cannot leave children behind.
package proc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Path is the PATH a command gets when the caller passes no environment of its own.
const Path = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Command is one program to run.
type Command struct {
	// Argv is the program and its arguments, run without a shell. With Shell set, Argv
	// holds one string, run as `/bin/sh -c Argv[0]`.
	Argv  []string
	Shell bool
	// Env is the whole environment of the command; nil gives it only Path.
	Env []string
	// Dir is the working directory; default "/".
	Dir string
	// User runs the command as this user (see LookupUser); nil: vigil's own user.
	User *User
	// Timeout, when positive, bounds the run (as does ctx): then the process group gets
	// SIGTERM and, TermGrace later, SIGKILL.
	Timeout time.Duration
	// TermGrace is the time between SIGTERM and SIGKILL; default 1s.
	TermGrace time.Duration
	// MaxOutput bytes of stdout and stderr together are kept; default 512.
	MaxOutput int
	// KeepLeftovers leaves processes the command started in the background running
	// after it exits (a notify command that starts a service). By default they are
	// killed with the group, so a check cannot leave anything behind. At the timeout the
	// group is killed either way.
	KeepLeftovers bool
}

// Result is how a run ended.
type Result struct {
	// Started is false when the program could not be started (Err says why).
	Started bool
	// ExitCode is the exit status, or -1 when the process was killed by a signal.
	ExitCode int
	// Signaled describes the signal that killed the process ("signal: killed"), if any.
	Signaled string
	// TimedOut: the timeout (or ctx) ended the run and the group was killed.
	TimedOut bool
	// Output holds the first MaxOutput bytes of stdout and stderr.
	Output []byte
	// Err is a start or wait error other than a non-zero exit.
	Err      error
	Duration time.Duration
}

// OK reports whether the command ran to completion with exit status 0.
func (r Result) OK() bool { return r.Started && !r.TimedOut && r.Err == nil && r.ExitCode == 0 }

// Summary is a one-line account for logs and check reasons: "exit 1: \"last line\"",
// "signal: killed", "timed out after 1s; process group killed", or the start error.
func (r Result) Summary() string {
	tail := LastLine(r.Output)
	if tail != "" {
		tail = ": " + strconv.Quote(tail)
	}
	switch {
	case !r.Started:
		return r.Err.Error()
	case r.TimedOut:
		return fmt.Sprintf("timed out after %s; process group killed%s", roundDur(r.Duration), tail)
	case r.Err != nil:
		return r.Err.Error()
	case r.Signaled != "":
		return r.Signaled + tail
	}
	return fmt.Sprintf("exit %d%s", r.ExitCode, tail)
}

// Name is how a command is named in messages: the program, or the quoted shell line.
func (c Command) Name() string {
	if c.Shell && len(c.Argv) == 1 {
		return strconv.Quote(c.Argv[0])
	}
	if len(c.Argv) == 0 {
		return `""`
	}
	return c.Argv[0]
}

// Check reports what is wrong with c's command line.
func (c Command) Check() error {
	if len(c.Argv) == 0 || c.Argv[0] == "" {
		return errors.New("no command")
	}
	if c.Shell && len(c.Argv) != 1 {
		return fmt.Errorf("a shell command is one string, got %d", len(c.Argv))
	}
	return nil
}

// Run runs c and waits for it and everything in its process group (unless
// KeepLeftovers) to be gone or killed. It never panics and never returns before the
// command has been reaped.
func Run(ctx context.Context, c Command) Result {
	start := time.Now()
	if err := c.Check(); err != nil {
		return Result{Err: err}
	}
	if c.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.Timeout)
		defer cancel()
	}
	if c.TermGrace <= 0 {
		c.TermGrace = time.Second
	}
	if c.MaxOutput <= 0 {
		c.MaxOutput = 512
	}
	argv := c.Argv
	if c.Shell {
		argv = []string{"/bin/sh", "-c", argv[0]}
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = c.Env
	if cmd.Env == nil {
		cmd.Env = []string{Path}
	}
	cmd.Dir = c.Dir
	if cmd.Dir == "" {
		cmd.Dir = "/"
	}
	out := &capBuffer{max: c.MaxOutput}
	cmd.Stdout, cmd.Stderr = out, out
	// A grandchild holding the output pipe must not hold the result: stop waiting for
	// the pipe shortly after the command exits.
	cmd.WaitDelay = 100 * time.Millisecond
	setGroup(cmd, c.User)
	res := Result{ExitCode: -1}
	if err := cmd.Start(); err != nil {
		res.Err = err // "fork/exec PROGRAM: ..." names the program
		res.Duration = time.Since(start)
		return res
	}
	res.Started = true
	pgid := cmd.Process.Pid
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	var err error
	select {
	case err = <-waited:
	case <-ctx.Done():
		res.TimedOut = true
		_ = killGroup(pgid, false)
		t := time.NewTimer(c.TermGrace)
		select {
		case err = <-waited:
			t.Stop()
		case <-t.C:
			_ = killGroup(pgid, true)
			err = <-waited
		}
	}
	if res.TimedOut || !c.KeepLeftovers {
		// Whatever the command left running in its group goes with it.
		_ = killGroup(pgid, true)
	}
	res.Duration = time.Since(start)
	res.Output = out.bytes()
	st := cmd.ProcessState
	if res.TimedOut {
		if st != nil {
			res.ExitCode = st.ExitCode()
		}
		return res
	}
	var ee *exec.ExitError
	if err != nil && !errors.Is(err, exec.ErrWaitDelay) && !errors.As(err, &ee) {
		res.Err = fmt.Errorf("wait: %w", err)
	}
	if st == nil {
		if res.Err == nil {
			res.Err = errors.New("wait: no exit status")
		}
		return res
	}
	res.ExitCode = st.ExitCode()
	if res.ExitCode < 0 {
		res.Signaled = st.String()
	}
	return res
}

// LastLine is the last non-empty line of out, trimmed: usually the one that explains.
func LastLine(out []byte) string {
	s := strings.TrimSpace(string(out))
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = strings.TrimSpace(s[i+1:])
	}
	return s
}

func roundDur(d time.Duration) time.Duration {
	if d >= time.Second {
		return d.Round(10 * time.Millisecond)
	}
	return d.Round(time.Millisecond)
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

func (c *capBuffer) bytes() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return bytes.Clone(c.buf.Bytes())
}
