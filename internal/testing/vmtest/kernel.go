package vmtest

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// The kernel cache, written by cmd/vmkernel and read by Run:
//
//	$VIGIL_VMTEST_CACHE (default /var/cache/vigil-vmtest)/
//	  current                     symlink to the version directory in use
//	  <package>_<version>/
//	    vmlinux                   uncompressed kernel with a PVH entry note
//	    release                   `uname -r` of that kernel
//	    config                    the kernel's build configuration
//	    modules.load              module files to insmod at boot, in dependency order
//	    lib/modules/<release>/    the modules (uncompressed .ko), modules.dep, modules.alias
const (
	// DefaultCacheDir holds the cached kernels unless VIGIL_VMTEST_CACHE names another.
	DefaultCacheDir = "/var/cache/vigil-vmtest"
	// CacheEnv overrides DefaultCacheDir.
	CacheEnv = "VIGIL_VMTEST_CACHE"
	// CurrentLink names the version directory Run boots.
	CurrentLink = "current"
	// FetchCommand populates the cache (as root); quoted in skip messages.
	FetchCommand = "go run ./internal/vmtest/cmd/vmkernel"
)

// CacheDir is the kernel cache root in use.
func CacheDir() string {
	if d := os.Getenv(CacheEnv); d != "" {
		return d
	}
	return DefaultCacheDir
}

// Kernel is one cached kernel ready to boot.
type Kernel struct {
	Dir         string   // the version directory
	Release     string   // uname -r, the name of lib/modules/<Release>
	Vmlinux     string   // path of the uncompressed kernel
	ModulesLoad []string // module paths relative to lib/modules/<Release>, in load order
}

// ModulesDir is the directory to install as /lib/modules/<Release> in the guest.
func (k *Kernel) ModulesDir() string { return filepath.Join(k.Dir, "lib", "modules", k.Release) }

// LoadKernel reads the kernel that cacheDir/current points at.
func LoadKernel(cacheDir string) (*Kernel, error) {
	dir, err := filepath.EvalSymlinks(filepath.Join(cacheDir, CurrentLink))
	if err != nil {
		return nil, fmt.Errorf("find cached kernel in %s: %w", cacheDir, err)
	}
	rel, err := os.ReadFile(filepath.Join(dir, "release"))
	if err != nil {
		return nil, fmt.Errorf("read cached kernel release: %w", err)
	}
	k := &Kernel{Dir: dir, Release: strings.TrimSpace(string(rel)), Vmlinux: filepath.Join(dir, "vmlinux")}
	if _, err := os.Stat(k.Vmlinux); err != nil {
		return nil, fmt.Errorf("cached kernel: %w", err)
	}
	f, err := os.Open(filepath.Join(dir, "modules.load"))
	if err != nil {
		return nil, fmt.Errorf("read cached module list: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" && !strings.HasPrefix(l, "#") {
			k.ModulesLoad = append(k.ModulesLoad, l)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read cached module list: %w", err)
	}
	return k, nil
}
