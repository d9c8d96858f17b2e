package procevents

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Process is what process tracking matches on.
type Process struct {
	Pid int
	// Comm is the kernel's name of the process: the first 15 bytes of the program's file
	// name, unless it renamed itself (ps -o comm).
	Comm string
	// Argv is the command line (ps -o args), read only when asked for; empty for kernel
	// threads.
	Argv []string
}

// maxCmdline bounds how much of a command line is read.
const maxCmdline = 64 << 10

// Read reads process pid from the proc file system at root ("/proc"); argv says
// whether to read its command line too.
func Read(root string, pid int, argv bool) (Process, error) {
	dir := filepath.Join(root, strconv.Itoa(pid))
	b, err := readBounded(filepath.Join(dir, "comm"), 64)
	if err != nil {
		return Process{}, err
	}
	p := Process{Pid: pid, Comm: strings.TrimSuffix(string(b), "\n")}
	if argv {
		b, err := readBounded(filepath.Join(dir, "cmdline"), maxCmdline)
		if err != nil {
			return Process{}, err
		}
		p.Argv = splitCmdline(b)
	}
	return p, nil
}

func splitCmdline(b []byte) []string {
	b = bytes.TrimSuffix(b, []byte{0})
	if len(b) == 0 {
		return nil
	}
	parts := bytes.Split(b, []byte{0})
	out := make([]string, len(parts))
	for i, p := range parts {
		out[i] = string(p)
	}
	return out
}

func readBounded(path string, n int) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	buf := make([]byte, n)
	total := 0
	for total < n {
		m, err := f.Read(buf[total:])
		total += m
		if err != nil || m == 0 {
			break
		}
	}
	return buf[:total], nil
}

// Scan lists the processes under root ("/proc"); processes that exit while it reads
// are left out.
func Scan(root string, argv bool) ([]Process, error) {
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil, fmt.Errorf("list processes in %s: %w", root, err)
	}
	var out []Process
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid <= 0 || !e.IsDir() {
			continue
		}
		if p, err := Read(root, pid, argv); err == nil {
			out = append(out, p)
		}
	}
	return out, nil
}
