package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"

	"github.com/vigil-lb/vigil/conf"
)

// cmdCheck validates a configuration file, like keepalived -t but reporting every problem
// at once: 0 valid, 1 invalid, 2 usage error. Warnings are printed and do not fail.
func cmdCheck(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("vigil check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("f", "", "configuration `file` to validate, or a directory of *.hcl files (required)")
	print := fs.Bool("print", false, "print the effective configuration, defaults filled in, as JSON (secrets redacted)")
	limits := configLimits(fs)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: vigil check -f FILE [--print] [--max-config-size 16MiB]\n\n"+
			"Validate a configuration file and report every problem with file:line:col (the first\n"+
			"%d, then how many more).\nExit status: 0 valid, 1 invalid (whatever the file holds), 2 usage error.\n\nFlags:\n", conf.MaxDiagnostics)
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return code
	}
	if *file == "" {
		fmt.Fprintln(stderr, "vigil check: -f FILE is required")
		fs.Usage()
		return 2
	}
	// A check is one parse and then exit: collecting garbage a quarter as often saves a
	// sixth of its CPU on a large file (1,000 x 4: 0.40 s instead of 0.48, 105-110 MB
	// instead of 92-96; docs/benchmarks.md, issue 14).
	defer debug.SetGCPercent(debug.SetGCPercent(400))
	// And a soft limit, so that the worst files the limits let through (500,000 tokens of
	// errors) stay near 220 MB instead of 290-320 (the GC works harder only near it, and
	// then whatever GOGC says); an operator's GOMEMLIMIT wins.
	if os.Getenv("GOMEMLIMIT") == "" {
		defer debug.SetMemoryLimit(debug.SetMemoryLimit(200 << 20))
	}
	cfg, sources, diags := (&conf.Loader{Limits: limits()}).Load(*file)
	if diags.HasErrors() {
		conf.WriteDiagnostics(stderr, diags, sources)
		fmt.Fprintf(stderr, "%s: %d error(s)\n", *file, len(diags.Errs()))
		return 1
	}
	conf.WriteDiagnostics(stderr, append(diags, cfg.Warnings()...), sources)
	if *print {
		out, err := cfg.JSON()
		if err != nil {
			fmt.Fprintf(stderr, "vigil check: render configuration: %v\n", err)
			return 1
		}
		fmt.Fprintf(stdout, "%s\n", out)
	} else {
		fmt.Fprintf(stderr, "%s: configuration is valid\n", *file)
	}
	return 0
}
