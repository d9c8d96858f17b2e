package director

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/conf"
	"github.com/vigil-lb/vigil/ipvs/ipvstest"
)

// recorder is a script that appends its event and environment to a file, one line a run.
func recorder(t *testing.T) (script, log string) {
	t.Helper()
	dir := t.TempDir()
	log = filepath.Join(dir, "events")
	script = filepath.Join(dir, "notify.sh")
	body := "#!/bin/sh\necho \"$# $VIGIL_EVENT vs=$VIGIL_VS_NAME key=$VIGIL_VS_KEY rs=$VIGIL_RS_NAME addr=$VIGIL_RS_ADDRESS:$VIGIL_RS_PORT healthy=$VIGIL_HEALTHY_REAL_SERVERS sorry=$VIGIL_SORRY_SERVER_ACTIVE secret=$VIGIL_TEST_SECRET\" >> " + log + "\n"
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	return script, log
}

func waitLines(t *testing.T, path string, n int) []string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	var lines []string
	for time.Now().Before(deadline) {
		b, _ := os.ReadFile(path)
		lines = strings.Split(strings.TrimSpace(string(b)), "\n")
		if len(b) > 0 && len(lines) >= n {
			return lines
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s has %d lines %q, want %d", path, len(lines), lines, n)
	return nil
}

// notifyConfig is config's virtual server with quorum commands and the real server's
// notify_up (the script) and notify_down (argv).
func notifyConfig(t *testing.T, script string, rsNotifyDown []string, b *backend) *conf.Config {
	t.Helper()
	cfg := config(t, fmt.Sprintf("quorum_up = [%q, \"quorum\"]\n  quorum_down = [%q, \"quorum\"]", script, script), "quiesce", b)
	rs := cfg.VirtualServers[0].RealServers[0]
	rs.NotifyUp, rs.NotifyDown, rs.NotifyTimeout = []string{script}, rsNotifyDown, 10*time.Second
	return cfg
}

// TestNotifyCommands: real scripts run on a real server's health changes and on the
// virtual server's quorum changes, with keepalived's argument convention (only their own)
// and the event in the environment, never vigil's.
func TestNotifyCommands(t *testing.T) {
	t.Setenv("VIGIL_TEST_SECRET", "s3cret")
	script, log := recorder(t)
	a := newBackend(t)
	table := ipvstest.New()
	d := start(t, table, notifyConfig(t, script, []string{script}, a))
	d.waitWeight(a.addr, 2)
	up := waitLines(t, log, 2)
	a.Stop()
	d.waitWeight(a.addr, 0)
	lines := waitLines(t, log, 4)
	rsLine := func(event string) string {
		return fmt.Sprintf("0 %s vs=web key=TCP 198.18.0.254:80 rs=rs1 addr=%s:%d healthy= sorry= secret=", event, a.addr.Addr(), a.addr.Port())
	}
	quorumLine := func(event string, healthy int) string {
		return fmt.Sprintf("1 %s vs=web key=TCP 198.18.0.254:80 rs= addr=: healthy=%d sorry=false secret=", event, healthy)
	}
	// The real server's and the quorum's commands are two subjects: each in order, the
	// two not ordered against each other.
	got := map[string]bool{}
	for _, l := range lines {
		got[l] = true
	}
	for _, want := range []string{rsLine("notify_up"), quorumLine("quorum_up", 1), rsLine("notify_down"), quorumLine("quorum_down", 0)} {
		if !got[want] {
			t.Errorf("no run %q in:\n%s", want, strings.Join(lines, "\n"))
		}
	}
	for _, l := range up {
		if strings.Contains(l, "down") {
			t.Errorf("a down command ran before the first up: %q", up)
		}
	}
}

// TestNotifyHangBlocksNothing: a notify_down that hangs does not hold the health checks or
// the weights: the real server comes back in the table while the command still runs.
func TestNotifyHangBlocksNothing(t *testing.T) {
	script, _ := recorder(t)
	a := newBackend(t)
	table := ipvstest.New()
	d := start(t, table, notifyConfig(t, script, []string{"/bin/sleep", "60"}, a))
	d.waitWeight(a.addr, 2)
	a.Stop()
	d.waitWeight(a.addr, 0)
	d.step(200 * time.Millisecond) // notify_down is running its sleep now
	a.Start()
	begin := time.Now()
	d.waitWeight(a.addr, 2)
	if took := time.Since(begin); took > 5*time.Second {
		t.Errorf("recovery took %s while a notify command hung", took)
	}
	stop := time.Now()
	d.Stop(context.Background(), false)
	if took := time.Since(stop); took > notifyStopGrace+5*time.Second {
		t.Errorf("Stop took %s with a hung notify command; it may take %s", took, notifyStopGrace)
	}
}

func TestNotifyChangesInDiff(t *testing.T) {
	a := &conf.RealServer{Name: "rs1", NotifyDown: []string{"/a"}}
	b := &conf.RealServer{Name: "rs1", NotifyUp: []string{"/u", "x"}, NotifyDown: []string{"/a"}, NotifyTimeout: 10 * time.Second, NotifyUser: "nobody"}
	got := rsChanges(a, b)
	want := []string{`notify_up none -> ["/u", "x"]`, "notify_timeout 0s -> 10s", "notify_user  -> nobody"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("got %q, want %q", got, want)
	}
}
