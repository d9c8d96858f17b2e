package testenv

import (
	"os"
	"runtime"
	"testing"
)

func TestParseProcStat(t *testing.T) {
	// A real 6.1 line, with a comm that holds a space and a ')'.
	const line = "4242 (vigil ) x) S 1 4242 4242 0 -1 4194560 1510 0 0 0 17 9 0 0 -2 0 12 0 " +
		"3411 1484148736 5120 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 10 2 0 0 0 0 0 0 0 0 0 0 0"
	tests := []struct {
		name, line string
		want       ProcStat
		wantErr    bool
	}{
		{"full", line, ProcStat{ID: 4242, Comm: "vigil ) x", State: "S", UTime: 17, STime: 9, CPU: 1, RTPriority: 10, Policy: 2}, false},
		{"short: the fields up to stime only", "7 (sh) R 1 7 7 0 -1 0 0 0 0 0 3 4", ProcStat{ID: 7, Comm: "sh", State: "R", UTime: 3, STime: 4}, false},
		{"no comm", "7 sh R 1", ProcStat{}, true},
		{"truncated", "7 (sh) R 1 7", ProcStat{}, true},
		{"bad id", "x (sh) R 1 7 7 0 -1 0 0 0 0 0 3 4", ProcStat{}, true},
		{"empty", "", ProcStat{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseProcStat(tt.line)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err %v, want error %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestProcStatOfSelf(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("/proc/PID/stat is Linux's")
	}
	s, err := ProcStatOf(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if s.ID != os.Getpid() || s.State != "R" && s.State != "S" {
		t.Errorf("own stat %+v", s)
	}
}

func FuzzParseProcStat(f *testing.F) {
	f.Add("1 (init) S 0 1 1 0 -1 4194560 1 0 0 0 3 4 0 0 20 0 1 0 1 1 1")
	f.Add("2 ()) R")
	f.Fuzz(func(t *testing.T, line string) {
		s, err := ParseProcStat(line)
		if err != nil && s != (ProcStat{}) {
			t.Errorf("error %v with a result %+v", err, s)
		}
	})
}
