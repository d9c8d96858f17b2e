package translate

import (
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/vigil-lb/vigil/conf/keepalived"
)

// checkerKinds are keepalived's checkers, as real_server keywords.
var checkerKinds = []string{"HTTP_GET", "SSL_GET", "TCP_CHECK", "MISC_CHECK", "SMTP_CHECK", "DNS_CHECK", "UDP_CHECK", "PING_CHECK", "BFD_CHECK", "FILE_CHECK"}

// keepalived's checker defaults (check_api.c, check_*.c).
const (
	defaultDelayLoop      = 60 * time.Second
	defaultConnectTimeout = 5 * time.Second
)

// defaultRetry and defaultDelayBeforeRetry are per checker: DNS_CHECK retries 3 times
// and waits delay_loop, MISC_CHECK does not retry, HTTP_GET and SSL_GET wait 3 s.
func defaultRetry(kind string) int64 {
	switch kind {
	case "DNS_CHECK":
		return 3
	case "MISC_CHECK":
		return 0
	}
	return 1
}

func defaultDelayBeforeRetry(kind string, delayLoop time.Duration) time.Duration {
	switch kind {
	case "HTTP_GET", "SSL_GET":
		return 3 * time.Second
	case "DNS_CHECK":
		return delayLoop
	}
	return time.Second
}

// sslDefaults is keepalived's top-level SSL block, the client certificate of every
// SSL_GET.
type sslDefaults struct {
	cert, key, ca, password string
	n                       *keepalived.Node
}

func (t *tr) sslPrepass(n *keepalived.Node) {
	t.ssl.n = n
	for _, c := range n.Children {
		switch c.Keyword() {
		case "certificate":
			t.ssl.cert = c.Arg(0)
		case "key":
			t.ssl.key = c.Arg(0)
		case "ca":
			t.ssl.ca = c.Arg(0)
		case "password":
			t.ssl.password = c.Arg(0)
		}
	}
}

// check is one checker as read.
type check struct {
	kind   string
	n      *keepalived.Node
	timing timing
	// connection
	connectIP   string
	connectPort uint16
	bindto      string
	// HTTP
	urls  []*keepalived.Node
	vhost string
	sni   bool
	// MISC
	misc        []string
	miscTimeout *time.Duration
	dynamic     bool
	user        string
	// SMTP
	helo  string
	hosts []*keepalived.Node
	// DNS
	dnsType, dnsName string
	// UDP
	payload, replyHex  string
	requireReply       bool
	minReply, maxReply *int64
}

// checks writes the checks of a real server.
func (t *tr) checks(vs *vserver, rs *rserver) {
	for _, n := range rs.checkers {
		c := &check{kind: n.Keyword(), n: n}
		h := t.timingHandlers(&c.timing, rs.b, map[string]func(*keepalived.Node){})
		t.connHandlers(c, rs.b, h)
		t.kindHandlers(c, rs.b, h)
		in := "virtual_server/real_server/" + c.kind
		t.each(n, in, rs.b, h)
		c.timing = c.timing.over(rs.timing).over(vs.timing)
		t.emitChecks(vs, rs, c)
	}
}

func (t *tr) connHandlers(c *check, b *vblock, h map[string]func(*keepalived.Node)) {
	h["connect_ip"] = func(n *keepalived.Node) {
		if ip, err := netip.ParseAddr(n.Arg(0)); err == nil {
			c.connectIP = ip.Unmap().String()
		} else {
			t.noteIn(b, n, n.Keyword(), "%q is not an IP address: keepalived ignores it; so does vigil import", n.Arg(0))
		}
	}
	h["connect_port"] = func(n *keepalived.Node) {
		if v, ok := t.uint(n, 0, 1, 65535, b); ok {
			c.connectPort = uint16(v)
		}
	}
	h["bindto"] = func(n *keepalived.Node) {
		if ip, err := netip.ParseAddr(n.Arg(0)); err == nil {
			c.bindto = ip.Unmap().String()
		} else {
			t.noteIn(b, n, n.Keyword(), "%q is not an IP address: keepalived ignores it; so does vigil import", n.Arg(0))
		}
	}
}

func (t *tr) kindHandlers(c *check, b *vblock, h map[string]func(*keepalived.Node)) {
	switch c.kind {
	case "HTTP_GET", "SSL_GET":
		h["url"] = func(n *keepalived.Node) { c.urls = append(c.urls, n) }
		h["virtualhost"] = func(n *keepalived.Node) {
			if t.want(n, 1, b) {
				c.vhost = n.Arg(0)
			}
		}
		h["enable_sni"] = func(n *keepalived.Node) { c.sni = true }
		h["http_protocol"] = func(n *keepalived.Node) {
			if n.Arg(0) != "1.1" {
				t.noteIn(b, n, n.Keyword(), "vigil's checks speak HTTP/1.1 (with Connection: close), not %s", n.Arg(0))
			}
		}
		if c.kind == "SSL_GET" {
			h["sni_name"] = func(n *keepalived.Node) {
				if t.want(n, 1, b) {
					c.sni, c.vhost = true, firstNonEmpty(c.vhost, n.Arg(0))
				}
			}
		}
	case "MISC_CHECK":
		h["misc_path"] = func(n *keepalived.Node) {
			if argv, extra, ok := t.argv(n, b); ok {
				c.misc = argv
				t.scriptNotes(b, n, argv)
				if extra != "" {
					t.noteIn(b, n, n.Keyword(), "keepalived ignores the words after the script (%q): put them in quotes with the script, or use user", extra)
				}
			}
		}
		h["misc_timeout"] = func(n *keepalived.Node) {
			if v, ok := t.uint(n, 0, 1, 1<<31, b); ok {
				d := time.Duration(v) * time.Second
				c.miscTimeout = &d
			}
		}
		h["misc_dynamic"] = func(n *keepalived.Node) { c.dynamic = true }
		h["user"] = func(n *keepalived.Node) {
			if t.want(n, 1, b) {
				c.user = n.Arg(0)
				if n.Arg(1) != "" {
					c.user += ":" + n.Arg(1)
				}
			}
		}
	case "SMTP_CHECK":
		h["helo_name"] = func(n *keepalived.Node) {
			if t.want(n, 1, b) {
				c.helo = n.Arg(0)
			}
		}
		h["host"] = func(n *keepalived.Node) { c.hosts = append(c.hosts, n) }
	case "DNS_CHECK":
		h["type"] = func(n *keepalived.Node) { c.dnsType = strings.ToUpper(n.Arg(0)) }
		h["name"] = func(n *keepalived.Node) {
			if t.want(n, 1, b) {
				c.dnsName = n.Arg(0)
			}
		}
	case "UDP_CHECK":
		h["payload"] = func(n *keepalived.Node) { c.payload = strings.Join(n.Args(), " ") }
		h["require_reply"] = func(n *keepalived.Node) {
			c.requireReply = true
			c.replyHex = strings.Join(n.Args(), " ")
		}
		h["min_reply_length"] = func(n *keepalived.Node) {
			if v, ok := t.uint(n, 0, 0, 65507, b); ok {
				x := int64(v)
				c.minReply = &x
			}
		}
		h["max_reply_length"] = func(n *keepalived.Node) {
			if v, ok := t.uint(n, 0, 0, 65507, b); ok {
				x := int64(v)
				c.maxReply = &x
			}
		}
	}
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// emitChecks writes one checker as vigil checks: one per url of an HTTP_GET, one per host
// of an SMTP_CHECK.
func (t *tr) emitChecks(vs *vserver, rs *rserver, c *check) {
	b := rs.b
	var kind string
	switch c.kind {
	case "HTTP_GET":
		kind = "http"
	case "SSL_GET":
		kind = "https"
	case "TCP_CHECK":
		kind = "tcp"
	case "MISC_CHECK":
		kind = "exec"
	case "SMTP_CHECK":
		kind = "smtp"
	case "DNS_CHECK":
		kind = "dns"
	case "UDP_CHECK":
		kind = "udp"
	case "PING_CHECK":
		kind = "ping"
	default:
		t.noteIn(b, c.n, c.kind, "not carried over: vigil has no %s; the real server is up or down by its other checks", c.kind)
		return
	}
	base := newBlock("check", kind)
	base.at(c.n)
	t.timing(base, c)
	if kind != "exec" {
		if c.connectIP != "" {
			base.set("connect_address", str(c.connectIP))
		}
		if c.bindto != "" {
			base.set("source_address", str(c.bindto))
		}
		// keepalived's checker connects to the real server's address as written
		// (queue_checker copies it before the ports are corrected): its port, 0 when it
		// has none, which always fails.
		target := c.connectPort
		if target == 0 {
			target = rs.cfgPort
		}
		if kind != "ping" && target == 0 {
			t.noteIn(b, c.n, c.kind, "neither the real server nor the checker names a port: keepalived's checker connects to port 0 and always fails, so the real server never comes up. vigil import keeps that with an exec check of /bin/false; give connect_port")
			f := newBlock("check", "exec")
			f.src, f.from = base.src, base.from
			f.set("command", strList([]string{"/bin/false"}))
			for _, it := range base.items {
				if it.name == "interval" || it.name == "timeout" || it.name == "rise" || it.name == "fall" || it.comment != "" {
					f.items = append(f.items, it)
				}
			}
			b.add(f)
			return
		}
		if kind != "ping" && target != vigilPort(vs, rs) {
			base.set("connect_port", num(int64(target)))
		}
	}
	switch kind {
	case "http", "https":
		t.httpChecks(vs, rs, c, base, kind)
		return
	case "exec":
		t.execCheck(c, base)
	case "smtp":
		if c.helo != "" {
			base.set("helo_name", str(c.helo))
		}
		if len(c.hosts) > 0 {
			t.smtpHosts(rs, c, base)
			return
		}
	case "dns":
		if c.dnsType != "" {
			base.set("query_type", str(c.dnsType))
		}
		if c.dnsName != "" {
			base.set("query_name", str(c.dnsName))
		}
	case "udp":
		t.udpCheck(c, base)
	}
	b.add(base)
}

// vigilPort is the port vigil's checks of rs connect to without connect_port: its own,
// else the one port of its service (0: none).
func vigilPort(vs *vserver, rs *rserver) uint16 {
	switch {
	case rs.port != 0:
		return rs.port
	case vs.fwmark != 0:
		return 0
	case vs.group != nil:
		if len(vs.group.ports) == 1 && !vs.group.noPort && !vs.group.fwmarks {
			return vs.group.ports[0]
		}
		return 0
	}
	return vs.port
}

// timing writes interval, timeout, rise and fall with keepalived's arithmetic.
func (t *tr) timing(b *vblock, c *check) {
	tm := c.timing
	loop := defaultDelayLoop
	if tm.delayLoop != nil {
		loop = *tm.delayLoop
	}
	timeout := defaultConnectTimeout
	timeoutWhat := "connect_timeout"
	if tm.connectTimeout != nil {
		timeout = *tm.connectTimeout
	}
	if c.kind == "MISC_CHECK" {
		timeout, timeoutWhat = loop, "misc_timeout (default delay_loop)"
		if c.miscTimeout != nil {
			timeout, timeoutWhat = *c.miscTimeout, "misc_timeout"
		}
	}
	retry := defaultRetry(c.kind)
	if tm.retry != nil {
		retry = *tm.retry
	}
	dbr := defaultDelayBeforeRetry(c.kind, loop)
	if tm.delayBeforeRetry != nil {
		dbr = *tm.delayBeforeRetry
	}
	interval := min(max(loop, 10*time.Millisecond), time.Hour)
	if interval != loop {
		t.noteIn(b, c.n, "delay_loop", "%s is outside vigil's 10ms..1h: vigil probes every %s", dur(loop), dur(interval))
	}
	to := min(max(timeout, time.Millisecond), time.Hour)
	if to > interval {
		t.noteIn(b, c.n, "connect_timeout", "%s %s is longer than delay_loop %s: keepalived waits for it, vigil bounds a probe by its interval (probes never overlap): timeout = %s", timeoutWhat, dur(timeout), dur(interval), dur(interval))
		to = interval
	}
	fall := retry + 1
	if fall > 100 {
		t.noteIn(b, c.n, "retry", "retry %d is above vigil's 99: vigil goes down after 100 failures", retry)
		fall = 100
	}
	b.comment(fmt.Sprintf("interval = delay_loop %s, timeout = %s %s, fall = 1 + retry %d, rise = 1 (keepalived: one pass brings a server up)", dur(loop), timeoutWhat, dur(timeout), retry))
	kaDown := interval + time.Duration(retry)*(dbr+to)
	vDown := time.Duration(fall) * interval
	if retry > 0 && dbr != interval && kaDown != vDown {
		b.comment(fmt.Sprintf("keepalived retries %s after a failure (delay_before_retry), vigil at the interval: down within about %s x %s = %s instead of %s + %d x (%s + %s) = %s", dur(dbr), strconv.FormatInt(fall, 10), dur(interval), dur(vDown), dur(interval), retry, dur(dbr), dur(to), dur(kaDown)))
		if tm.explicitDBR {
			t.noteIn(b, c.n, "delay_before_retry", "vigil retries at the check's interval (%s), not %s after a failure: a failed real server is down after about %s, not %s", dur(interval), dur(dbr), dur(vDown), dur(kaDown))
		}
	}
	b.set("interval", str(dur(interval)))
	b.set("timeout", str(dur(to)))
	b.set("rise", num(1))
	b.set("fall", num(fall))
}

func (t *tr) httpChecks(vs *vserver, rs *rserver, c *check, base *vblock, kind string) {
	vhost := firstNonEmpty(c.vhost, rs.vhost, vs.vhost)
	urls := c.urls
	if len(urls) == 0 {
		t.noteIn(rs.b, c.n, c.kind, "no url: vigil checks path \"/\" for a status of 200-299")
		urls = []*keepalived.Node{nil}
	} else if len(urls) > 1 {
		t.noteIn(rs.b, c.n, c.kind, "%d url blocks: keepalived checks them in turn, one per delay_loop; vigil checks each as a check of its own, every interval, and the real server is up while all pass", len(urls))
	}
	for _, u := range urls {
		b := newBlock("check", kind)
		b.src, b.from = base.src, base.from
		b.items = append(b.items, base.items...)
		host := vhost
		var digest string
		var status []string
		if u != nil {
			b.at(u)
			t.each(u, "virtual_server/real_server/"+c.kind+"/url", rs.b, map[string]func(*keepalived.Node){
				"path": func(n *keepalived.Node) {
					if t.want(n, 1, rs.b) {
						p := n.Arg(0)
						if !strings.HasPrefix(p, "/") || strings.ContainsAny(p, " \t") {
							t.noteIn(rs.b, n, n.Keyword(), "%q is not a path vigil sends (it starts with /, without spaces): vigil checks \"/\"", p)
							return
						}
						b.set("path", str(p))
					}
				},
				"digest": func(n *keepalived.Node) {
					if t.want(n, 1, rs.b) {
						digest = strings.ToLower(n.Arg(0))
					}
				},
				"status_code": func(n *keepalived.Node) { status = append(status, n.Args()...) },
				"virtualhost": func(n *keepalived.Node) {
					if t.want(n, 1, rs.b) {
						host = n.Arg(0)
					}
				},
				"regex": func(n *keepalived.Node) {
					if !t.want(n, 1, rs.b) {
						return
					}
					if _, err := regexp.Compile(n.Arg(0)); err != nil {
						t.noteIn(rs.b, n, n.Keyword(), "%q is a PCRE that Go's regular expressions (RE2) cannot read (%v): vigil import leaves it out", n.Arg(0), err)
						return
					}
					b.set("expect_body", str(n.Arg(0)))
					t.noteIn(rs.b, n, n.Keyword(), "vigil matches it with Go's RE2 syntax, in the first MiB of the body, where keepalived uses PCRE")
				},
				"regex_no_match": func(n *keepalived.Node) {
					t.noteIn(rs.b, n, n.Keyword(), "vigil cannot fail a check on a match: the regex is left out")
					b.unset("expect_body")
				},
			})
		}
		if digest != "" {
			b.set("expect_digest", str(digest))
		}
		switch {
		case len(status) > 0:
			var vals []cty.Value
			for _, s := range status {
				if lo, hi, ok := strings.Cut(s, "-"); ok {
					vals = append(vals, str(lo+"-"+hi))
				} else if v, err := strconv.ParseInt(s, 10, 64); err == nil {
					vals = append(vals, num(v))
				}
			}
			if len(vals) > 0 {
				b.set("expect_status", cty.TupleVal(vals))
			}
		case digest != "":
			b.set("expect_status", cty.TupleVal([]cty.Value{str("100-599")}))
			b.comment("a digest without status_code: keepalived checks the digest alone, whatever the status")
		}
		if host != "" {
			b.set("host", str(host))
		}
		if kind == "https" {
			b.set("tls_skip_verify", cty.True)
			b.comment("keepalived's SSL_GET does not verify the server's certificate: neither does this check (set tls_ca_file and remove tls_skip_verify to verify it)")
			if t.ssl.cert != "" && t.ssl.key != "" {
				b.set("tls_cert_file", str(t.ssl.cert))
				b.set("tls_key_file", str(t.ssl.key))
			}
		}
		rs.b.add(b)
	}
}

func (t *tr) execCheck(c *check, b *vblock) {
	if len(c.misc) == 0 {
		b.dropped, b.why = true, "MISC_CHECK without misc_path: keepalived ignores it; so does vigil import"
		return
	}
	b.set("command", strList(c.misc))
	if c.dynamic {
		b.set("dynamic_weight", cty.True)
	}
	u := c.user
	if u == "" {
		u = t.scriptUser
	}
	if u != "" {
		b.set("user", str(u))
	}
}

func (t *tr) smtpHosts(rs *rserver, c *check, base *vblock) {
	for _, hn := range c.hosts {
		b := newBlock("check", "smtp")
		b.at(hn)
		b.items = append(b.items, base.items...)
		hc := &check{kind: "SMTP_CHECK", n: hn}
		h := map[string]func(*keepalived.Node){}
		t.connHandlers(hc, rs.b, h)
		t.each(hn, "virtual_server/real_server/SMTP_CHECK/host", rs.b, h)
		if hc.connectIP != "" {
			b.unset("connect_address")
			b.set("connect_address", str(hc.connectIP))
		}
		if hc.connectPort != 0 {
			b.unset("connect_port")
			b.set("connect_port", num(int64(hc.connectPort)))
		}
		if hc.bindto != "" {
			b.unset("source_address")
			b.set("source_address", str(hc.bindto))
		}
		rs.b.add(b)
	}
}

func (t *tr) udpCheck(c *check, b *vblock) {
	if c.payload != "" {
		if h, ok := kaHex(c.payload, false); ok {
			b.set("payload", str(h))
		} else {
			t.noteIn(b, c.n, "payload", "%q is not hex as keepalived reads it: vigil import leaves it out (an empty datagram)", c.payload)
		}
	} else {
		t.noteIn(b, c.n, c.kind, "no payload: keepalived sends a datagram of its own making, vigil an empty one")
	}
	if c.requireReply {
		if c.replyHex != "" {
			if h, ok := kaHex(c.replyHex, true); ok {
				b.set("expect", str(h))
			} else {
				t.noteIn(b, c.n, "require_reply", "%q is not hex as keepalived reads it: vigil import requires any reply", c.replyHex)
				b.set("require_reply", cty.True)
			}
		} else {
			b.set("require_reply", cty.True)
		}
		if c.minReply != nil {
			b.set("min_reply_length", num(*c.minReply))
		}
		max := int64(255) // keepalived's default
		if c.maxReply != nil {
			max = *c.maxReply
		}
		b.set("max_reply_length", num(max))
	} else if c.minReply != nil || c.maxReply != nil {
		t.noteIn(b, c.n, "max_reply_length", "a reply length without require_reply: keepalived checks no reply; neither does vigil")
	}
}

// kaHex reads keepalived's free-form hex (read_hex_str): white-space separated groups,
// two digits a byte, an odd digit at the end of a group a byte of its own; wild allows X
// for a nibble that matches anything. It returns the bytes as vigil writes them.
func kaHex(s string, wild bool) (string, bool) {
	var out strings.Builder
	digit := func(c byte) (byte, bool) {
		switch {
		case c >= '0' && c <= '9', c >= 'a' && c <= 'f':
			return c, true
		case c >= 'A' && c <= 'F':
			return c + 'a' - 'A', true
		case wild && (c == 'x' || c == 'X'):
			return 'X', true
		}
		return 0, false
	}
	for _, g := range strings.Fields(s) {
		for i := 0; i < len(g); i += 2 {
			hi, ok := digit(g[i])
			if !ok {
				return "", false
			}
			if i+1 == len(g) {
				out.WriteByte('0')
				out.WriteByte(hi)
				break
			}
			lo, ok := digit(g[i+1])
			if !ok {
				return "", false
			}
			out.WriteByte(hi)
			out.WriteByte(lo)
		}
	}
	return out.String(), out.Len() > 0
}
