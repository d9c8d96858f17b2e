package main

import (
	"bytes"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/status"
)

// The reload tests make the test process itself stand for `vigil run`: its pid goes in
// the pid file and a SIGHUP handler changes what the fake API serves. The test binary is
// named vigil.test, which passes the "is it vigil" check like the real daemon.
var (
	hupOnce    sync.Once
	hupMu      sync.Mutex
	hupHandler func()
)

// onSIGHUP installs fn as what the fake daemon does on SIGHUP. The signal stays caught for
// the life of the test binary: restoring the default action would let a late signal kill it.
func onSIGHUP(t *testing.T, fn func()) {
	t.Helper()
	hupOnce.Do(func() {
		ch := make(chan os.Signal, 4)
		signal.Notify(ch, syscall.SIGHUP)
		go func() {
			for range ch {
				hupMu.Lock()
				h := hupHandler
				hupMu.Unlock()
				if h != nil {
					h()
				}
			}
		}()
	})
	hupMu.Lock()
	hupHandler = fn
	hupMu.Unlock()
	t.Cleanup(func() {
		hupMu.Lock()
		hupHandler = nil
		hupMu.Unlock()
	})
}

func writePIDFile(t *testing.T, pid int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "vigil.pid")
	if err := os.WriteFile(path, []byte(strconv.Itoa(pid)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func reloadSnapshot() status.Snapshot {
	s := fixedSnapshot()
	s.Config = status.ConfigStatus{Path: "/etc/vigil/vigil.hcl", Generation: 4, LoadedAt: t0, ReloadsOK: 3, ReloadsFailed: 1}
	return s
}

func TestCmdReload(t *testing.T) {
	tests := []struct {
		name       string
		onHUP      func(*status.ConfigStatus)
		wantCode   int
		wantStdout string
		wantStderr []string
	}{
		{
			name: "success with a diff",
			onHUP: func(c *status.ConfigStatus) {
				c.Generation, c.ReloadsOK, c.LastReloadOK = 5, 4, true
				c.LastReloadDiff = []string{
					"+ real_server web/rs4 198.18.0.24:80 weight 1",
					"~ real_server web/rs1 weight 1 -> 3",
				}
			},
			wantCode:   0,
			wantStdout: "reloaded: generation 5\n  + real_server web/rs4 198.18.0.24:80 weight 1\n  ~ real_server web/rs1 weight 1 -> 3\n",
		},
		{
			name: "success without changes",
			onHUP: func(c *status.ConfigStatus) {
				c.Generation, c.ReloadsOK, c.LastReloadOK = 5, 4, true
			},
			wantCode:   0,
			wantStdout: "reloaded: generation 5\n  no changes\n",
		},
		{
			name: "invalid configuration",
			onHUP: func(c *status.ConfigStatus) {
				c.ReloadsFailed, c.LastReloadOK = 2, false
				c.LastReloadErr = "vigil.hcl:3,5-11: Unsupported argument\nvigil.hcl:9,1-4: Missing name"
			},
			wantCode: 1,
			wantStderr: []string{
				"reload failed; generation 4 keeps running:\n  vigil.hcl:3,5-11: Unsupported argument\n  vigil.hcl:9,1-4: Missing name\n",
			},
		},
		{
			name:       "daemon ignores the signal",
			onHUP:      func(*status.ConfigStatus) {},
			wantCode:   1,
			wantStderr: []string{"vigil reload: sent SIGHUP to pid ", "did not report a reload within 2s"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := &fakeDirector{snap: reloadSnapshot()}
			addr := serveFake(t, d)
			// The daemon answers the signal a little later, as a real reload would.
			onSIGHUP(t, func() {
				time.AfterFunc(50*time.Millisecond, func() {
					d.update(func(s *status.Snapshot) { tt.onHUP(&s.Config) })
				})
			})
			pidFile := writePIDFile(t, os.Getpid())

			var stdout, stderr bytes.Buffer
			code := cmdReload([]string{"--pid-file", pidFile, "--addr", addr, "--timeout", "2s"}, &stdout, &stderr)
			if code != tt.wantCode {
				t.Errorf("exit %d, want %d; stderr %q", code, tt.wantCode, stderr.String())
			}
			if stdout.String() != tt.wantStdout {
				t.Errorf("stdout:\n%q\nwant:\n%q", stdout.String(), tt.wantStdout)
			}
			for _, want := range tt.wantStderr {
				if !strings.Contains(stderr.String(), want) {
					t.Errorf("stderr %q lacks %q", stderr.String(), want)
				}
			}
		})
	}
}

func TestCmdReloadNoPIDFile(t *testing.T) {
	var stdout, stderr bytes.Buffer
	missing := filepath.Join(t.TempDir(), "nope.pid")
	code := cmdReload([]string{"--pid-file", missing, "--addr", closedAddr(t)}, &stdout, &stderr)
	if code != 1 || !strings.Contains(stderr.String(), "read pid file: open "+missing) || !strings.Contains(stderr.String(), "is `vigil run --pid-file "+missing+"` running?") {
		t.Errorf("got exit %d stderr %q", code, stderr.String())
	}
}

func TestCmdReloadGarbagePIDFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vigil.pid")
	os.WriteFile(path, []byte("vigil\n"), 0o644)
	var stdout, stderr bytes.Buffer
	code := cmdReload([]string{"--pid-file", path}, &stdout, &stderr)
	if code != 1 || !strings.Contains(stderr.String(), `holds "vigil", not a process id`) {
		t.Errorf("got exit %d stderr %q", code, stderr.String())
	}
}

// A stale pid file naming some other program must not get that program killed by SIGHUP.
func TestCmdReloadRefusesOtherProcess(t *testing.T) {
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatalf("start sleep: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	// /proc/<pid>/comm shows the new name only once the child has exec'ed sleep.
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, _ := os.ReadFile("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/comm")
		if strings.TrimSpace(string(b)) == "sleep" || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}

	var stdout, stderr bytes.Buffer
	code := cmdReload([]string{"--pid-file", writePIDFile(t, cmd.Process.Pid), "--addr", closedAddr(t)}, &stdout, &stderr)
	if code != 1 || !strings.Contains(stderr.String(), `is "sleep", not vigil; stale pid file`) {
		t.Errorf("got exit %d stderr %q", code, stderr.String())
	}
	select {
	case err := <-exited:
		t.Errorf("sleep exited (%v): vigil reload signalled a process that is not vigil", err)
	case <-time.After(200 * time.Millisecond):
	}
}

// With the API unreachable the signal still goes out, but the result cannot be confirmed.
func TestCmdReloadUnconfirmed(t *testing.T) {
	got := make(chan struct{}, 1)
	onSIGHUP(t, func() {
		select {
		case got <- struct{}{}:
		default:
		}
	})
	var stdout, stderr bytes.Buffer
	code := cmdReload([]string{"--pid-file", writePIDFile(t, os.Getpid()), "--addr", closedAddr(t), "--timeout", "2s"}, &stdout, &stderr)
	if code != 1 || !strings.Contains(stderr.String(), "but cannot confirm the result: cannot reach vigil at") {
		t.Errorf("got exit %d stderr %q", code, stderr.String())
	}
	select {
	case <-got:
	case <-time.After(10 * time.Second):
		t.Errorf("SIGHUP never arrived")
	}
}
