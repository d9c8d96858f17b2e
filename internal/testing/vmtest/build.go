package vmtest

import (
	"bufio"
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// build assembles the guest's initramfs in dir.
type build struct {
	t       *testing.T
	dir     string
	kernel  *Kernel
	busybox string
	opts    Options
}

func findStaticBusybox() (string, error) {
	cands := []string{"/bin/busybox", "/usr/bin/busybox"}
	if p, err := exec.LookPath("busybox"); err == nil {
		cands = append(cands, p)
	}
	var errs []error
	for _, p := range cands {
		f, err := elf.Open(p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		static := !slices.ContainsFunc(f.Progs, func(p *elf.Prog) bool { return p.Type == elf.PT_INTERP })
		f.Close()
		if static {
			return p, nil
		}
		errs = append(errs, fmt.Errorf("%s is dynamically linked", p))
	}
	return "", errors.Join(errs...)
}

// goCmd runs the go tool with cgo off, so every binary is static and runs in a guest
// with no C library.
func (b *build) goCmd(dir string, args ...string) error {
	cmd := exec.Command(goTool(), args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}

// initramfs builds everything and returns the path of the cpio archive.
func (b *build) initramfs() (string, error) {
	pkgDir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	testBin := filepath.Base(pkgDir) + ".test"
	start := time.Now()
	if err := b.goCmd(pkgDir, "test", "-c", "-o", filepath.Join(b.dir, testBin), "."); err != nil {
		return "", fmt.Errorf("build test binary for the guest: %w", err)
	}
	bins := map[string]string{} // guest path -> host path
	for name, pkg := range b.opts.Binaries {
		out := filepath.Join(b.dir, "bin", name)
		if err := b.goCmd(pkgDir, "build", "-o", out, pkg); err != nil {
			return "", fmt.Errorf("build %s for the guest: %w", pkg, err)
		}
		bins["/usr/bin/"+name] = out
	}
	b.t.Logf("vmtest: compiled guest binaries in %.1fs", time.Since(start).Seconds())
	libs := map[string]bool{}
	for _, name := range b.opts.HostBinaries {
		p, err := exec.LookPath(name)
		if err != nil {
			return "", fmt.Errorf("host binary for the guest: %w", err)
		}
		bins["/usr/bin/"+filepath.Base(name)] = p
		deps, err := sharedLibs(p)
		if err != nil {
			return "", err
		}
		for _, d := range deps {
			libs[d] = true
		}
	}

	initrd := filepath.Join(b.dir, "initrd.cpio")
	f, err := os.Create(initrd)
	if err != nil {
		return "", err
	}
	defer f.Close()
	w := newCPIOWriter(f)
	for _, d := range []string{"/proc", "/sys", "/dev", "/run", "/tmp", "/root", "/etc", "/var/tmp", "/usr/sbin", "/usr/bin", "/sbin", "/bin", "/mnt"} {
		w.Dir(d, 0o755)
	}
	w.Symlink("/var/run", "/run") // as on Debian, so pid files land in the /run tmpfs
	w.CharDev("/dev/console", 0o600, 5, 1)
	w.CharDev("/dev/null", 0o666, 1, 3)
	w.CopyFile("/bin/busybox", b.busybox, 0o755)
	applets, err := exec.Command(b.busybox, "--list-full").Output()
	if err != nil {
		return "", fmt.Errorf("list busybox applets: %w", err)
	}
	for _, a := range strings.Fields(string(applets)) {
		if a == "bin/busybox" || a == "linuxrc" || a == "init" || a == "sbin/init" {
			continue
		}
		w.Symlink("/"+a, "/bin/busybox")
	}
	// Files that glibc programs and daemons expect.
	w.Bytes("/etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"))
	w.Bytes("/etc/group", 0o644, []byte("root:x:0:\nnogroup:x:65534:\n"))
	w.Bytes("/etc/hosts", 0o644, []byte("127.0.0.1 localhost\n::1 localhost\n"))
	w.Bytes("/etc/nsswitch.conf", 0o644, []byte("passwd: files\ngroup: files\nhosts: files\n"))

	modDir := "/lib/modules/" + b.kernel.Release
	err = filepath.WalkDir(b.kernel.ModulesDir(), func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(b.kernel.ModulesDir(), p)
		w.CopyFile(path.Join(modDir, filepath.ToSlash(rel)), p, 0o644)
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("add kernel modules: %w", err)
	}
	w.Bytes("/etc/vmtest/modules.load", 0o644, []byte(strings.Join(b.kernel.ModulesLoad, "\n")+"\n"))

	for _, g := range slices.Sorted(mapKeys(bins)) {
		w.CopyFile(g, bins[g], 0o755)
	}
	for _, l := range slices.Sorted(mapKeys(libs)) {
		w.CopyFile(l, l, 0o755)
	}
	for _, g := range slices.Sorted(mapKeys(b.opts.Files)) {
		if err := copyTree(w, g, b.opts.Files[g]); err != nil {
			return "", err
		}
	}
	w.CopyFile("/"+testBin, filepath.Join(b.dir, testBin), 0o755)
	w.Bytes("/etc/vmtest/env", 0o644, []byte(b.guestEnv()))
	w.Bytes("/init", 0o755, []byte(b.initScript(testBin)))
	if err := w.Close(); err != nil {
		return "", fmt.Errorf("write %s: %w", initrd, err)
	}
	return initrd, f.Close()
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// guestEnv is sourced by /init before it runs the test binary.
func (b *build) guestEnv() string {
	env := [][2]string{
		{GuestEnv, "1"},
		{"PATH", "/usr/sbin:/usr/bin:/sbin:/bin"},
		{"HOME", "/root"},
		{"TMPDIR", "/tmp"},
		{"GOTRACEBACK", "all"},
	}
	for _, k := range []string{"CI", "GOTRACEBACK", RunEnv} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, [2]string{k, v})
		}
	}
	// The guest's own -test.timeout must fire before the host kills qemu, so that the
	// log shows Go's goroutine dump; booting takes 5-15 s of the budget on a busy host.
	guestTimeout := b.opts.Timeout - 45*time.Second
	if b.opts.Timeout < 90*time.Second {
		guestTimeout = b.opts.Timeout / 2
	}
	args := []string{"-test.run", testName(b.t.Name()), "-test.v", "-test.timeout", guestTimeout.String()}
	args = append(args, b.opts.GuestArgs...)
	args = append(args, strings.Fields(os.Getenv(ArgsEnv))...)
	var sb strings.Builder
	for _, kv := range env {
		fmt.Fprintf(&sb, "export %s=%s\n", kv[0], shellQuote(kv[1]))
	}
	fmt.Fprintf(&sb, "set --")
	for _, a := range args {
		fmt.Fprintf(&sb, " %s", shellQuote(a))
	}
	sb.WriteString("\n")
	return sb.String()
}

func (b *build) initScript(testBin string) string {
	return `#!/bin/sh
# vigil vmtest guest init: mount, load modules, run the test binary, report, power off.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
mkdir -p /run/netns
read up _ < /proc/uptime; echo "vmtest: init started at ${up}s"
while read -r m; do
	insmod /lib/modules/` + b.kernel.Release + `/$m || echo "vmtest: insmod $m failed"
done < /etc/vmtest/modules.load
ip link set lo up
read up _ < /proc/uptime; echo "vmtest: modules loaded at ${up}s"
` + stallWatch + `
. /etc/vmtest/env
cd /
/` + testBin + ` "$@"
echo "` + exitMarker + `$?>>"
poweroff -f
`
}

// stallWatch runs in the guest beside the tests: when the kernel reports a stalled CPU
// (an RCU stall, a soft lockup) it prints the report from the kernel's log with the
// backtraces that follow it, which quiet keeps off the console (they are KERN_INFO or
// KERN_WARNING), then every CPU's backtrace (sysrq l). Once: the host kills the VM at the
// second report (stallKill). Its copies of the kernel's lines start with klogPrefix, which
// the host's report does not count again.
const stallWatch = `(
	while sleep 3; do
		if dmesg | grep -q -e 'rcu: INFO:.*stall' -e 'BUG: soft lockup'; then
			echo "vmtest: the kernel reported a stalled CPU; its log from there:"
			dmesg | sed -n -E '/rcu: INFO:.*stall|BUG: soft lockup/,$p' | head -n 150 | sed 's/^/` + klogPrefix + `/'
			echo l > /proc/sysrq-trigger
			sleep 2
			echo "vmtest: backtraces of all CPUs (sysrq l):"
			dmesg | sed -n '/sysrq: Show backtrace of all active CPUs/,$p' | head -n 150 | sed 's/^/` + klogPrefix + `/'
			break
		fi
	done
) &`

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

var lddLine = regexp.MustCompile(`(?:=>\s*)?(/\S+)\s+\(0x[0-9a-f]+\)`)

// sharedLibs lists the libraries (and the dynamic loader) ldd says bin needs.
func sharedLibs(bin string) ([]string, error) {
	out, err := exec.Command("ldd", bin).CombinedOutput()
	if err != nil {
		if strings.Contains(string(out), "not a dynamic executable") {
			return nil, nil
		}
		return nil, fmt.Errorf("ldd %s: %w: %s", bin, err, out)
	}
	return parseLdd(string(out)), nil
}

func parseLdd(out string) []string {
	var libs []string
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		if m := lddLine.FindStringSubmatch(sc.Text()); m != nil {
			libs = append(libs, m[1])
		}
	}
	return libs
}

// copyTree adds the host file or directory src as guest path dst, following symlinks.
func copyTree(w *cpioWriter, dst, src string) error {
	st, err := os.Stat(src)
	if err != nil {
		return fmt.Errorf("add %s to the guest: %w", src, err)
	}
	if !st.IsDir() {
		w.CopyFile(dst, src, 0)
		return nil
	}
	w.Dir(dst, 0o755)
	ents, err := os.ReadDir(src)
	if err != nil {
		return fmt.Errorf("add %s to the guest: %w", src, err)
	}
	for _, e := range ents {
		if err := copyTree(w, path.Join(dst, e.Name()), filepath.Join(src, e.Name())); err != nil {
			return err
		}
	}
	return nil
}
