package vmtest

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/testing/testenv"
)

// Environment variables understood by Run.
const (
	// GuestEnv is set to 1 by the guest's /init: Run then runs the subtests directly.
	GuestEnv = "VIGIL_VMTEST_GUEST"
	// RunEnv narrows the subtests run in the guest to names matching this regexp.
	RunEnv = "VIGIL_VMTEST_RUN"
	// ArgsEnv adds space-separated arguments to the guest test binary (e.g. -test.count=3).
	ArgsEnv = "VIGIL_VMTEST_ARGS"
	// KeepEnv=1 keeps the build directory (initramfs, binaries, /init) and logs its path.
	KeepEnv = "VIGIL_VMTEST_KEEP"
	// KernelArgsEnv adds space-separated arguments to the guest kernel's command line,
	// after the defaults (e.g. loglevel=7, which overrides quiet, to see the backtraces
	// of an RCU stall or a soft lockup).
	KernelArgsEnv = "VIGIL_VMTEST_KERNEL_ARGS"
)

// Options configure the guest.
type Options struct {
	// Binaries are Go commands to build statically and install as /usr/bin/<name>,
	// e.g. {"vigil": "github.com/vigil-lb/vigil/cmd/vigil"}.
	Binaries map[string]string
	// HostBinaries are copied from the host's PATH into /usr/bin with the shared
	// libraries ldd lists (and the dynamic loader), e.g. "ipvsadm".
	HostBinaries []string
	// Files maps guest paths to host files or directories to copy (testdata, or plugins
	// a HostBinary dlopens, which ldd cannot see: iptables needs its xtables directory).
	Files map[string]string
	// Timeout bounds the whole VM run; default 5 minutes.
	Timeout time.Duration
	// Memory in MiB; default 1024.
	Memory int
	// CPUs; default 2.
	CPUs int
	// GuestArgs are extra arguments of the guest's test binary, e.g. -test.parallel=8
	// for a test whose parallel subtests mostly wait (the default is the 2 CPUs).
	GuestArgs []string
}

// InGuest reports whether this process runs inside a vmtest guest.
func InGuest() bool { return os.Getenv(GuestEnv) == "1" }

// Run runs tests (subtest name -> function) inside a VM. On the host it boots the guest
// with this package's test binary and reports its result; inside the guest it runs each
// test with t.Run in sorted order.
func Run(t *testing.T, opts Options, tests map[string]func(t *testing.T)) {
	t.Helper()
	if InGuest() {
		runGuest(t, tests)
		return
	}
	runHost(t, opts)
}

func runGuest(t *testing.T, tests map[string]func(t *testing.T)) {
	var filter *regexp.Regexp
	if s := os.Getenv(RunEnv); s != "" {
		var err error
		if filter, err = regexp.Compile(s); err != nil {
			t.Fatalf("%s=%q: %v", RunEnv, s, err)
		}
	}
	names := make([]string, 0, len(tests))
	for n := range tests {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		if filter != nil && !filter.MatchString(n) {
			continue
		}
		t.Run(n, tests[n])
	}
}

func runHost(t *testing.T, opts Options) {
	t.Helper()
	testenv.Short(t, "boots a VM")
	qemu, err := exec.LookPath("qemu-system-x86_64")
	testenv.Require(t, err == nil, "vmtest needs qemu-system-x86_64 (apt-get install qemu-system-x86): %v", err)
	busybox, err := findStaticBusybox()
	testenv.Require(t, err == nil, "vmtest needs a static busybox (apt-get install busybox-static): %v", err)
	k, err := LoadKernel(CacheDir())
	testenv.Require(t, err == nil, "vmtest needs the cached kernel (run `%s` as root): %v", FetchCommand, err)

	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Minute
	}
	if dl, ok := t.Deadline(); ok {
		if left := time.Until(dl) - 10*time.Second; left < opts.Timeout {
			opts.Timeout = left
		}
	}
	if opts.Memory <= 0 {
		opts.Memory = 1024
	}
	if opts.CPUs <= 0 {
		opts.CPUs = 2
	}

	var dir string
	if os.Getenv(KeepEnv) == "1" {
		dir, err = os.MkdirTemp("", "vigil-vmtest-")
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("vmtest: keeping build directory %s", dir)
	} else {
		dir = t.TempDir()
	}

	start := time.Now()
	b := &build{t: t, dir: dir, kernel: k, busybox: busybox, opts: opts}
	initrd, err := b.initramfs()
	if err != nil {
		t.Fatalf("vmtest: %v", err)
	}
	t.Logf("vmtest: built guest in %.1fs", time.Since(start).Seconds())

	ctx, cancel := context.WithTimeout(context.Background(), opts.Timeout)
	defer cancel()
	args := []string{
		// -cpu max gives the guest RDRAND, so the kernel's CRNG is ready at boot
		// (CONFIG_RANDOM_TRUST_CPU) and getrandom(2), hence Go's crypto/rand, does not
		// block for seconds as it does on the default qemu64 CPU.
		"-accel", "tcg", "-cpu", "max", "-m", fmt.Sprint(opts.Memory), "-smp", fmt.Sprint(opts.CPUs),
		"-nodefaults", "-display", "none", "-nic", "none", "-no-reboot",
		"-kernel", k.Vmlinux, "-initrd", initrd,
		"-append", strings.Join(append([]string{"console=ttyS0 quiet panic=-1 cryptomgr.notests"}, strings.Fields(os.Getenv(KernelArgsEnv))...), " "),
		// Serial on a stdio chardev with stdin from /dev/null: letting qemu open
		// /dev/stdout as a file would truncate what go test already wrote there.
		"-chardev", "stdio,id=s0,signal=off", "-serial", "chardev:s0",
	}
	cmd := exec.CommandContext(ctx, qemu, args...)
	if os.Getenv(KeepEnv) == "1" {
		t.Logf("vmtest: %s", strings.Join(append([]string{qemu}, args...), " "))
	}
	cmd.Stdin = nil
	cmd.Stderr = nil
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	cmd.WaitDelay = 5 * time.Second
	boot := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatalf("vmtest: start qemu: %v", err)
	}
	var rep guestReport
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		l := strings.TrimRight(sc.Text(), "\r")
		rep.line(l)
		t.Log("vm| " + l)
		if rep.stalls == stallKill {
			rep.stalls++ // once
			t.Errorf("vmtest: the guest kernel reported a stalled CPU %d times (first: %q): the guest hangs; killing qemu", stallKill, rep.firstStall)
			cancel()
		}
	}
	werr := cmd.Wait()
	elapsed := time.Since(boot)
	t.Logf("vmtest: qemu ran %.1fs (boot + tests)", elapsed.Seconds())

	for _, name := range rep.failedLeaves() {
		t.Errorf("vmtest: %s failed in the VM (see vm| lines above)", name)
	}
	switch {
	case ctx.Err() != nil && rep.stalls > stallKill:
		// Killed for a stalled CPU, said above.
	case ctx.Err() != nil:
		t.Errorf("vmtest: VM timed out after %v: killed qemu (raise Options.Timeout or narrow with %s)", opts.Timeout, RunEnv)
	case rep.panic && !rep.exited:
		t.Errorf("vmtest: the guest kernel panicked")
	case !rep.exited:
		t.Errorf("vmtest: guest ended without reporting the test binary's exit status (qemu: %v; stderr: %s)", werr, strings.TrimSpace(stderr.String()))
	case rep.status != 0 && len(rep.failed) == 0:
		t.Errorf("vmtest: test binary exited with status %d in the VM", rep.status)
	}
	if werr != nil && rep.exited && ctx.Err() == nil {
		t.Errorf("vmtest: qemu: %v: %s", werr, strings.TrimSpace(stderr.String()))
	}
}

// goTool is the go command matching the running toolchain.
func goTool() string {
	p := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	return "go"
}

// testName turns t.Name() into a -test.run pattern that matches exactly that test.
func testName(name string) string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = "^" + regexp.QuoteMeta(p) + "$"
	}
	return strings.Join(parts, "/")
}
