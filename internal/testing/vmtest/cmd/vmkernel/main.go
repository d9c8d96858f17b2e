// Command vmkernel fills the vmtest kernel cache with Debian's current amd64 kernel: an
// uncompressed vmlinux that qemu boots through its PVH entry, and the modules vigil's
// kernel tests need. Run it as root before `go test` (make test does):
//
//	go run ./internal/vmtest/cmd/vmkernel          # idempotent; fast when cached
//	VIGIL_VMTEST_CACHE=/tmp/k go run ./internal/vmtest/cmd/vmkernel -force
//
// The concrete package (linux-image-6.1.0-NN-amd64) is resolved at run time from the
// linux-image-amd64 metapackage, because old .debs leave the mirror with point releases.
package main

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/vigil-lb/vigil/internal/testing/vmtest"
)

// rootModules are the modules the guest loads at boot; their dependencies are added from
// each module's modinfo. crc32c_generic is listed because libcrc32c only names it
// through a softdep on the alias "crc32c", and the faster crc32c-intel cannot load:
// qemu's TCG CPU has no SSE4.2.
var rootModules = []string{
	"nf_defrag_ipv4", "nf_defrag_ipv6", "crc32c_generic", "libcrc32c", "nf_conntrack",
	"ip_vs", "ip_vs_rr", "ip_vs_wrr", "ip_vs_lc", "ip_vs_wlc", "ip_vs_fo", "ip_vs_ovf",
	"ip_vs_lblc", "ip_vs_lblcr", "ip_vs_dh", "ip_vs_sh", "ip_vs_mh", "ip_vs_sed", "ip_vs_nq",
	"veth", "bridge", "macvlan", "dummy", "ipip", "ip6_tunnel",
	"nf_nat", "nf_tables", "nft_ct", "nft_nat", "nft_chain_nat", "nft_masq", "nft_compat",
	"ip_tables", "iptable_filter", "iptable_mangle", "iptable_nat", "xt_mark", "xt_conntrack",
	"nf_conntrack_netlink",
}

func main() {
	dir := flag.String("dir", vmtest.CacheDir(), "cache directory (env "+vmtest.CacheEnv+")")
	pkg := flag.String("package", "", "kernel package to fetch (default: what linux-image-amd64 depends on)")
	force := flag.Bool("force", false, "rebuild even if cached")
	flag.Parse()
	start := time.Now()
	if err := run(*dir, *pkg, *force); err != nil {
		fmt.Fprintf(os.Stderr, "vmkernel: %v\n", err)
		os.Exit(1)
	}
	logf("done in %.1fs", time.Since(start).Seconds())
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "vmkernel: "+format+"\n", args...)
}

func output(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return "", fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, bytes.TrimSpace(ee.Stderr))
		}
		return "", fmt.Errorf("%s %s: %w", name, strings.Join(args, " "), err)
	}
	return string(out), nil
}

// resolve names the concrete kernel package and its candidate version.
func resolve(pkg string) (name, version string, err error) {
	if pkg == "" {
		// The metapackage pins its dependency, "Depends: linux-image-X (= V)": one
		// apt-cache call (each takes seconds: apt keeps no pkgcache.bin here) gives both.
		if out, err := output("apt-cache", "show", "--no-all-versions", "linux-image-amd64"); err == nil {
			for _, l := range strings.Split(out, "\n") {
				d, ok := strings.CutPrefix(l, "Depends: ")
				if !ok {
					continue
				}
				var n, v string
				if _, err := fmt.Sscanf(d, "%s (= %s", &n, &v); err == nil && strings.HasPrefix(n, "linux-image-") {
					return n, strings.TrimSuffix(v, ")"), nil
				}
			}
		}
		out, err := output("apt-cache", "depends", "linux-image-amd64")
		if err != nil {
			return "", "", err
		}
		for _, l := range strings.Split(out, "\n") {
			if f := strings.Fields(l); len(f) == 2 && f[0] == "Depends:" && strings.HasPrefix(f[1], "linux-image-") {
				pkg = f[1]
				break
			}
		}
		if pkg == "" {
			return "", "", fmt.Errorf("apt-cache depends linux-image-amd64 names no linux-image package:\n%s", out)
		}
	}
	out, err := output("apt-cache", "show", "--no-all-versions", pkg)
	if err != nil {
		return "", "", err
	}
	for _, l := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(l, "Version: "); ok {
			return pkg, strings.TrimSpace(v), nil
		}
	}
	return "", "", fmt.Errorf("apt-cache show %s gives no Version", pkg)
}

func run(dir, pkg string, force bool) error {
	name, version, err := resolve(pkg)
	if err != nil {
		logf("resolving the kernel package failed (%v); running apt-get update once", err)
		if out, uerr := exec.Command("apt-get", "update").CombinedOutput(); uerr != nil {
			return fmt.Errorf("apt-get update: %w\n%s", uerr, out)
		}
		if name, version, err = resolve(pkg); err != nil {
			return err
		}
	}
	key := name + "_" + version
	final := filepath.Join(dir, key)
	if _, err := os.Stat(filepath.Join(final, "modules.load")); err == nil && !force {
		logf("%s is cached in %s", key, final)
		return setCurrent(dir, key)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	work, err := os.MkdirTemp(dir, ".build-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	// apt-get download drops privileges to _apt, which must be able to write here.
	os.Chmod(work, 0o777)

	logf("downloading %s %s (about 70 MB)", name, version)
	dl := exec.Command("apt-get", "download", name+"="+version)
	dl.Dir = work
	if out, err := dl.CombinedOutput(); err != nil {
		return fmt.Errorf("apt-get download %s=%s: %w\n%s", name, version, err, out)
	}
	debs, _ := filepath.Glob(filepath.Join(work, "*.deb"))
	if len(debs) != 1 {
		return fmt.Errorf("apt-get download left %d .deb files in %s", len(debs), work)
	}
	logf("extracting %s", filepath.Base(debs[0]))
	x := filepath.Join(work, "x")
	if out, err := exec.Command("dpkg-deb", "-x", debs[0], x).CombinedOutput(); err != nil {
		return fmt.Errorf("dpkg-deb -x %s: %w\n%s", debs[0], err, out)
	}
	vmlinuzs, _ := filepath.Glob(filepath.Join(x, "boot", "vmlinuz-*"))
	if len(vmlinuzs) != 1 {
		return fmt.Errorf("%s holds %d boot/vmlinuz-* files, want 1", debs[0], len(vmlinuzs))
	}
	release := strings.TrimPrefix(filepath.Base(vmlinuzs[0]), "vmlinuz-")

	out := filepath.Join(work, "out")
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	logf("extracting vmlinux from %s", filepath.Base(vmlinuzs[0]))
	if err := extractVmlinux(vmlinuzs[0], filepath.Join(out, "vmlinux")); err != nil {
		return err
	}
	if err := copyFile(filepath.Join(x, "boot", "config-"+release), filepath.Join(out, "config"), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(out, "release"), []byte(release+"\n"), 0o644); err != nil {
		return err
	}
	logf("collecting modules for %s", release)
	if err := collectModules(filepath.Join(x, "lib", "modules", release), filepath.Join(out, "lib", "modules", release), filepath.Join(out, "modules.load")); err != nil {
		return err
	}
	if force {
		os.RemoveAll(final)
	}
	if err := os.Rename(out, final); err != nil {
		return fmt.Errorf("install cache %s: %w", final, err)
	}
	logf("cached %s in %s", key, final)
	return setCurrent(dir, key)
}

func setCurrent(dir, key string) error {
	link := filepath.Join(dir, vmtest.CurrentLink)
	if cur, err := os.Readlink(link); err == nil && cur == key {
		return nil
	}
	tmp := link + ".tmp"
	os.Remove(tmp)
	if err := os.Symlink(key, tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, link); err != nil {
		return err
	}
	// Older kernels are 70 MB each and nothing boots them any more.
	old, _ := filepath.Glob(filepath.Join(dir, "linux-image-*"))
	for _, o := range old {
		if filepath.Base(o) != key {
			logf("removing old kernel %s", o)
			os.RemoveAll(o)
		}
	}
	return nil
}

// extractVmlinux finds the xz stream of the bzImage payload and checks the result is an
// ELF kernel with the PVH entry note qemu needs to boot it directly. The magic can occur
// more than once (e.g. inside the decompressor), so every candidate is tried.
func extractVmlinux(vmlinuz, dst string) error {
	data, err := os.ReadFile(vmlinuz)
	if err != nil {
		return err
	}
	magic := []byte("\xfd7zXZ\x00")
	for off := 0; ; {
		i := bytes.Index(data[off:], magic)
		if i < 0 {
			break
		}
		off += i
		cmd := exec.Command("xz", "--decompress", "--stdout", "--single-stream")
		cmd.Stdin = bytes.NewReader(data[off:])
		elfData, err := cmd.Output()
		off += len(magic)
		if err != nil || !bytes.HasPrefix(elfData, []byte("\x7fELF")) {
			continue
		}
		if err := checkPVH(elfData); err != nil {
			return fmt.Errorf("vmlinux from %s: %w", vmlinuz, err)
		}
		return os.WriteFile(dst, elfData, 0o644)
	}
	return fmt.Errorf("no xz stream in %s decompresses to an ELF kernel", vmlinuz)
}

// checkPVH looks for the Xen ELF note XEN_ELFNOTE_PHYS32_ENTRY (type 18), which is how
// qemu's -kernel finds a PVH entry point in an uncompressed vmlinux (CONFIG_PVH).
func checkPVH(data []byte) error {
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		return err
	}
	for _, p := range f.Progs {
		if p.Type != elf.PT_NOTE || p.Filesz > uint64(len(data)) {
			continue
		}
		b := make([]byte, p.Filesz)
		if _, err := p.ReadAt(b, 0); err != nil {
			return err
		}
		for len(b) >= 12 {
			namesz, descsz, typ := binary.LittleEndian.Uint32(b), binary.LittleEndian.Uint32(b[4:]), binary.LittleEndian.Uint32(b[8:])
			nameEnd := 12 + (int(namesz)+3)&^3
			end := nameEnd + (int(descsz)+3)&^3
			if end > len(b) {
				break
			}
			if typ == 18 && bytes.HasPrefix(b[12:], []byte("Xen")) {
				return nil
			}
			b = b[end:]
		}
	}
	return errors.New("no PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY): qemu cannot boot it directly")
}

type module struct {
	name    string // canonical: dashes as underscores
	rel     string // path relative to lib/modules/<release>, ".ko"
	src     string
	depends []string
	aliases []string
}

func canon(s string) string { return strings.ReplaceAll(s, "-", "_") }

// collectModules copies rootModules and everything they depend on, uncompressed (busybox
// insmod cannot read .ko.xz), and writes modules.dep / modules.alias in the format
// busybox modprobe reads, plus modules.load in dependency order.
func collectModules(srcRoot, dstRoot, loadFile string) error {
	index := map[string]string{} // name -> source path
	err := filepath.WalkDir(filepath.Join(srcRoot, "kernel"), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		base := d.Name()
		for _, ext := range []string{".ko", ".ko.xz", ".ko.zst", ".ko.gz"} {
			if n, ok := strings.CutSuffix(base, ext); ok {
				index[canon(n)] = p
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	mods := map[string]*module{}
	var order []string
	var visit func(name string, stack []string) error
	visit = func(name string, stack []string) error {
		if _, ok := mods[name]; ok {
			return nil
		}
		if slices.Contains(stack, name) {
			return fmt.Errorf("module dependency cycle: %v", append(stack, name))
		}
		src, ok := index[name]
		if !ok {
			return fmt.Errorf("module %s not found under %s (needed by %v)", name, srcRoot, stack)
		}
		ko, err := readModule(src)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(srcRoot, src)
		for _, ext := range []string{".xz", ".zst", ".gz"} {
			rel = strings.TrimSuffix(rel, ext)
		}
		m := &module{name: name, rel: rel, src: src}
		for _, kv := range bytes.Split(ko.modinfo, []byte{0}) {
			k, v, _ := strings.Cut(string(kv), "=")
			switch k {
			case "depends":
				for _, d := range strings.Split(v, ",") {
					if d != "" {
						m.depends = append(m.depends, canon(d))
					}
				}
			case "alias":
				m.aliases = append(m.aliases, v)
			}
		}
		for _, d := range m.depends {
			if err := visit(d, append(stack, name)); err != nil {
				return err
			}
		}
		mods[name] = m
		order = append(order, name)
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dstRoot, rel)), 0o755); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dstRoot, rel), ko.data, 0o644)
	}
	for _, r := range rootModules {
		if err := visit(r, nil); err != nil {
			return err
		}
	}
	// modules.dep lists, for each module, all its transitive dependencies with the one
	// to load first last (the depmod convention).
	var dep, alias, load bytes.Buffer
	for _, n := range order {
		m := mods[n]
		// Post-order gives dependencies before their users; reversed, the module to
		// load first comes last.
		var all []string
		var walk func(string)
		walk = func(x string) {
			for _, d := range mods[x].depends {
				if !slices.Contains(all, mods[d].rel) {
					walk(d)
					if !slices.Contains(all, mods[d].rel) {
						all = append(all, mods[d].rel)
					}
				}
			}
		}
		walk(n)
		slices.Reverse(all)
		fmt.Fprintf(&dep, "%s:", m.rel)
		for _, d := range all {
			fmt.Fprintf(&dep, " %s", d)
		}
		dep.WriteByte('\n')
		for _, a := range m.aliases {
			fmt.Fprintf(&alias, "alias %s %s\n", a, n)
		}
		fmt.Fprintln(&load, m.rel)
	}
	if err := os.WriteFile(filepath.Join(dstRoot, "modules.dep"), dep.Bytes(), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dstRoot, "modules.alias"), alias.Bytes(), 0o644); err != nil {
		return err
	}
	for _, f := range []string{"modules.builtin", "modules.order", "modules.builtin.modinfo"} {
		if _, err := os.Stat(filepath.Join(srcRoot, f)); err == nil {
			if err := copyFile(filepath.Join(srcRoot, f), filepath.Join(dstRoot, f), 0o644); err != nil {
				return err
			}
		}
	}
	logf("%d modules (%d requested)", len(order), len(rootModules))
	return os.WriteFile(loadFile, load.Bytes(), 0o644)
}

type koFile struct {
	data    []byte
	modinfo []byte
}

func readModule(path string) (*koFile, error) {
	var data []byte
	var err error
	switch {
	case strings.HasSuffix(path, ".xz"):
		data, err = exec.Command("xz", "-dc", path).Output()
	case strings.HasSuffix(path, ".zst"):
		data, err = exec.Command("zstd", "-dc", path).Output()
	case strings.HasSuffix(path, ".gz"):
		data, err = exec.Command("gzip", "-dc", path).Output()
	default:
		data, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("read module %s: %w", path, err)
	}
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("parse module %s: %w", path, err)
	}
	s := f.Section(".modinfo")
	if s == nil {
		return nil, fmt.Errorf("module %s has no .modinfo", path)
	}
	mi, err := s.Data()
	if err != nil {
		return nil, fmt.Errorf("read .modinfo of %s: %w", path, err)
	}
	return &koFile{data: data, modinfo: mi}, nil
}

func copyFile(src, dst string, mode os.FileMode) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	return os.WriteFile(dst, b, mode)
}
