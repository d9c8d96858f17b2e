package keepalived

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
)

// Limits of what Read accepts, so that no input (huge, looping, or expanding without
// end) exhausts the memory of the process reading it.
const (
	// DefaultMaxBytes bounds the bytes of every file read together: conf's limit of a
	// vigil configuration (16 MiB).
	DefaultMaxBytes = 16 << 20
	// DefaultMaxLines bounds the lines after the pre-processor (~SEQ, definitions and
	// includes expand): as many as conf's limit of tokens.
	DefaultMaxLines = 500_000
	// MaxIncludeDepth bounds nested includes (keepalived has no limit but its open files).
	MaxIncludeDepth = 64
	// maxLine is keepalived's MAXBUF: a line is read, and substituted, in 1024 bytes with
	// its terminating NUL.
	maxLine = 1024
	// maxSubstitutions bounds the substitutions of one line: keepalived substitutes again
	// after each one, so a definition that refers to itself would never end.
	maxSubstitutions = 10_000
)

// Options configure Read.
type Options struct {
	// FS reads the files; nil is OSFS.
	FS FS
	// ConfigID is keepalived's --config-id (-i): the word @ID lines are compared with.
	// "" means keepalived's default, the host's name up to its first dot, from Hostname.
	ConfigID string
	// Hostname is the host's name (os.Hostname); nil or an error leaves no config-id,
	// so that every @ID line is dropped and every @^ID line kept.
	Hostname func() (string, error)
	// Random returns ${_RANDOM min max}; nil returns min (keepalived draws a new number
	// at every start, which an imported file cannot).
	Random func(min, max int64) int64
	// MaxBytes and MaxLines override DefaultMaxBytes and DefaultMaxLines when positive.
	MaxBytes int64
	MaxLines int
}

// Config is a keepalived configuration as keepalived reads it.
type Config struct {
	// Nodes are the top-level lines in order, across every included file.
	Nodes []*Node
	// Notes are what keepalived would warn about while reading, and what the reading
	// decided (a config-id, a random number).
	Notes []Note
	// Files are the files read, in order, as they appear in positions.
	Files []string
	// ConfigID is the config-id the @ lines were read for ("" for none).
	ConfigID string
}

// Read reads the keepalived configuration at name (itself a glob pattern, as keepalived
// takes -f) and the files it includes. A configuration that keepalived would refuse
// line by line (an unknown keyword, a missing include) is read as keepalived reads it,
// with notes; the error is for what cannot be read at all: a missing file, an include
// loop, a binary file, a limit exceeded.
func Read(name string, opts Options) (*Config, error) {
	if opts.FS == nil {
		opts.FS = OSFS()
	}
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = DefaultMaxBytes
	}
	if opts.MaxLines <= 0 {
		opts.MaxLines = DefaultMaxLines
	}
	r := &reader{opts: opts, cfg: &Config{}}
	r.configID, r.idDefaulted = opts.ConfigID, opts.ConfigID == ""
	if r.idDefaulted && opts.Hostname != nil {
		if h, err := opts.Hostname(); err == nil {
			r.configID, _, _ = strings.Cut(h, ".")
		}
	}
	r.cfg.ConfigID = r.configID
	r.stdDefinitions()
	b := &builder{notes: &r.cfg.Notes}
	if err := r.openGlob(name, ".", "", Pos{File: name}, true); err != nil {
		return nil, err
	}
	lines := 0
	for {
		line, err := r.readLine()
		if err != nil {
			return nil, err
		}
		if line == nil {
			break
		}
		if lines++; lines > opts.MaxLines {
			return nil, &Error{r.pos, fmt.Sprintf("the configuration expands to more than %d lines (definitions, ~SEQ, ~LST and includes together); vigil import reads at most that many", opts.MaxLines)}
		}
		b.add(r.pos, *line)
	}
	b.end(r.pos)
	r.cfg.Nodes = b.root
	return r.cfg, nil
}

// file is one open file of the include stack.
type file struct {
	name    string // as keepalived opened it, relative to the includer's directory
	display string // as positions name it
	cwd     string // keepalived's working directory while it reads the file
	id      string
	data    []byte
	off     int
	line    int // lines read whole
}

// include is one include line's glob: its matches are read in turn.
type include struct {
	matches []string
	next    int
	cwd     string // the includer's directory, where the matches are relative to
	display string // the includer's display directory
	at      Pos
	found   int
	cur     *file
}

type def struct {
	name      string
	value     string
	multiline bool
	fn        func(params string) string // a standard definition
	maxParams int
}

type seq struct {
	// ~SEQ
	variable         string
	next, last, step int64
	hex              bool
	// ~LST: the variables, and value sets still to produce
	vars   []string
	values [][]string
	text   string
}

type pending struct {
	ptr      string
	seqDepth int
}

type reader struct {
	opts        Options
	cfg         *Config
	configID    string
	idDefaulted bool
	idNoted     bool

	includes []*include
	bytes    int64
	pos      Pos // the physical line read last

	defs       []*def
	seqs       []*seq
	next       *string // the rest of a multiline definition being expanded
	mlStack    []pending
	mlSeqDepth int
	residue    *string
	mlDef      *def // the multiline definition being read

	substitutions int64
}

func (r *reader) note(keyword, format string, args ...any) {
	r.cfg.Notes = append(r.cfg.Notes, Note{r.pos, keyword, fmt.Sprintf(format, args...)})
}

// openGlob opens the first readable match of pattern, seen from cwd; main is the -f
// file, whose absence is an error.
func (r *reader) openGlob(pattern, cwd, displayDir string, at Pos, main bool) error {
	if len(r.includes) >= MaxIncludeDepth {
		return &Error{at, fmt.Sprintf("includes nest more than %d deep", MaxIncludeDepth)}
	}
	matches, missing := glob(r.opts.FS, cwd, pattern)
	inc := &include{matches: matches, cwd: cwd, display: displayDir, at: at}
	r.includes = append(r.includes, inc)
	ok, err := r.openNext(inc)
	if err != nil {
		return err
	}
	if ok {
		if missing > 0 && !main {
			r.note("include", "%s: %d of the files it names do not exist; keepalived reads the others", pattern, missing)
		}
		return nil
	}
	r.includes = r.includes[:len(r.includes)-1]
	switch {
	case main:
		return &Error{Pos{File: pattern}, "cannot read the configuration: no readable file matches " + pattern}
	case missing > 0 || len(matches) == 0:
		r.note("include", "no file matches %q (seen from %s): keepalived reads nothing here", pattern, shown(cwd))
	}
	return nil
}

func shown(dir string) string {
	if dir == "." {
		return "the working directory"
	}
	return dir
}

// openNext opens the next match of inc that keepalived would read: a regular file
// without any execute bit (keepalived skips the others).
func (r *reader) openNext(inc *include) (bool, error) {
	for inc.next < len(inc.matches) {
		m := inc.matches[inc.next]
		inc.next++
		disp := m
		if !strings.HasPrefix(m, "/") {
			disp = path.Clean(join(inc.display, m))
			if inc.display == "" {
				disp = path.Clean(m)
			}
		}
		if strings.HasSuffix(m, "/") {
			r.includeNote(inc, "%s is a directory: keepalived skips it", disp)
			continue
		}
		full := join(inc.cwd, m)
		fi, err := r.opts.FS.Stat(full)
		if err != nil {
			r.includeNote(inc, "%s: %v: keepalived skips it", disp, err)
			continue
		}
		if !fi.Mode().IsRegular() || fi.Mode()&0o111 != 0 {
			r.includeNote(inc, "%s is not a regular file without execute permission: keepalived skips it", disp)
			continue
		}
		left := r.opts.MaxBytes - r.bytes
		data, id, err := r.opts.FS.ReadFile(full, left)
		if err != nil {
			if errors.Is(err, ErrTooLarge) {
				return false, &Error{inc.at, fmt.Sprintf("%s: the configuration's files hold more than %d bytes together; vigil import reads at most that much", disp, r.opts.MaxBytes)}
			}
			if errors.Is(err, fs.ErrPermission) || errors.Is(err, fs.ErrNotExist) {
				r.includeNote(inc, "%s: %v: keepalived skips it", disp, err)
				continue
			}
			return false, &Error{inc.at, fmt.Sprintf("read %s: %v", disp, err)}
		}
		for _, open := range r.includes {
			if open.cur != nil && open.cur.id == id {
				return false, &Error{inc.at, fmt.Sprintf("include loop: %s includes %s, which is already being read (keepalived would include it again and again until it runs out of open files)", inc.at.File, disp)}
			}
		}
		if i := strings.IndexByte(string(data), 0); i >= 0 {
			line := 1 + strings.Count(string(data[:i]), "\n")
			return false, &Error{Pos{disp, line}, "a NUL byte: this is not a text file, so not a keepalived configuration"}
		}
		r.bytes += int64(len(data))
		cwd := inc.cwd
		if strings.Contains(m, "/") {
			cwd = join(inc.cwd, dirOf(m))
		}
		inc.cur = &file{name: m, display: disp, cwd: cwd, id: id, data: data}
		inc.found++
		r.cfg.Files = append(r.cfg.Files, disp)
		return true, nil
	}
	return false, nil
}

func (r *reader) includeNote(inc *include, format string, args ...any) {
	r.cfg.Notes = append(r.cfg.Notes, Note{inc.at, "include", fmt.Sprintf(format, args...)})
}

// physical reads the next line of the files as keepalived's fgets into MAXBUF does: at
// most 1023 bytes, so a longer line is read as several. nil at the end of the last file.
func (r *reader) physical() (*string, error) {
	for len(r.includes) > 0 {
		inc := r.includes[len(r.includes)-1]
		f := inc.cur
		if f == nil || f.off >= len(f.data) {
			ok, err := r.openNext(inc)
			if err != nil {
				return nil, err
			}
			if !ok {
				r.includes = r.includes[:len(r.includes)-1]
			}
			continue
		}
		rest := f.data[f.off:]
		n := len(rest)
		nl := false
		if i := strings.IndexByte(string(rest[:min(n, maxLine-1)]), '\n'); i >= 0 {
			n, nl = i+1, true
		} else if n > maxLine-1 {
			n = maxLine - 1
		}
		r.pos = Pos{f.display, f.line + 1}
		s := string(rest[:n])
		f.off += n
		if nl {
			f.line++
		} else if f.off < len(f.data) {
			r.note(firstWord(s), "the line is longer than the %d bytes keepalived reads at once: keepalived reads the rest of it as another line", maxLine-1)
		}
		return &s, nil
	}
	return nil, nil
}

// cwd is keepalived's working directory now: that of the file being read.
func (r *reader) cwd() (dir, display string) {
	for i := len(r.includes) - 1; i >= 0; i-- {
		if f := r.includes[i].cur; f != nil {
			return f.cwd, dirOf(f.display)
		}
	}
	return ".", ""
}

// readLine is keepalived's read_line: the next line for the parser, after comments,
// definitions, conditions, sequences and substitutions, with a '{' or '}' split off into
// a line of its own. nil at the end.
func (r *reader) readLine() (*string, error) {
	for {
		var buf string
		switch {
		case r.residue != nil:
			buf, r.residue = *r.residue, nil
		case len(r.seqs) > r.mlSeqDepth:
			buf = r.nextSeq()
		case r.next != nil:
			if i := strings.IndexByte(*r.next, '\n'); i >= 0 {
				buf = (*r.next)[:i]
				rest := (*r.next)[i+1:]
				r.next = &rest
			} else {
				buf = *r.next
				if n := len(r.mlStack); n > 0 {
					p := r.mlStack[n-1]
					r.mlStack = r.mlStack[:n-1]
					r.next, r.mlSeqDepth = &p.ptr, p.seqDepth
				} else {
					r.next, r.mlSeqDepth = nil, 0
				}
			}
		default:
			for {
				p, err := r.physical()
				if err != nil {
					return nil, err
				}
				if p == nil {
					return nil, nil
				}
				s := strings.TrimRight(*p, "\r\n")
				if s == "" {
					if r.mlDef != nil {
						r.endDefinition()
					}
					continue
				}
				buf = r.decomment(s)
				if buf != "" {
					break
				}
			}
		}

		if d := r.mlDef; d != nil {
			l := buf
			if strings.HasSuffix(l, `\`) {
				l = strings.TrimRight(l[:len(l)-1], " \t") + "\n"
			} else {
				r.endDefinition()
			}
			if len(l) >= 2 || (l != "" && r.mlDef == nil) {
				d.value += l
			}
			continue
		}
		if buf == "" {
			continue
		}

		substituted := false
		for {
			recheck := false
			if buf[0] == '@' {
				if substituted {
					r.note(firstWord(buf), "a condition that a definition produced: read as keepalived.conf(5) says; keepalived 2.2.7 itself misreads such a line (it keeps part of it twice)")
				}
				keep, rest := r.condition(buf)
				if !keep {
					buf = ""
					break
				}
				buf = rest
			}
			if buf != "" && buf[0] == '$' {
				if d := r.checkDefinition(buf); d != nil {
					if d.multiline {
						r.mlDef = d
					}
					buf = ""
					break
				}
			}
			if strings.HasPrefix(buf, "~SEQ") || strings.HasPrefix(buf, "~LST") {
				var err error
				if buf[1] == 'S' {
					err = r.addSeq(buf)
				} else {
					err = r.addLst(buf)
				}
				if err != nil {
					r.note(buf[:4], "%v: keepalived ignores the line", err)
				}
				buf = ""
				break
			}
			if buf == "" || buf[0] == '~' {
				break
			}
			if strings.IndexByte(buf, '$') >= 0 {
				changed, err := r.replace(&buf)
				if err != nil {
					return nil, err
				}
				if !changed {
					break
				}
				substituted = true
				buf = r.decomment(buf)
				if buf != "" && (buf[0] == '@' || strings.IndexByte(buf, '$') >= 0) {
					recheck = true
				}
			}
			if !recheck {
				break
			}
		}
		if buf == "" {
			continue
		}
		if pattern, ok := isInclude(buf); ok {
			cwd, disp := r.cwd()
			if err := r.openGlob(pattern, cwd, disp, r.pos, false); err != nil {
				return nil, err
			}
			if strings.ContainsAny(pattern, `"'`) {
				r.note("include", "keepalived takes the rest of the line as the pattern, quotes included (%s)", pattern)
			}
			continue
		}
		buf = r.splitBrace(buf)
		return &buf, nil
	}
}

func (r *reader) endDefinition() {
	if r.mlDef.value == "" {
		r.mlDef.multiline = false
	}
	r.mlDef = nil
}

// splitBrace splits off the first '{' or '}' outside double quotes: a line that begins
// with one is that brace alone, and otherwise the line ends before it; the rest is read
// next, as keepalived's line_residue.
func (r *reader) splitBrace(buf string) string {
	p := -1
	if buf[0] == '{' || buf[0] == '}' {
		p = 0
	} else {
		for i := 0; i < len(buf); i++ {
			c := buf[i]
			if c == '"' {
				j := strings.IndexByte(buf[i+1:], '"')
				if j < 0 {
					break
				}
				i += j + 1
				continue
			}
			if c == '{' || c == '}' {
				p = i
				break
			}
		}
	}
	if p >= 0 {
		skip := 0
		if p == 0 {
			skip = 1 + len(buf[1:]) - len(strings.TrimLeft(buf[1:], " \t"))
		}
		if rest := strings.TrimRight(buf[p+skip:], " \t"); rest != "" {
			r.residue = &rest
			buf = buf[:p+skip]
		}
	}
	return strings.TrimRight(buf, " \t")
}

// isInclude recognises keepalived's include, includer, includem, includew, includeb and
// includea lines, and returns the pattern: the rest of the line, as it is.
func isInclude(buf string) (string, bool) {
	rest, ok := strings.CutPrefix(buf, "include")
	if !ok || rest == "" {
		return "", false
	}
	if isSpace(rest[0]) {
		return strings.TrimLeft(rest[1:], " \t"), true
	}
	if len(rest) > 1 && strings.IndexByte("rmwba", rest[0]) >= 0 && isSpace(rest[1]) {
		return strings.TrimLeft(rest[2:], " \t"), true
	}
	return "", false
}

func isSpace(c byte) bool { return strings.IndexByte(whiteSpace, c) >= 0 }

// decomment is keepalived's: leading white space, a comment from '#' or '!' outside
// double quotes to the end, and trailing white space are removed; \# and \! outside
// quotes are the characters themselves; a '\' ending the line is kept (after the
// trailing white space before it is removed), as the mark of a continued definition.
func (r *reader) decomment(s string) string {
	s = strings.TrimLeft(s, " \t")
	var b strings.Builder
	quote, cont := false, false
	skip := -1 // where a comment starts
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"':
			if skip < 0 {
				quote = !quote
			}
		case c == '\\':
			if i+1 == len(s) {
				cont = true // even after a comment, as keepalived scans on
				continue
			}
			if skip < 0 {
				if !quote && (s[i+1] == '#' || s[i+1] == '!') {
					b.WriteByte(s[i+1])
				} else {
					b.WriteByte(c)
					b.WriteByte(s[i+1])
				}
			}
			i++
			continue
		case skip < 0 && !quote && (c == '!' || c == '#'):
			skip = i
		}
		if skip < 0 {
			b.WriteByte(c)
		}
	}
	if quote {
		r.note(firstWord(s), "unterminated quote (%q): keepalived reports it and reads on", s)
	}
	out := strings.TrimRight(b.String(), " \t")
	if cont {
		out += `\`
	}
	return out
}

// condition applies an @ID or @^ID line: keep reports whether the line is read, rest is
// the line after the condition.
func (r *reader) condition(buf string) (keep bool, rest string) {
	neg := strings.HasPrefix(buf, "@^")
	ofs := 1
	if neg {
		ofs = 2
	}
	sp := strings.IndexAny(buf[ofs:], " \t")
	if sp < 0 {
		return false, ""
	}
	id := buf[ofs : ofs+sp]
	match := r.configID != "" && id == r.configID
	if r.idDefaulted && !r.idNoted {
		r.idNoted = true
		if r.configID == "" {
			r.note(buf[:ofs+sp], "read without a config-id (no host name): every @ID line is left out and every @^ID line kept; give --config-id, as keepalived's -i, for the director this file is for")
		} else {
			r.note(buf[:ofs+sp], "read for config-id %q, this host's name as keepalived takes it without -i; give --config-id for the director this file is for", r.configID)
		}
	}
	if match == neg {
		return false, ""
	}
	return true, strings.TrimLeft(buf[ofs+sp:], " \t")
}
