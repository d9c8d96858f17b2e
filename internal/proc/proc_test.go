//go:build unix

package proc

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/testing/testenv"
)

func TestRun(t *testing.T) {
	for _, tc := range []struct {
		name        string
		cmd         Command
		wantOK      bool
		wantCode    int
		wantSummary string
	}{
		{"exit 0", Command{Argv: []string{"true"}}, true, 0, "exit 0"},
		{"exit 1", Command{Argv: []string{"false"}}, false, 1, "exit 1"},
		{"no shell: metacharacters are arguments", Command{Argv: []string{"test", "a", "=", "a;", "false"}}, false, 2, "exit 2"},
		{"shell when asked", Command{Argv: []string{"test a = a && exit 3"}, Shell: true}, false, 3, "exit 3"},
		{"last line of the output", Command{Argv: []string{"echo first; echo replica lag 300s >&2; exit 1"}, Shell: true}, false, 1, `exit 1: "replica lag 300s"`},
		{"only PATH in the environment", Command{Argv: []string{`test "$(env | grep -v '^PWD=' | grep -v '^SHLVL=' | grep -v '^_=')" = "` + Path + `"`}, Shell: true}, true, 0, "exit 0"},
		{"environment given", Command{Argv: []string{`test "$A" = b`}, Shell: true, Env: []string{Path, "A=b"}}, true, 0, "exit 0"},
		{"runs in /", Command{Argv: []string{`test "$(pwd)" = /`}, Shell: true}, true, 0, "exit 0"},
		{"missing program", Command{Argv: []string{"/nonexistent/check"}}, false, -1, "no such file"},
		{"killed by a signal", Command{Argv: []string{"kill -9 $$"}, Shell: true}, false, -1, "signal: killed"},
		{"no command", Command{}, false, 0, "no command"},
		{"a shell line is one string", Command{Argv: []string{"a", "b"}, Shell: true}, false, 0, "one string"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := Run(context.Background(), tc.cmd)
			if res.OK() != tc.wantOK || res.ExitCode != tc.wantCode || !strings.Contains(res.Summary(), tc.wantSummary) {
				t.Errorf("got OK=%v code=%d %q, want OK=%v code=%d containing %q", res.OK(), res.ExitCode, res.Summary(), tc.wantOK, tc.wantCode, tc.wantSummary)
			}
		})
	}
}

func TestRunBoundsOutput(t *testing.T) {
	res := Run(context.Background(), Command{Argv: []string{"head -c 100000 /dev/zero | tr '\\0' x"}, Shell: true, MaxOutput: 64})
	if !res.OK() || len(res.Output) != 64 {
		t.Errorf("got %q with %d bytes of output, want a pass with 64", res.Summary(), len(res.Output))
	}
}

func TestRunAsUser(t *testing.T) {
	testenv.RequireRoot(t)
	u, err := LookupUser("nobody:nogroup")
	if err != nil {
		t.Fatal(err)
	}
	res := Run(context.Background(), Command{Argv: []string{`test "$(id -u):$(id -g):$(id -G)" = 65534:65534:65534`}, Shell: true, User: u})
	if !res.OK() {
		t.Errorf("as nobody: %q", res.Summary())
	}
	for _, spec := range []string{"no-such-user-vigil", "nobody:no-such-group-vigil"} {
		if _, err := LookupUser(spec); err == nil {
			t.Errorf("LookupUser(%q) succeeded", spec)
		}
	}
	if u, err := LookupUser("65534"); err != nil || u.Uid != 65534 {
		t.Errorf("numeric uid: %+v, %v", u, err)
	}
}

// TestRunKillsProcessGroup: a script that ignores SIGTERM, with a child of its own
// that ignores it too, is stopped at the timeout and its whole process group is killed.
func TestRunKillsProcessGroup(t *testing.T) {
	dir := t.TempDir()
	script := `trap '' TERM; sleep 1000 & echo $! > ` + dir + `/child; echo $$ > ` + dir + `/parent; wait; sleep 1000`
	start := time.Now()
	res := Run(context.Background(), Command{Argv: []string{script}, Shell: true, Timeout: 500 * time.Millisecond, TermGrace: 200 * time.Millisecond})
	took := time.Since(start)
	if res.OK() || !res.TimedOut || !strings.Contains(res.Summary(), "process group killed") {
		t.Errorf("got OK=%v timedOut=%v %q, want a timeout", res.OK(), res.TimedOut, res.Summary())
	}
	if took > 5*time.Second {
		t.Errorf("Run returned after %v, want about timeout + grace (700ms)", took)
	}
	for _, f := range []string{"parent", "child"} {
		if pid := readPid(t, filepath.Join(dir, f)); !testenv.WaitGone(pid, 5*time.Second) {
			t.Errorf("%s pid %d survived the timeout", f, pid)
		}
	}
}

// TestRunContextEnds: a cancelled context ends the run like a timeout.
func TestRunContextEnds(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	res := Run(ctx, Command{Argv: []string{"sleep", "1000"}})
	if !res.TimedOut || res.OK() {
		t.Errorf("got %q, want a timeout", res.Summary())
	}
}

// TestRunReapsLeftovers: a command that exits 0 but leaves a child behind holding its
// output returns promptly, and the child is killed; with KeepLeftovers it lives on.
func TestRunReapsLeftovers(t *testing.T) {
	for _, keep := range []bool{false, true} {
		dir := t.TempDir()
		start := time.Now()
		res := Run(context.Background(), Command{Argv: []string{`sleep 1000 & echo $! > ` + dir + `/child; exit 0`}, Shell: true, KeepLeftovers: keep})
		if !res.OK() {
			t.Errorf("keep=%v: got %q, want a pass", keep, res.Summary())
		}
		if took := time.Since(start); took > 3*time.Second {
			t.Errorf("keep=%v: Run took %v: it waited for the leftover child", keep, took)
		}
		pid := readPid(t, filepath.Join(dir, "child"))
		gone := testenv.WaitGone(pid, map[bool]time.Duration{false: 5 * time.Second, true: 300 * time.Millisecond}[keep])
		if gone == keep {
			t.Errorf("keep=%v: leftover child %d gone=%v", keep, pid, gone)
		}
		if keep {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

func readPid(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("the script did not start: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return pid
}
