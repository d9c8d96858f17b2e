package vrrp

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/vrrp/procevents"
)

// keepalived's tracking rules, kind by kind (keepalived.conf(5): "VRRP script(s)",
// "VRRP track files"; vrrp_track.c).
func TestEffective(t *testing.T) {
	script := func(w int) Track { return Track{Name: "s", Kind: TrackScript, Weight: w} }
	proc := func(w int) Track { return Track{Name: "p", Kind: TrackProcess, Weight: w} }
	file := func(w int) Track { return Track{Name: "f", Kind: TrackFile, Weight: w} }
	iface := func(w int) Track { return Track{Name: "eth1", Kind: TrackInterface, Weight: w} }
	vs := func(w int) Track { return Track{Name: "virtual_server:web", Kind: TrackExternal, Weight: w} }
	for _, tc := range []struct {
		name        string
		base        uint8
		tracks      []Track
		values      map[string]int
		prio        uint8
		fault, wait bool
	}{
		{"script weight 0 up", 100, []Track{script(0)}, map[string]int{"s": 1}, 100, false, false},
		{"script weight 0 down: FAULT", 100, []Track{script(0)}, map[string]int{"s": 0}, 100, true, false},
		{"script negative, up: nothing", 100, []Track{script(-60)}, map[string]int{"s": 1}, 100, false, false},
		{"script negative, down: subtracted", 100, []Track{script(-60)}, map[string]int{"s": 0}, 40, false, false},
		{"script positive, up: added", 100, []Track{script(20)}, map[string]int{"s": 1}, 120, false, false},
		{"script positive, down: nothing", 100, []Track{script(20)}, map[string]int{"s": 0}, 100, false, false},
		{"script not reported yet: wait, nothing added", 100, []Track{script(20)}, nil, 100, false, true},
		{"weight-0 script not reported yet: wait, no FAULT yet", 100, []Track{script(0)}, nil, 100, false, true},
		{"process like a script: negative while down", 100, []Track{proc(-30)}, map[string]int{"p": 0}, 70, false, false},
		{"process weight 0 down: FAULT", 100, []Track{proc(0)}, map[string]int{"p": 0}, 100, true, false},
		{"process not reported: wait", 100, []Track{proc(0)}, nil, 100, false, true},
		{"file: value x weight added", 100, []Track{file(1)}, map[string]int{"f": 30}, 130, false, false},
		{"file: negative value", 100, []Track{file(1)}, map[string]int{"f": -30}, 70, false, false},
		{"file: weight scales", 100, []Track{file(-10)}, map[string]int{"f": 3}, 70, false, false},
		{"file: 0 adds nothing", 100, []Track{file(5)}, map[string]int{"f": 0}, 100, false, false},
		{"file weight 0: non-zero is FAULT", 100, []Track{file(0)}, map[string]int{"f": 7}, 100, true, false},
		{"file weight 0: zero is fine", 100, []Track{file(0)}, map[string]int{"f": 0}, 100, false, false},
		{"file at -254: FAULT", 100, []Track{file(1)}, map[string]int{"f": -254}, 100, true, false},
		{"file below -254: FAULT", 100, []Track{file(2)}, map[string]int{"f": -1000}, 100, true, false},
		{"file -253: not FAULT, clamped to 1", 100, []Track{file(1)}, map[string]int{"f": -253}, 1, false, false},
		{"file huge: capped at 253 then 254", 100, []Track{file(254)}, map[string]int{"f": 1 << 30}, 254, false, false},
		{"file not reported: wait", 100, []Track{file(1)}, nil, 100, false, true},
		{"interface not reported counts as up", 100, []Track{iface(-50)}, nil, 100, false, false},
		{"virtual server not reported counts as up", 100, []Track{vs(0)}, nil, 100, false, false},
		{"interface down negative", 100, []Track{iface(-50)}, map[string]int{linkKey("eth1"): 0}, 50, false, false},
		{"owner keeps 255", 255, []Track{script(-60)}, map[string]int{"s": 0}, 255, false, false},
		{"owner still faults", 255, []Track{script(0)}, map[string]int{"s": 0}, 255, true, false},
		{"clamped to 1", 50, []Track{script(-60), file(-1)}, map[string]int{"s": 0, "f": 100}, 1, false, false},
		{"several add up", 100, []Track{script(-10), proc(20), file(3)}, map[string]int{"s": 0, "p": 1, "f": 5}, 125, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			prio, fault, wait := effective(tc.base, tc.tracks, tc.values)
			if prio != tc.prio || fault != tc.fault || wait != tc.wait {
				t.Errorf("got prio %d fault %v pending %v, want %d %v %v", prio, fault, wait, tc.prio, tc.fault, tc.wait)
			}
		})
	}
}

func TestRiseFall(t *testing.T) {
	for _, tc := range []struct {
		name       string
		rise, fall int
		results    string // p pass, f fail
		want       string // state after each result: U up, D down
		changes    int
	}{
		{"first pass decides", 3, 3, "p", "U", 1},
		{"first failure decides", 3, 3, "f", "D", 1},
		{"fall 2", 2, 2, "ppfpffp", "UUUUUDD", 2},
		{"rise 3 needs three in a row", 3, 1, "fppfppp", "DDDDDDU", 2},
		{"rise 1 fall 1 follows each result", 1, 1, "pfpf", "UDUD", 4},
		{"a pass resets the failures", 1, 3, "pffpffpfff", "UUUUUUUUUD", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := riseFall{rise: tc.rise, fall: tc.fall}
			got, changes := "", 0
			for _, c := range tc.results {
				if r.step(c == 'p') {
					changes++
				}
				got += map[bool]string{true: "U", false: "D"}[r.up]
			}
			if got != tc.want || changes != tc.changes {
				t.Errorf("states %s (%d changes), want %s (%d)", got, changes, tc.want, tc.changes)
			}
		})
	}
}

func TestQuorumDelay(t *testing.T) {
	t0 := time.Unix(1000, 0)
	q := quorumState{need: 2, delay: 2 * time.Second}
	for _, st := range []struct {
		at      time.Duration
		count   int
		changed bool
		up      bool
		wait    time.Duration
	}{
		{0, 1, true, false, 0},                          // the first count is reported at once
		{time.Second, 2, false, false, 2 * time.Second}, // quorum: due in 2 s
		{2 * time.Second, 1, false, false, 0},           // lost again before it was due
		{3 * time.Second, 3, false, false, 2 * time.Second},
		{4 * time.Second, 2, false, false, time.Second},
		{5 * time.Second, 2, true, true, 0}, // lasted 2 s
		{6 * time.Second, 0, false, true, 2 * time.Second},
		{8 * time.Second, 0, true, false, 0},
	} {
		changed, wait := q.step(st.count, t0.Add(st.at))
		if changed != st.changed || q.up != st.up || wait != st.wait {
			t.Errorf("at %v count %d: changed %v up %v wait %v; want %v %v %v", st.at, st.count, changed, q.up, wait, st.changed, st.up, st.wait)
		}
	}
	q = quorumState{need: 1}
	q.step(1, t0)
	if changed, _ := q.step(0, t0); !changed || q.up {
		t.Error("without a delay a loss is reported at once")
	}
}

func TestProcessMatch(t *testing.T) {
	p := func(comm string, argv ...string) procevents.Process {
		return procevents.Process{Comm: comm, Argv: argv}
	}
	for _, tc := range []struct {
		cfg  ProcessConfig
		proc procevents.Process
		want bool
	}{
		{ProcessConfig{Process: "haproxy"}, p("haproxy", "/usr/sbin/haproxy", "-f", "x"), true},
		{ProcessConfig{Process: "haproxy"}, p("haproxy-2"), false},
		{ProcessConfig{Process: "haproxy"}, p("hap"), false},
		{ProcessConfig{Process: "keepalived-wrapper"}, p("keepalived-wrap"), true}, // the kernel keeps 15 bytes
		{ProcessConfig{Process: "/usr/sbin/haproxy"}, p("haproxy", "/usr/sbin/haproxy", "-f", "x"), true},
		{ProcessConfig{Process: "/usr/sbin/haproxy"}, p("haproxy", "haproxy", "-f", "x"), false},
		{ProcessConfig{Process: "/usr/sbin/haproxy"}, p("haproxy"), false},
		{ProcessConfig{Process: "haproxy", Args: []string{"-f", "x"}}, p("haproxy", "/usr/sbin/haproxy", "-f", "x"), true},
		{ProcessConfig{Process: "haproxy", Args: []string{"-f", "x"}}, p("haproxy", "/usr/sbin/haproxy", "-f", "y"), false},
		{ProcessConfig{Process: "haproxy", Args: []string{"-f"}}, p("haproxy", "/usr/sbin/haproxy", "-f", "x"), false},
		{ProcessConfig{Process: "haproxy", Args: []string{}}, p("haproxy", "/usr/sbin/haproxy"), true},
		{ProcessConfig{Process: "haproxy", Args: []string{}}, p("haproxy", "/usr/sbin/haproxy", "-d"), false},
		{ProcessConfig{Process: "kworker", Args: []string{}}, p("kworker"), false}, // no command line
	} {
		if got := tc.cfg.matches(tc.proc); got != tc.want {
			t.Errorf("%+v matches %+v = %v, want %v", tc.cfg, tc.proc, got, tc.want)
		}
	}
}

// A track file's number is read as keepalived reads it, with strtol(buf, NULL, 0).
func TestParseValue(t *testing.T) {
	for in, want := range map[string]int{
		"":             0,
		"\n":           0,
		"5\n":          5,
		"  -30\n":      -30,
		"+7":           7,
		"0x1f":         31,
		"0X10":         16,
		"010":          8,
		"0x":           0,
		"09":           0, // octal stops at 9
		"12abc":        12,
		"abc":          0,
		"2147483647":   2147483647,
		"-2147483648":  -2147483648,
		"1 2":          1,
		"\t\v\f\r 42x": 42,
	} {
		got, err := parseValue([]byte(in))
		if err != nil || got != want {
			t.Errorf("parseValue(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"2147483648", "-2147483649", "99999999999999999999999"} {
		if v, err := parseValue([]byte(in)); err == nil {
			t.Errorf("parseValue(%q) = %d, want an out-of-range error", in, v)
		}
	}
}

func FuzzParseValue(f *testing.F) {
	for _, s := range []string{"5", "-0x10", "  077\n", "99999999999"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := parseValue(b)
		if err == nil && (v > 1<<31-1 || v < -1<<31) {
			t.Fatalf("%q: %d out of int32", b, v)
		}
	})
}

// A file that cannot be watched is read periodically.
func TestFileTrackerPolls(t *testing.T) {
	path := filepath.Join(t.TempDir(), "prio")
	tr, err := NewFileTracker(FileConfig{Name: "p", Path: path}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	tr.open = func(string) (fileWatcher, error) { return nil, errors.New("no inotify here") }
	tr.poll = 10 * time.Millisecond
	got := make(chan int, 10)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go tr.Run(ctx, func(r TrackReport) { got <- r.Value })
	if v := <-got; v != 0 {
		t.Fatalf("first value %d, want 0 for a missing file", v)
	}
	if err := os.WriteFile(path, []byte("9\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	select {
	case v := <-got:
		if v != 9 {
			t.Errorf("polled %d, want 9", v)
		}
	case <-time.After(10 * time.Second):
		t.Error("the file was not read again")
	}
}
