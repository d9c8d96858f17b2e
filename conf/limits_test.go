package conf

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// loadErr loads path and returns its one diagnostic's "Summary: Detail".
func loadErr(t *testing.T, path string, lim Limits) string {
	t.Helper()
	done := make(chan struct{})
	var cfg *Config
	var msg string
	go func() {
		defer close(done)
		var diags []string
		c, src, ds := LoadLimited(path, lim)
		cfg = c
		if int64(len(src)) > lim.withDefaults().MaxBytes {
			t.Errorf("LoadLimited returned %d bytes of source, more than the limit", len(src))
		}
		for _, d := range ds {
			diags = append(diags, d.Summary+": "+d.Detail)
		}
		msg = strings.Join(diags, "\n")
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("LoadLimited(%s) still blocked after 30s", path)
	}
	if cfg != nil || msg == "" {
		t.Fatalf("LoadLimited(%s) = %v, %q; want an error", path, cfg, msg)
	}
	return msg
}

func TestLoadRefusesWhatIsNotAFile(t *testing.T) {
	dir := t.TempDir()
	if got := loadErr(t, dir, Limits{}); !strings.Contains(got, "is a directory") {
		t.Errorf("directory: %q", got)
	}
	// A FIFO with no writer: opening it for reading must not wait for one.
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	if got := loadErr(t, fifo, Limits{}); !strings.Contains(got, "not a regular file (a FIFO)") {
		t.Errorf("FIFO: %q", got)
	}
	if got := loadErr(t, "/dev/zero", Limits{}); !strings.Contains(got, "not a regular file (a device)") {
		t.Errorf("/dev/zero: %q", got)
	}
	if got := loadErr(t, filepath.Join(dir, "missing.hcl"), Limits{}); !strings.Contains(got, "no such file") {
		t.Errorf("missing: %q", got)
	}
	notDir := filepath.Join(dir, "file")
	os.WriteFile(notDir, []byte(valid), 0o600)
	if got := loadErr(t, filepath.Join(notDir, "x.hcl"), Limits{}); !strings.Contains(got, "not a directory") {
		t.Errorf("path through a file: %q", got)
	}
	if os.Geteuid() != 0 {
		unreadable := filepath.Join(dir, "secret.hcl")
		os.WriteFile(unreadable, []byte(valid), 0o000)
		if got := loadErr(t, unreadable, Limits{}); !strings.Contains(got, "permission denied") {
			t.Errorf("unreadable: %q", got)
		}
	}
}

func TestLoadSizeLimit(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big.hcl")
	// Sparse: the size is all the limit looks at, before reading a byte.
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(50 << 20); err != nil {
		t.Fatal(err)
	}
	f.Close()
	got := loadErr(t, big, Limits{})
	if !strings.Contains(got, "Configuration file too large") || !strings.Contains(got, "is 50 MiB; the limit is 16 MiB") || !strings.Contains(got, "--max-config-size") {
		t.Errorf("50 MiB: %q", got)
	}

	exact := filepath.Join(dir, "exact.hcl")
	os.WriteFile(exact, append([]byte(valid), bytes.Repeat([]byte("#"), 100-len(valid))...), 0o600)
	if cfg, _, diags := LoadLimited(exact, Limits{MaxBytes: 100}); cfg == nil {
		t.Errorf("a file of exactly the limit: %v", diags)
	}
	if got := loadErr(t, exact, Limits{MaxBytes: 99}); !strings.Contains(got, "is 100 bytes; the limit is 99 bytes") {
		t.Errorf("one byte over: %q", got)
	}
	// Parse applies the limit too, to source it did not read itself.
	if _, diags := Parse(make([]byte, DefaultMaxBytes+1), "big.hcl"); !strings.Contains(diags.Error(), "too large") {
		t.Errorf("Parse of 16 MiB + 1: %v", diags)
	}
}

// A file that reports one size and holds more (it grows while read; files in /proc report
// 0) is cut off at the limit, not read to its end.
func TestLoadFileThatGrows(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("needs /proc")
	}
	got := loadErr(t, "/proc/self/smaps", Limits{MaxBytes: 100})
	if !strings.Contains(got, "grew past the limit while it was read") {
		t.Errorf("/proc/self/smaps at 100 bytes: %q", got)
	}
}

func TestNothingToRun(t *testing.T) {
	for name, src := range map[string]string{
		"empty":           "",
		"blank":           "\n\n   \n",
		"comments only":   "# vigil.hcl\n// nothing yet\n",
		"global only":     "global {\n  router_id = \"lb\"\n}\n",
		"sync group":      "vrrp_sync_group \"G\" {\n  instances = []\n}\n",
		"byte-order mark": "\ufeff",
	} {
		cfg, diags := Parse([]byte(src), "vigil.hcl")
		if cfg != nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		found := false
		for _, d := range diags {
			if d.Summary == "Nothing to run" && d.Subject != nil && d.Subject.Filename == "vigil.hcl" && d.Subject.Start.Line == 1 &&
				strings.Contains(d.Detail, "no virtual_server and no vrrp_instance") {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: diagnostics %v lack a located \"Nothing to run\"", name, diags)
		}
	}
	for name, src := range map[string]string{
		"a virtual server": valid,
		"a VRRP instance":  vi(""),
	} {
		if _, diags := Parse([]byte(src), "vigil.hcl"); diags.HasErrors() {
			t.Errorf("%s: %v", name, diags)
		}
	}
}
