// Command capexec runs a program with the privileges a systemd unit gives its service:
// only the listed capabilities (CapabilityBoundingSet, AmbientCapabilities), optionally no
// new privileges (NoNewPrivileges) and resource limits (LimitNOFILE, LimitRTPRIO, ...),
// so that the VM tests run vigil as examples/systemd/vigil.service runs it, without
// systemd.
//
//	capexec -caps CAP_NET_ADMIN,CAP_NET_RAW -nnp -rlimit NOFILE=65536 -- vigil run -f FILE
//
// Run as root, as a unit without User= is. Capabilities are per thread in Linux: every
// change happens on one locked thread, which then execs the program, so the program starts
// with that thread's credentials (for root, the kernel grants exactly the bounding set).
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// capNames are the capabilities by the names systemd and capabilities(7) use.
var capNames = map[string]int{
	"CAP_CHOWN": unix.CAP_CHOWN, "CAP_DAC_OVERRIDE": unix.CAP_DAC_OVERRIDE,
	"CAP_DAC_READ_SEARCH": unix.CAP_DAC_READ_SEARCH, "CAP_FOWNER": unix.CAP_FOWNER,
	"CAP_FSETID": unix.CAP_FSETID, "CAP_KILL": unix.CAP_KILL, "CAP_SETGID": unix.CAP_SETGID,
	"CAP_SETUID": unix.CAP_SETUID, "CAP_SETPCAP": unix.CAP_SETPCAP,
	"CAP_LINUX_IMMUTABLE": unix.CAP_LINUX_IMMUTABLE, "CAP_NET_BIND_SERVICE": unix.CAP_NET_BIND_SERVICE,
	"CAP_NET_BROADCAST": unix.CAP_NET_BROADCAST, "CAP_NET_ADMIN": unix.CAP_NET_ADMIN,
	"CAP_NET_RAW": unix.CAP_NET_RAW, "CAP_IPC_LOCK": unix.CAP_IPC_LOCK, "CAP_IPC_OWNER": unix.CAP_IPC_OWNER,
	"CAP_SYS_MODULE": unix.CAP_SYS_MODULE, "CAP_SYS_RAWIO": unix.CAP_SYS_RAWIO,
	"CAP_SYS_CHROOT": unix.CAP_SYS_CHROOT, "CAP_SYS_PTRACE": unix.CAP_SYS_PTRACE,
	"CAP_SYS_PACCT": unix.CAP_SYS_PACCT, "CAP_SYS_ADMIN": unix.CAP_SYS_ADMIN, "CAP_SYS_BOOT": unix.CAP_SYS_BOOT,
	"CAP_SYS_NICE": unix.CAP_SYS_NICE, "CAP_SYS_RESOURCE": unix.CAP_SYS_RESOURCE,
	"CAP_SYS_TIME": unix.CAP_SYS_TIME, "CAP_SYS_TTY_CONFIG": unix.CAP_SYS_TTY_CONFIG,
	"CAP_MKNOD": unix.CAP_MKNOD, "CAP_LEASE": unix.CAP_LEASE, "CAP_AUDIT_WRITE": unix.CAP_AUDIT_WRITE,
	"CAP_AUDIT_CONTROL": unix.CAP_AUDIT_CONTROL, "CAP_SETFCAP": unix.CAP_SETFCAP,
	"CAP_MAC_OVERRIDE": unix.CAP_MAC_OVERRIDE, "CAP_MAC_ADMIN": unix.CAP_MAC_ADMIN,
	"CAP_SYSLOG": unix.CAP_SYSLOG, "CAP_WAKE_ALARM": unix.CAP_WAKE_ALARM,
	"CAP_BLOCK_SUSPEND": unix.CAP_BLOCK_SUSPEND, "CAP_AUDIT_READ": unix.CAP_AUDIT_READ,
	"CAP_PERFMON": unix.CAP_PERFMON, "CAP_BPF": unix.CAP_BPF, "CAP_CHECKPOINT_RESTORE": unix.CAP_CHECKPOINT_RESTORE,
}

// limitNames are the resource limits by the names of systemd's Limit*= settings.
var limitNames = map[string]int{
	"NOFILE": unix.RLIMIT_NOFILE, "RTPRIO": unix.RLIMIT_RTPRIO, "NPROC": unix.RLIMIT_NPROC,
	"CORE": unix.RLIMIT_CORE, "MEMLOCK": unix.RLIMIT_MEMLOCK, "NICE": unix.RLIMIT_NICE,
}

type limits map[int]uint64

func (l limits) String() string { return fmt.Sprint(map[int]uint64(l)) }

func (l limits) Set(s string) error {
	name, v, ok := strings.Cut(s, "=")
	res, known := limitNames[strings.ToUpper(name)]
	if !ok || !known {
		return fmt.Errorf("want NAME=VALUE with NAME one of NOFILE RTPRIO NPROC CORE MEMLOCK NICE, got %q", s)
	}
	n := uint64(unix.RLIM_INFINITY)
	if v != "infinity" {
		var err error
		if n, err = strconv.ParseUint(v, 10, 64); err != nil {
			return fmt.Errorf("limit %s: %w", name, err)
		}
	}
	l[res] = n
	return nil
}

func main() {
	caps := flag.String("caps", "", "comma- or space-separated capabilities to keep (e.g. CAP_NET_ADMIN,CAP_NET_RAW); every other one is dropped")
	nnp := flag.Bool("nnp", false, "set no_new_privs (systemd NoNewPrivileges=yes)")
	lim := limits{}
	flag.Var(lim, "rlimit", "resource limit NAME=VALUE (repeatable), e.g. NOFILE=65536")
	flag.Parse()
	if flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: capexec [-caps LIST] [-nnp] [-rlimit NAME=N]... -- PROGRAM [ARGS]")
		os.Exit(2)
	}
	if err := run(*caps, *nnp, lim, flag.Args()); err != nil {
		fmt.Fprintf(os.Stderr, "capexec: %v\n", err)
		os.Exit(1)
	}
}

func run(caps string, nnp bool, lim limits, argv []string) error {
	keep := map[int]bool{}
	for _, name := range strings.FieldsFunc(caps, func(r rune) bool { return r == ',' || r == ' ' }) {
		c, ok := capNames[strings.ToUpper(name)]
		if !ok {
			return fmt.Errorf("unknown capability %q", name)
		}
		keep[c] = true
	}
	path, err := exec.LookPath(argv[0])
	if err != nil {
		return err
	}
	b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err != nil {
		return err
	}
	last, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return fmt.Errorf("cap_last_cap: %w", err)
	}

	runtime.LockOSThread() // never unlocked: this thread execs
	for res, n := range lim {
		if err := unix.Setrlimit(res, &unix.Rlimit{Cur: n, Max: n}); err != nil {
			return fmt.Errorf("setrlimit %d: %w", res, err)
		}
	}
	for c := 0; c <= last; c++ {
		if !keep[c] {
			if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0); err != nil {
				return fmt.Errorf("drop capability %d from the bounding set: %w", c, err)
			}
		}
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	for c := range keep {
		bit := uint32(1) << (c % 32)
		data[c/32].Effective |= bit
		data[c/32].Permitted |= bit
		data[c/32].Inheritable |= bit
	}
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capset: %w", err)
	}
	for c := range keep {
		if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_RAISE, uintptr(c), 0, 0); err != nil {
			return fmt.Errorf("raise ambient capability %d: %w", c, err)
		}
	}
	if nnp {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return fmt.Errorf("set no_new_privs: %w", err)
		}
	}
	return unix.Exec(path, argv, os.Environ())
}
