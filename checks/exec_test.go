//go:build unix

package checks

import (
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/testing/testenv"
)

var execTarget = netip.MustParseAddrPort("198.18.0.21:80")

func mustExec(t *testing.T, cfg ExecConfig) Checker {
	t.Helper()
	c, err := New("exec", execTarget, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestExecCheck(t *testing.T) {
	t.Parallel()
	env := TargetEnv(execTarget, "web", "rs1")
	for _, tc := range []struct {
		name       string
		cfg        ExecConfig
		wantOK     bool
		wantWeight int
		wantReason string
	}{
		{"exit 0", ExecConfig{Argv: []string{"true"}}, true, NoWeight, "exec true: exit 0"},
		{"exit 1", ExecConfig{Argv: []string{"false"}}, false, NoWeight, "exec false: exit 1"},
		{"exit 3 fails without dynamic", ExecConfig{Argv: []string{"sh", "-c", "exit 3"}}, false, NoWeight, "exit 3"},
		{"no shell: metacharacters are arguments", ExecConfig{Argv: []string{"test", "a", "=", "a;", "false"}}, false, NoWeight, "exit 2"},
		{"shell when asked", ExecConfig{Argv: []string{"test a = a && exit 0"}, Shell: true}, true, NoWeight, "exit 0"},
		{"output in the reason", ExecConfig{Argv: []string{"echo first; echo replica lag 300s >&2; exit 1"}, Shell: true}, false, NoWeight, `exit 1: "replica lag 300s"`},
		{"missing command", ExecConfig{Argv: []string{"/nonexistent/check"}}, false, NoWeight, "no such file"},
		{"target in env", ExecConfig{Argv: []string{`test "$VIGIL_RS_ADDRESS:$VIGIL_RS_PORT $VIGIL_VS_NAME/$VIGIL_RS_NAME" = "198.18.0.21:80 web/rs1"`}, Shell: true, Env: env}, true, NoWeight, "exit 0"},
		{"dynamic exit 0", ExecConfig{Argv: []string{"true"}, Dynamic: true}, true, NoWeight, "exit 0"},
		{"dynamic exit 1 fails", ExecConfig{Argv: []string{"false"}, Dynamic: true}, false, NoWeight, "exit 1"},
		{"dynamic exit 2 is weight 0", ExecConfig{Argv: []string{"exit 2"}, Shell: true, Dynamic: true}, true, 0, "exit 2, weight 0"},
		{"dynamic exit 12 is weight 10", ExecConfig{Argv: []string{"exit 12"}, Shell: true, Dynamic: true}, true, 10, "weight 10"},
		{"dynamic exit 255 is weight 253", ExecConfig{Argv: []string{"exit 255"}, Shell: true, Dynamic: true}, true, 253, "weight 253"},
		{"killed by a signal", ExecConfig{Argv: []string{"kill -9 $$"}, Shell: true}, false, NoWeight, "signal: killed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := check(t, mustExec(t, tc.cfg), 10*time.Second)
			if res.OK != tc.wantOK || res.Weight != tc.wantWeight || !strings.Contains(res.Reason, tc.wantReason) {
				t.Errorf("got OK=%v weight=%d %q, want OK=%v weight=%d containing %q", res.OK, res.Weight, res.Reason, tc.wantOK, tc.wantWeight, tc.wantReason)
			}
		})
	}
}

func TestExecCheckRunsAsUser(t *testing.T) {
	t.Parallel()
	testenv.RequireRoot(t)
	res := check(t, mustExec(t, ExecConfig{Argv: []string{`test "$(id -u):$(id -g)" = 65534:65534`}, Shell: true, User: "nobody:nogroup"}), 10*time.Second)
	if !res.OK {
		t.Errorf("as nobody: %q", res.Reason)
	}
	if _, err := NewExec(execTarget, ExecConfig{Argv: []string{"true"}, User: "no-such-user-vigil"}); err == nil {
		t.Error("an unknown user was accepted")
	}
}

// TestExecCheckKillsProcessGroup: a script that ignores SIGTERM, with a child of its own
// that ignores it too, is failed at the timeout and its whole process group is killed.
func TestExecCheckKillsProcessGroup(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	script := `trap '' TERM; sleep 1000 & echo $! > ` + dir + `/child; echo $$ > ` + dir + `/parent; wait; sleep 1000`
	c := mustExec(t, ExecConfig{Argv: []string{script}, Shell: true, TermGrace: 200 * time.Millisecond})
	start := time.Now()
	res := check(t, c, 500*time.Millisecond)
	took := time.Since(start)
	if res.OK || !strings.Contains(res.Reason, "timeout after 500ms running") || !strings.Contains(res.Reason, "process group killed") {
		t.Errorf("got OK=%v %q, want a timeout", res.OK, res.Reason)
	}
	if took > 5*time.Second {
		t.Errorf("check returned after %v, want about timeout + grace (700ms)", took)
	}
	for _, f := range []string{"parent", "child"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatalf("the script did not start: %v", err)
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil {
			t.Fatal(err)
		}
		if !testenv.WaitGone(pid, 5*time.Second) {
			t.Errorf("%s pid %d survived the timeout", f, pid)
		}
	}
}
