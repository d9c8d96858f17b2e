package translate

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/vigil-lb/vigil/conf"
	"github.com/vigil-lb/vigil/conf/keepalived"
)

// group is a translated virtual_server_group.
type group struct {
	label   string
	family  string // "inet" or "inet6"
	ports   []uint16
	noPort  bool // a member without a port (every port)
	fwmarks bool
	empty   bool
}

// kaAddress reads "IP" or keepalived's ranges "IP-N", "IP-IP2", "PREFIX/LEN" and returns
// vigil's spelling of it with port (0: none), and its family.
func kaAddress(s string, port uint16) (string, string, bool) {
	host := s
	first := s
	if i := strings.IndexAny(s, "-/"); i >= 0 {
		first = s[:i]
	}
	ip, err := netip.ParseAddr(first)
	if err != nil || ip.Zone() != "" {
		return "", "", false
	}
	fam := "inet"
	if ip.Is6() && !ip.Is4In6() {
		fam = "inet6"
		host = "[" + host + "]"
	}
	if port == 0 {
		return host, fam, true
	}
	return host + ":" + strconv.Itoa(int(port)), fam, true
}

// port reads keepalived's optional port word: none or 0 is no port.
func (t *tr) port(n *keepalived.Node, i int, b *vblock) (uint16, bool) {
	s := n.Arg(i)
	if s == "" || strings.Trim(s, "0") == "" {
		return 0, true
	}
	v, err := strconv.ParseUint(s, 10, 16)
	if err != nil {
		t.noteIn(b, n, n.Keyword(), "port %q is not a number in 1..65535: keepalived skips the line; so does vigil import", s)
		return 0, false
	}
	return uint16(v), true
}

// virtualServerGroup translates a virtual_server_group.
func (t *tr) virtualServerGroup(n *keepalived.Node) {
	name := n.Arg(0)
	if name == "" || !n.Block {
		t.noteIn(nil, n, n.Keyword(), "a virtual_server_group needs a name and a block: keepalived ignores it; so does vigil import")
		return
	}
	g := &group{label: t.label("virtual_server_group", name)}
	b := newBlock("virtual_server_group", g.label)
	b.at(n)
	t.renamed(b, n, name, g.label)
	var addrs []string
	var marks []int64
	markFamily := ""
	for _, e := range n.Children {
		if e.Keyword() == "fwmark" {
			v, ok := t.uint(e, 0, 1, 1<<32-1, b)
			if !ok {
				continue
			}
			if f := e.Arg(1); f != "" {
				if f != "inet" && f != "inet6" {
					t.noteIn(b, e, "fwmark", "family %q is not inet or inet6: keepalived ignores the line; so does vigil import", f)
					continue
				}
				if markFamily != "" && f != markFamily {
					t.noteIn(b, e, "fwmark", "fwmark %d is %s but an earlier one is %s: a vigil group is of one family; vigil import leaves it out", v, f, markFamily)
					continue
				}
				markFamily = f
			}
			marks = append(marks, int64(v))
			continue
		}
		p, ok := t.port(e, 0, b)
		if !ok {
			continue
		}
		a, fam, ok := kaAddress(e.Keyword(), p)
		if !ok {
			t.noteIn(b, e, n.Keyword(), "%q is not an address, a range or a prefix: keepalived skips it; so does vigil import", e.Keyword())
			continue
		}
		if g.family == "" {
			g.family = fam
		} else if fam != g.family {
			t.noteIn(b, e, n.Keyword(), "%s is %s but the group's first address is %s: a vigil group is of one family (keepalived mixes them only for tunnelled real servers); vigil import leaves it out", e.Keyword(), fam, g.family)
			continue
		}
		if p == 0 {
			g.noPort = true
		} else if !slices.Contains(g.ports, p) {
			g.ports = append(g.ports, p)
		}
		addrs = append(addrs, a)
	}
	if markFamily != "" && g.family != "" && markFamily != g.family {
		t.noteIn(b, n, "fwmark", "the fwmarks are %s but the addresses %s: a vigil group is of one family; vigil import leaves the fwmarks out", markFamily, g.family)
		marks = nil
	}
	if len(addrs) > 0 {
		b.set("addresses", strList(addrs))
	}
	if len(marks) > 0 {
		vals := make([]cty.Value, len(marks))
		for i, m := range marks {
			vals[i] = num(m)
		}
		b.set("fwmarks", cty.ListVal(vals))
		g.fwmarks = true
		if markFamily == "inet6" && len(addrs) == 0 {
			b.set("family", str("inet6"))
			g.family = "inet6"
		}
	}
	if g.family == "" {
		g.family = "inet"
	}
	if len(addrs) == 0 && len(marks) == 0 {
		g.empty = true
		b.dropped, b.why = true, "virtual_server_group "+strconv.Quote(name)+" has no entries: keepalived removes it, and the virtual servers that use it"
		t.noteAt(n.Pos, n.Keyword(), b.why)
	}
	t.groups[name] = g
	t.blocks = append(t.blocks, b)
}

// vserver is a keepalived virtual_server as read, before it is written.
type vserver struct {
	n        *keepalived.Node
	b        *vblock
	addr     netip.Addr
	port     uint16
	fwmark   uint32
	group    *group
	family   string
	protocol string
	fwd      string
	inhibit  bool
	weight   int64
	timing   timing
	vhost    string
	sorry    *keepalived.Node
	sorryFwd string
	pto      *time.Duration
	pgran    string
	quorum   int64
	hyst     int64
	quorumN  *keepalived.Node
	hystN    *keepalived.Node
	users    []string
	rss      []*rserver
}

// timing is what keepalived inherits from virtual server to real server to checker.
type timing struct {
	delayLoop, connectTimeout, delayBeforeRetry *time.Duration
	retry                                       *int64
	explicitDBR                                 bool
}

func (a timing) over(b timing) timing {
	if a.delayLoop == nil {
		a.delayLoop = b.delayLoop
	}
	if a.connectTimeout == nil {
		a.connectTimeout = b.connectTimeout
	}
	if a.delayBeforeRetry == nil {
		a.delayBeforeRetry = b.delayBeforeRetry
	}
	if a.retry == nil {
		a.retry = b.retry
	}
	a.explicitDBR = a.explicitDBR || b.explicitDBR
	return a
}

// timingHandlers are the keywords of timing at every level.
func (t *tr) timingHandlers(tm *timing, b *vblock, h map[string]func(*keepalived.Node)) map[string]func(*keepalived.Node) {
	setDur := func(dst **time.Duration, explicit bool) func(*keepalived.Node) {
		return func(c *keepalived.Node) {
			if d, ok := t.timer(c, 0, b); ok {
				*dst = &d
				if explicit {
					tm.explicitDBR = true
				}
			}
		}
	}
	h["delay_loop"] = setDur(&tm.delayLoop, false)
	h["connect_timeout"] = setDur(&tm.connectTimeout, false)
	h["delay_before_retry"] = setDur(&tm.delayBeforeRetry, true)
	retry := func(c *keepalived.Node) {
		if v, ok := t.uint(c, 0, 0, 1<<32-1, b); ok {
			r := int64(v)
			tm.retry = &r
		}
	}
	h["retry"] = retry
	h["nb_get_retry"] = retry
	h["nb_sock_retry"] = retry
	return h
}

// rserver is a keepalived real_server as read.
type rserver struct {
	n        *keepalived.Node
	b        *vblock
	addr     netip.Addr
	port     uint16
	cfgPort  uint16 // the port as written, which keepalived's checkers connect to
	fwd      string
	inhibit  *bool
	timing   timing
	vhost    string
	checkers []*keepalived.Node
}

// virtualServer translates a virtual_server block.
func (t *tr) virtualServer(n *keepalived.Node) {
	vs := &vserver{n: n, weight: 1, quorum: 1, fwd: "nat"}
	b := newBlock("virtual_server")
	b.at(n)
	vs.b = b
	if !n.Block {
		t.noteIn(nil, n, n.Keyword(), "a virtual_server without a block: keepalived ignores it; so does vigil import")
		return
	}
	var label string
	switch n.Arg(0) {
	case "group":
		g, ok := t.groups[n.Arg(1)]
		if !ok || g.empty {
			t.noteIn(nil, n, n.Keyword(), "virtual_server_group %q is not defined before it (or has no entries): keepalived has no such group, and ignores the virtual server; so does vigil import", n.Arg(1))
			return
		}
		vs.group, vs.family = g, g.family
		label = g.label
		b.set("group", str(g.label))
	case "fwmark":
		v, ok := t.uint(n, 1, 1, 1<<32-1, nil)
		if !ok {
			return
		}
		vs.fwmark = uint32(v)
		label = "fwmark-" + strconv.FormatUint(v, 10)
		b.set("fwmark", num(int64(v)))
	default:
		ip, err := netip.ParseAddr(n.Arg(0))
		if err != nil || ip.Zone() != "" {
			t.noteIn(nil, n, n.Keyword(), "%q is not an IP address, fwmark N or group NAME: keepalived skips the virtual server; so does vigil import", n.Arg(0))
			return
		}
		p, ok := t.port(n, 1, nil)
		if !ok {
			return
		}
		vs.addr, vs.port = ip.Unmap(), p
		vs.family = "inet"
		if vs.addr.Is6() {
			vs.family = "inet6"
		}
		label = strings.ReplaceAll(vs.addr.String(), ":", "-")
		if p != 0 {
			label += "-" + strconv.Itoa(int(p))
		}
	}
	h := t.timingHandlers(&vs.timing, b, map[string]func(*keepalived.Node){})
	sched := func(c *keepalived.Node) {
		s := strings.ToLower(c.Arg(0))
		if !slices.Contains(conf.Schedulers, conf.Scheduler(s)) {
			t.noteIn(b, c, c.Keyword(), "%q is not a scheduler vigil knows: keepalived rejects it and keeps the default, wlc; so does vigil import", c.Arg(0))
			return
		}
		b.set("scheduler", str(s))
	}
	h["lb_algo"], h["lvs_sched"] = sched, sched
	fwd := func(c *keepalived.Node) {
		if f, ok := t.forwarding(c, b); ok {
			vs.fwd = f
		}
	}
	h["lb_kind"], h["lvs_method"] = fwd, fwd
	flag := func(c *keepalived.Node) { t.schedFlag(b, c) }
	for _, f := range []string{"ops", "sh-port", "sh-fallback", "mh-port", "mh-fallback", "flag-1", "flag-2", "flag-3"} {
		h[f] = flag
	}
	h["protocol"] = func(c *keepalived.Node) {
		p := strings.ToLower(c.Arg(0))
		if p != "tcp" && p != "udp" && p != "sctp" {
			t.noteIn(b, c, c.Keyword(), "%q is not TCP, UDP or SCTP: keepalived ignores it; so does vigil import", c.Arg(0))
			return
		}
		vs.protocol = p
	}
	h["persistence_timeout"] = func(c *keepalived.Node) {
		d := 360 * time.Second // keepalived's IPVS_SVC_PERSISTENT_TIMEOUT when no value is given
		if len(c.Args()) > 0 {
			v, ok := t.uint(c, 0, 1, 31*86400, b)
			if !ok {
				return
			}
			d = time.Duration(v) * time.Second
		}
		vs.pto = &d
	}
	h["persistence_granularity"] = func(c *keepalived.Node) {
		if t.want(c, 1, b) {
			vs.pgran = c.Arg(0)
		}
	}
	h["inhibit_on_failure"] = func(c *keepalived.Node) { vs.inhibit = true }
	h["weight"] = func(c *keepalived.Node) {
		if v, ok := t.uint(c, 0, 1, 65535, b); ok {
			vs.weight = int64(v)
		}
	}
	h["quorum"] = func(c *keepalived.Node) {
		if v, ok := t.uint(c, 0, 1, 1<<32-1, b); ok {
			vs.quorum, vs.quorumN = int64(v), c
		}
	}
	h["hysteresis"] = func(c *keepalived.Node) {
		if v, ok := t.uint(c, 0, 0, 1<<32-1, b); ok {
			vs.hyst, vs.hystN = int64(v), c
		}
	}
	quorumCmd := func(c *keepalived.Node) {
		if argv, user, ok := t.argv(c, b); ok {
			b.set(c.Keyword(), strList(argv))
			t.scriptNotes(b, c, argv)
			vs.users = append(vs.users, user)
		}
	}
	h["quorum_up"], h["quorum_down"] = quorumCmd, quorumCmd
	h["sorry_server"] = func(c *keepalived.Node) {
		if t.want(c, 1, b) {
			vs.sorry = c
		}
	}
	h["sorry_server_lvs_method"] = func(c *keepalived.Node) {
		if f, ok := t.forwarding(c, b); ok {
			vs.sorryFwd = f
		}
	}
	h["virtualhost"] = func(c *keepalived.Node) {
		if t.want(c, 1, b) {
			vs.vhost = c.Arg(0)
		}
	}
	h["ip_family"] = func(c *keepalived.Node) {
		if f := c.Arg(0); f == "inet" || f == "inet6" {
			if vs.fwmark != 0 {
				vs.family = f
			}
		} else {
			t.noteIn(b, c, c.Keyword(), "%q is not inet or inet6: keepalived ignores it; so does vigil import", f)
		}
	}
	h["real_server"] = func(c *keepalived.Node) {
		if rs := t.realServer(vs, c); rs != nil {
			vs.rss = append(vs.rss, rs)
		}
	}
	t.each(n, "virtual_server", b, h)
	if vs.protocol != "" && vs.group == nil && vs.fwmark == 0 || vs.protocol != "" && vs.group != nil && len(vs.group.ports)+btoi(vs.group.noPort) > 0 {
		label += "-" + vs.protocol
	}
	b.labels = []string{t.label("virtual_server", label)}
	t.finishVS(vs)
	t.blocks = append(t.blocks, b)
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// forwarding reads lb_kind / lvs_method: NAT, DR or TUN [type ipip...]. keepalived
// reads only upper case; vigil import takes any, and says so.
func (t *tr) forwarding(c *keepalived.Node, b *vblock) (string, bool) {
	m := map[string]string{"NAT": "nat", "DR": "dr", "TUN": "tun"}[strings.ToUpper(c.Arg(0))]
	if m == "" {
		t.noteIn(b, c, c.Keyword(), "%q is not NAT, DR or TUN: keepalived ignores it; so does vigil import", c.Arg(0))
		return "", false
	}
	if c.Arg(0) != strings.ToUpper(c.Arg(0)) {
		t.noteIn(b, c, c.Keyword(), "keepalived 2.2 reads only %q in upper case and otherwise keeps NAT; vigil import reads %q as %s", c.Arg(0), c.Arg(0), m)
	}
	for i := 1; i < len(c.Args()); i++ {
		a := c.Arg(i)
		if a == "type" && c.Arg(i+1) == "ipip" {
			i++
			continue
		}
		t.noteIn(b, c, c.Keyword(), "%q is not carried over: vigil's tunnels are IP-in-IP without checksums", strings.Join(c.Args()[i:], " "))
		break
	}
	return m, true
}

func (t *tr) schedFlag(b *vblock, c *keepalived.Node) {
	f := c.Keyword()
	sched := ""
	if v := b.get("scheduler"); v != cty.NilVal {
		sched = v.AsString()
	}
	switch f {
	case "flag-1", "flag-2":
		if sched != "sh" && sched != "mh" {
			t.noteIn(b, c, f, "vigil sets scheduler flags only as sh-* or mh-* for those schedulers (the flag means nothing to %q)", sched)
			return
		}
		f = sched + map[string]string{"flag-1": "-fallback", "flag-2": "-port"}[f]
	case "flag-3":
		t.noteIn(b, c, f, "no IPVS scheduler uses flag-3: vigil leaves it out")
		return
	case "sh-port", "sh-fallback", "mh-port", "mh-fallback":
		if !strings.HasPrefix(f, sched+"-") {
			t.noteIn(b, c, f, "applies to the %s scheduler only: keepalived ignores it here; so does vigil import", f[:2])
			return
		}
	}
	var flags []string
	if v := b.get("scheduler_flags"); v != cty.NilVal {
		for _, e := range v.AsValueSlice() {
			flags = append(flags, e.AsString())
		}
	}
	if !slices.Contains(flags, f) {
		b.set("scheduler_flags", strList(append(flags, f)))
	}
}

// realServer reads a real_server block.
func (t *tr) realServer(vs *vserver, n *keepalived.Node) *rserver {
	ip, err := netip.ParseAddr(firstAddr(n.Arg(0)))
	if err == nil && ip.Zone() == "" && firstAddr(n.Arg(0)) != n.Arg(0) {
		t.noteIn(vs.b, n, n.Keyword(), "%q: keepalived reads a real server's address only up to a '-' or '/' (inet_stosockaddr), so this is the one real server %s; so it is in vigil (a range of real servers is one real_server block each)", n.Arg(0), ip)
	}
	if err != nil || ip.Zone() != "" {
		t.noteIn(vs.b, n, n.Keyword(), "%q is not an IP address: keepalived skips the real server; so does vigil import", n.Arg(0))
		return nil
	}
	p, ok := t.port(n, 1, vs.b)
	if !ok {
		return nil
	}
	rs := &rserver{n: n, addr: ip.Unmap(), port: p, cfgPort: p}
	rs.b = newBlock("real_server")
	rs.b.at(n)
	b := rs.b
	h := t.timingHandlers(&rs.timing, b, map[string]func(*keepalived.Node){})
	h["weight"] = func(c *keepalived.Node) {
		if v, ok := t.uint(c, 0, 0, 65535, b); ok {
			b.set("weight", num(int64(v)))
		}
	}
	fwd := func(c *keepalived.Node) {
		if f, ok := t.forwarding(c, b); ok {
			rs.fwd = f
		}
	}
	h["lvs_method"], h["lb_kind"] = fwd, fwd
	h["uthreshold"] = func(c *keepalived.Node) {
		if v, ok := t.uint(c, 0, 0, 1<<32-1, b); ok {
			b.set("upper_threshold", num(int64(v)))
		}
	}
	h["lthreshold"] = func(c *keepalived.Node) {
		if v, ok := t.uint(c, 0, 0, 1<<32-1, b); ok {
			b.set("lower_threshold", num(int64(v)))
		}
	}
	h["inhibit_on_failure"] = func(c *keepalived.Node) {
		if v, ok := t.boolArg(c, b); ok {
			rs.inhibit = &v
		}
	}
	var users []string
	notify := func(c *keepalived.Node) {
		if argv, user, ok := t.argv(c, b); ok {
			b.set(c.Keyword(), strList(argv))
			t.scriptNotes(b, c, argv)
			users = append(users, user)
		}
	}
	h["notify_up"], h["notify_down"] = notify, notify
	h["virtualhost"] = func(c *keepalived.Node) {
		if t.want(c, 1, b) {
			rs.vhost = c.Arg(0)
		}
	}
	for _, k := range checkerKinds {
		h[k] = func(c *keepalived.Node) { rs.checkers = append(rs.checkers, c) }
	}
	t.each(n, "virtual_server/real_server", b, h)
	if u := t.oneUser(b, n, users); u != "" {
		b.set("notify_user", str(u))
	}
	return rs
}

// oneUser is the user of a block's notify commands (vigil has one per block).
func (t *tr) oneUser(b *vblock, n *keepalived.Node, users []string) string {
	u := ""
	for _, x := range users {
		if x != "" && u != "" && x != u {
			t.noteIn(b, n, "notify", "the commands run as %q and %q in keepalived; vigil runs a block's commands as one user: %q", u, x, u)
			continue
		}
		if x != "" && u == "" {
			u = x
		}
	}
	if u == "" && t.scriptUser != "" && len(users) > 0 {
		u = t.scriptUser
	}
	return u
}

// finishVS writes a virtual server from what was read: the service, the keepalived
// defaults that differ from vigil's, the real servers and their checks.
func (t *tr) finishVS(vs *vserver) {
	b, n := vs.b, vs.n
	if vs.addr.IsValid() {
		b.set("address", str(fmtAddrPort(vs.addr, vs.port)))
		b.front("address")
	}
	if vs.fwmark != 0 && vs.family == "" {
		// keepalived takes a fwmark service's family from its real servers.
		vs.family = "inet"
		if len(vs.rss) > 0 && vs.rss[0].addr.Is6() {
			vs.family = "inet6"
		}
	}
	if vs.fwmark != 0 && vs.family == "inet6" {
		b.set("family", str("inet6"))
	}
	hasAddresses := vs.addr.IsValid() || vs.group != nil && (len(vs.group.ports) > 0 || vs.group.noPort)
	switch {
	case vs.protocol != "" && !hasAddresses:
		t.noteIn(b, n, "protocol", "keepalived ignores the protocol of a firewall-mark service; vigil import keeps it (vigil uses it only to allow ops)")
		b.set("protocol", str(vs.protocol))
	case vs.protocol != "":
		b.set("protocol", str(vs.protocol))
	case hasAddresses:
		t.noteIn(b, n, "protocol", "missing: keepalived balances UDP (\"no protocol set - defaulting to UDP\"), and so does vigil, written out")
		b.set("protocol", str("udp"))
	}
	if flags := b.get("scheduler_flags"); flags != cty.NilVal {
		for _, f := range flags.AsValueSlice() {
			if f.AsString() == "ops" && vs.protocol != "udp" {
				t.noteIn(b, n, "ops", "one-packet scheduling needs UDP: keepalived resets it; so does vigil import")
				b.unset("scheduler_flags")
			}
		}
	}
	if vs.fwd != "nat" {
		b.set("forwarding", str(vs.fwd))
	}

	// Persistence: without a port, keepalived makes the service persistent.
	noPort := vs.addr.IsValid() && vs.port == 0 || vs.group != nil && vs.group.noPort
	if noPort && vs.pto == nil {
		d := 360 * time.Second
		vs.pto = &d
		t.noteIn(b, n, n.Keyword(), "no port: keepalived makes the service persistent on every port (\"zero port only valid for persistent services - setting\", 360 s); so does vigil")
	}
	if vs.pgran != "" && vs.pto == nil {
		d := 360 * time.Second
		vs.pto = &d // keepalived's pgr_handler sets the default timeout
	}
	if vs.pto != nil {
		p := newBlock("persistence")
		p.set("timeout", str(dur(*vs.pto)))
		if vs.pgran != "" {
			p.set("netmask", str(vs.pgran))
		}
		b.add(p)
	}

	// The real servers: duplicates, families, ports, inheritance.
	var rss []*rserver
	seen := map[netip.AddrPort]bool{}
	weightSum := int64(0)
	for _, rs := range vs.rss {
		if rs.fwd == "" {
			rs.fwd = vs.fwd
		}
		fam := "inet"
		if rs.addr.Is6() {
			fam = "inet6"
		}
		if fam != vs.family {
			t.noteIn(b, rs.n, rs.n.Keyword(), "%s is %s but the virtual server is %s: keepalived skips it (unless tunnelled; vigil does not mix families); so does vigil import", rs.addr, fam, vs.family)
			continue
		}
		t.rsPort(vs, rs)
		key := netip.AddrPortFrom(rs.addr, rs.port)
		if seen[key] {
			t.noteIn(b, rs.n, rs.n.Keyword(), "%s is a real server twice: keepalived removes the second; so does vigil import", fmtAddrPort(rs.addr, rs.port))
			continue
		}
		seen[key] = true
		if !rs.b.has("weight") {
			if vs.weight != 1 {
				rs.b.set("weight", num(vs.weight))
			}
		}
		w := vs.weight
		if v := rs.b.get("weight"); v != cty.NilVal {
			bf := v.AsBigFloat()
			w, _ = bf.Int64()
		}
		weightSum += w
		rss = append(rss, rs)
	}
	if len(rss) == 0 {
		b.dropped, b.why = true, "virtual_server "+n.Args()[0]+" has no real server vigil can carry: keepalived ignores a virtual server without real servers (\"has no real servers - ignoring\")"
		t.noteAt(n.Pos, n.Keyword(), b.why)
		return
	}

	// on_failure: keepalived removes a failed real server unless inhibit_on_failure.
	inhibitOf := func(rs *rserver) bool {
		if rs.inhibit != nil {
			return *rs.inhibit
		}
		return vs.inhibit
	}
	inhibit := vs.inhibit
	if !slices.ContainsFunc(rss, func(rs *rserver) bool { return inhibitOf(rs) == vs.inhibit }) {
		inhibit = inhibitOf(rss[0])
	}
	if inhibit {
		b.set("on_failure", str("quiesce"))
		b.comment("inhibit_on_failure: a failed real server is kept at weight 0 (vigil's default, written out)")
	} else {
		b.set("on_failure", str("remove"))
		b.comment("keepalived removes a failed real server (no inhibit_on_failure); vigil's default would quiesce it")
	}
	for _, rs := range rss {
		if inhibitOf(rs) != inhibit {
			t.noteIn(rs.b, rs.n, "inhibit_on_failure", "vigil sets on_failure per virtual server: this real server is %s like the others, not %s", map[bool]string{true: "quiesced", false: "removed"}[inhibit], map[bool]string{true: "quiesced", false: "removed"}[!inhibit])
		}
	}

	// Quorum, as keepalived's validate_check_config corrects it.
	q, hyst := vs.quorum, vs.hyst
	if q > weightSum {
		if weightSum < 1 {
			weightSum = 1
		}
		if vs.quorumN != nil {
			t.noteIn(b, vs.quorumN, "quorum", "%d exceeds the real servers' total weight %d: keepalived reduces it to %d; so does vigil import", q, weightSum, weightSum)
		}
		q = weightSum
	}
	if hyst >= q && vs.hystN != nil {
		t.noteIn(b, vs.hystN, "hysteresis", "%d is not below the quorum %d: keepalived sets it to %d; so does vigil import", hyst, q, q-1)
		hyst = q - 1
	}
	if q != 1 {
		b.set("quorum", num(q))
	}
	if hyst != 0 {
		b.set("hysteresis", num(hyst))
	}
	if u := t.oneUser(b, n, vs.users); u != "" {
		b.set("notify_user", str(u))
	}
	t.sorryServer(vs, rss)

	b.comment("keepalived without alpha puts a real server in the table before its first check; vigil waits for its first pass (rise = 1: the first probe)")
	for _, rs := range rss {
		if rs.fwd != vs.fwd {
			rs.b.set("forwarding", str(rs.fwd))
		}
		addr := fmtAddrPort(rs.addr, rs.port)
		rs.b.labels = []string{t.rsLabel(vs, rs)}
		items := rs.b.items
		rs.b.items = nil
		rs.b.set("address", str(addr))
		rs.b.items = append(rs.b.items, items...)
		rs.b.front("address")
		t.checks(vs, rs)
		b.add(rs.b)
	}
}

func (t *tr) rsLabel(vs *vserver, rs *rserver) string {
	l := strings.ReplaceAll(rs.addr.String(), ":", "-")
	if rs.port != 0 {
		l += "-" + strconv.Itoa(int(rs.port))
	}
	typ := "real_server " + vs.b.labels[0]
	return t.label(typ, l)
}

// rsPort applies keepalived's port rules: a NAT real server without a port takes the
// service's; with DR and TUN the packet keeps the service's port, so keepalived resets
// a different port (a fwmark service: clears it).
func (t *tr) rsPort(vs *vserver, rs *rserver) {
	if rs.fwd == "nat" || rs.port == 0 {
		return
	}
	switch {
	case vs.fwmark != 0:
		t.noteIn(rs.b, rs.n, rs.n.Keyword(), "port %d with %s forwarding of a fwmark service: keepalived clears it (the packet keeps the client's port); so does vigil import", rs.port, strings.ToUpper(rs.fwd))
		rs.port = 0
	case vs.group != nil:
		if len(vs.group.ports) == 1 && !vs.group.noPort && !vs.group.fwmarks && vs.group.ports[0] == rs.port {
			return
		}
		t.noteIn(rs.b, rs.n, rs.n.Keyword(), "port %d with %s forwarding: the packet keeps the port of each of the group's services, whatever this port says (keepalived warns \"ports don't match\"); vigil import leaves it out", rs.port, strings.ToUpper(rs.fwd))
		rs.port = 0
	case rs.port != vs.port:
		t.noteIn(rs.b, rs.n, rs.n.Keyword(), "port %d with %s forwarding differs from the service's (%d): keepalived resets it (\"ports don't match - resetting\"); vigil import leaves it out, so it is the service's", rs.port, strings.ToUpper(rs.fwd), vs.port)
		rs.port = 0
	}
}

// sorryServer writes sorry_server, as keepalived applies it.
func (t *tr) sorryServer(vs *vserver, rss []*rserver) {
	c := vs.sorry
	if c == nil {
		return
	}
	b := vs.b
	ip, err := netip.ParseAddr(c.Arg(0))
	if err != nil {
		t.noteIn(b, c, c.Keyword(), "%q is not an IP address: keepalived skips it; so does vigil import", c.Arg(0))
		return
	}
	ip = ip.Unmap()
	p, ok := t.port(c, 1, b)
	if !ok {
		return
	}
	fwd := vs.fwd
	if vs.sorryFwd != "" && vs.sorryFwd != vs.fwd {
		t.noteIn(b, c, "sorry_server_lvs_method", "vigil forwards to the sorry server as to the virtual server's real servers (%s), not %s", vs.fwd, vs.sorryFwd)
	}
	if fwd != "nat" && p != 0 && (vs.fwmark != 0 || vs.group != nil || p != vs.port) {
		t.noteIn(b, c, c.Keyword(), "port %d with %s forwarding: keepalived resets it to the service's; vigil import leaves it out", p, strings.ToUpper(fwd))
		p = 0
	}
	for _, rs := range rss {
		port := rs.port
		if port == 0 && rs.fwd == "nat" && vs.port != 0 {
			port = vs.port
		}
		sp := p
		if sp == 0 {
			sp = vs.port
		}
		if rs.addr == ip && port == sp {
			t.noteIn(b, c, c.Keyword(), "%s is also a real server: keepalived allows it, vigil does not; vigil import leaves the sorry server out", c.Arg(0))
			return
		}
	}
	b.set("sorry_server", str(fmtAddrPort(ip, p)))
}

func fmtAddrPort(ip netip.Addr, port uint16) string {
	if port == 0 {
		return ip.String()
	}
	return netip.AddrPortFrom(ip, port).String()
}

var _ = fmt.Sprint

// firstAddr is the address keepalived's inet_stosockaddr reads from s: what comes before
// a range's '-' or a prefix's '/'.
func firstAddr(s string) string {
	if i := strings.IndexAny(s, "-/"); i >= 0 {
		return s[:i]
	}
	return s
}
