package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"time"

	"github.com/vigil-lb/vigil/ipvs"
	"github.com/vigil-lb/vigil/ipvs/ipvsadm"
)

// cmdIPVS implements `vigil ipvs list [--stats|--rate]` and `vigil ipvs save`: the kernel
// IPVS table of the current network namespace in ipvsadm's -Ln and -Sn formats, so an
// operator can diff one against the other.
func cmdIPVS(args []string, stdout, stderr io.Writer) int {
	usage := func(w io.Writer) {
		fmt.Fprint(w, `Usage:
  vigil ipvs list [--stats | --rate]   the kernel IPVS table, as ipvsadm -Ln
  vigil ipvs save                      the kernel IPVS table as rules, as ipvsadm -Sn
`)
	}
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		usage(stdout)
		return 0
	case "list", "save":
	default:
		fmt.Fprintf(stderr, "vigil ipvs: unknown subcommand %q\n\n", args[0])
		usage(stderr)
		return 2
	}
	sub := args[0]
	fs := flag.NewFlagSet("vigil ipvs "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var stats, rate bool
	if sub == "list" {
		fs.BoolVar(&stats, "stats", false, "show counters (as ipvsadm -Ln --stats)")
		fs.BoolVar(&rate, "rate", false, "show rates (as ipvsadm -Ln --rate)")
	}
	timeout := fs.Duration("timeout", 30*time.Second, "give up reading the table after this long")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage of vigil ipvs %s:\n", sub)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args[1:]); err != nil {
		if err == flag.ErrHelp {
			fs.SetOutput(stdout)
			fs.Usage()
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 || (stats && rate) {
		fmt.Fprintf(stderr, "vigil ipvs %s: --stats and --rate exclude each other and no arguments are taken\n", sub)
		return 2
	}

	defer listingRuntime()()
	k, err := ipvs.OpenKernel(ipvs.KernelOptions{})
	if err != nil {
		fmt.Fprintf(stderr, "vigil ipvs %s: %v\n", sub, err)
		return 1
	}
	defer k.Close()
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	svcs, err := ipvs.ReadTable(ctx, k)
	if err != nil {
		fmt.Fprintf(stderr, "vigil ipvs %s: %v\n", sub, err)
		return 1
	}
	if sub == "save" {
		err = ipvsadm.WriteSave(stdout, svcs)
	} else {
		hdr, herr := k.Header()
		if herr != nil {
			hdr = ""
		}
		err = ipvsadm.WriteList(stdout, svcs, ipvsadm.ListOptions{Stats: stats, Rate: rate, Header: hdr})
	}
	if err != nil {
		fmt.Fprintf(stderr, "vigil ipvs %s: %v\n", sub, err)
		return 1
	}
	return 0
}

// listingMemoryLimit is the soft memory limit below which a listing never collects
// garbage: a listing of 11,000 entries allocates about 6 MB, so only tables a hundred times
// that size reach it, and then the collector runs as usual.
const listingMemoryLimit = 256 << 20

// listingRuntime sets the runtime for a listing and returns what puts it back. A listing is
// one goroutine making one netlink round trip per virtual server, and then exit; in the
// benchmark's VM (qemu without KVM) the runtime's own work around those round trips made
// `vigil ipvs save` 1.4-1.5x `ipvsadm -Sn` (a second P whose idle thread is woken and
// parked around the system calls, and collections of the little that a listing
// allocates). One P and no collection below listingMemoryLimit made it 0.89x
// (docs/benchmarks.md, Kernel IPVS programming, issue 15). GOMAXPROCS, GOGC and
// GOMEMLIMIT set by the operator win.
func listingRuntime() (restore func()) {
	var undo []func()
	if os.Getenv("GOMAXPROCS") == "" {
		prev := runtime.GOMAXPROCS(1)
		undo = append(undo, func() { runtime.GOMAXPROCS(prev) })
	}
	if os.Getenv("GOGC") == "" && os.Getenv("GOMEMLIMIT") == "" {
		gc, limit := debug.SetGCPercent(-1), debug.SetMemoryLimit(listingMemoryLimit)
		undo = append(undo, func() { debug.SetMemoryLimit(limit); debug.SetGCPercent(gc) })
	}
	return func() {
		for _, f := range undo {
			f()
		}
	}
}
