package director

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/conf"
	"github.com/vigil-lb/vigil/internal/testing/testenv"
	"github.com/vigil-lb/vigil/ipvs/ipvstest"
)

// writeConfD writes benchSource's 1,000 x 4 as a conf.d: the global block, then 50 files
// of 20 virtual servers. It returns the directory.
func writeConfD(tb testing.TB) string {
	tb.Helper()
	dir := tb.TempDir()
	parts := strings.SplitAfter(benchSource(), "}\n")
	// parts[0] is the global block; then one virtual server per part (the blocks nest,
	// so regroup on "virtual_server").
	src := strings.Join(parts[1:], "")
	vss := strings.SplitAfter(src, "  }\n}\n")
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			tb.Fatal(err)
		}
	}
	write("00-global.hcl", parts[0])
	for f := range 50 {
		write(fmt.Sprintf("%02d-vs.hcl", f+1), strings.Join(vss[f*20:(f+1)*20], ""))
	}
	return dir
}

// reloadConfD starts a director on the conf.d and returns it with its loader.
func reloadConfD(tb testing.TB, dir string) (*Director, *conf.Loader) {
	tb.Helper()
	l := &conf.Loader{}
	cfg, _, diags := l.Load(dir)
	if diags.HasErrors() {
		tb.Fatal(diags)
	}
	if len(cfg.VirtualServers) != 1000 {
		tb.Fatalf("conf.d has %d virtual servers, want 1000", len(cfg.VirtualServers))
	}
	d := New(Options{Table: ipvstest.New(), Logger: slog.New(slog.DiscardHandler), Loader: l})
	if err := d.Start(context.Background(), cfg); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { d.Stop(context.Background(), false) })
	return d, l
}

// changeOne changes the weight of one real server in file 37 (i-th time: weight i+2).
func changeOne(tb testing.TB, dir string, i int) {
	tb.Helper()
	p := filepath.Join(dir, "37-vs.hcl")
	b, err := os.ReadFile(p)
	if err != nil {
		tb.Fatal(err)
	}
	s := string(b)
	if at := strings.Index(s, "    weight = "); at >= 0 {
		end := at + strings.Index(s[at:], "\n")
		s = s[:at] + s[end+1:]
	}
	s = strings.Replace(s, "    address = \"198.18.2.21:", fmt.Sprintf("    weight = %d\n    address = \"198.18.2.21:", i+2), 1)
	if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
		tb.Fatal(err)
	}
}

// TestReloadConfDOneFileChanged is issue 18's reload figure as a test: 1,000 x 4 over 50
// files, one file changed, parsed + validated + applied by ReloadFile through the Loader;
// beside it in the same run, the same configuration as one file parsed whole. Then an
// error in one file is named in that file.
func TestReloadConfDOneFileChanged(t *testing.T) {
	testenv.Short(t, "parses 1,000 x 4 several times")
	if testenv.Race {
		t.Skip("a measurement: 90 s under the race detector; the Loader's own tests run under it")
	}
	dir := writeConfD(t)
	d, _ := reloadConfD(t, dir)
	ctx := context.Background()
	var confd, whole []time.Duration
	one := filepath.Join(t.TempDir(), "one.hcl")
	os.WriteFile(one, []byte(benchSource()), 0o600)
	d1 := New(Options{Table: ipvstest.New(), Logger: slog.New(slog.DiscardHandler)})
	cfg1, _, _ := conf.LoadLimited(one, conf.Limits{})
	if err := d1.Start(ctx, cfg1); err != nil {
		t.Fatal(err)
	}
	defer d1.Stop(ctx, false)
	for i := range 3 {
		changeOne(t, dir, i)
		start := time.Now()
		if _, err := d.ReloadFile(ctx, dir, conf.Limits{}); err != nil {
			t.Fatalf("reload: %v", err)
		}
		confd = append(confd, time.Since(start))
		if s := d.Snapshot(); s.Config.Generation != uint64(i+2) || !strings.Contains(strings.Join(s.Config.LastReloadDiff, "\n"), "weight") {
			t.Fatalf("reload %d: generation %d, diff %q", i, s.Config.Generation, s.Config.LastReloadDiff)
		}
		start = time.Now()
		if _, err := d1.ReloadFile(ctx, one, conf.Limits{}); err != nil {
			t.Fatal(err)
		}
		whole = append(whole, time.Since(start))
	}
	med := func(ds []time.Duration) time.Duration {
		s := append([]time.Duration(nil), ds...)
		for i := range s {
			for j := i + 1; j < len(s); j++ {
				if s[j] < s[i] {
					s[i], s[j] = s[j], s[i]
				}
			}
		}
		return s[len(s)/2]
	}
	t.Logf("reload of 1,000 x 4: conf.d of 50 files, one changed: median %s %v; one file parsed whole: median %s %v; ratio %.3f",
		med(confd), confd, med(whole), whole, float64(med(confd))/float64(med(whole)))
	if med(confd) > 2*time.Second { // generous: a loaded 2-core host
		t.Errorf("a conf.d reload with one file changed took %s", med(confd))
	}

	// A mistake in file 12 is reported in file 12 and changes nothing.
	p := filepath.Join(dir, "12-vs.hcl")
	b, _ := os.ReadFile(p)
	os.WriteFile(p, append(b, []byte("virtual_server \"bad\" {\n  wieght = 1\n}\n")...), 0o600)
	if _, err := d.ReloadFile(ctx, dir, conf.Limits{}); err == nil {
		t.Fatalf("reload of a broken conf.d succeeded")
	}
	if s := d.Snapshot(); !strings.Contains(s.Config.LastReloadErr, "12-vs.hcl:") || strings.Contains(s.Config.LastReloadErr, "37-vs.hcl:") {
		t.Errorf("diagnostics do not name 12-vs.hcl alone:\n%s", s.Config.LastReloadErr)
	}
}
