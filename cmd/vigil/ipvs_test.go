package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

func TestCmdIPVS(t *testing.T) {
	_, statErr := os.Stat("/proc/net/ip_vs")
	noIPVS := statErr != nil
	for _, tc := range []struct {
		args       []string
		code       int
		stdout     string // substring
		stderr     string // substring
		needNoIPVS bool
	}{
		{args: nil, code: 2, stderr: "Usage:"},
		{args: []string{"-h"}, code: 0, stdout: "vigil ipvs list"},
		{args: []string{"list", "-h"}, code: 0, stdout: "-stats"},
		{args: []string{"list", "--bogus"}, code: 2, stderr: "flag provided but not defined"},
		{args: []string{"save", "--stats"}, code: 2},
		{args: []string{"list", "--stats", "--rate"}, code: 2, stderr: "exclude"},
		{args: []string{"frob"}, code: 2, stderr: "unknown subcommand"},
		{args: []string{"list"}, code: 1, stderr: `kernel IPVS is not available (no generic netlink family IPVS, and the kernel could not load ip_vs): load the ip_vs module as root`, needNoIPVS: true},
		{args: []string{"save"}, code: 1, stderr: "kernel IPVS is not available", needNoIPVS: true},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			if tc.needNoIPVS && !noIPVS {
				t.Skip("this kernel has IPVS")
			}
			var out, errb bytes.Buffer
			code := cmdIPVS(tc.args, &out, &errb)
			if code != tc.code {
				t.Errorf("exit %d, want %d (stderr %q)", code, tc.code, errb.String())
			}
			if !strings.Contains(out.String(), tc.stdout) {
				t.Errorf("stdout %q lacks %q", out.String(), tc.stdout)
			}
			if !strings.Contains(errb.String(), tc.stderr) {
				t.Errorf("stderr %q lacks %q", errb.String(), tc.stderr)
			}
		})
	}
}
