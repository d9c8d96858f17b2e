package keepalived

import (
	"fmt"
	"strconv"
	"strings"
)

// keepalived's parameter substitution (keepalived.conf(5), "Parameter substitution"):
// $NAME=VALUE defines, ${NAME} or $NAME followed by white space, ',', ')' or the end of
// the line substitutes, again and again until nothing changes; a definition whose value
// ends with '\' continues on the next lines, and is substituted only at the end of a line;
// ~SEQ(VAR, START, STEP, END) and ~LST(VAR, V1, V2, ...) repeat the rest of their line.

func isAlpha(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isNameChar(c byte) bool {
	return isAlpha(c) || isDigit(c) || c == '_'
}

func (r *reader) stdDefinitions() {
	r.defs = append(r.defs,
		&def{name: "_PWD", fn: func(string) string {
			cwd, _ := r.cwd()
			if p, err := r.opts.FS.Realpath(cwd); err == nil {
				return p
			}
			return cwd
		}},
		&def{name: "_INSTANCE", fn: func(string) string { return r.configID }},
		&def{name: "_RANDOM", maxParams: 2, fn: r.random},
		&def{name: "_HASH", value: "#"},
		&def{name: "_BANG", value: "!"},
	)
}

// random is ${_RANDOM [MIN [MAX]]}: keepalived draws a number in [MIN, MAX] (0..32767)
// at every start; an imported file holds one number, said in a note.
func (r *reader) random(params string) string {
	lo, hi := int64(0), int64(32767)
	f := strings.Fields(params)
	if len(f) > 0 {
		lo, _ = strconv.ParseInt(f[0], 10, 64)
	}
	if len(f) > 1 {
		hi, _ = strconv.ParseInt(f[1], 10, 64)
	}
	v := lo
	if r.opts.Random != nil && hi >= lo {
		v = r.opts.Random(lo, hi)
	}
	r.note("${_RANDOM}", "keepalived substitutes a new random number in %d..%d at every start; vigil import wrote %d", lo, hi, v)
	return strconv.FormatInt(v, 10)
}

func (r *reader) lookup(name string, allowMultiline bool) *def {
	for _, d := range r.defs {
		if d.name == name && (allowMultiline || !d.multiline) {
			return d
		}
	}
	return nil
}

// checkDefinition reads a "$NAME=VALUE" line (no space before '='), or returns nil for
// any other line beginning with '$'.
func (r *reader) checkDefinition(buf string) *def {
	if len(buf) < 2 || !(isAlpha(buf[1]) || buf[1] == '_') {
		return nil
	}
	p := 2
	for p < len(buf) && buf[p] != '=' {
		if !isNameChar(buf[p]) {
			return nil
		}
		p++
	}
	if p == len(buf) {
		return nil
	}
	name := buf[1:p]
	d := r.lookup(name, true)
	if d == nil {
		d = &def{name: name}
		r.defs = append(r.defs, d)
	}
	d.fn, d.maxParams = nil, 0 // a standard definition may be overridden
	v := strings.TrimLeft(buf[p+1:], " \t")
	if strings.HasSuffix(v, `\`) {
		v = strings.TrimRight(v[:len(v)-1], " \t")
		if v != "" {
			v += "\n"
		}
		d.multiline = true
	} else {
		d.multiline = false
	}
	d.value = v
	return d
}

// setDefinition is keepalived's set_definition, which ~SEQ and ~LST use.
func (r *reader) setDefinition(name, value string) {
	d := r.lookup(name, true)
	if d == nil {
		d = &def{name: name}
		r.defs = append(r.defs, d)
	}
	d.fn, d.value = nil, value
}

// reference finds the definition s (the text after a '$') refers to, and how many bytes
// of s the reference takes; nil when it is not a reference to a definition.
func (r *reader) reference(s string) (d *def, n int, params string) {
	braces := strings.HasPrefix(s, "{")
	name := s
	if braces {
		name = s[1:]
	}
	if name == "" || !(isAlpha(name[0]) || name[0] == '_') {
		return nil, 0, ""
	}
	l := 1
	for l < len(name) && isNameChar(name[l]) {
		l++
	}
	p := l
	pStart, pEnd := -1, -1
	if braces {
		for p < len(name) && (name[p] == ' ' || isDigit(name[p])) {
			if name[p] != ' ' {
				if pStart < 0 {
					pStart = p
				}
				pEnd = p
			}
			p++
		}
		if pStart >= 0 && pEnd+1 != p {
			return nil, 0, ""
		}
		if p >= len(name) || name[p] != '}' {
			return nil, 0, ""
		}
	} else if p < len(name) && strings.IndexByte(" \t,)", name[p]) < 0 {
		return nil, 0, ""
	}
	allowMultiline := (!braces && l == len(name)) || (braces && l+1 == len(name))
	d = r.lookup(name[:l], allowMultiline)
	if d == nil || (pStart >= 0 && d.maxParams == 0) {
		return nil, 0, ""
	}
	switch {
	case braces && pStart >= 0:
		n, params = 1+pEnd+2, name[pStart:pEnd+1]
	case braces:
		n = 1 + l + 1
	default:
		n = l
	}
	return d, n, params
}

// replace substitutes the definitions in *buf as keepalived's replace_param: after each
// substitution it looks again at the same place, so a value's own references are
// substituted in turn, and a multiline definition (only at the end of a line) leaves the
// rest of its lines to be read next. A line that would grow beyond keepalived's 1023
// bytes keeps what was substituted so far, as keepalived's does.
func (r *reader) replace(buf *string) (bool, error) {
	s := *buf
	found := false
	next := r.next
	cur, count := 0, 0
	for {
		i := strings.IndexByte(s[cur:], '$')
		if i < 0 {
			break
		}
		cur += i
		if cur+1 >= len(s) {
			break
		}
		d, n, params := r.reference(s[cur+1:])
		if d == nil {
			cur++
			continue
		}
		if r.substitutions++; r.substitutions > 8*int64(r.opts.MaxLines) {
			return false, &Error{r.pos, fmt.Sprintf("more than %d substitutions in all (8 per line the configuration may have); vigil import makes at most that many", 8*r.opts.MaxLines)}
		}
		if count++; count > maxSubstitutions {
			return false, &Error{r.pos, fmt.Sprintf("$%s: more than %d substitutions in one line; a definition that refers to itself never ends (keepalived would hang here)", d.name, maxSubstitutions)}
		}
		found = true
		value := d.value
		if d.fn != nil {
			value = d.fn(params)
		}
		with := value
		if d.multiline {
			if next != nil {
				r.mlStack = append(r.mlStack, pending{*next, r.mlSeqDepth})
			}
			r.mlSeqDepth = len(r.seqs)
			rest := ""
			if j := strings.IndexByte(value, '\n'); j >= 0 {
				with, rest = value[:j], value[j+1:]
			}
			next = &rest
		}
		if len(s)-(1+n)+len(with) >= maxLine {
			r.note("$"+d.name, "substituting it would make the line longer than keepalived's %d bytes: keepalived stops substituting the line there", maxLine-1)
			*buf = s
			return false, nil
		}
		s = s[:cur] + with + s[cur+1+n:]
		if strings.HasPrefix(strings.TrimLeft(value, " \t"), "~") {
			break
		}
	}
	if found {
		r.next = next
	}
	*buf = s
	return found, nil
}

// strtol is C's strtol(s, &end, 0): white space, a sign, then 0x hex, 0 octal or
// decimal digits; n is the bytes taken (0 when there is no number).
func strtol(s string) (v int64, n int) {
	i := len(s) - len(strings.TrimLeft(s, whiteSpace))
	neg := false
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	base := int64(10)
	switch {
	case i+1 < len(s) && s[i] == '0' && (s[i+1] == 'x' || s[i+1] == 'X') && i+2 < len(s) && hexDigit(s[i+2]) >= 0:
		base, i = 16, i+2
	case i < len(s) && s[i] == '0':
		base = 8
	}
	start := i
	for i < len(s) {
		dv := hexDigit(s[i])
		if dv < 0 || dv >= base {
			break
		}
		v = v*base + dv
		i++
	}
	if i == start {
		return 0, 0
	}
	if neg {
		v = -v
	}
	return v, i
}

func hexDigit(c byte) int64 {
	switch {
	case c >= '0' && c <= '9':
		return int64(c - '0')
	case c >= 'a' && c <= 'f':
		return int64(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int64(c-'A') + 10
	}
	return -1
}

// addSeq reads "~SEQ(VAR, [START,] [STEP,] END) TEXT" (~SEQx for hex values).
func (r *reader) addSeq(buf string) error {
	p := buf[4:]
	hex := strings.HasPrefix(p, "x")
	if hex {
		p = p[1:]
	}
	p = strings.TrimLeft(p, " \t")
	if !strings.HasPrefix(p, "(") {
		return fmt.Errorf("invalid ~SEQ specification %q", buf)
	}
	p = strings.TrimLeft(p[1:], " \t")
	ve := strings.IndexAny(p, " \t,)")
	if ve < 0 {
		ve = len(p)
	}
	variable := p[:ve]
	p = strings.TrimLeft(p[ve:], " \t")
	if p == "" || p[0] == ')' || variable == "" {
		return fmt.Errorf("invalid ~SEQ definition %q", buf)
	}
	p = strings.TrimLeft(p[1:], " \t")
	end := strings.IndexByte(p, ')')
	if end < 0 {
		return fmt.Errorf("invalid ~SEQ definition %q: no ')'", buf)
	}
	if end+2 > 3*20+3+1 {
		return fmt.Errorf("~SEQ parameter strings too long %q", buf)
	}
	params := p[:end+1]
	saved := r.next
	r.next = nil
	changed, err := r.replace(&params)
	multiline := changed && r.next != nil
	r.next = saved
	if err != nil {
		return err
	}
	if multiline {
		return fmt.Errorf("~SEQ parameter is a multiline definition %q", buf)
	}
	var start, step, last int64
	nums := []int64{}
	q := params
	for {
		v, n := strtol(q)
		nums = append(nums, v)
		q = strings.TrimLeft(q[n:], " \t")
		if strings.HasPrefix(q, ")") {
			break
		}
		if !strings.HasPrefix(q, ",") || len(nums) == 3 {
			return fmt.Errorf("invalid ~SEQ definition %q", buf)
		}
		q = q[1:]
	}
	switch len(nums) {
	case 1:
		last = nums[0]
		step, start = 1, 1
		if last < 1 {
			step = -1
		}
		if last < 0 {
			start = -1
		}
	case 2:
		start, last = nums[0], nums[1]
		step = 1
		if start > last {
			step = -1
		}
	case 3:
		start, step, last = nums[0], nums[1], nums[2]
		if step == 0 || (start < last && step < 0) || (start > last && step > 0) {
			return fmt.Errorf("invalid ~SEQ values %q", buf)
		}
	}
	if hex && (start < 0 || last < 0) {
		return fmt.Errorf("~SEQx is only valid for positive numbers %q", buf)
	}
	text := strings.TrimLeft(p[end+1:], " \t")
	r.seqs = append(r.seqs, &seq{variable: variable, next: start, step: step, last: last, hex: hex, text: text})
	return nil
}

// addLst reads "~LST(VAR, V1, V2, ...) TEXT" or "~LST({VAR1, VAR2}, {V1, V2}, ...) TEXT".
func (r *reader) addLst(buf string) error {
	bad := fmt.Errorf("invalid ~LST specification %q", buf)
	p := strings.TrimLeft(buf[4:], " \t")
	if !strings.HasPrefix(p, "(") {
		return bad
	}
	vars, p, ok := lstItems(strings.TrimLeft(p[1:], " \t"), " \t,}", -1)
	if !ok || !strings.HasPrefix(p, ",") {
		return bad
	}
	p = strings.TrimLeft(p[1:], " \t")
	var sets [][]string
	for {
		set, rest, ok := lstItems(p, " \t,})", len(vars)-1)
		if !ok {
			if len(set) > len(vars)-1 {
				return fmt.Errorf("~LST specification has too many values %q", buf)
			}
			return bad
		}
		for len(set) < len(vars) {
			set = append(set, "")
		}
		sets = append(sets, set)
		if p = rest; p == "" {
			return bad
		}
		if p[0] == ')' {
			break
		}
		if p[0] != ',' {
			return bad
		}
		p = strings.TrimLeft(p[1:], " \t")
	}
	text := strings.TrimLeft(p[1:], " \t")
	r.seqs = append(r.seqs, &seq{vars: vars, values: sets, text: text})
	return nil
}

// lstItems reads one item or a {...} list of items of a ~LST, each ended by one of
// stops, and returns the text after it (after its closing '}'). More than max commas in
// a list (max >= 0) fails.
func lstItems(p, stops string, max int) (items []string, rest string, ok bool) {
	endChar := byte(',')
	if strings.HasPrefix(p, "{") {
		endChar = '}'
		p = strings.TrimLeft(p[1:], " \t")
	}
	for {
		e := strings.IndexAny(p, stops)
		if e < 0 {
			return items, p, false
		}
		items = append(items, p[:e])
		p = strings.TrimLeft(p[e:], " \t")
		if p == "" {
			return items, p, false
		}
		if p[0] == endChar || (p[0] == ')' && endChar == ',') {
			break
		}
		if p[0] != ',' {
			return items, p, false
		}
		p = strings.TrimLeft(p[1:], " \t")
		if max >= 0 && len(items) > max {
			return items, p, false
		}
	}
	if p[0] == '}' && endChar == '}' {
		p = strings.TrimLeft(p[1:], " \t")
	}
	return items, p, true
}

// nextSeq produces the innermost sequence's next line, setting its variables.
func (r *reader) nextSeq() string {
	s := r.seqs[len(r.seqs)-1]
	if s.vars != nil {
		for i, v := range s.vars {
			r.setDefinition(v, s.values[0][i])
		}
		s.values = s.values[1:]
		if len(s.values) == 0 {
			r.seqs = r.seqs[:len(r.seqs)-1]
		}
		return s.text
	}
	val := strconv.FormatInt(s.next, 10)
	if s.hex {
		val = strconv.FormatUint(uint64(s.next), 16)
	}
	r.setDefinition(s.variable, val)
	s.next += s.step
	if (s.step > 0 && s.next > s.last) || (s.step < 0 && s.next < s.last) {
		r.seqs = r.seqs[:len(r.seqs)-1]
	}
	return s.text
}
