package translate

import (
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/vigil-lb/vigil/conf/keepalived"
)

// shellWords are the shell's operators: keepalived runs a script without a shell, so in
// its command line they are arguments.
var shellWords = []string{"|", "||", "&&", ";", ">", ">>", "<", "2>&1", "&"}

func (t *tr) scriptNotes(b *vblock, n *keepalived.Node, argv []string) {
	for _, a := range argv {
		if slices.Contains(shellWords, a) || strings.Contains(a, "$(") || strings.Contains(a, "`") {
			t.noteIn(b, n, n.Keyword(), "keepalived runs %q without a shell, as vigil does: %q is an argument, not the shell's; for a shell, write [\"/bin/sh\", \"-c\", \"...\"]", argv[0], a)
			break
		}
	}
	if !t.scriptNoted && t.scriptUser == "" {
		t.scriptNoted = true
		t.noteIn(b, n, n.Keyword(), "keepalived runs scripts as the user keepalived_script when it exists, else as root; vigil runs them as its own user (root in the shipped unit) unless a user is set")
	}
}

// openNamed starts the vigil block vigilKind for n, keepalived's block kaKind, with the
// label the prepass gave it; or notes that n lacks a name or a block, as keepalived
// ignores it then.
func (t *tr) openNamed(n *keepalived.Node, kaKind, vigilKind string) (*vblock, bool) {
	label, ok := t.nodeLabel[n]
	if !ok {
		t.noteIn(nil, n, n.Keyword(), "a %s needs a name and a block: keepalived ignores it; so does vigil import", kaKind)
		return nil, false
	}
	b := newBlock(vigilKind, label)
	b.at(n)
	t.renamed(b, n, n.Arg(0), label)
	return b, true
}

// vrrpScript translates a vrrp_script block.
func (t *tr) vrrpScript(n *keepalived.Node) {
	name := n.Arg(0)
	b, ok := t.openNamed(n, "vrrp_script", "vrrp_script")
	if !ok {
		return
	}
	var interval time.Duration = time.Second
	t.each(n, "vrrp_script", b, map[string]func(*keepalived.Node){
		"script": func(c *keepalived.Node) {
			if argv, user, ok := t.argv(c, b); ok {
				b.set("command", strList(argv))
				t.scriptNotes(b, c, argv)
				if user != "" {
					t.noteIn(b, c, c.Keyword(), "keepalived ignores the words after the script (%q); put the user in quotes with the script, or use user", user)
				}
			}
		},
		"interval": func(c *keepalived.Node) {
			if d, ok := t.timer(c, 0, b); ok {
				interval = d
				b.set("interval", str(dur(clampDur(t, b, c, d, 100*time.Millisecond, time.Hour))))
			}
		},
		"timeout": func(c *keepalived.Node) {
			if d, ok := t.timer(c, 0, b); ok {
				b.set("timeout", str(dur(clampDur(t, b, c, d, 10*time.Millisecond, time.Hour))))
			}
		},
		"weight": func(c *keepalived.Node) {
			if v, ok := t.int(c, 0, -253, 253, b); ok {
				b.set("weight", num(v))
			}
			if c.Arg(1) == "reverse" {
				t.noteIn(b, c, c.Keyword(), "vigil has no reverse weights: a negative weight is taken while the script fails, a positive one while it passes")
			}
		},
		"rise": func(c *keepalived.Node) {
			if v, ok := t.uint(c, 0, 1, 1000, b); ok {
				b.set("rise", num(int64(v)))
			}
		},
		"fall": func(c *keepalived.Node) {
			if v, ok := t.uint(c, 0, 1, 1000, b); ok {
				b.set("fall", num(int64(v)))
			}
		},
		"user": func(c *keepalived.Node) {
			if t.want(c, 1, b) {
				u := c.Arg(0)
				if c.Arg(1) != "" {
					u += ":" + c.Arg(1)
				}
				b.set("user", str(u))
			}
		},
	})
	_ = interval
	if !b.has("command") {
		b.dropped, b.why = true, "vrrp_script "+strconv.Quote(name)+" has no script: keepalived ignores it, and so its track_script lines; vigil import leaves them out"
		delete(t.scripts, name)
	} else if !b.has("user") && t.scriptUser != "" {
		b.set("user", str(t.scriptUser))
		b.comment("global_defs script_user")
	}
	t.blocks = append(t.blocks, b)
}

// clampDur keeps d within vigil's range for the attribute, with a note when it is not.
func clampDur(t *tr, b *vblock, n *keepalived.Node, d, lo, hi time.Duration) time.Duration {
	switch {
	case d < lo:
		t.noteIn(b, n, n.Keyword(), "%s is below vigil's %s: vigil uses %s", dur(d), dur(lo), dur(lo))
		return lo
	case d > hi:
		t.noteIn(b, n, n.Keyword(), "%s is above vigil's %s: vigil uses %s", dur(d), dur(hi), dur(hi))
		return hi
	}
	return d
}

// trackProcess translates a vrrp_track_process block.
func (t *tr) trackProcess(n *keepalived.Node) {
	name := n.Arg(0)
	b, ok := t.openNamed(n, "vrrp_track_process", "track_process")
	if !ok {
		return
	}
	t.each(n, "vrrp_track_process", b, map[string]func(*keepalived.Node){
		"process": func(c *keepalived.Node) {
			if t.want(c, 1, b) {
				b.set("process", str(c.Arg(0)))
				if len(c.Args()) > 1 {
					b.set("args", strList(c.Args()[1:]))
				}
			}
		},
		"quorum": func(c *keepalived.Node) {
			if v, ok := t.uint(c, 0, 1, 65535, b); ok {
				b.set("quorum", num(int64(v)))
			}
		},
		"weight": func(c *keepalived.Node) {
			if v, ok := t.int(c, 0, -254, 254, b); ok {
				b.set("weight", num(v))
			}
			if c.Arg(1) == "reverse" {
				t.noteIn(b, c, c.Keyword(), "vigil has no reverse weights")
			}
		},
		"delay": func(c *keepalived.Node) {
			if d, ok := t.timer(c, 0, b); ok {
				b.set("delay", str(dur(clampDur(t, b, c, d, 0, time.Hour))))
			}
		},
	})
	if !b.has("process") {
		b.dropped, b.why = true, "vrrp_track_process "+strconv.Quote(name)+" names no process: vigil import leaves it, and its track_process lines, out"
		delete(t.processes, name)
	}
	t.blocks = append(t.blocks, b)
}

// trackFile translates a track_file (vrrp_track_file) block.
func (t *tr) trackFile(n *keepalived.Node) {
	name := n.Arg(0)
	b, ok := t.openNamed(n, "track_file", "track_file")
	if !ok {
		return
	}
	in := n.Keyword()
	t.each(n, in, b, map[string]func(*keepalived.Node){
		"file": func(c *keepalived.Node) {
			if t.want(c, 1, b) {
				b.set("path", str(c.Arg(0)))
			}
		},
		"weight": func(c *keepalived.Node) {
			if v, ok := t.int(c, 0, -254, 254, b); ok {
				b.set("weight", num(v))
			}
			if c.Arg(1) == "reverse" {
				t.noteIn(b, c, c.Keyword(), "vigil has no reverse weights")
			}
		},
		"init_file": func(c *keepalived.Node) {
			v := int64(0)
			for _, a := range c.Args() {
				if a == "overwrite" {
					t.noteIn(b, c, c.Keyword(), "vigil never overwrites an existing file; it writes the value only when the file does not exist")
					continue
				}
				if x, ok := t.int(c, slices.Index(c.Args(), a), -254, 254, b); ok {
					v = x
				}
			}
			b.set("init", num(v))
		},
	})
	if p := b.get("path"); p == cty.NilVal || !strings.HasPrefix(p.AsString(), "/") {
		b.dropped, b.why = true, "track_file "+strconv.Quote(name)+" needs an absolute file path in vigil: vigil import leaves it, and its track_file lines, out"
		delete(t.files, name)
	}
	t.blocks = append(t.blocks, b)
}

// instance is what a vrrp_instance's keywords set that needs the whole block.
type instance struct {
	version     int
	versionNode *keepalived.Node
	advert      time.Duration
	advertNode  *keepalived.Node
	nopreempt   bool
	nopreemptAt *keepalived.Node
	master      bool // state MASTER
	vips        []vip
	family      string
	peers       bool
	auth        *vblock
}

type vip struct {
	addr, dev, label string
}

// vrrpInstance translates a vrrp_instance block.
func (t *tr) vrrpInstance(n *keepalived.Node) {
	name := n.Arg(0)
	b, ok := t.openNamed(n, "vrrp_instance", "vrrp_instance")
	if !ok {
		return
	}
	in := &instance{}
	trackBlock := func(typ string, known map[string]string, what string, maxW int64) func(*keepalived.Node) {
		return func(c *keepalived.Node) {
			for _, e := range c.Children {
				ref := e.Keyword()
				target := ref
				if known != nil {
					l, ok := known[ref]
					if !ok {
						t.noteIn(b, e, c.Keyword(), "%q names no %s: keepalived ignores it; so does vigil import", ref, what)
						continue
					}
					target = l
				}
				tb := b.add(newBlock(typ, target))
				tb.at(e)
				for i := 1; i < len(e.Words); i++ {
					switch e.Words[i] {
					case "weight":
						if v, ok := t.int(e, i, -maxW, maxW, b); ok {
							tb.set("weight", num(v))
						}
						i++
					case "reverse":
						t.noteIn(b, e, c.Keyword(), "vigil has no reverse weights: a negative weight is taken while %q is down, a positive one while it is up", ref)
					default:
						t.noteIn(b, e, c.Keyword(), "%q after %q is not carried over", e.Words[i], ref)
					}
				}
			}
		}
	}
	notify := func(c *keepalived.Node) {
		if argv, user, ok := t.argv(c, b); ok {
			b.set(c.Keyword(), strList(argv))
			t.scriptNotes(b, c, argv)
			if user != "" {
				t.noteIn(b, c, c.Keyword(), "vigil runs a vrrp_instance's notify commands as its own user, not as %q", user)
			}
		}
	}
	garp := func(c *keepalived.Node) { t.garp1(b, c, strings.TrimPrefix(c.Keyword(), "vrrp_")) }
	t.each(n, "vrrp_instance", b, map[string]func(*keepalived.Node){
		"interface": func(c *keepalived.Node) {
			if t.want(c, 1, b) {
				b.set("interface", str(c.Arg(0)))
			}
		},
		"virtual_router_id": func(c *keepalived.Node) {
			if v, ok := t.uint(c, 0, 1, 255, b); ok {
				b.set("virtual_router_id", num(int64(v)))
			}
		},
		"priority": func(c *keepalived.Node) {
			if v, ok := t.uint(c, 0, 1, 255, b); ok {
				if v == 255 {
					t.noteIn(b, c, c.Keyword(), "255 is the address owner's priority, which vigil never is (it adds and removes the addresses itself): vigil uses 254, the highest it has, and waits out the master-down interval where keepalived's owner would take over at once")
					v = 254
				}
				b.set("priority", num(int64(v)))
			}
		},
		"version": func(c *keepalived.Node) {
			if v, ok := t.uint(c, 0, 2, 3, b); ok {
				in.version, in.versionNode = int(v), c
			}
		},
		"advert_int": func(c *keepalived.Node) {
			if d, ok := t.timer(c, 0, b); ok {
				in.advert, in.advertNode = d, c
			}
		},
		"nopreempt": func(c *keepalived.Node) { in.nopreempt, in.nopreemptAt = true, c },
		"state": func(c *keepalived.Node) {
			in.master = strings.EqualFold(c.Arg(0), "MASTER")
			t.unhandled(c, "vrrp_instance", b)
		},
		"preempt_delay": func(c *keepalived.Node) {
			if d, ok := t.timer(c, 0, b); ok {
				b.set("preempt_delay", str(dur(clampDur(t, b, c, d, 0, 1000*time.Second))))
			}
		},
		"virtual_ipaddress": func(c *keepalived.Node) { t.vips(b, c, in) },
		"virtual_ipaddress_excluded": func(c *keepalived.Node) {
			var addrs []string
			for _, e := range c.Children {
				addrs = append(addrs, e.Keyword())
			}
			t.noteIn(b, c, c.Keyword(), "left out (%s): vigil advertises every address it holds, so it has no excluded ones, and a keepalived peer compares the advertised list; add them to virtual_ipaddresses once both directors run vigil, or manage them from notify_master", strings.Join(addrs, ", "))
		},
		"unicast_src_ip": func(c *keepalived.Node) {
			if t.want(c, 1, b) {
				if ip, err := netip.ParseAddr(c.Arg(0)); err != nil {
					t.noteIn(b, c, c.Keyword(), "%q is not an IP address: keepalived ignores it; so does vigil import", c.Arg(0))
				} else {
					b.set("unicast_src", str(ip.String()))
				}
			}
		},
		"unicast_peer": func(c *keepalived.Node) {
			var peers []string
			for _, e := range c.Children {
				ip, err := netip.ParseAddr(e.Keyword())
				if err != nil {
					t.noteIn(b, e, c.Keyword(), "%q is not an IP address: keepalived ignores it; so does vigil import", e.Keyword())
					continue
				}
				if len(e.Words) > 1 {
					t.noteIn(b, e, c.Keyword(), "%q after %s is not carried over: vigil checks a unicast advert's TTL as RFC 5798 does (255)", strings.Join(e.Args(), " "), e.Keyword())
				}
				if !slices.Contains(peers, ip.String()) {
					peers = append(peers, ip.String())
				}
			}
			if len(peers) > 0 {
				b.set("unicast_peers", strList(peers))
				in.peers = true
			}
		},
		"track_interface":     func(c *keepalived.Node) { trackBlock("track_interface", nil, "", 253)(c) },
		"track_script":        trackBlock("track_script", t.scripts, "vrrp_script", 253),
		"track_process":       trackBlock("track_process", t.processes, "vrrp_track_process", 254),
		"track_file":          trackBlock("track_file", t.files, "track_file", 254),
		"authentication":      func(c *keepalived.Node) { in.auth = t.authentication(b, c) },
		"notify_master":       notify,
		"notify_backup":       notify,
		"notify_fault":        notify,
		"notify":              notify,
		"garp_master_delay":   garp,
		"garp_master_repeat":  garp,
		"garp_master_refresh": garp,
		"lvs_sync_daemon_interface": func(c *keepalived.Node) {
			if t.want(c, 1, b) {
				s := newBlock("ipvs_sync")
				s.at(c)
				s.set("interface", str(c.Arg(0)))
				b.add(s)
			}
		},
		"accept": func(c *keepalived.Node) {},
		"no_accept": func(c *keepalived.Node) {
			t.noteIn(b, c, c.Keyword(), "vigil's master always accepts its virtual addresses' traffic, which IPVS needs to balance it")
		},
		"debug": func(c *keepalived.Node) {
			t.noteIn(b, c, c.Keyword(), "vigil has one log level for the whole daemon: global log_level")
		},
	})
	t.finishInstance(b, n, name, in)
	t.blocks = append(t.blocks, b)
}

// garp1 sets a gratuitous ARP setting of an instance from keyword (garp_master_*).
func (t *tr) garp1(b *vblock, c *keepalived.Node, attr string) {
	if attr == "garp_master_repeat" {
		if v, ok := t.uint(c, 0, 1, 100, b); ok {
			b.set(attr, num(int64(v)))
		}
		return
	}
	hi := time.Hour
	if attr == "garp_master_refresh" {
		hi = 24 * time.Hour
	}
	if d, ok := t.timer(c, 0, b); ok {
		d = d.Truncate(time.Second)
		if attr == "garp_master_refresh" && d != 0 && d < time.Second {
			d = time.Second
		}
		b.set(attr, str(dur(clampDur(t, b, c, d, 0, hi))))
	}
}

// vips reads a virtual_ipaddress block: "ADDRESS[/LEN] [dev DEV] [label LABEL] ...".
func (t *tr) vips(b *vblock, c *keepalived.Node, in *instance) {
	for _, e := range c.Children {
		a := e.Keyword()
		p, err := netip.ParsePrefix(a)
		if err != nil {
			ip, ierr := netip.ParseAddr(a)
			if ierr != nil {
				t.noteIn(b, e, c.Keyword(), "%q is not an address: keepalived ignores it; so does vigil import", a)
				continue
			}
			p = netip.PrefixFrom(ip, ip.BitLen())
		}
		fam := "inet"
		if p.Addr().Is6() && !p.Addr().Is4In6() {
			fam = "inet6"
		}
		if in.family == "" {
			in.family = fam
		} else if fam != in.family {
			t.noteIn(b, e, c.Keyword(), "%s is %s but the instance's first address is %s: keepalived excludes it from the adverts; vigil carries one family per instance, so vigil import leaves it out (give it an instance of its own)", a, fam, in.family)
			continue
		}
		v := vip{addr: a}
		if p.Bits() == p.Addr().BitLen() {
			v.addr = p.Addr().String()
		}
		for i := 1; i < len(e.Words); i++ {
			switch w := e.Words[i]; w {
			case "dev", "label":
				if i+1 >= len(e.Words) {
					t.noteIn(b, e, c.Keyword(), "%s without a value: vigil import leaves it out", w)
					continue
				}
				i++
				if w == "dev" {
					v.dev = e.Words[i]
				} else {
					v.label = e.Words[i]
				}
			case "brd", "broadcast", "scope", "preferred_lft", "track_group":
				t.noteIn(b, e, c.Keyword(), "%s %s is not carried over: vigil adds the address with the kernel's defaults", w, strings.Join(e.Words[i+1:min(i+2, len(e.Words))], ""))
				i++
			default:
				t.noteIn(b, e, c.Keyword(), "%q after %s is not carried over", w, a)
			}
		}
		if slices.ContainsFunc(in.vips, func(o vip) bool { return o.addr == v.addr }) {
			t.noteIn(b, e, c.Keyword(), "%s is listed twice: the kernel holds an address once, so vigil import lists it once (the first line's dev and label)", a)
			continue
		}
		in.vips = append(in.vips, v)
	}
}

// authentication reads an authentication block into vigil's.
func (t *tr) authentication(b *vblock, c *keepalived.Node) *vblock {
	a := newBlock("authentication")
	a.at(c)
	t.each(c, "vrrp_instance/authentication", b, map[string]func(*keepalived.Node){
		"auth_type": func(e *keepalived.Node) {
			switch strings.ToUpper(e.Arg(0)) {
			case "PASS":
				a.set("type", str("pass"))
			case "AH":
				a.set("type", str("ah"))
			default:
				t.noteIn(b, e, e.Keyword(), "%q is not PASS or AH: keepalived ignores it; so does vigil import", e.Arg(0))
			}
		},
		"auth_pass": func(e *keepalived.Node) {
			if !t.want(e, 1, b) {
				return
			}
			pw := e.Arg(0)
			if len(pw) > 8 {
				t.noteIn(b, e, e.Keyword(), "keepalived uses only the first 8 characters of the password: so does vigil")
				pw = pw[:8]
			}
			t.noteIn(b, e, e.Keyword(), "the password is written as the keepalived file has it; better: password = env(\"VRRP_PASSWORD\"), set in vigil's environment")
			a.set("password", str(pw))
		},
	})
	if !a.has("type") || !a.has("password") {
		t.noteIn(b, c, c.Keyword(), "needs auth_type and auth_pass: keepalived then authenticates nothing; neither does vigil")
		return nil
	}
	return a
}

// finishInstance writes what needs the whole block: version, advert_interval, preempt,
// the addresses, authentication, the global defaults.
func (t *tr) finishInstance(b *vblock, n *keepalived.Node, name string, in *instance) {
	v := in.version
	switch {
	case v != 0:
	case t.vrrpVersion != 0:
		v = t.vrrpVersion
	default:
		v = 2
	}
	if in.family == "inet6" && v == 2 {
		if in.versionNode != nil || t.vrrpVersion == 2 {
			t.noteIn(b, n, "version", "VRRP version 2 is IPv4 only: keepalived uses version 3 for IPv6 addresses; so does vigil")
		}
		v = 3
	}
	switch {
	case in.version == 0 && t.vrrpVersion == 0 && v == 2:
		b.comment("keepalived's default VRRP version is 2 (vigil's is 3)")
	case in.version == 0 && t.vrrpVersion == 0:
		b.comment("keepalived uses VRRP version 3 for IPv6 addresses")
	case in.version == 0:
		b.comment("global_defs vrrp_version " + strconv.Itoa(t.vrrpVersion) + " (keepalived's default for every instance)")
	}
	b.set("version", num(int64(v)))

	adv := time.Second
	if in.advert != 0 {
		adv = in.advert
	}
	if v == 2 {
		if r := adv.Round(time.Second); r != adv || r < time.Second || r > 255*time.Second {
			r = min(max(r, time.Second), 255*time.Second)
			t.noteIn(b, in.advertNode, "advert_int", "VRRP version 2 advertises whole seconds (1..255): vigil uses %s", dur(r))
			adv = r
		}
	} else if r := adv.Round(10 * time.Millisecond); r != adv || r < 10*time.Millisecond || r > 40950*time.Millisecond {
		r = min(max(r, 10*time.Millisecond), 40950*time.Millisecond)
		t.noteIn(b, in.advertNode, "advert_int", "VRRP version 3 advertises centiseconds (10ms..40.95s): vigil uses %s", dur(r))
		adv = r
	}
	if in.advert != 0 || adv != time.Second {
		b.set("advert_interval", str(dur(adv)))
	}
	if in.nopreempt && in.master {
		t.noteIn(b, in.nopreemptAt, "nopreempt", "keepalived clears it with state MASTER (\"nopreempt will not work with initial state MASTER - clearing\"): vigil preempts, as keepalived then does")
	} else if in.nopreempt {
		b.set("preempt", cty.False)
		if b.has("preempt_delay") {
			b.unset("preempt_delay")
			t.noteIn(b, n, "preempt_delay", "has no effect with nopreempt: keepalived ignores it; so does vigil")
		}
	}
	if len(in.vips) == 0 {
		b.dropped, b.why = true, "vrrp_instance "+strconv.Quote(name)+" has no virtual address vigil can carry: vigil needs at least one (RFC 5798 §5.2.5)"
		t.noteAt(n.Pos, n.Keyword(), b.why)
	} else {
		b.set("virtual_ipaddresses", vipValue(in.vips))
	}
	if b.has("unicast_src") && !in.peers {
		b.unset("unicast_src")
		t.noteIn(b, n, "unicast_src_ip", "without unicast_peer keepalived advertises by multicast: so does vigil, from the interface's primary address")
	}
	if in.auth != nil {
		if v == 3 {
			t.noteIn(b, n, "authentication", "VRRP version 3 has no authentication (RFC 5798 §9): keepalived ignores it; so does vigil")
		} else {
			b.add(in.auth)
		}
	}
	if d := t.syncDaemon; d != nil && d.Arg(1) == name {
		t.syncUsed = true
		s := newBlock("ipvs_sync")
		s.at(d)
		s.set("interface", str(d.Arg(0)))
		for i := 2; i < len(d.Words)-1; i++ {
			switch d.Words[i] {
			case "id":
				if id, err := strconv.ParseUint(d.Words[i+1], 10, 8); err == nil {
					s.set("sync_id", num(int64(id)))
				}
				i++
			default:
				t.noteIn(s, d, d.Keyword(), "%s %s is not carried over: vigil runs the sync daemons with the kernel's defaults", d.Words[i], d.Words[i+1])
				i++
			}
		}
		b.add(s)
	}
	for _, g := range t.garp {
		attr := strings.TrimPrefix(g.Keyword(), "vrrp_")
		if !b.has(attr) {
			t.garp1(b, g, attr)
		}
	}
}

// vipValue is the addresses: strings, or objects with dev and label (whose attributes
// cty orders by name: address, dev, label).
func vipValue(vips []vip) cty.Value {
	elems := make([]cty.Value, 0, len(vips))
	for _, v := range vips {
		if v.dev == "" && v.label == "" {
			elems = append(elems, str(v.addr))
			continue
		}
		attrs := map[string]cty.Value{"address": str(v.addr)}
		if v.dev != "" {
			attrs["dev"] = str(v.dev)
		}
		if v.label != "" {
			attrs["label"] = str(v.label)
		}
		elems = append(elems, cty.ObjectVal(attrs))
	}
	return cty.TupleVal(elems)
}

// syncGroup translates a vrrp_sync_group.
func (t *tr) syncGroup(n *keepalived.Node) {
	name := n.Arg(0)
	if name == "" || !n.Block {
		t.noteIn(nil, n, n.Keyword(), "a vrrp_sync_group needs a name and a block: keepalived ignores it; so does vigil import")
		return
	}
	label := t.label("vrrp_sync_group", name)
	b := newBlock("vrrp_sync_group", label)
	b.at(n)
	t.renamed(b, n, name, label)
	var members []*keepalived.Node
	track := func(typ string, known map[string]string, what string, maxW int64) func(*keepalived.Node) {
		return func(c *keepalived.Node) {
			for _, e := range c.Children {
				l, ok := known[e.Keyword()]
				if !ok {
					t.noteIn(b, e, c.Keyword(), "%q names no %s: keepalived ignores it; so does vigil import", e.Keyword(), what)
					continue
				}
				tb := b.add(newBlock(typ, l))
				tb.at(e)
				if e.Arg(0) == "weight" {
					if v, ok := t.int(e, 1, -maxW, maxW, b); ok {
						tb.set("weight", num(v))
					}
				}
			}
		}
	}
	t.each(n, "vrrp_sync_group", b, map[string]func(*keepalived.Node){
		"group":         func(c *keepalived.Node) { members = append(members, c.Children...) },
		"track_script":  track("track_script", t.scripts, "vrrp_script", 253),
		"track_process": track("track_process", t.processes, "vrrp_track_process", 254),
		"track_file":    track("track_file", t.files, "track_file", 254),
	})
	var names []string
	for _, m := range members {
		for _, w := range m.Words {
			l, ok := t.instances[w]
			if !ok {
				t.noteIn(b, m, "group", "%q is not a vrrp_instance: keepalived ignores it; so does vigil import", w)
				continue
			}
			if !slices.Contains(names, l) {
				names = append(names, l)
			}
		}
	}
	b.set("instances", strList(names))
	if len(names) == 0 {
		b.dropped, b.why = true, "vrrp_sync_group "+strconv.Quote(name)+" has no instance: left out"
	}
	t.blocks = append(t.blocks, b)
}
