package testenv

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// ProcStat is the part of a /proc/PID/stat (or /proc/PID/task/TID/stat) line that the
// tests read: proc(5)'s fields 1-3, 14, 15 and 39-41.
type ProcStat struct {
	ID           int    // field 1: the process's or the thread's id
	Comm         string // field 2, without its parentheses (it may hold spaces and ')')
	State        string // field 3: R, S, D, Z, ...
	UTime, STime uint64 // fields 14 and 15, clock ticks
	CPU          int    // field 39: the CPU it last ran on
	RTPriority   int    // field 40
	Policy       int    // field 41: SCHED_OTHER 0, SCHED_FIFO 1, SCHED_RR 2, ...
}

// ParseProcStat reads one stat line. The comm is taken up to the line's last ')', as
// the kernel writes it unescaped.
func ParseProcStat(line string) (ProcStat, error) {
	open, end := strings.IndexByte(line, '('), strings.LastIndexByte(line, ')')
	if open < 0 || end < open {
		return ProcStat{}, fmt.Errorf("stat line %.40q: no (comm)", line)
	}
	var s ProcStat
	var err error
	if s.ID, err = strconv.Atoi(strings.TrimSpace(line[:open])); err != nil {
		return ProcStat{}, fmt.Errorf("stat line %.40q: id: %w", line, err)
	}
	s.Comm = line[open+1 : end]
	f := strings.Fields(line[end+1:])
	// f[0] is field 3; field n is f[n-3].
	field := func(n int) string {
		if n-3 < len(f) {
			return f[n-3]
		}
		return ""
	}
	if len(f) < 15-3+1 {
		return ProcStat{}, fmt.Errorf("stat line %.40q: %d fields after the comm, want at least 13", line, len(f))
	}
	s.State = field(3)
	s.UTime, _ = strconv.ParseUint(field(14), 10, 64)
	s.STime, _ = strconv.ParseUint(field(15), 10, 64)
	s.CPU, _ = strconv.Atoi(field(39))
	s.RTPriority, _ = strconv.Atoi(field(40))
	s.Policy, _ = strconv.Atoi(field(41))
	return s, nil
}

// ReadProcStat reads and parses the stat file at path (/proc/PID/stat,
// /proc/PID/task/TID/stat).
func ReadProcStat(path string) (ProcStat, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return ProcStat{}, err
	}
	return ParseProcStat(strings.TrimSpace(string(b)))
}

// ProcStatOf is ReadProcStat of /proc/PID/stat.
func ProcStatOf(pid int) (ProcStat, error) {
	return ReadProcStat("/proc/" + strconv.Itoa(pid) + "/stat")
}
