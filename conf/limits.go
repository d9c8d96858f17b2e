package conf

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"

	"github.com/hashicorp/hcl/v2"
)

// Limits bound what Load and Parse accept, so that no file — truncated, binary, huge or
// built to hurt — can exhaust the memory or the stack of the process reading it. A zero
// field means its default.
//
// The HCL parser needs about 300 bytes of memory per token and recurses once per level of
// nesting, so both are bounded before it sees the file (prescan.go): the size first (from
// the file's metadata, then while reading), then the tokens, the nesting depth and the
// length of names and numbers.
type Limits struct {
	// MaxBytes is the largest file accepted; default DefaultMaxBytes.
	MaxBytes int64
	// MaxTokens is the most tokens (names, numbers, punctuation, string pieces) a file may
	// hold; default DefaultMaxTokens.
	MaxTokens int
	// MaxText is the most bytes the file's strings and heredocs may hold together;
	// default DefaultMaxText.
	MaxText int64
}

// Defaults and fixed bounds of Limits.
const (
	// DefaultMaxBytes is 16 MiB: 20 times the 1,000 virtual servers of 4 real servers
	// (750 KB) that docs/benchmarks.md measures.
	DefaultMaxBytes = 16 << 20
	// DefaultMaxTokens is 500,000 tokens: two and a half times those 1,000 x 4 (200,000
	// tokens); the densest file of that many takes about 250 MB and 1-2 s to parse
	// (docs/benchmarks.md, issue 14).
	DefaultMaxTokens = 500_000
	// DefaultMaxText is 4 MiB of strings: HCL takes about 0.25 us of CPU per byte of a
	// string, so one of 16 MiB took 4 s; 500,000 tokens of configuration hold under 1 MiB.
	DefaultMaxText = 4 << 20
	// MaxDepth is how deeply brackets, blocks, strings, interpolations, template
	// directives and chains of unary or conditional operators may nest. A vigil
	// configuration needs about 12; HCL's parser recurses once per level.
	MaxDepth = 64
	// MaxNameLength bounds an identifier (an attribute or block name, a keyword); the
	// longest vigil knows is under 30 characters.
	MaxNameLength = 256
	// MaxNumberLength bounds a number literal: decoding one costs time quadratic in its
	// digits (a million digits take seconds), and no value needs more than 20.
	MaxNumberLength = 64
)

// LimitsForSize returns the limits for files of up to maxBytes: the token and text limits
// grow in proportion from their defaults, never below them. It is what --max-config-size
// sets.
func LimitsForSize(maxBytes int64) Limits {
	l := Limits{MaxBytes: maxBytes}.withDefaults()
	if l.MaxBytes > DefaultMaxBytes {
		kib := min(l.MaxBytes, 1<<40) >> 10
		l.MaxTokens = int(int64(DefaultMaxTokens) * kib / (DefaultMaxBytes >> 10))
		l.MaxText = DefaultMaxText * kib / (DefaultMaxBytes >> 10)
	}
	return l
}

func (l Limits) withDefaults() Limits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultMaxBytes
	}
	if l.MaxTokens <= 0 {
		l.MaxTokens = DefaultMaxTokens
	}
	if l.MaxText <= 0 {
		l.MaxText = DefaultMaxText
	}
	return l
}

// LoadLimited is Load with explicit limits. src is what was read (nil when nothing could
// be), for WriteDiagnostics; it is never larger than the limit.
func LoadLimited(path string, lim Limits) (cfg *Config, src []byte, diags hcl.Diagnostics) {
	lim = lim.withDefaults()
	src, d := readBounded(path, lim.MaxBytes)
	if d != nil {
		return nil, nil, hcl.Diagnostics{d}
	}
	cfg, diags = parseLimited(src, path, lim, defaultOptions())
	return cfg, src, diags
}

// readBounded reads a configuration file without ever holding more than max bytes, and
// without blocking on something that is not a regular file: a FIFO opens at once with
// O_NONBLOCK (there may be no writer), and is then refused like a directory, a socket or
// a device. A file that grows while it is read is cut off at max+1 bytes and refused.
func readBounded(path string, max int64) ([]byte, *hcl.Diagnostic) {
	fail := func(format string, args ...any) *hcl.Diagnostic {
		return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Cannot read configuration file",
			Detail: fmt.Sprintf(format, args...)}
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fail("%v.", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fail("%v.", err)
	}
	switch mode := fi.Mode(); {
	case mode.IsDir():
		return nil, fail("%s is a directory; give the configuration file itself.", path)
	case !mode.IsRegular():
		return nil, fail("%s is not a regular file (%s); write the configuration to a file first.", path, fileKind(mode))
	case fi.Size() > max:
		return nil, tooLarge(path, fi.Size(), max)
	}
	// Files in /proc report size 0, and any file may grow after the Stat: read to the limit.
	src, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		if errors.Is(err, syscall.EISDIR) {
			return nil, fail("%s is a directory; give the configuration file itself.", path)
		}
		return nil, fail("read %s: %v.", path, err)
	}
	if int64(len(src)) > max {
		return nil, tooLarge(path, -1, max)
	}
	return src, nil
}

func tooLarge(path string, size, max int64) *hcl.Diagnostic {
	is := "grew past the limit while it was read"
	if size >= 0 {
		is = fmt.Sprintf("is %s", sizeText(size))
	}
	return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Configuration file too large",
		Detail: fmt.Sprintf("%s %s; the limit is %s (raise it with --max-config-size if the file is meant to be that large).", path, is, sizeText(max))}
}

func fileKind(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	}
	return "mode " + m.String()
}

// sizeText renders a byte count for an operator: "16 MiB", "52,428,800 bytes".
func sizeText(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return groupDigits(n) + " bytes"
}

// groupDigits writes n with thousands separators.
func groupDigits(n int64) string {
	s := fmt.Sprint(n)
	neg := s[0] == '-'
	if neg {
		s = s[1:]
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	if neg {
		s = "-" + s
	}
	return s
}
