package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vigil-lb/vigil/internal/status"
)

// defaultPIDFile is where the shipped systemd unit (examples/systemd/vigil.service) has
// `vigil run` write its pid.
const defaultPIDFile = "/run/vigil/vigil.pid"

// reloadPoll is how often `vigil reload` asks /status whether the reload has landed.
const reloadPoll = 100 * time.Millisecond

// Exit statuses of `vigil reload` beyond 0 (applied), 1 (failed) and 2 (usage).
const exitAppliedWithErrors = 3

// cmdReload is `vigil reload`: send SIGHUP to the running vigil, then watch /status until
// the reload is accounted for (config generation or failed-reload count moves) and report
// its outcome. SIGHUP alone gives no answer; the API is what turns it into one.
func cmdReload(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("vigil reload", flag.ContinueOnError)
	file := fs.String("f", "", "the configuration `file` vigil run reads: its global.listen is the API to ask, and the pid is the one the API reports")
	pidFile := fs.String("pid-file", defaultPIDFile, "`file` holding the pid of `vigil run` (without -f)")
	addr := fs.String("addr", defaultAddr, "`host:port` of the running vigil's API (global.listen), to confirm the reload (without -f)")
	timeout := fs.Duration("timeout", 10*time.Second, "how long to wait for vigil to report the reload")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: vigil reload [-f FILE | --pid-file %s --addr %s] [--timeout 10s]\n\n"+
			"Ask the running vigil to reload its configuration (SIGHUP) and report the result:\n"+
			"the new generation and what changed, or every error of a rejected file as `vigil check`\n"+
			"prints them (the old configuration keeps running).\n"+
			"Exit status: 0 applied; 1 rejected, or not confirmed; 2 usage error; 3 applied with\n"+
			"errors (the new configuration runs, but the table refused some writes; the next resync\n"+
			"retries them).\n\nFlags:\n", defaultPIDFile, defaultAddr)
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return code
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()

	var pid int
	var before status.Snapshot
	var baseErr error
	if *file != "" {
		// The file names the API; the API names the daemon, which must be running this file.
		if !set["addr"] {
			a, err := apiAddr(*file)
			switch {
			case errors.Is(err, errAPIOff):
				fmt.Fprintf(stderr, "vigil reload: %v\n", err)
				return 1
			case err != nil:
				// The file being reloaded may well be the broken one: the API then is where
				// it is by default, and the path /status reports proves it is the right one.
				fmt.Fprintf(stderr, "vigil reload: %v; asking %s\n", err, *addr)
			default:
				*addr = a
			}
		}
		before, _, baseErr = fetchStatus(ctx, *addr)
		if baseErr != nil {
			fmt.Fprintf(stderr, "vigil reload: %v\n", baseErr)
			return 1
		}
		if !sameFile(before.Config.Path, *file) {
			fmt.Fprintf(stderr, "vigil reload: the vigil at %s runs %s, not %s\n", *addr, before.Config.Path, *file)
			return 1
		}
		pid = before.PID
	}
	if pid == 0 || set["pid-file"] {
		p, err := readPID(*pidFile)
		if err != nil {
			fmt.Fprintf(stderr, "vigil reload: %v (is `vigil run --pid-file %s` running? with -f FILE the pid comes from the API; under systemd: systemctl reload vigil)\n", err, *pidFile)
			return 1
		}
		pid = p
	}
	if err := checkIsVigil(pid); err != nil {
		fmt.Fprintf(stderr, "vigil reload: %v; stale pid file %s?\n", err, *pidFile)
		return 1
	}

	// The state before the signal is the baseline: without it a reload that had already
	// happened would be taken for ours.
	if *file == "" {
		before, _, baseErr = fetchStatus(ctx, *addr)
	}

	proc, err := os.FindProcess(pid)
	if err == nil {
		err = proc.Signal(syscall.SIGHUP)
	}
	if err != nil {
		fmt.Fprintf(stderr, "vigil reload: send SIGHUP to pid %d: %v (is `vigil run` running?)\n", pid, err)
		return 1
	}
	if baseErr != nil {
		fmt.Fprintf(stderr, "vigil reload: sent SIGHUP to pid %d, but cannot confirm the result: %v\n", pid, baseErr)
		return 1
	}

	after, err := waitReload(ctx, *addr, before.Config)
	if err != nil {
		fmt.Fprintf(stderr, "vigil reload: sent SIGHUP to pid %d, but vigil did not report a reload within %s: %v\n", pid, *timeout, err)
		return 1
	}
	return reportReload(before.Config, after.Config, stdout, stderr)
}

// reportReload says how the reload from before to after went, and returns the exit status.
func reportReload(before, c status.ConfigStatus, stdout, stderr io.Writer) int {
	result := c.LastReloadResult
	if result == "" { // a vigil from before last_reload_result: infer it from the counters
		switch {
		case c.ReloadsFailed == before.ReloadsFailed:
			result = status.ReloadApplied
		case c.Generation != before.Generation:
			result = status.ReloadPartial
		default:
			result = status.ReloadRejected
		}
	}
	if result == status.ReloadRejected {
		// The file's diagnostics, exactly as `vigil check` prints them.
		fmt.Fprintf(stderr, "reload rejected; generation %d keeps running:\n%s", c.Generation, orDash(c.LastReloadErr))
		if !strings.HasSuffix(c.LastReloadErr, "\n") {
			fmt.Fprintln(stderr)
		}
		return 1
	}
	code := 0
	if result == status.ReloadPartial {
		fmt.Fprintf(stdout, "reloaded with errors: generation %d runs", c.Generation)
		code = exitAppliedWithErrors
	} else {
		fmt.Fprintf(stdout, "reloaded: generation %d", c.Generation)
	}
	if c.LastReloadDuration > 0 {
		fmt.Fprintf(stdout, " (applied in %s)", fmtLatency(c.LastReloadDuration))
	}
	fmt.Fprintln(stdout)
	if len(c.LastReloadDiff) == 0 {
		fmt.Fprintln(stdout, "  no changes")
	}
	for _, line := range c.LastReloadDiff {
		fmt.Fprintf(stdout, "  %s\n", line)
	}
	if code != 0 {
		fmt.Fprintf(stderr, "reload applied with errors; the table refused some writes and the next resync retries them:\n%s\n", indent(orDash(c.LastReloadErr)))
	}
	return code
}

// waitReload polls /status until the reload counters differ from before. Errors while
// polling are tolerated (the daemon may be busy applying); the last one is returned if
// the deadline passes.
func waitReload(ctx context.Context, addr string, before status.ConfigStatus) (status.Snapshot, error) {
	t := time.NewTicker(reloadPoll)
	defer t.Stop()
	lastErr := fmt.Errorf("config generation still %d", before.Generation)
	for {
		snap, _, err := fetchStatus(ctx, addr)
		if err == nil {
			c := snap.Config
			if c.Generation != before.Generation || c.ReloadsOK != before.ReloadsOK || c.ReloadsFailed != before.ReloadsFailed {
				return snap, nil
			}
		} else if ctx.Err() == nil {
			lastErr = err
		}
		select {
		case <-ctx.Done():
			return status.Snapshot{}, lastErr
		case <-t.C:
		}
	}
}

func readPID(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("read pid file: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("pid file %s holds %q, not a process id", path, strings.TrimSpace(string(b)))
	}
	return pid, nil
}

func indent(s string) string {
	return "  " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n  ")
}

// checkIsVigil refuses to signal a process whose name does not mention vigil: a stale pid
// file can name a recycled pid, and SIGHUP's default action kills most programs. Where
// /proc is not there to ask, it gives the benefit of the doubt.
func checkIsVigil(pid int) error {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if os.IsNotExist(err) {
		if _, statErr := os.Stat("/proc/self/comm"); statErr == nil {
			return fmt.Errorf("no process with pid %d", pid)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("read the name of pid %d: %w", pid, err)
	}
	if name := strings.TrimSpace(string(b)); !strings.Contains(name, "vigil") {
		return fmt.Errorf("pid %d is %q, not vigil", pid, name)
	}
	return nil
}
