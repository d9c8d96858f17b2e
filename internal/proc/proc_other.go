//go:build !unix

package proc

import (
	"errors"
	"os/exec"
)

// User is a resolved user to run commands as; outside Unix there is none.
type User struct {
	Spec     string
	Uid, Gid uint32
}

// LookupUser fails outside Unix.
func LookupUser(spec string) (*User, error) {
	return nil, errors.New("running commands as " + spec + " needs a Unix system")
}

func setGroup(*exec.Cmd, *User) {}

func killGroup(int, bool) error { return nil }
