//go:build unix

package proc

import (
	"fmt"
	"os/exec"
	"os/user"
	"strconv"
	"strings"
	"syscall"
)

// User is a resolved "user" or "user:group" to run commands as.
type User struct {
	Spec     string
	Uid, Gid uint32
}

// LookupUser resolves "user" or "user:group" (names or numeric ids) once, when the
// configuration is applied, so that a typo is a configuration error rather than a
// command that fails at every run. The group defaults to the user's primary group.
func LookupUser(spec string) (*User, error) {
	name, group, hasGroup := strings.Cut(spec, ":")
	u, err := user.Lookup(name)
	if err != nil {
		if u, err = user.LookupId(name); err != nil {
			return nil, fmt.Errorf("look up user %q: %w", name, err)
		}
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("user %q has uid %q: %w", name, u.Uid, err)
	}
	gidStr := u.Gid
	if hasGroup {
		g, err := user.LookupGroup(group)
		if err != nil {
			if g, err = user.LookupGroupId(group); err != nil {
				return nil, fmt.Errorf("look up group %q: %w", group, err)
			}
		}
		gidStr = g.Gid
	}
	gid, err := strconv.ParseUint(gidStr, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("group of %q has gid %q: %w", spec, gidStr, err)
	}
	return &User{Spec: spec, Uid: uint32(uid), Gid: uint32(gid)}, nil
}

func setGroup(cmd *exec.Cmd, u *User) {
	// Setpgid puts the command at the head of its own process group, so that one kill(2)
	// of -pgid reaches everything it started (that did not start its own session).
	attr := &syscall.SysProcAttr{Setpgid: true}
	if u != nil {
		// No supplementary groups: the command gets exactly the user's uid and gid, not
		// vigil's groups.
		attr.Credential = &syscall.Credential{Uid: u.Uid, Gid: u.Gid, Groups: []uint32{}}
	}
	cmd.SysProcAttr = attr
}

// killGroup signals the process group pgid: SIGTERM first, SIGKILL when hard.
func killGroup(pgid int, hard bool) error {
	sig := syscall.SIGTERM
	if hard {
		sig = syscall.SIGKILL
	}
	return syscall.Kill(-pgid, sig)
}
