// Command vigil is a director daemon for Linux Virtual Server clusters: it programs kernel
// IPVS from an HCL configuration, health-checks real servers and runs VRRP failover.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"sort"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// command is one subcommand. run returns the process exit status: 0 success, 1 failure,
// 2 usage error.
type command struct {
	summary string
	run     func(args []string, stdout, stderr io.Writer) int
	hidden  bool // a helper other commands start; not listed in the usage
}

func commands() map[string]command {
	return map[string]command{
		"version": {summary: "print the version and build information", run: cmdVersion},
		"help":    {summary: "show this help, or the help of a subcommand", run: cmdHelp},
		"check":   {summary: "validate a configuration file and report every problem", run: cmdCheck},
		"import":  {summary: "turn a keepalived configuration into vigil's, saying what differs", run: cmdImport},
		"run":     {summary: "run the director daemon (IPVS, health checks, VRRP, metrics)", run: cmdRun},
		"reload":  {summary: "make a running vigil reload its configuration (SIGHUP) and report the result", run: cmdReload},
		"status":  {summary: "show a running vigil's virtual servers, real servers, checks and VRRP state", run: cmdStatus},
		"ipvs":    {summary: "list or save the IPVS table like ipvsadm -Ln / -Sn", run: cmdIPVS},
		"drain":   {summary: "take real servers out of rotation, letting their connections finish (--wait)", run: cmdDrain},
		"maint":   {summary: "put real servers in maintenance: out of service, checks paused", run: cmdMaint},
		"ready":   {summary: "give real servers back to their health checks after drain or maint", run: cmdReady},
		"plan":    {summary: "show what reloading a configuration would change, without changing it", run: cmdPlan},
		"demo":    {summary: "quickstart: two local backends behind vigil, no root or IPVS needed", run: cmdDemo},

		"demo-backend": {summary: "a demo web backend (started by vigil demo)", run: cmdDemoBackend, hidden: true},
	}
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	name := args[0]
	switch name {
	case "-h", "--help", "-help":
		usage(stdout)
		return 0
	case "-v", "--version":
		name = "version"
	}
	cmd, ok := commands()[name]
	if !ok {
		fmt.Fprintf(stderr, "vigil: unknown command %q\n\n", name)
		usage(stderr)
		return 2
	}
	return cmd.run(args[1:], stdout, stderr)
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "vigil is a director daemon for Linux Virtual Server clusters.\n\nUsage:\n  vigil <command> [flags]\n\nCommands:\n")
	cmds := commands()
	names := make([]string, 0, len(cmds))
	for n, c := range cmds {
		if !c.hidden {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-8s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintf(w, "\nRun 'vigil help <command>' for a command's flags.\n")
}

func cmdHelp(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stdout)
		return 0
	}
	cmd, ok := commands()[args[0]]
	if !ok || args[0] == "help" {
		if !ok {
			fmt.Fprintf(stderr, "vigil: unknown command %q\n\n", args[0])
			usage(stderr)
			return 2
		}
		usage(stdout)
		return 0
	}
	return cmd.run([]string{"-h"}, stdout, stderr)
}

func cmdVersion(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		fmt.Fprintf(stderr, "vigil version: takes no arguments\n")
		return 2
	}
	fmt.Fprintf(stdout, "vigil %s\n", versionString())
	return 0
}

// parseFlags parses a subcommand's arguments. When ok is false the command stops with
// code: 0 after -h (usage on stdout), 2 after a bad flag or a stray argument (the problem,
// then the usage, on stderr).
func parseFlags(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) (code int, ok bool) {
	fs.SetOutput(io.Discard)
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fs.SetOutput(stdout)
		fs.Usage()
		return 0, false
	case err != nil:
		fmt.Fprintf(stderr, "%s: %v\n", fs.Name(), err)
		fs.SetOutput(stderr)
		fs.Usage()
		return 2, false
	case fs.NArg() > 0:
		fmt.Fprintf(stderr, "%s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		fs.SetOutput(stderr)
		fs.Usage()
		return 2, false
	}
	return 0, true
}

// revision is the VCS revision the binary was built from, or "".
func revision() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				return s.Value
			}
		}
	}
	return ""
}

func versionString() string {
	v := version
	if bi, ok := debug.ReadBuildInfo(); ok {
		v += " " + bi.GoVersion
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v += " " + s.Value[:12]
			}
		}
	}
	return v
}
