package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"

	"github.com/vigil-lb/vigil/conf/keepalived"
	"github.com/vigil-lb/vigil/conf/keepalived/translate"
)

// cmdImport turns a keepalived configuration into vigil's: 0 written (with or without
// notes), 1 when the input cannot be read as keepalived configuration, 2 usage.
func cmdImport(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("vigil import", flag.ContinueOnError)
	out := fs.String("o", "", "write the vigil configuration to `file` (default: standard output)")
	id := fs.String("config-id", "", "keepalived's --config-id (-i) for @ID lines (default: this host's name, as keepalived's)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: vigil import FILE [-o OUT] [--config-id ID]\n\nRead a keepalived configuration (with its includes) as keepalived reads it and write it as vigil's.\nEvery keyword vigil does not carry over, or whose behaviour differs, is reported as\nFILE:LINE: keyword: what vigil does instead, on standard error and as a comment in the output.\nExit status: 0 written, 1 the input cannot be read as keepalived configuration, 2 usage error.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	flags, files := splitArgs(args, "o", "config-id")
	if code, ok := parseFlags(fs, flags, stdout, stderr); !ok {
		return code
	}
	file := ""
	switch len(files) {
	case 0:
	case 1:
		file = files[0]
	default:
		fmt.Fprintf(stderr, "vigil import: unexpected argument %q\n", files[1])
		fs.SetOutput(stderr)
		fs.Usage()
		return 2
	}
	if file == "" {
		fmt.Fprintln(stderr, "vigil import: the keepalived configuration FILE is required")
		fs.SetOutput(stderr)
		fs.Usage()
		return 2
	}
	if *out != "" && sameFile(*out, file) {
		fmt.Fprintf(stderr, "vigil import: -o %s is the keepalived configuration itself\n", *out)
		return 2
	}
	// An import is one translation and then exit, as a check: garbage collected half as
	// often (a tenth of its CPU on 1,000 x 4), under a soft limit that keeps it below
	// 200 MB where the GC works harder; an operator's GOMEMLIMIT wins.
	defer debug.SetGCPercent(debug.SetGCPercent(200))
	if os.Getenv("GOMEMLIMIT") == "" {
		defer debug.SetMemoryLimit(debug.SetMemoryLimit(180 << 20))
	}
	cfg, err := keepalived.Read(file, keepalived.Options{ConfigID: *id, Hostname: os.Hostname})
	if err != nil {
		var e *keepalived.Error
		if !errors.As(err, &e) {
			err = fmt.Errorf("%s: %w", file, err)
		}
		fmt.Fprintf(stderr, "%v\n", err)
		return 1
	}
	res, err := translate.Translate(cfg)
	for _, n := range res.Notes {
		fmt.Fprintln(stderr, n)
	}
	if err != nil {
		fmt.Fprintf(stderr, "%v\n", err)
		return 1
	}
	if *out == "" {
		stdout.Write(res.HCL)
	} else if err := writeFileAtomic(*out, res.HCL); err != nil {
		fmt.Fprintf(stderr, "vigil import: %v\n", err)
		return 1
	}
	where := "standard output"
	if *out != "" {
		where = *out
	}
	fmt.Fprintf(stderr, "vigil import: wrote %s (%d notes); check it with vigil check -f\n", where, len(res.Notes))
	return 0
}

// splitArgs separates the flags (with the values of those named in valued, when given
// as the next argument) from the other arguments, so that FILE may come before or after
// them; everything after "--" is an argument.
func splitArgs(args []string, valued ...string) (flags, rest []string) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			return flags, append(rest, args[i+1:]...)
		case len(a) < 2 || a[0] != '-':
			rest = append(rest, a)
		default:
			flags = append(flags, a)
			name := strings.TrimLeft(a, "-")
			if !strings.Contains(name, "=") && slices.Contains(valued, name) && i+1 < len(args) {
				i++
				flags = append(flags, args[i])
			}
		}
	}
	return flags, rest
}

// writeFileAtomic writes data to name through a temporary file in its directory, so a
// reader sees the old file or the new one. A file holding a password is readable by its
// owner only.
func writeFileAtomic(name string, data []byte) error {
	mode := os.FileMode(0o644)
	if bytes.Contains(data, []byte("password")) {
		mode = 0o600
	}
	f, err := os.CreateTemp(filepath.Dir(name), ".vigil-import-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), name)
}
