package conf

import (
	"fmt"
	"math/big"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/agext/levenshtein"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// decoder evaluates attribute expressions into Go values and collects every problem as a
// located diagnostic, so that one run reports all of them.
type decoder struct {
	ctx   *hcl.EvalContext
	diags hcl.Diagnostics
	// groups are the virtual_server_group blocks by name, decoded before the virtual
	// servers that refer to them.
	groups map[string]*VirtualServerGroup
}

func (d *decoder) errorf(rng hcl.Range, summary, format string, args ...any) {
	r := rng
	d.diags = append(d.diags, &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  summary,
		Detail:   fmt.Sprintf(format, args...),
		Subject:  &r,
	})
}

// suggest returns the closest of candidates to given, or "" when none is close. It is
// the same threshold HCL uses for attribute names.
func suggest(given string, candidates []string) string {
	g := strings.ToLower(given)
	best, bestDist := "", 3
	for _, c := range candidates {
		lc := strings.ToLower(c)
		if g != "" && len(lc) >= 2 && (strings.HasPrefix(g, lc) || strings.HasPrefix(lc, g)) {
			return c // "warning" for "warn", "kern" for "kernel"
		}
		if d := levenshtein.Distance(g, lc, nil); d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

// didYouMean renders a hint sentence, or "" when there is no close candidate.
func didYouMean(given string, candidates []string) string {
	if s := suggest(given, candidates); s != "" {
		return fmt.Sprintf(" Did you mean %q?", s)
	}
	return ""
}

// eval evaluates a's expression. A quoted string without interpolation, most values of
// a configuration, is its literal part: what HCL's template evaluation makes of it, at a
// fraction of the cost.
func (d *decoder) eval(a *hcl.Attribute) (cty.Value, hcl.Diagnostics) {
	if t, ok := a.Expr.(*hclsyntax.TemplateExpr); ok && len(t.Parts) == 1 {
		if l, ok := t.Parts[0].(*hclsyntax.LiteralValueExpr); ok {
			if v := l.Val; v.Type() == cty.String && v.IsKnown() && !v.IsNull() && !v.IsMarked() {
				return v, nil
			}
		}
	}
	return a.Expr.Value(d.ctx)
}

// value evaluates a and converts it to ty. ok is false when a diagnostic was recorded.
func (d *decoder) value(a *hcl.Attribute, ty cty.Type, what string) (cty.Value, bool) {
	v, diags := d.eval(a)
	d.diags = append(d.diags, diags...)
	if diags.HasErrors() {
		return cty.NilVal, false
	}
	if v.IsNull() {
		d.errorf(a.Expr.Range(), "Invalid value", "%s must not be null.", a.Name)
		return cty.NilVal, false
	}
	if !v.IsWhollyKnown() {
		d.errorf(a.Expr.Range(), "Invalid value", "%s must be a known value.", a.Name)
		return cty.NilVal, false
	}
	cv, err := convert.Convert(v, ty)
	if err != nil {
		d.errorf(a.Expr.Range(), "Incorrect attribute value type",
			"Inappropriate value for attribute %q: %s required.", a.Name, what)
		return cty.NilVal, false
	}
	return cv, true
}

func (d *decoder) str(a *hcl.Attribute) (string, bool) {
	v, ok := d.value(a, cty.String, "string")
	if !ok {
		return "", false
	}
	return v.AsString(), true
}

// nonEmpty is str that also rejects "".
func (d *decoder) nonEmpty(a *hcl.Attribute) (string, bool) {
	s, ok := d.str(a)
	if ok && strings.TrimSpace(s) == "" {
		d.errorf(a.Expr.Range(), "Empty value", "%s must not be empty.", a.Name)
		return "", false
	}
	return s, ok
}

func (d *decoder) boolean(a *hcl.Attribute) (bool, bool) {
	v, ok := d.value(a, cty.Bool, "bool")
	if !ok {
		return false, false
	}
	return v.True(), true
}

// integer decodes a whole number in [lo, hi].
func (d *decoder) integer(a *hcl.Attribute, lo, hi int64) (int64, bool) {
	v, ok := d.value(a, cty.Number, "number")
	if !ok {
		return 0, false
	}
	bf := v.AsBigFloat()
	if !bf.IsInt() {
		d.errorf(a.Expr.Range(), "Invalid number", "%s must be a whole number, not %s.", a.Name, numText(bf))
		return 0, false
	}
	n, acc := bf.Int64()
	if acc != big.Exact || n < lo || n > hi {
		d.errorf(a.Expr.Range(), "Value out of range", "%s must be in %d..%d, not %s.", a.Name, lo, hi, numText(bf))
		return 0, false
	}
	return n, true
}

// numText formats a number for a message. Formatting a huge exponent exactly takes
// minutes (a string from env() can hold "1e99999999"), so those are only summarised.
func numText(bf *big.Float) string {
	// Text takes tens of microseconds on cty's 512-bit numbers: 0.1 s of vigil check's
	// (and vigil import's) CPU for 4,000 expect_status lists. Below 10^6 'g' writes an
	// integer's digits.
	if n, acc := bf.Int64(); acc == big.Exact && n > -1e6 && n < 1e6 {
		return strconv.FormatInt(n, 10)
	}
	if exp := bf.MantExp(nil); exp > 64 || exp < -64 {
		return "a number of magnitude 2^" + strconv.Itoa(exp)
	}
	return bf.Text('g', -1)
}

// duration decodes a Go duration string ("2s", "100ms") in [lo, hi].
func (d *decoder) duration(a *hcl.Attribute, lo, hi time.Duration) (time.Duration, bool) {
	v, diags := d.eval(a)
	if !diags.HasErrors() && v.Type() == cty.Number {
		d.errorf(a.Expr.Range(), "Invalid duration",
			"%s is a duration: write it as a string with a unit, e.g. \"2s\" or \"500ms\".", a.Name)
		return 0, false
	}
	s, ok := d.str(a)
	if !ok {
		return 0, false
	}
	dur, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		d.errorf(a.Expr.Range(), "Invalid duration",
			"%q is not a duration: use a number with a unit (ms, s, m, h), e.g. \"2s\" or \"500ms\".", s)
		return 0, false
	}
	if dur < lo || dur > hi {
		d.errorf(a.Expr.Range(), "Value out of range", "%s must be in %s..%s, not %s.", a.Name, fmtDur(lo), fmtDur(hi), s)
		return 0, false
	}
	return dur, true
}

// fmtDur renders a duration compactly ("31d" reads better than "744h0m0s").
func fmtDur(d time.Duration) string {
	if d >= 24*time.Hour && d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func (d *decoder) strList(a *hcl.Attribute) ([]string, bool) {
	v, ok := d.value(a, cty.List(cty.String), "list of strings")
	if !ok {
		return nil, false
	}
	out := []string{}
	for i, e := range v.AsValueSlice() {
		if e.IsNull() {
			d.errorf(a.Expr.Range(), "Invalid value", "element %d of %s must not be null.", i, a.Name)
			return nil, false
		}
		out = append(out, e.AsString())
	}
	return out, true
}

func (d *decoder) strMap(a *hcl.Attribute) (map[string]string, bool) {
	v, ok := d.value(a, cty.Map(cty.String), "map of strings")
	if !ok {
		return nil, false
	}
	out := map[string]string{}
	for k, e := range v.AsValueMap() {
		if e.IsNull() {
			d.errorf(a.Expr.Range(), "Invalid value", "%s[%q] must not be null.", a.Name, k)
			return nil, false
		}
		out[k] = e.AsString()
	}
	return out, true
}

// enum decodes one of valid, with a "did you mean" hint for a near miss.
func enum[T ~string](d *decoder, a *hcl.Attribute, valid []T) (T, bool) {
	s, ok := d.str(a)
	if !ok {
		return "", false
	}
	names := make([]string, len(valid))
	for i, v := range valid {
		names[i] = string(v)
		if string(v) == s {
			return v, true
		}
	}
	d.errorf(a.Expr.Range(), "Invalid value for "+a.Name,
		"%q is not valid; use one of %s.%s", s, strings.Join(names, ", "), didYouMean(s, names))
	return "", false
}

// parseIP parses a bare IP address without a zone and unmaps IPv4-mapped IPv6.
func parseIP(s string) (netip.Addr, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		s = s[1 : len(s)-1]
	}
	ip, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("%q is not an IP address", s)
	}
	if ip.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("%q has a zone; zones are not supported", s)
	}
	return ip.Unmap(), nil
}

// parseEndpoint parses "ip", "ip:port", "[v6]" or "[v6]:port". port is -1 when absent.
func parseEndpoint(s string) (netip.Addr, int, error) {
	s = strings.TrimSpace(s)
	if ip, err := parseIP(s); err == nil {
		return ip, -1, nil
	}
	host, portStr, err := net.SplitHostPort(s)
	if err != nil {
		return netip.Addr{}, 0, fmt.Errorf("%q is not an address: write \"ip:port\" (IPv6: \"[ip]:port\")", s)
	}
	ip, err := parseIP(host)
	if err != nil {
		return netip.Addr{}, 0, err
	}
	port, err := strconv.ParseUint(portStr, 10, 64)
	if err != nil {
		return netip.Addr{}, 0, fmt.Errorf("port %q of %q is not a number", portStr, s)
	}
	if port < 1 || port > 65535 {
		return netip.Addr{}, 0, errPortRange{port}
	}
	return ip, int(port), nil
}

type errPortRange struct{ port uint64 }

func (e errPortRange) Error() string { return fmt.Sprintf("port %d is not in 1..65535", e.port) }

// endpoint decodes an address attribute. needPort: the port is required.
func (d *decoder) endpoint(a *hcl.Attribute, needPort bool) (netip.Addr, int, bool) {
	s, ok := d.str(a)
	if !ok {
		return netip.Addr{}, 0, false
	}
	ip, port, err := parseEndpoint(s)
	if err != nil {
		summary := "Invalid address"
		if _, ok := err.(errPortRange); ok {
			summary = "Port out of range"
		}
		d.errorf(a.Expr.Range(), summary, "%s: %s.", a.Name, err)
		return netip.Addr{}, 0, false
	}
	if needPort && port < 0 {
		d.errorf(a.Expr.Range(), "Missing port", "%s must be \"ip:port\" (IPv6: \"[ip]:port\"); %q has no port.", a.Name, s)
		return netip.Addr{}, 0, false
	}
	if ip.IsUnspecified() || ip.IsMulticast() {
		d.errorf(a.Expr.Range(), "Invalid address", "%s: %s cannot be an unspecified or multicast address.", a.Name, ip)
		return netip.Addr{}, 0, false
	}
	return ip, port, true
}

func (d *decoder) ip(a *hcl.Attribute) (netip.Addr, bool) {
	s, ok := d.str(a)
	if !ok {
		return netip.Addr{}, false
	}
	ip, err := parseIP(s)
	if err != nil {
		d.errorf(a.Expr.Range(), "Invalid address", "%s: %s.", a.Name, err)
		return netip.Addr{}, false
	}
	return ip, true
}

// required reports a missing attribute at the block's definition.
func (d *decoder) required(attrs hcl.Attributes, name string, block *hcl.Block, why string) *hcl.Attribute {
	if a := attrs[name]; a != nil {
		return a
	}
	d.errorf(block.DefRange, "Missing required argument", "The argument %q is required%s.", name, why)
	return nil
}

// attrSchema builds a schema of optional attributes; requiredness is checked by the
// decoder so that the error points at the block's header.
func attrSchema(names ...string) []hcl.AttributeSchema {
	out := make([]hcl.AttributeSchema, len(names))
	for i, n := range names {
		out[i] = hcl.AttributeSchema{Name: n}
	}
	return out
}

// checkName validates a block label used as a name in status, metrics and references.
func (d *decoder) checkName(b *hcl.Block) string {
	name := b.Labels[0]
	rng := b.LabelRanges[0]
	switch {
	case name == "":
		d.errorf(rng, "Invalid name", "A %s name must not be empty.", b.Type)
	case len(name) > 64:
		d.errorf(rng, "Invalid name", "A %s name must be at most 64 characters.", b.Type)
	case !validName(name):
		d.errorf(rng, "Invalid name",
			"%q: a %s name may contain only letters, digits, '_', '-' and '.', and must start with a letter or digit.", name, b.Type)
	}
	return name
}

func validName(s string) bool {
	for i, r := range s {
		alnum := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
		if !alnum && (i == 0 || !strings.ContainsRune("_-.", r)) {
			return false
		}
	}
	return s != ""
}

// uniqueNames reports blocks of one type whose names repeat.
func (d *decoder) uniqueNames(blocks []*hcl.Block) {
	seen := map[string]*hcl.Block{}
	for _, b := range blocks {
		name := b.Labels[0]
		if first, ok := seen[name]; ok {
			d.errorf(b.LabelRanges[0], "Duplicate "+b.Type,
				"A %s named %q is already defined at %s.", b.Type, name, first.DefRange.String())
			continue
		}
		seen[name] = b
	}
}

// atMostOne reports repeated single blocks (global, persistence, ipvs_timeouts).
func (d *decoder) atMostOne(blocks hcl.Blocks, typ string) *hcl.Block {
	var first *hcl.Block
	for _, b := range blocks {
		if b.Type != typ {
			continue
		}
		if first != nil {
			d.errorf(b.DefRange, "Duplicate "+typ+" block",
				"Only one %s block is allowed here; the first is at %s.", typ, first.DefRange.String())
			continue
		}
		first = b
	}
	return first
}

func ofType(blocks hcl.Blocks, typ string) []*hcl.Block {
	return slices.DeleteFunc(slices.Clone([]*hcl.Block(blocks)), func(b *hcl.Block) bool { return b.Type != typ })
}
