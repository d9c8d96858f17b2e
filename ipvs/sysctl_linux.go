package ipvs

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"

	"github.com/vishvananda/netns"
)

// inNetns runs fn on a thread switched into the namespace at path ("" runs it where the
// caller is). /proc/net and /proc/sys/net show the namespace of the thread that opens them.
func inNetns(path string, fn func() error) error {
	if path == "" {
		return fn()
	}
	target, err := netns.GetFromPath(path)
	if err != nil {
		return fmt.Errorf("open network namespace %s: %w", path, err)
	}
	defer target.Close()

	errc := make(chan error, 1)
	// A fresh goroutine whose thread is thrown away if it cannot be switched back, so no
	// other goroutine ever runs in the wrong namespace.
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("get current network namespace: %w", err)
			return
		}
		defer orig.Close()
		if err := netns.Set(target); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("enter network namespace %s: %w", path, err)
			return
		}
		ferr := fn()
		if err := netns.Set(orig); err == nil {
			runtime.UnlockOSThread()
		} // else: keep the thread locked; it exits with this goroutine.
		errc <- ferr
	}()
	return <-errc
}

const sysctlDir = "/proc/sys/net/ipv4/vs/"

// sysctlPath turns "net.ipv4.vs.expire_nodest_conn" into its /proc/sys path.
func sysctlPath(name string) string {
	return sysctlDir + strings.TrimPrefix(name, "net.ipv4.vs.")
}

// Sysctls reads the IPVS sysctls of the table's namespace.
func (k *Kernel) Sysctls() (Sysctls, error) {
	var s Sysctls
	err := inNetns(k.opts.Netns, func() error {
		var err error
		if s.ExpireQuiescentTemplate, err = readBoolSysctl(sysctlQuiescent); err != nil {
			return err
		}
		s.ExpireNodestConn, err = readBoolSysctl(sysctlNodest)
		return err
	})
	return s, err
}

// EnsureSysctls sets to 1 every sysctl that need asks for and that is not set yet, in the
// table's namespace, and returns the names it changed. It never sets one back to 0.
func (k *Kernel) EnsureSysctls(need Sysctls) (changed []string, err error) {
	err = inNetns(k.opts.Netns, func() error {
		var errs []error
		for _, n := range []struct {
			want bool
			name string
		}{{need.ExpireQuiescentTemplate, sysctlQuiescent}, {need.ExpireNodestConn, sysctlNodest}} {
			if !n.want {
				continue
			}
			on, err := readBoolSysctl(n.name)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if on {
				continue
			}
			if err := os.WriteFile(sysctlPath(n.name), []byte("1\n"), 0o644); err != nil {
				errs = append(errs, fmt.Errorf("set %s = 1: %w", n.name, err))
				continue
			}
			changed = append(changed, n.name)
		}
		return errors.Join(errs...)
	})
	return changed, err
}

func readBoolSysctl(name string) (bool, error) {
	b, err := os.ReadFile(sysctlPath(name))
	if err != nil {
		return false, fmt.Errorf("read %s: %w", name, err)
	}
	return strings.TrimSpace(string(b)) != "0", nil
}
