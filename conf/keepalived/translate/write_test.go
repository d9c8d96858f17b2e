package translate

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"

	"github.com/vigil-lb/vigil/conf"
	"github.com/vigil-lb/vigil/conf/keepalived"
)

// hclwriteBlock is how vigil import wrote a block before its own writer: an hclwrite
// file of the block, formatted by File.Bytes. The writer must write the same bytes.
func hclwriteBlock(b *vblock) []byte {
	f := hclwrite.NewEmptyFile()
	hclwriteInto(f.Body(), b)
	return f.Bytes()
}

func hclwriteInto(body *hclwrite.Body, b *vblock) {
	if b.src != "" && !b.dropped {
		hclwriteComment(body, b.src)
	}
	if b.typ == "" {
		for _, it := range b.items {
			hclwriteComment(body, it.comment)
		}
		return
	}
	if b.dropped {
		if b.src != "" {
			hclwriteComment(body, b.src)
		}
		hclwriteComment(body, b.why)
		sub := hclwriteBlock(&vblock{typ: b.typ, labels: b.labels, items: b.items})
		for l := range strings.SplitSeq(strings.TrimRight(string(sub), "\n"), "\n") {
			if strings.HasPrefix(strings.TrimSpace(l), "#") {
				hclwriteComment(body, l)
			} else {
				hclwriteComment(body, "  "+l)
			}
		}
		return
	}
	nb := body.AppendNewBlock(b.typ, b.labels).Body()
	for _, it := range b.items {
		switch {
		case it.blk != nil:
		case it.name != "":
			nb.SetAttributeValue(it.name, it.val)
		default:
			hclwriteComment(nb, it.comment)
		}
	}
	for _, it := range b.items {
		if it.blk != nil {
			hclwriteInto(nb, it.blk)
		}
	}
}

func hclwriteComment(body *hclwrite.Body, text string) {
	text = commentSafe(text)
	line := "#"
	if text != "" {
		line += " " + text
	}
	body.AppendUnstructuredTokens(hclwrite.Tokens{{Type: hclsyntax.TokenComment, Bytes: []byte(line + "\n")}})
}

// oddBlocks are blocks the corpus does not have: the values, names and layouts where a
// writer of HCL could part from hclwrite.
func oddBlocks() []*vblock {
	obj := cty.ObjectVal(map[string]cty.Value{"address": str("10.0.0.1"), "dev": str("eth1"), "a-b": str("x"), "label": str("")})
	b := newBlock("virtual_server", `we"ird ${x} %{y} é`, "")
	b.src = "f.conf:1"
	b.comment("a comment with\ttab, é, \u200b and \U0001F600")
	b.comment("")
	b.set("a", str(""))
	b.set("bb", str("line\nbreak\r\t\"q\" \\ $x ${y} %z %{w} \x01 \u00ad \U000e0001 é (e\u0301) 😀"))
	b.set("ccc", num(-12))
	b.set("dddd", num(0))
	b.set("n", cty.NumberFloatVal(1.5))
	b.set("big", cty.MustParseNumberVal("123456789012345678901234567890"))
	b.set("t", cty.True)
	b.set("f", cty.False)
	b.set("nul", cty.NullVal(cty.String))
	b.set("el", cty.ListValEmpty(cty.String))
	b.set("et", cty.EmptyTupleVal)
	b.set("eo", cty.EmptyObjectVal)
	b.set("l", strList([]string{"a", "", "b c"}))
	b.set("tu", cty.TupleVal([]cty.Value{num(1), str("x"), cty.True, obj, str("y"), obj, cty.ListVal([]cty.Value{num(2)})}))
	b.set("o", obj)
	b.set("in", str("keyword"))
	b.set("longer_name_than_the_others", num(1))
	b.items = append(b.items, item{name: "a", val: str("again: hclwrite replaces it in place")})
	rs := b.add(newBlock("real_server", "r"))
	rs.src = "f.conf:3"
	rs.set("x", num(1))
	rs.comment("between")
	rs.set("yy", num(2))
	c := rs.add(newBlock("check", "http"))
	c.set("expect_status", cty.TupleVal([]cty.Value{num(200), str("300-399")}))
	rs.add(newBlock("empty"))
	dropped := newBlock("vrrp_instance", "d")
	dropped.src = "f.conf:9"
	dropped.dropped, dropped.why = true, "vigil check refuses this"
	dropped.set("priority", num(100))
	dropped.set("virtual_ipaddresses", cty.TupleVal([]cty.Value{str("10.0.0.1"), obj}))
	dropped.add(newBlock("track_interface", "eth0")).set("weight", num(-5))
	only := newBlock("")
	only.comment("f.conf:12: keyword: a note")
	return []*vblock{b, dropped, only, newBlock("global"), newBlock("x", "ünïcode", "\u0301")}
}

// corpusBlocks translates the corpus and the benchmark's file and returns their blocks.
func corpusBlocks(t *testing.T) []*vblock {
	t.Helper()
	var out []*vblock
	for _, c := range corpus(t) {
		cfg, err := keepalived.Read(c.file, keepalived.Options{ConfigID: c.id})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, translated(t, cfg).blocks...)
	}
	fsys := fstest.MapFS{"k/main.conf": {Data: bigConfN(20)}}
	cfg, err := keepalived.Read("/k/main.conf", keepalived.Options{FS: keepalived.FromFS(fsys), ConfigID: "lb1"})
	if err != nil {
		t.Fatal(err)
	}
	return append(out, translated(t, cfg).blocks...)
}

// translated is Translate's tr, kept.
func translated(t *testing.T, cfg *keepalived.Config) *tr {
	t.Helper()
	tt := &tr{cfg: cfg, names: map[string]map[string]bool{}, nodeLabel: map[*keepalived.Node]string{}}
	tt.prepass(cfg.Nodes)
	for _, n := range cfg.Nodes {
		tt.top(n)
	}
	tt.finish()
	tt.validate()
	return tt
}

// TestWriterIsHCLWrite: the writer writes what hclwrite wrote, byte for byte, for every
// block of the corpus and for blocks of odd values and layouts; and hclwrite's
// formatter leaves the output as it is.
func TestWriterIsHCLWrite(t *testing.T) {
	blocks := append(corpusBlocks(t), oddBlocks()...)
	for i, b := range blocks {
		want := hclwriteBlock(b)
		got := render(b, outName).text
		if !bytes.Equal(got, want) {
			t.Errorf("block %d (%s %q): the writer differs from hclwrite:\n%s", i, b.typ, b.labels, lineDiff(string(want), string(got)))
		}
		if f := hclwrite.Format(got); !bytes.Equal(f, got) {
			t.Errorf("block %d: hclwrite.Format changes the output:\n%s", i, lineDiff(string(got), string(f)))
		}
	}
}

// TestOutputIsFormatted: a whole output is as hclwrite.Format writes it.
func TestOutputIsFormatted(t *testing.T) {
	for _, c := range corpus(t)[:8] {
		cfg, err := keepalived.Read(c.file, keepalived.Options{ConfigID: c.id})
		if err != nil {
			t.Fatal(err)
		}
		res, err := Translate(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if f := hclwrite.Format(res.HCL); !bytes.Equal(f, res.HCL) {
			t.Errorf("%s: hclwrite.Format changes the output:\n%s", c.file, lineDiff(string(res.HCL), string(f)))
		}
	}
}

// TestTreeIsParse: the syntax tree the writer builds is the one HCL's parser makes of
// the text (node types, values, every source range), for the corpus and odd blocks;
// so conf.ParseTree on it says what conf.Parse of the text says.
func TestTreeIsParse(t *testing.T) {
	tt := &tr{cfg: &keepalived.Config{Files: []string{"f.conf"}}, blocks: append(corpusBlocks(t), oddBlocks()...)}
	out, _, body := tt.renderAll(tt.header())
	file, diags := hclsyntax.ParseConfig(out, outName, hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatalf("the output does not parse: %s", diags.Error())
	}
	sameTree(t, "", reflect.ValueOf(body), reflect.ValueOf(file.Body.(*hclsyntax.Body)))
}

// sameTree compares two syntax trees field by field (pointers by what they point to,
// cty values by equality, maps by key).
func sameTree(t *testing.T, path string, got, want reflect.Value) {
	t.Helper()
	if t.Failed() && strings.Count(path, ".") > 0 {
		return // the first difference says enough
	}
	if got.Kind() != want.Kind() {
		t.Errorf("%s: kind %s, want %s", path, got.Kind(), want.Kind())
		return
	}
	switch got.Kind() {
	case reflect.Interface, reflect.Pointer:
		if got.IsNil() || want.IsNil() {
			if got.IsNil() != want.IsNil() {
				t.Errorf("%s: nil %v, want nil %v", path, got.IsNil(), want.IsNil())
			}
			return
		}
		if got.Kind() == reflect.Interface && got.Elem().Type() != want.Elem().Type() {
			t.Errorf("%s: %s, want %s", path, got.Elem().Type(), want.Elem().Type())
			return
		}
		sameTree(t, path, got.Elem(), want.Elem())
	case reflect.Struct:
		if got.Type() == reflect.TypeOf(cty.Value{}) {
			g, w := got.Interface().(cty.Value), want.Interface().(cty.Value)
			if !g.RawEquals(w) {
				t.Errorf("%s: value %#v, want %#v", path, g, w)
			}
			return
		}
		for i := range got.NumField() {
			f := got.Type().Field(i)
			if !f.IsExported() {
				continue // hiddenAttrs, isTraverser
			}
			sameTree(t, path+"."+f.Name, got.Field(i), want.Field(i))
		}
	case reflect.Slice:
		if got.Len() != want.Len() {
			t.Errorf("%s: %d elements, want %d", path, got.Len(), want.Len())
			return
		}
		for i := range got.Len() {
			sameTree(t, fmt.Sprintf("%s[%d]", path, i), got.Index(i), want.Index(i))
		}
	case reflect.Map:
		if got.Len() != want.Len() {
			t.Errorf("%s: %d keys %v, want %d %v", path, got.Len(), got.MapKeys(), want.Len(), want.MapKeys())
			return
		}
		for _, k := range want.MapKeys() {
			if !got.MapIndex(k).IsValid() {
				t.Errorf("%s: no key %v", path, k)
				continue
			}
			sameTree(t, fmt.Sprintf("%s[%v]", path, k), got.MapIndex(k), want.MapIndex(k))
		}
	default:
		if !reflect.DeepEqual(got.Interface(), want.Interface()) {
			t.Errorf("%s: %v, want %v", path, got.Interface(), want.Interface())
		}
	}
}

// TestParseTreeRefusesAsParse: on an output vigil refuses, conf.ParseTree of the tree
// gives conf.Parse's diagnostics, at the same places; and the block is left out.
func TestParseTreeRefusesAsParse(t *testing.T) {
	vs := newBlock("virtual_server", "v")
	vs.set("address", str("10.0.0.1:80"))
	vs.set("protocol", str("tcp"))
	vs.set("scheduler", str("no-such"))
	rs := vs.add(newBlock("real_server", "r"))
	rs.set("address", str("10.0.0.2:80"))
	rs.set("weight", num(-1))
	ok := newBlock("virtual_server", "ok")
	ok.set("address", str("10.0.0.1:81"))
	ok.set("protocol", str("tcp"))
	tt := &tr{cfg: &keepalived.Config{Files: []string{"f.conf"}}, blocks: []*vblock{vs, ok}}
	out, _, body := tt.renderAll(tt.header())
	_, want := conf.Parse(out, outName)
	_, got := conf.ParseTree(out, outName, body)
	if !want.HasErrors() {
		t.Fatalf("vigil check accepts the test's output:\n%s", out)
	}
	if g, w := diagText(got), diagText(want); g != w {
		t.Errorf("ParseTree:\n%s\nParse:\n%s", g, w)
	}
	res := tt.validate()
	if !vs.dropped || ok.dropped || !bytes.Contains(res, []byte("vigil check refuses this virtual_server")) {
		t.Errorf("the refused block is not left out (or the good one is):\n%s", res)
	}
	if _, d := conf.Parse(res, outName); d.HasErrors() {
		t.Errorf("the output with the block left out does not pass: %s", d.Error())
	}
}

func diagText(ds hcl.Diagnostics) string {
	var b strings.Builder
	for _, d := range ds {
		fmt.Fprintf(&b, "%v %s: %s: %s\n", d.Severity, d.Subject, d.Summary, d.Detail)
	}
	return b.String()
}

// FuzzWriter: for any strings as labels, values, names and comments, and any numbers,
// the writer writes what hclwrite writes, and its tree is what HCL's parser makes of it.
func FuzzWriter(f *testing.F) {
	f.Add("label", "value", "a comment", "name", int64(1))
	f.Add(`we"ird ${x}`, "line\nbreak %{y} \x01 é\u0301 😀", "\u200b\t", "in", int64(-7))
	f.Add("", "", "", "a-b", int64(0))
	f.Fuzz(func(t *testing.T, label, val, comment, key string, n int64) {
		key = str(key).AsString() // vigil import's keys are its own names: valid UTF-8
		obj := cty.ObjectVal(map[string]cty.Value{"address": str(val), key: num(n)})
		b := newBlock("virtual_server", str(label).AsString())
		b.src = comment
		b.comment(comment)
		b.set("a", str(val))
		b.set("longer", num(n))
		b.set("l", cty.TupleVal([]cty.Value{str(val), num(n), obj, str(label)}))
		b.set("o", obj)
		nb := b.add(newBlock("real_server", str(val).AsString(), str(comment).AsString()))
		nb.comment(val)
		nb.set("x", strList([]string{label, val}))
		d := newBlock("vrrp_instance", str(key).AsString())
		d.dropped, d.why = true, comment
		d.set("k", obj)
		for _, blk := range []*vblock{b, d} {
			want := hclwriteBlock(blk)
			if got := render(blk, outName).text; !bytes.Equal(got, want) {
				t.Fatalf("the writer differs from hclwrite:\n%s\n--- writer:\n%s\n--- hclwrite:\n%s", lineDiff(string(want), string(got)), got, want)
			}
		}
		tt := &tr{cfg: &keepalived.Config{}, blocks: []*vblock{b, d}}
		out, _, body := tt.renderAll(nil)
		file, diags := hclsyntax.ParseConfig(out, outName, hcl.InitialPos)
		if diags.HasErrors() {
			t.Fatalf("the output does not parse: %s\n%s", diags.Error(), out)
		}
		sameTree(t, "", reflect.ValueOf(body), reflect.ValueOf(file.Body.(*hclsyntax.Body)))
	})
}
