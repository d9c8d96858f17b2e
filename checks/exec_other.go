//go:build !unix

package checks

import (
	"errors"
	"os/exec"
)

type procAttr struct{}

func newProcAttr(spec string) (procAttr, error) {
	return procAttr{}, errors.New("exec checks need a Unix system")
}

func (procAttr) apply(*exec.Cmd) {}

func killGroup(pgid int, hard bool) error { return nil }
