package testenv

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
)

var globalBlock = regexp.MustCompile(`(?m)^[ \t]*global[ \t]*\{[ \t]*\n`)

// PrivateState returns config with its global block naming a control socket and a state
// directory inside dir, so a daemon under test neither takes the host's
// /run/vigil/vigil.sock nor reads or writes the /var/lib/vigil state file that every
// other test (and every other engineer's) would share: a real server drained by one test
// must not start drained in the next. A config that sets either itself is left alone.
func PrivateState(config, dir string) string {
	if strings.Contains(config, "control_socket") || strings.Contains(config, "state_dir") {
		return config
	}
	attrs := fmt.Sprintf("  control_socket = %q\n  state_dir      = %q\n", filepath.Join(dir, "vigil.sock"), filepath.Join(dir, "state"))
	if loc := globalBlock.FindStringIndex(config); loc != nil {
		return config[:loc[1]] + attrs + config[loc[1]:]
	}
	return "global {\n" + attrs + "}\n" + config
}
