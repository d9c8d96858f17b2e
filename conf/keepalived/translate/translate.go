package translate

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-lb/vigil/conf"
	"github.com/vigil-lb/vigil/conf/keepalived"
)

// Note is one keyword vigil does not carry over, or whose behaviour differs in vigil.
type Note struct {
	Pos     keepalived.Pos
	Keyword string
	Text    string
}

// String is "FILE:LINE: keyword: what vigil does instead".
func (n Note) String() string { return n.Pos.String() + ": " + n.Keyword + ": " + n.Text }

// Result is a translated configuration.
type Result struct {
	// HCL is the vigil configuration, formatted; it passes vigil check as written.
	HCL []byte
	// Notes are in the order of the keepalived configuration's lines (each is also a
	// comment at its place in HCL).
	Notes []Note
}

// Translate turns a keepalived configuration into vigil's. The error is a configuration
// of which vigil would run nothing (no virtual server and no VRRP instance carried over),
// which vigil check refuses; the Result then still has the notes that say why.
func Translate(cfg *keepalived.Config) (*Result, error) {
	t := &tr{cfg: cfg, names: map[string]map[string]bool{}, nodeLabel: map[*keepalived.Node]string{}}
	for _, n := range cfg.Notes {
		t.notes = append(t.notes, Note(n))
	}
	t.prepass(cfg.Nodes)
	for _, n := range cfg.Nodes {
		t.top(n)
	}
	t.finish()
	out := t.validate()
	order := map[string]int{}
	for i, f := range cfg.Files {
		order[f] = i
	}
	slices.SortStableFunc(t.notes, func(a, b Note) int {
		return cmp.Or(cmp.Compare(order[a.Pos.File], order[b.Pos.File]), cmp.Compare(a.Pos.Line, b.Pos.Line))
	})
	res := &Result{HCL: out, Notes: t.notes}
	if !t.runsSomething() {
		pos := keepalived.Pos{}
		if len(cfg.Files) > 0 {
			pos.File = cfg.Files[0]
		}
		return res, &keepalived.Error{Pos: pos, Msg: "nothing for vigil to run: no virtual_server and no vrrp_instance could be carried over (the notes say why), and vigil refuses a configuration without either"}
	}
	return res, nil
}

// runsSomething reports whether a virtual server or a VRRP instance was written.
func (t *tr) runsSomething() bool {
	for _, b := range t.blocks {
		if !b.dropped && (b.typ == "virtual_server" || b.typ == "vrrp_instance") {
			return true
		}
	}
	return false
}

// tr is one translation.
type tr struct {
	cfg    *keepalived.Config
	notes  []Note
	blocks []*vblock
	global *vblock
	// names used per vigil block type, so that labels are unique
	names map[string]map[string]bool

	// from the prepass
	vrrpVersion  int // global_defs vrrp_version, 0 when unset
	scriptUser   string
	garp         []*keepalived.Node // vrrp_garp_* of global_defs
	syncDaemon   *keepalived.Node   // global_defs lvs_sync_daemon
	syncUsed     bool
	scripts      map[string]string // keepalived vrrp_script name -> vigil label
	processes    map[string]string
	files        map[string]string
	instances    map[string]string
	groups       map[string]*group
	ssl          sslDefaults
	hadScripts   bool
	scriptNoted  bool
	nodeLabel    map[*keepalived.Node]string
	sawTopKnown  bool
	unknownFirst *keepalived.Node
}

// note records a note and writes it as a comment into b (nil: a comment of its own at
// the top level).
func (t *tr) note(n *keepalived.Node, keyword, format string, args ...any) Note {
	return t.noteAt(n.Pos, keyword, fmt.Sprintf(format, args...))
}

func (t *tr) noteAt(pos keepalived.Pos, keyword, text string) Note {
	nt := Note{pos, keyword, text}
	t.notes = append(t.notes, nt)
	return nt
}

// noteIn records a note and places it as a comment in b.
func (t *tr) noteIn(b *vblock, n *keepalived.Node, keyword, format string, args ...any) {
	nt := t.note(n, keyword, format, args...)
	if b == nil {
		c := newBlock("")
		c.comment(nt.String())
		t.blocks = append(t.blocks, c)
		return
	}
	b.comment(nt.String())
}

// label makes a keepalived name a vigil block label of typ, unique among that type: the
// characters vigil's names allow (letters, digits, '_', '-', '.', from a letter or digit;
// at most 64).
func (t *tr) label(typ, name string) string {
	var sb strings.Builder
	for i, r := range name {
		ok := r < 0x80 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || (i > 0 && strings.ContainsRune("_-.", r)))
		switch {
		case ok:
			sb.WriteRune(r)
		case i == 0 && strings.ContainsRune("_-.", r):
			sb.WriteString("x" + string(r))
		default:
			sb.WriteByte('-')
		}
	}
	l := sb.String()
	if l == "" {
		l = typ
	}
	if len(l) > 64 {
		l = l[:64]
	}
	used := t.names[typ]
	if used == nil {
		used = map[string]bool{}
		t.names[typ] = used
	}
	base := l
	for i := 2; used[l]; i++ {
		suffix := "-" + strconv.Itoa(i)
		l = base[:min(len(base), 64-len(suffix))] + suffix
	}
	used[l] = true
	return l
}

// renamed notes a name that vigil writes otherwise.
func (t *tr) renamed(b *vblock, n *keepalived.Node, name, label string) {
	if label != name {
		t.noteIn(b, n, n.Keyword(), "%q is %q in vigil: names are 1-64 letters, digits, '_', '-' and '.', unique per block type", name, label)
	}
}

// top translates a top-level line.
func (t *tr) top(n *keepalived.Node) {
	known := true
	switch n.Keyword() {
	case "global_defs":
		t.globalDefs(n)
	case "vrrp_instance":
		t.vrrpInstance(n)
	case "vrrp_sync_group":
		t.syncGroup(n)
	case "vrrp_script":
		t.vrrpScript(n)
	case "vrrp_track_process":
		t.trackProcess(n)
	case "vrrp_track_file", "track_file":
		t.trackFile(n)
	case "virtual_server_group":
		t.virtualServerGroup(n)
	case "virtual_server":
		t.virtualServer(n)
	case "SSL":
		// read by the prepass
	default:
		_, known = conf.LookupKeepalived("", n.Keyword())
		if !known && t.unknownFirst == nil {
			t.unknownFirst = n
		}
		t.unhandled(n, "", nil)
	}
	if known {
		t.sawTopKnown = true
	}
}

// unhandled notes a keyword no handler takes: the table's reason, or that vigil import
// does not know it.
func (t *tr) unhandled(n *keepalived.Node, in string, b *vblock) {
	kw := n.Keyword()
	if e, ok := conf.LookupKeepalived(in, kw); ok && e.Note != "" {
		t.noteIn(b, n, kw, "not carried over: %s", e.Note)
		return
	}
	where := "here"
	if in != "" {
		where = "in " + in[strings.LastIndexByte(in, '/')+1:]
	}
	if n.Block {
		t.noteIn(b, n, kw, "not carried over: vigil import does not know `%s` %s. If keepalived does not either, it ignores the '{' after it, reads the block's lines as part of the enclosing block, and the block's '}' closes the enclosing block too: check what keepalived made of the lines around it", kw, where)
		return
	}
	t.noteIn(b, n, kw, "not carried over: vigil import does not know `%s` %s (keepalived warns of a keyword it does not know, and ignores it)", kw, where)
}

// each runs the handler of every child of n, and notes the children without one.
func (t *tr) each(n *keepalived.Node, in string, b *vblock, handlers map[string]func(*keepalived.Node)) {
	for _, c := range n.Children {
		if h := handlers[c.Keyword()]; h != nil {
			h(c)
			continue
		}
		t.unhandled(c, in, b)
	}
}

// want checks that n has at least k arguments, noting it otherwise.
func (t *tr) want(n *keepalived.Node, k int, b *vblock) bool {
	if len(n.Args()) >= k {
		return true
	}
	t.noteIn(b, n, n.Keyword(), "missing a value: keepalived reports it and ignores the line; so does vigil import")
	return false
}

// uint reads a keepalived unsigned number (base 10, leading white space allowed, as
// keepalived's read_unsigned) in [lo, hi].
func (t *tr) uint(n *keepalived.Node, i int, lo, hi uint64, b *vblock) (uint64, bool) {
	s := strings.TrimSpace(n.Arg(i))
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil || v < lo || v > hi {
		t.noteIn(b, n, n.Keyword(), "%q is not a number in %d..%d: keepalived reports it and ignores the line; so does vigil import", n.Arg(i), lo, hi)
		return 0, false
	}
	return v, true
}

// int reads a keepalived signed number in [lo, hi].
func (t *tr) int(n *keepalived.Node, i int, lo, hi int64, b *vblock) (int64, bool) {
	s := strings.TrimSpace(n.Arg(i))
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < lo || v > hi {
		t.noteIn(b, n, n.Keyword(), "%q is not a number in %d..%d: keepalived reports it and ignores the line; so does vigil import", n.Arg(i), lo, hi)
		return 0, false
	}
	return v, true
}

// timer reads a keepalived <TIMER>: seconds with up to 6 decimals.
func (t *tr) timer(n *keepalived.Node, i int, b *vblock) (time.Duration, bool) {
	d, ok := parseTimer(n.Arg(i))
	if !ok {
		t.noteIn(b, n, n.Keyword(), "%q is not a time in seconds: keepalived reports it and ignores the line; so does vigil import", n.Arg(i))
	}
	return d, ok
}

func parseTimer(s string) (time.Duration, bool) {
	s = strings.TrimSpace(s)
	whole, frac, _ := strings.Cut(s, ".")
	if whole == "" && frac == "" {
		return 0, false
	}
	w := uint64(0)
	if whole != "" {
		var err error
		if w, err = strconv.ParseUint(whole, 10, 32); err != nil {
			return 0, false
		}
	}
	us := uint64(0)
	for i, c := range frac {
		if c < '0' || c > '9' {
			return 0, false
		}
		if i < 6 {
			us += uint64(c-'0') * uint64(math.Pow10(5-i))
		}
	}
	return time.Duration(w)*time.Second + time.Duration(us)*time.Microsecond, true
}

// dur writes a duration as vigil reads it: "6s", "500ms", "1.5s".
func dur(d time.Duration) string {
	switch {
	case d%time.Second == 0:
		return strconv.FormatInt(int64(d/time.Second), 10) + "s"
	case d%time.Millisecond == 0:
		return strconv.FormatInt(int64(d/time.Millisecond), 10) + "ms"
	}
	return d.String()
}

// boolArg is keepalived's optional <BOOL> after a keyword: none is true.
func (t *tr) boolArg(n *keepalived.Node, b *vblock) (bool, bool) {
	if len(n.Args()) == 0 {
		return true, true
	}
	switch n.Arg(0) {
	case "true", "on", "yes":
		return true, true
	case "false", "off", "no":
		return false, true
	}
	t.noteIn(b, n, n.Keyword(), "%q is not on, off, true, false, yes or no: keepalived reports it and ignores the line; so does vigil import", n.Arg(0))
	return false, false
}

// argv splits a script keyword's line as keepalived does (notify_script_init): the line
// again with quotes and escapes, its first word after the keyword the command line, that
// split again into the argv; the words after it keepalived's user and group.
func (t *tr) argv(n *keepalived.Node, b *vblock) (argv []string, user string, ok bool) {
	words, wok := keepalived.ScriptWords(n.Line)
	if !wok || len(words) < 2 {
		t.noteIn(b, n, n.Keyword(), "keepalived cannot read the script on this line (a quote or escape it cannot end, or no script): it ignores the line; so does vigil import")
		return nil, "", false
	}
	argv, wok = keepalived.ScriptWords(words[1])
	if !wok || len(argv) == 0 || argv[0] == "" {
		t.noteIn(b, n, n.Keyword(), "keepalived cannot read the script %q: it ignores the line; so does vigil import", words[1])
		return nil, "", false
	}
	if len(words) > 2 {
		user = words[2]
		if len(words) > 3 {
			user += ":" + words[3]
		}
	}
	t.hadScripts = true
	return argv, user, true
}

// prepass reads what applies wherever it is written: global_defs settings, the names
// of tracked items, groups and SSL.
func (t *tr) prepass(nodes []*keepalived.Node) {
	t.scripts, t.processes, t.files, t.instances = map[string]string{}, map[string]string{}, map[string]string{}, map[string]string{}
	t.groups = map[string]*group{}
	for _, n := range nodes {
		switch n.Keyword() {
		case "global_defs":
			for _, c := range n.Children {
				switch c.Keyword() {
				case "vrrp_version":
					if v, err := strconv.Atoi(c.Arg(0)); err == nil && (v == 2 || v == 3) {
						t.vrrpVersion = v
					}
				case "script_user":
					if u := c.Arg(0); u != "" {
						t.scriptUser = u
						if g := c.Arg(1); g != "" {
							t.scriptUser += ":" + g
						}
					}
				case "vrrp_garp_master_delay", "vrrp_garp_master_repeat", "vrrp_garp_master_refresh":
					t.garp = append(t.garp, c)
				case "lvs_sync_daemon":
					t.syncDaemon = c
				}
			}
		case "SSL":
			t.sslPrepass(n)
		}
	}
	// Labels first: a vrrp_sync_group or a track line may name what comes after it.
	for _, n := range nodes {
		var m map[string]string
		typ := n.Keyword()
		switch typ {
		case "vrrp_instance":
			m = t.instances
		case "vrrp_script":
			m = t.scripts
		case "vrrp_track_process":
			m, typ = t.processes, "track_process"
		case "vrrp_track_file", "track_file":
			m, typ = t.files, "track_file"
		default:
			continue
		}
		if name := n.Arg(0); name != "" && n.Block {
			t.nodeLabel[n] = t.label(typ, name)
			if _, dup := m[name]; !dup {
				m[name] = t.nodeLabel[n]
			}
		}
	}
}

// finish drops what turned out empty and adds what needs the whole file.
func (t *tr) finish() {
	if t.global != nil && len(t.global.items) == 0 {
		for i, b := range t.blocks {
			if b == t.global {
				t.blocks = append(t.blocks[:i], t.blocks[i+1:]...)
				break
			}
		}
	}
	if d := t.syncDaemon; d != nil && !t.syncUsed {
		t.noteAt(d.Pos, d.Keyword(), fmt.Sprintf("names vrrp_instance %q, which is not in the configuration: vigil runs no IPVS connection sync", d.Arg(1)))
	}
	if t.unknownFirst != nil && !t.sawTopKnown {
		t.noteAt(t.unknownFirst.Pos, t.unknownFirst.Keyword(), "no line of this file is a keepalived keyword: is it a keepalived configuration?")
	}
}

// globalDefs translates global_defs into vigil's global block, the first time it is
// met; the instance defaults in it are read by the prepass.
func (t *tr) globalDefs(n *keepalived.Node) {
	if t.global == nil {
		t.global = newBlock("global")
		t.global.at(n)
		t.blocks = append(t.blocks, t.global)
	}
	g := t.global
	instanceWide := func(c *keepalived.Node) {} // read by the prepass, applied per instance
	t.each(n, "global_defs", g, map[string]func(*keepalived.Node){
		"router_id": func(c *keepalived.Node) {
			if t.want(c, 1, g) {
				g.set("router_id", str(c.Arg(0)))
			}
		},
		"vrrp_version": func(c *keepalived.Node) {
			if v := c.Arg(0); v != "2" && v != "3" {
				t.noteIn(g, c, c.Keyword(), "%q is not 2 or 3: keepalived reports it and keeps version 2; so does vigil import", v)
			}
		},
		"lvs_timeouts":             func(c *keepalived.Node) { t.lvsTimeouts(c, g) },
		"script_user":              instanceWide,
		"vrrp_garp_master_delay":   instanceWide,
		"vrrp_garp_master_repeat":  instanceWide,
		"vrrp_garp_master_refresh": instanceWide,
		"lvs_sync_daemon":          instanceWide,
	})
}

func (t *tr) lvsTimeouts(c *keepalived.Node, g *vblock) {
	tb := newBlock("ipvs_timeouts")
	args := c.Args()
	for i := 0; i+1 < len(args); i += 2 {
		k := args[i]
		if k != "tcp" && k != "tcpfin" && k != "udp" {
			t.noteIn(g, c, c.Keyword(), "%q is not tcp, tcpfin or udp: keepalived reports it; vigil import leaves it out", k)
			continue
		}
		v, err := strconv.ParseUint(args[i+1], 10, 32)
		if err != nil || v < 1 || v > 31*86400 {
			t.noteIn(g, c, c.Keyword(), "%s %q is not a number of seconds in 1..2678400: vigil import leaves it out", k, args[i+1])
			continue
		}
		tb.set(k, str(dur(time.Duration(v)*time.Second)))
	}
	if len(args)%2 == 1 {
		t.noteIn(g, c, c.Keyword(), "%q has no value: vigil import leaves it out", args[len(args)-1])
	}
	if len(tb.items) > 0 {
		tb.at(c)
		g.add(tb)
	}
}
