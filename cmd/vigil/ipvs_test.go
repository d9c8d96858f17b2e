package main

import (
	"bytes"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

// TestListingRuntime: a listing runs on one P with no garbage collection below
// listingMemoryLimit, unless the operator set GOMAXPROCS, GOGC or GOMEMLIMIT, and the
// settings come back afterwards.
func TestListingRuntime(t *testing.T) {
	procs, gc, limit := runtime.GOMAXPROCS(0), debug.SetGCPercent(100), debug.SetMemoryLimit(-1)
	debug.SetGCPercent(gc)
	for _, tc := range []struct {
		env       map[string]string
		procs, gc int
		limit     int64
	}{
		{env: nil, procs: 1, gc: -1, limit: listingMemoryLimit},
		{env: map[string]string{"GOMAXPROCS": "2"}, procs: procs, gc: -1, limit: listingMemoryLimit},
		{env: map[string]string{"GOGC": "100"}, procs: 1, gc: gc, limit: limit},
		{env: map[string]string{"GOMEMLIMIT": "1GiB"}, procs: 1, gc: gc, limit: limit},
	} {
		for _, k := range []string{"GOMAXPROCS", "GOGC", "GOMEMLIMIT"} {
			if v, ok := tc.env[k]; ok {
				t.Setenv(k, v)
			} else {
				t.Setenv(k, "")
			}
		}
		restore := listingRuntime()
		gotProcs := runtime.GOMAXPROCS(0)
		gotGC := debug.SetGCPercent(-1)
		debug.SetGCPercent(gotGC)
		gotLimit := debug.SetMemoryLimit(-1)
		restore()
		if gotProcs != tc.procs || gotGC != tc.gc || gotLimit != tc.limit {
			t.Errorf("env %v: GOMAXPROCS %d, GOGC %d, limit %d; want %d, %d, %d", tc.env, gotProcs, gotGC, gotLimit, tc.procs, tc.gc, tc.limit)
		}
		if p, g, l := runtime.GOMAXPROCS(0), debug.SetGCPercent(gc), debug.SetMemoryLimit(-1); p != procs || g != gc || l != limit {
			t.Errorf("env %v: not restored: GOMAXPROCS %d, GOGC %d, limit %d", tc.env, p, g, l)
		}
	}
}

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
