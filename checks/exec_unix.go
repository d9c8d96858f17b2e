//go:build unix

package checks

import (
	"fmt"
	"os/exec"
	"os/user"
	"strconv"
	"strings"
	"syscall"
)

type procAttr struct {
	cred *syscall.Credential
}

// newProcAttr resolves "user" or "user:group" once, when the check is built, so a typo
// is a configuration error rather than a failing check.
func newProcAttr(spec string) (procAttr, error) {
	if spec == "" {
		return procAttr{}, nil
	}
	name, group, hasGroup := strings.Cut(spec, ":")
	u, err := user.Lookup(name)
	if err != nil {
		if u, err = user.LookupId(name); err != nil {
			return procAttr{}, fmt.Errorf("look up user %q: %w", name, err)
		}
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return procAttr{}, fmt.Errorf("user %q has uid %q: %w", name, u.Uid, err)
	}
	gidStr := u.Gid
	if hasGroup {
		g, err := user.LookupGroup(group)
		if err != nil {
			if g, err = user.LookupGroupId(group); err != nil {
				return procAttr{}, fmt.Errorf("look up group %q: %w", group, err)
			}
		}
		gidStr = g.Gid
	}
	gid, err := strconv.ParseUint(gidStr, 10, 32)
	if err != nil {
		return procAttr{}, fmt.Errorf("group of %q has gid %q: %w", spec, gidStr, err)
	}
	return procAttr{cred: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}}, nil
}

func (p procAttr) apply(cmd *exec.Cmd) {
	// Setpgid puts the command at the head of its own process group, so that one kill(2)
	// of -pgid reaches everything it started (that did not start its own session).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: p.cred}
}

// killGroup signals the process group pgid: SIGTERM first, SIGKILL when hard.
func killGroup(pgid int, hard bool) error {
	sig := syscall.SIGTERM
	if hard {
		sig = syscall.SIGKILL
	}
	return syscall.Kill(-pgid, sig)
}
