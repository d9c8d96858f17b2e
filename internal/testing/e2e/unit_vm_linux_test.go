package e2e

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vigil-lb/vigil/internal/testing/netlab"
)

// The shipped systemd unit, run the way systemd runs it (without systemd): its
// capabilities, no_new_privs and limits through capexec, its Exec lines verbatim, its
// readiness protocol on NOTIFY_SOCKET.

const unitFile = guestExamples + "/systemd/vigil.service"

// systemdUnit is the [Service] section of a unit file: key -> values in order.
type systemdUnit struct {
	path    string
	service map[string][]string
}

// unitKeys are the [Service] settings the test knows, and what it does with each; an
// unknown setting fails the test, so a change to the unit is never silently untested.
var unitKeys = map[string]string{
	"Type":                  "notify: wait for READY=1",
	"NotifyAccess":          "main: vigil itself notifies",
	"EnvironmentFile":       "read when present (a leading - makes it optional)",
	"ExecStartPre":          "run before ExecStart, must succeed",
	"ExecStart":             "run",
	"ExecReload":            "run, $MAINPID substituted",
	"KillSignal":            "sent to stop",
	"TimeoutStopSec":        "bounds the stop",
	"Restart":               "not emulated (systemd restarts)",
	"RestartSec":            "not emulated",
	"RuntimeDirectory":      "created under /run",
	"StateDirectory":        "created under /var/lib",
	"CapabilityBoundingSet": "capexec -caps",
	"AmbientCapabilities":   "must be within the bounding set",
	"NoNewPrivileges":       "capexec -nnp",
	"ProtectSystem":         "not emulated (file system)",
	"ProtectHome":           "not emulated (file system)",
	"PrivateTmp":            "not emulated (file system)",
	"LimitNOFILE":           "capexec -rlimit NOFILE",
	"LimitRTPRIO":           "capexec -rlimit RTPRIO",
}

func readUnit(t *testing.T, path string) *systemdUnit {
	t.Helper()
	f, err := os.Open(path)
	must(t, err, "open unit")
	defer f.Close()
	u := &systemdUnit{path: path, service: map[string][]string{}}
	section := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		switch {
		case l == "" || strings.HasPrefix(l, "#") || strings.HasPrefix(l, ";"):
		case strings.HasPrefix(l, "["):
			section = l
		case section == "[Service]":
			k, v, ok := strings.Cut(l, "=")
			if !ok {
				t.Fatalf("%s: %q is not key=value", path, l)
			}
			if _, known := unitKeys[k]; !known {
				t.Fatalf("%s: [Service] %s= is new: teach the unit test (unitKeys) what it means", path, k)
			}
			u.service[k] = append(u.service[k], v)
		}
	}
	must(t, sc.Err(), "read unit")
	return u
}

func (u *systemdUnit) one(t *testing.T, key string) string {
	t.Helper()
	v := u.service[key]
	if len(v) != 1 {
		t.Fatalf("%s: want one %s=, have %q", u.path, key, v)
	}
	return v[0]
}

// exec returns the command lines of key, split on blanks (the unit quotes nothing).
func (u *systemdUnit) exec(key string) [][]string {
	var out [][]string
	for _, v := range u.service[key] {
		out = append(out, strings.Fields(strings.TrimPrefix(v, "-")))
	}
	return out
}

// capexecArgs are capexec's flags for the unit's privileges.
func (u *systemdUnit) capexecArgs(t *testing.T) []string {
	t.Helper()
	bounding := strings.Fields(u.one(t, "CapabilityBoundingSet"))
	for _, c := range strings.Fields(u.one(t, "AmbientCapabilities")) {
		if !slices.Contains(bounding, c) {
			t.Fatalf("%s: ambient capability %s is not in the bounding set", u.path, c)
		}
	}
	args := []string{"-caps", strings.Join(bounding, ",")}
	if u.one(t, "NoNewPrivileges") == "yes" {
		args = append(args, "-nnp")
	}
	for _, l := range []string{"NOFILE", "RTPRIO"} {
		if v, ok := u.service["Limit"+l]; ok {
			args = append(args, "-rlimit", l+"="+v[0])
		}
	}
	return args
}

// capMask is the unit's bounding set as /proc/PID/status shows capabilities.
func (u *systemdUnit) capMask(t *testing.T) uint64 {
	t.Helper()
	bits := map[string]int{"CAP_NET_BIND_SERVICE": unix.CAP_NET_BIND_SERVICE, "CAP_NET_ADMIN": unix.CAP_NET_ADMIN,
		"CAP_NET_RAW": unix.CAP_NET_RAW, "CAP_SETUID": unix.CAP_SETUID, "CAP_SETGID": unix.CAP_SETGID, "CAP_SYS_NICE": unix.CAP_SYS_NICE}
	var m uint64
	for _, c := range strings.Fields(u.one(t, "CapabilityBoundingSet")) {
		b, ok := bits[c]
		if !ok {
			t.Fatalf("%s: the test does not know the bit of %s", u.path, c)
		}
		m |= 1 << b
	}
	return m
}

// env is what EnvironmentFile= adds.
func (u *systemdUnit) env(t *testing.T) []string {
	t.Helper()
	var env []string
	for _, f := range u.service["EnvironmentFile"] {
		optional := strings.HasPrefix(f, "-")
		b, err := os.ReadFile(strings.TrimPrefix(f, "-"))
		if err != nil {
			if optional && errors.Is(err, os.ErrNotExist) {
				continue
			}
			t.Fatalf("EnvironmentFile %s: %v", f, err)
		}
		for _, l := range strings.Split(string(b), "\n") {
			if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
				env = append(env, l)
			}
		}
	}
	return env
}

// underUnit prefixes argv with capexec and the unit's privileges.
func underUnit(t *testing.T, u *systemdUnit, argv ...string) []string {
	t.Helper()
	return append(append([]string{"capexec"}, u.capexecArgs(t)...), append([]string{"--"}, argv...)...)
}

// ipvsLoaded reports whether kernel IPVS is there (/proc/net/ip_vs exists).
func ipvsLoaded() bool {
	_, err := os.Stat("/proc/net/ip_vs")
	return err == nil
}

// unloadIPVS removes ip_vs and its schedulers, which the guest's /init loads at boot, so
// the kernel is as Debian boots it: IPVS not loaded until someone asks.
func unloadIPVS(t *testing.T) {
	t.Helper()
	b, err := os.ReadFile("/proc/modules")
	must(t, err, "read /proc/modules")
	var mods []string
	for _, l := range strings.Split(string(b), "\n") {
		if name, _, _ := strings.Cut(l, " "); strings.HasPrefix(name, "ip_vs_") {
			mods = append(mods, name)
		}
	}
	if strings.Contains(string(b), "\nip_vs ") || strings.HasPrefix(string(b), "ip_vs ") {
		mods = append(mods, "ip_vs")
	}
	for _, m := range mods {
		if out, err := exec.Command("rmmod", m).CombinedOutput(); err != nil {
			t.Fatalf("rmmod %s: %v: %s", m, err, out)
		}
	}
	if ipvsLoaded() {
		t.Fatalf("/proc/net/ip_vs still exists after rmmod %v", mods)
	}
}

// noModuleLoading stops the kernel loading modules on demand until t ends: request_module
// then finds no program to run, as on a host without the ip_vs module.
func noModuleLoading(t *testing.T) {
	t.Helper()
	const p = "/proc/sys/kernel/modprobe"
	old, err := os.ReadFile(p)
	must(t, err, "read "+p)
	must(t, os.WriteFile(p, []byte("/nonexistent/modprobe\n"), 0), "disable module loading")
	t.Cleanup(func() {
		if err := os.WriteFile(p, old, 0); err != nil {
			t.Errorf("restore %s: %v", p, err)
		}
	})
}

// testAutoWithoutIPVS: on a kernel that cannot load ip_vs, under the unit's capabilities,
// dataplane = "auto" (every example's default) serves the NAT example from the userspace
// proxy and refuses every DR, TUN and firewall-mark example with the fix.
func testAutoWithoutIPVS(t *testing.T) {
	unloadIPVS(t)
	u := readUnit(t, unitFile)
	l := netlab.New(t)

	// What the issue measured: under the unit's capabilities modprobe cannot load ip_vs;
	// a lookup of the IPVS generic-netlink family (ipvsadm -Ln does one) can.
	h := l.Host("probe")
	argv := underUnit(t, u, "modprobe", "ip_vs")
	out, err := h.Command(t.Context(), argv[0], argv[1:]...).CombinedOutput()
	if err == nil || ipvsLoaded() {
		t.Fatalf("modprobe ip_vs under the unit's capabilities: %v (%s); want it refused, and ip_vs not loaded", err, out)
	}
	t.Logf("modprobe ip_vs under the unit's capabilities: %v: %s", err, strings.TrimSpace(string(out)))
	argv = underUnit(t, u, "ipvsadm", "-Ln")
	out, err = h.Command(t.Context(), argv[0], argv[1:]...).CombinedOutput()
	t.Logf("ipvsadm -Ln under the unit's capabilities: err %v, ip_vs loaded afterwards: %v\n%s", err, ipvsLoaded(), out)
	unloadIPVS(t)

	noModuleLoading(t)
	for _, f := range slices.Sorted(mapKeys(exampleFiles)) {
		if !strings.HasSuffix(f, ".hcl") {
			continue
		}
		t.Run(f, func(t *testing.T) {
			h := l.Host(strings.NewReplacer("/", "-", ".hcl", "").Replace(f))
			if f == "nat-web.hcl" {
				// The only example the proxy serves as written.
				must(t, h.AddAddr("lo", pfx("198.18.0.254/32")), "VIP on lo")
				v := launch(t, &vigil{t: t, name: f, host: h, dir: t.TempDir(), log: &syncBuffer{}, cfg: example(f),
					argv: underUnit(t, u, "vigil", "run", "-f", example(f))})
				if s := v.Status(); s.Dataplane != "userspace" || !strings.Contains(v.log.String(), "kernel IPVS is not available; using the userspace data plane") {
					t.Errorf("data plane %q, log:\n%s\nwant userspace, and the fallback said", s.Dataplane, v.log.String())
				}
				return
			}
			argv := underUnit(t, u, "vigil", "run", "-f", example(f))
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			out, err := h.Command(ctx, argv[0], argv[1:]...).CombinedOutput()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 1 {
				t.Fatalf("vigil run: %v, want exit status 1; output:\n%s", err, out)
			}
			for _, want := range []string{"kernel IPVS is not available", "cannot serve virtual_server", "modprobe ip_vs"} {
				if !strings.Contains(string(out), want) {
					t.Errorf("output lacks %q:\n%s", want, out)
				}
			}
		})
	}
	if ipvsLoaded() {
		t.Errorf("ip_vs got loaded although the kernel could not load modules")
	}
}

// notifySocket is the socket systemd passes in NOTIFY_SOCKET for Type=notify.
type notifySocket struct {
	path string
	c    *net.UnixConn
}

func newNotifySocket(t *testing.T) *notifySocket {
	t.Helper()
	p := filepath.Join(t.TempDir(), "notify.sock")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: p, Net: "unixgram"})
	must(t, err, "listen on the notify socket")
	t.Cleanup(func() { c.Close() })
	return &notifySocket{path: p, c: c}
}

// wait returns once a message with line arrives.
func (n *notifySocket) wait(t *testing.T, line string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	buf := make([]byte, 4096)
	for {
		n.c.SetReadDeadline(deadline)
		k, err := n.c.Read(buf)
		if err != nil {
			t.Fatalf("no %s on NOTIFY_SOCKET within %s: %v", line, timeout, err)
		}
		if slices.Contains(strings.Split(string(buf[:k]), "\n"), line) {
			return
		}
	}
}

// procStatus returns the value of a field of /proc/PID/status.
func procStatus(t *testing.T, pid int, field string) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	must(t, err, "read status of "+strconv.Itoa(pid))
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("/proc/%d/status has no %s", pid, field)
	return ""
}

// installUnitPaths puts vigil and its configuration where the unit expects them.
func installUnitPaths(t *testing.T, u *systemdUnit, config string) {
	t.Helper()
	for link, target := range map[string]string{"/usr/local/sbin/vigil": "/usr/bin/vigil", "/etc/vigil/vigil.hcl": config} {
		must(t, os.MkdirAll(filepath.Dir(link), 0o755), "mkdir for "+link)
		os.Remove(link)
		must(t, os.Symlink(target, link), "link "+link)
	}
	for _, d := range u.service["RuntimeDirectory"] {
		must(t, os.MkdirAll(filepath.Join("/run", d), 0o755), "RuntimeDirectory")
	}
	for _, d := range u.service["StateDirectory"] {
		must(t, os.MkdirAll(filepath.Join("/var/lib", d), 0o755), "StateDirectory")
	}
}

// testSystemdUnitDRWeb runs examples/dr-web.hcl through examples/systemd/vigil.service on
// a kernel that has not loaded ip_vs: vigil finds kernel IPVS (the family lookup loads it)
// where modprobe cannot, then serves the DR web cluster. found is called once kernel IPVS
// is in use, so the other scenarios may start.
func testSystemdUnitDRWeb(t *testing.T, found func()) {
	if ipvsLoaded() {
		unloadIPVS(t)
	}
	u := readUnit(t, unitFile)
	installUnitPaths(t, u, example("dr-web.hcl"))
	if u.one(t, "Type") != "notify" {
		t.Fatalf("Type=%s: the test knows notify only", u.one(t, "Type"))
	}
	x := newLAN(t, 1, 2, true)
	lb := x.directors[0]
	procs := drWebServers(t, x)

	for _, argv := range u.exec("ExecStartPre") {
		full := underUnit(t, u, argv...)
		out, err := lb.Command(t.Context(), full[0], full[1:]...).CombinedOutput()
		must(t, err, fmt.Sprintf("ExecStartPre %q: %s", argv, out))
	}
	starts := u.exec("ExecStart")
	if len(starts) != 1 {
		t.Fatalf("ExecStart: %q, want one command", starts)
	}
	notify := newNotifySocket(t)
	v := launch(t, &vigil{t: t, name: "vigil.service", host: lb, dir: t.TempDir(), log: &syncBuffer{},
		cfg: "/etc/vigil/vigil.hcl", argv: underUnit(t, u, starts[0]...),
		env: append(u.env(t), "NOTIFY_SOCKET="+notify.path)})
	notify.wait(t, "READY=1", 30*time.Second)
	pid := v.cmd.Process.Pid
	if s := v.Status(); s.Dataplane != "kernel" || !ipvsLoaded() {
		t.Fatalf("under the unit, dataplane auto chose %q (ip_vs loaded: %v); want kernel IPVS, loaded by the family lookup", s.Dataplane, ipvsLoaded())
	}
	caps := fmt.Sprintf("%016x", u.capMask(t))
	for field, want := range map[string]string{"CapEff": caps, "CapBnd": caps, "NoNewPrivs": "1"} {
		if got := procStatus(t, pid, field); got != want {
			t.Errorf("vigil's %s = %s, want %s (the unit's %s, NoNewPrivileges)", field, got, want, u.one(t, "CapabilityBoundingSet"))
		}
	}
	if strings.Contains(u.one(t, "CapabilityBoundingSet"), "CAP_SYS_MODULE") {
		t.Errorf("the unit grants CAP_SYS_MODULE: this test no longer proves that vigil loads ip_vs without it")
	}
	t.Logf("vigil runs with only %s and found kernel IPVS", u.one(t, "CapabilityBoundingSet"))
	found()

	webCluster(x, procs).exercise(t)

	// systemctl reload, then systemctl stop.
	before := v.Status().Config.Generation
	for _, argv := range u.exec("ExecReload") {
		for i := range argv {
			argv[i] = strings.ReplaceAll(argv[i], "$MAINPID", strconv.Itoa(pid))
		}
		out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
		must(t, err, fmt.Sprintf("ExecReload %q: %s", argv, out))
	}
	notify.wait(t, "READY=1", 30*time.Second)
	if s := v.Status(); s.Config.Generation != before+1 || s.Config.LastReloadOK == nil || !*s.Config.LastReloadOK {
		t.Errorf("after ExecReload: %+v, want generation %d and the reload ok", s.Config, before+1)
	}
	sig := map[string]syscall.Signal{"SIGTERM": syscall.SIGTERM, "SIGINT": syscall.SIGINT}[u.one(t, "KillSignal")]
	if sig == 0 {
		t.Fatalf("KillSignal=%s: the test knows SIGTERM and SIGINT", u.one(t, "KillSignal"))
	}
	stopIn, err := time.ParseDuration(u.one(t, "TimeoutStopSec"))
	must(t, err, "TimeoutStopSec")
	v.Signal(sig)
	notify.wait(t, "STOPPING=1", stopIn)
	v.Wait(stopIn)
	if code := v.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("vigil exited with %d after %s, want 0", code, u.one(t, "KillSignal"))
	}
	if w := kernelWeights(t, lb, vipHTTP); len(w) != 2 {
		t.Errorf("after the stop the kernel holds %v, want the service left in place", w)
	}
}
