package ipvs

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
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
		if s.ExpireNodestConn, err = readBoolSysctl(sysctlNodest); err != nil {
			return err
		}
		if s.SloppyTCP, err = readBoolSysctl(SysctlSloppyTCP); err != nil {
			return err
		}
		mode, err := readIntSysctl(sysctlConnReuse)
		s.ConnReuseFinWait = mode&2 != 0
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
		if need.ConnReuseFinWait {
			// A bitmap: keep the operator's other bits, add bit 2 (which implies bit 1).
			mode, err := readIntSysctl(sysctlConnReuse)
			switch {
			case err != nil:
				errs = append(errs, err)
			case mode&2 == 0:
				v := mode | 3
				if err := os.WriteFile(sysctlPath(sysctlConnReuse), []byte(strconv.Itoa(v)+"\n"), 0o644); err != nil {
					errs = append(errs, fmt.Errorf("set %s = %d: %w", sysctlConnReuse, v, err))
				} else {
					changed = append(changed, sysctlConnReuse)
				}
			}
		}
		return errors.Join(errs...)
	})
	return changed, err
}

func readIntSysctl(name string) (int, error) {
	b, err := os.ReadFile(sysctlPath(name))
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", name, err)
	}
	v, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", name, err)
	}
	return v, nil
}

func readBoolSysctl(name string) (bool, error) {
	b, err := os.ReadFile(sysctlPath(name))
	if err != nil {
		return false, fmt.Errorf("read %s: %w", name, err)
	}
	return strings.TrimSpace(string(b)) != "0", nil
}
