package conf

import (
	"encoding/hex"
	"net/http"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// Defaults and limits of check blocks.
const (
	DefaultCheckInterval = 2 * time.Second
	DefaultCheckTimeout  = 1 * time.Second // or the interval, when that is shorter
	DefaultRise          = 2
	DefaultFall          = 3
	DefaultMaxBodyBytes  = 1 << 20
	DefaultMySQLQuery    = "SELECT 1"
)

var (
	commonCheckAttrs  = []string{"interval", "timeout", "rise", "fall"}
	networkCheckAttrs = []string{"connect_address", "connect_port", "source_address"}
	kindAttrs         = map[CheckKind][]string{
		CheckHTTP: {"method", "path", "host", "headers", "expect_status", "expect_body", "expect_digest",
			"tls", "tls_ca_file", "tls_server_name", "tls_cert_file", "tls_key_file", "tls_skip_verify", "max_body_bytes"},
		CheckTCP:   {"send", "expect"},
		CheckMySQL: {"user", "password", "database", "tls", "query", "expect"},
		CheckExec:  {"command", "shell", "user", "dynamic_weight", "env"},
		CheckDNS:   {"query_type", "query_name"},
		CheckUDP:   {"payload", "expect", "require_reply", "min_reply_length", "max_reply_length"},
		CheckSMTP:  {"helo_name"},
	}
)

// checkSchema returns the attributes a kind accepts, plus extra names already reported.
// Without extra names it is one schema per kind, built once (every check of a large file
// built two).
func checkSchema(kind CheckKind, extra []string) *hcl.BodySchema {
	if len(extra) == 0 {
		if s, ok := kindSchemas()[kind]; ok {
			return s
		}
	}
	return buildCheckSchema(kind, extra)
}

// kindSchemas are checkSchema(kind, nil) of every kind; read only.
var kindSchemas = sync.OnceValue(func() map[CheckKind]*hcl.BodySchema {
	m := map[CheckKind]*hcl.BodySchema{}
	for _, k := range CheckKinds {
		m[k] = buildCheckSchema(k, nil)
	}
	return m
})

func buildCheckSchema(kind CheckKind, extra []string) *hcl.BodySchema {
	names := slices.Clone(commonCheckAttrs)
	switch kind {
	case CheckExec:
	case CheckPing: // ICMP has no port
		names = append(names, "connect_address", "source_address")
	default:
		names = append(names, networkCheckAttrs...)
	}
	names = append(names, kindAttrs[kind]...)
	names = append(names, extra...)
	return &hcl.BodySchema{Attributes: attrSchema(names...)}
}

// foreignAttrs reports attributes that belong to another check kind with a precise
// message, instead of HCL's generic "not expected here".
func (d *decoder) foreignAttrs(body hcl.Body, kind CheckKind) []string {
	sb, ok := body.(*hclsyntax.Body)
	if !ok {
		return nil
	}
	own := checkSchema(kind, nil)
	var extra []string
	for name, a := range sb.Attributes {
		if slices.ContainsFunc(own.Attributes, func(s hcl.AttributeSchema) bool { return s.Name == name }) {
			continue
		}
		if kind == CheckPing && name == "connect_port" {
			d.errorf(a.NameRange, "Unsupported argument", "connect_port is not an argument of ping checks: ICMP echo has no port.")
			extra = append(extra, name)
			continue
		}
		for _, k := range CheckKinds {
			if k != kind && (slices.Contains(kindAttrs[k], name) || (kind == CheckExec && slices.Contains(networkCheckAttrs, name))) {
				d.errorf(a.NameRange, "Unsupported argument",
					"%q is not an argument of %s checks (it belongs to %s checks).", name, kind, k)
				extra = append(extra, name)
				break
			}
		}
	}
	return extra
}

func (d *decoder) decodeCheck(b *hcl.Block, rs *RealServer) *Check {
	label := b.Labels[0]
	kind := CheckKind(label)
	https := label == "https"
	if https {
		kind = CheckHTTP
	}
	if !slices.Contains(CheckKinds, kind) {
		names := []string{"http", "https", "tcp", "mysql", "exec", "dns", "udp", "ping", "smtp"}
		d.errorf(b.LabelRanges[0], "Unknown check kind",
			"%q is not a check kind; use one of %s.%s", label, strings.Join(names, ", "), didYouMean(label, names))
		return nil
	}
	c := &Check{
		Kind:      kind,
		Interval:  DefaultCheckInterval,
		Timeout:   DefaultCheckTimeout,
		Rise:      DefaultRise,
		Fall:      DefaultFall,
		DeclRange: b.DefRange,
	}
	extra := d.foreignAttrs(b.Body, kind)
	content, diags := b.Body.Content(checkSchema(kind, extra))
	d.diags = append(d.diags, diags...)
	at := content.Attributes

	if a := at["interval"]; a != nil {
		if v, ok := d.duration(a, 10*time.Millisecond, time.Hour); ok {
			c.Interval = v
		}
	}
	if a := at["timeout"]; a != nil {
		if v, ok := d.duration(a, time.Millisecond, time.Hour); ok {
			c.Timeout = v
		}
	} else {
		// The default fits any interval: interval = "500ms" alone is a valid check.
		c.Timeout = min(DefaultCheckTimeout, c.Interval)
	}
	// A probe must end before the next one starts, so probes never pile up.
	if c.Timeout > c.Interval {
		rng := b.DefRange
		if a := at["timeout"]; a != nil {
			rng = a.Expr.Range()
		} else if a := at["interval"]; a != nil {
			rng = a.Expr.Range()
		}
		d.errorf(rng, "Timeout longer than interval",
			"A check's timeout (%s) must not exceed its interval (%s).", c.Timeout, c.Interval)
	}
	if a := at["rise"]; a != nil {
		if n, ok := d.integer(a, 1, 100); ok {
			c.Rise = int(n)
		}
	}
	if a := at["fall"]; a != nil {
		if n, ok := d.integer(a, 1, 100); ok {
			c.Fall = int(n)
		}
	}

	if kind != CheckExec {
		d.checkTarget(b, at, rs, c)
	}
	switch kind {
	case CheckHTTP:
		c.HTTP = d.decodeHTTP(at, https)
	case CheckTCP:
		c.TCP = d.decodeTCP(at)
	case CheckMySQL:
		c.MySQL = d.decodeMySQL(b, at)
	case CheckExec:
		c.Exec = d.decodeExec(b, at)
	case CheckDNS:
		c.DNS = d.decodeDNS(at)
	case CheckUDP:
		c.UDP = d.decodeUDP(at)
	case CheckPing:
		c.Ping = &PingCheck{}
	case CheckSMTP:
		c.SMTP = d.decodeSMTP(at)
	}
	return c
}

// checkTarget resolves where a network check connects.
func (d *decoder) checkTarget(b *hcl.Block, at hcl.Attributes, rs *RealServer, c *Check) {
	ip, port := rs.Address.Addr(), int(rs.Address.Port())
	if a := at["connect_address"]; a != nil {
		if v, ok := d.ip(a); ok {
			ip = v
		}
	}
	if a := at["connect_port"]; a != nil {
		if n, ok := d.integer(a, 1, 65535); ok {
			port = int(n)
		}
	}
	if a := at["source_address"]; a != nil {
		if v, ok := d.ip(a); ok {
			c.Source = v
			if ip.IsValid() && FamilyOf(v) != FamilyOf(ip) {
				d.errorf(a.Expr.Range(), "Address family mismatch", "source_address %s is not the family of the check target %s.", v, ip)
			}
		}
	}
	if !ip.IsValid() {
		return // the real server's address is already reported
	}
	if c.Kind == CheckPing {
		c.Target = netip.AddrPortFrom(ip, 0)
		return
	}
	if port == 0 {
		d.errorf(b.DefRange, "Missing port",
			"The real server has no port of its own (a fwmark service, a service on every port, or a group on several ports), so this %s check needs connect_port.", c.Kind)
		return
	}
	c.Target = netip.AddrPortFrom(ip, uint16(port))
}

func (d *decoder) regexp(a *hcl.Attribute) *regexp.Regexp {
	s, ok := d.str(a)
	if !ok {
		return nil
	}
	re, err := regexp.Compile(s)
	if err != nil {
		d.errorf(a.Expr.Range(), "Invalid regular expression", "%s: %v.", a.Name, err)
		return nil
	}
	return re
}

func (d *decoder) decodeHTTP(at hcl.Attributes, https bool) *HTTPCheck {
	h := &HTTPCheck{Method: http.MethodGet, Path: "/", ExpectStatus: []StatusRange{{200, 299}}, MaxBodyBytes: DefaultMaxBodyBytes}
	if a := at["method"]; a != nil {
		if s, ok := d.str(a); ok {
			if !validToken(s) {
				d.errorf(a.Expr.Range(), "Invalid HTTP method", "%q is not an HTTP method token.", s)
			} else {
				h.Method = strings.ToUpper(s)
			}
		}
	}
	if a := at["path"]; a != nil {
		if s, ok := d.str(a); ok {
			if !strings.HasPrefix(s, "/") || strings.ContainsAny(s, " \r\n\t") {
				d.errorf(a.Expr.Range(), "Invalid path", "path must start with \"/\" and contain no spaces: %q.", s)
			} else {
				h.Path = s
			}
		}
	}
	if a := at["host"]; a != nil {
		if s, ok := d.nonEmpty(a); ok {
			if strings.ContainsAny(s, " \t\r\n/") {
				d.errorf(a.Expr.Range(), "Invalid host", "host must be a host name or address (optionally with :port), not %q.", s)
			} else {
				h.Host = s
			}
		}
	}
	if a := at["headers"]; a != nil {
		if m, ok := d.strMap(a); ok {
			for k, v := range m {
				if !validToken(k) || strings.ContainsAny(v, "\r\n") {
					d.errorf(a.Expr.Range(), "Invalid header", "header %q is not a valid HTTP header.", k)
				}
			}
			h.Headers = m
		}
	}
	if a := at["expect_status"]; a != nil {
		if rs, ok := d.statusRanges(a); ok {
			h.ExpectStatus = rs
		}
	}
	if a := at["expect_body"]; a != nil {
		h.ExpectBody = d.regexp(a)
	}
	if a := at["expect_digest"]; a != nil {
		if s, ok := d.str(a); ok {
			s = strings.ToLower(strings.TrimSpace(s))
			if b, err := hex.DecodeString(s); err != nil || len(b) != 16 {
				d.errorf(a.Expr.Range(), "Invalid digest", "expect_digest must be an MD5 digest: 32 hex digits.")
			} else {
				h.ExpectDigest = s
			}
		}
	}
	if a := at["max_body_bytes"]; a != nil {
		if n, ok := d.integer(a, 1, 1<<30); ok {
			h.MaxBodyBytes = n
		}
	}
	useTLS := https
	if a := at["tls"]; a != nil {
		if v, ok := d.boolean(a); ok {
			if https && !v {
				d.errorf(a.Expr.Range(), "Conflicting arguments", "check \"https\" always uses TLS; use check \"http\" for plain HTTP.")
			}
			useTLS = useTLS || v
		}
	}
	t := &TLS{}
	for _, f := range []struct {
		name string
		dst  *string
	}{{"tls_ca_file", &t.CAFile}, {"tls_server_name", &t.ServerName}, {"tls_cert_file", &t.CertFile}, {"tls_key_file", &t.KeyFile}} {
		if a := at[f.name]; a != nil {
			if s, ok := d.nonEmpty(a); ok {
				*f.dst = s
			}
			if !useTLS {
				d.errorf(a.NameRange, "TLS setting without TLS", "%s needs tls = true (or check \"https\").", f.name)
			}
		}
	}
	if a := at["tls_skip_verify"]; a != nil {
		if v, ok := d.boolean(a); ok {
			t.SkipVerify = v
		}
		if !useTLS {
			d.errorf(a.NameRange, "TLS setting without TLS", "tls_skip_verify needs tls = true (or check \"https\").")
		}
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		rng := at["tls_cert_file"]
		if rng == nil {
			rng = at["tls_key_file"]
		}
		if rng != nil {
			d.errorf(rng.NameRange, "Incomplete client certificate", "tls_cert_file and tls_key_file go together.")
		}
	}
	if useTLS {
		h.TLS = t
	}
	return h
}

// statusRanges accepts numbers and "200-299" strings in a list, or a single one.
func (d *decoder) statusRanges(a *hcl.Attribute) ([]StatusRange, bool) {
	v, diags := a.Expr.Value(d.ctx)
	d.diags = append(d.diags, diags...)
	if diags.HasErrors() {
		return nil, false
	}
	var elems []cty.Value
	switch {
	case v.IsNull():
	case v.Type().IsListType() || v.Type().IsTupleType() || v.Type().IsSetType():
		elems = v.AsValueSlice()
	default:
		elems = []cty.Value{v}
	}
	bad := func(detail string) ([]StatusRange, bool) {
		d.errorf(a.Expr.Range(), "Invalid expect_status", "%s Write codes and ranges such as [200, 301] or [\"200-299\"]; codes are 100..599.", detail)
		return nil, false
	}
	if len(elems) == 0 {
		return bad("expect_status must list at least one code.")
	}
	var out []StatusRange
	for _, e := range elems {
		var s string
		switch {
		case e.IsNull():
			return bad("A code must not be null.")
		case e.Type() == cty.Number:
			s = numText(e.AsBigFloat())
		case e.Type() == cty.String:
			s = strings.TrimSpace(e.AsString())
		default:
			return bad("Codes are numbers or \"lo-hi\" strings.")
		}
		lo, hi, found := strings.Cut(s, "-")
		if !found {
			hi = lo
		}
		l, err1 := strconv.Atoi(strings.TrimSpace(lo))
		h, err2 := strconv.Atoi(strings.TrimSpace(hi))
		if err1 != nil || err2 != nil || l < 100 || h > 599 || l > h {
			return bad(strconv.Quote(s) + " is not a status code or range.")
		}
		out = append(out, StatusRange{l, h})
	}
	return out, true
}

func validToken(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r <= ' ' || r >= 0x7f || strings.ContainsRune("()<>@,;:\\\"/[]?={}", r) {
			return false
		}
	}
	return true
}

func (d *decoder) decodeTCP(at hcl.Attributes) *TCPCheck {
	t := &TCPCheck{}
	if a := at["send"]; a != nil {
		if s, ok := d.str(a); ok {
			t.Send = s
		}
	}
	if a := at["expect"]; a != nil {
		t.Expect = d.regexp(a)
	}
	return t
}

var mysqlTLSModes = []MySQLTLS{MySQLTLSOff, MySQLTLSOn, MySQLTLSSkipVerify}

func (d *decoder) decodeMySQL(b *hcl.Block, at hcl.Attributes) *MySQLCheck {
	m := &MySQLCheck{TLS: MySQLTLSOff, Query: DefaultMySQLQuery}
	if a := d.required(at, "user", b, " for a mysql check"); a != nil {
		if s, ok := d.nonEmpty(a); ok {
			m.User = s
		}
	}
	if a := at["password"]; a != nil {
		// Never echo the value: it may have come from env().
		v, diags := a.Expr.Value(d.ctx)
		d.diags = append(d.diags, diags...)
		if !diags.HasErrors() {
			if v.IsNull() || v.Type() != cty.String {
				d.errorf(a.Expr.Range(), "Incorrect attribute value type", "Inappropriate value for attribute \"password\": string required.")
			} else {
				m.Password = Secret(v.AsString())
			}
		}
	}
	if a := at["database"]; a != nil {
		if s, ok := d.nonEmpty(a); ok {
			m.Database = s
		}
	}
	if a := at["tls"]; a != nil {
		// bool true/false convert to the strings "true"/"false".
		if v, ok := enum(d, a, mysqlTLSModes); ok {
			m.TLS = v
		}
	}
	if a := at["query"]; a != nil {
		// query = "" means: log in and ping, run nothing.
		if s, ok := d.str(a); ok {
			m.Query = strings.TrimSpace(s)
		}
	}
	if a := at["expect"]; a != nil {
		if s, ok := d.str(a); ok {
			switch {
			case s == "":
				d.errorf(a.Expr.Range(), "Empty value", "expect must not be empty: omit it to accept any successful query.")
			case m.Query == "":
				d.errorf(a.Expr.Range(), "Expect without a query", "expect compares the result of query, and query is empty (log in and ping only).")
			default:
				m.Expect = s
			}
		}
	}
	return m
}

func (d *decoder) decodeExec(b *hcl.Block, at hcl.Attributes) *ExecCheck {
	e := &ExecCheck{}
	if a := at["shell"]; a != nil {
		if v, ok := d.boolean(a); ok {
			e.Shell = v
		}
	}
	if a := d.required(at, "command", b, " for an exec check"); a != nil {
		e.Command = d.command(a, e.Shell, `["/usr/local/bin/check", "--quick"]`)
	}
	if a := at["user"]; a != nil {
		if s, ok := d.nonEmpty(a); ok {
			e.User = s
		}
	}
	if a := at["dynamic_weight"]; a != nil {
		if v, ok := d.boolean(a); ok {
			e.DynamicWeight = v
		}
	}
	if a := at["env"]; a != nil {
		if m, ok := d.strMap(a); ok {
			for k := range m {
				if k == "" || strings.ContainsAny(k, "=\x00") {
					d.errorf(a.Expr.Range(), "Invalid environment", "%q is not an environment variable name.", k)
				}
			}
			e.Env = m
		}
	}
	return e
}

// command decodes a command attribute: an argv list, or with shell a string run as
// /bin/sh -c STRING. example is an argv for the message.
func (d *decoder) command(a *hcl.Attribute, shell bool, example string) []string {
	if shell {
		if s, ok := d.nonEmpty(a); ok {
			return []string{"/bin/sh", "-c", s}
		}
		return nil
	}
	if v, diags := a.Expr.Value(d.ctx); !diags.HasErrors() && v.Type() == cty.String {
		d.errorf(a.Expr.Range(), "Incorrect attribute value type",
			"command is an argv list, e.g. %s; for a shell command line set shell = true.", example)
		return nil
	}
	argv, ok := d.strList(a)
	if !ok {
		return nil
	}
	if len(argv) == 0 || argv[0] == "" {
		d.errorf(a.Expr.Range(), "Empty command", "command must name a program as its first element.")
		return nil
	}
	return argv
}
