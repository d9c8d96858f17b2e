package conf

import (
	"reflect"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// TestParseTreeIsParse: given the parser's tree of src, ParseTree says what Parse says,
// for a valid file, one with errors and one beyond the limits.
func TestParseTreeIsParse(t *testing.T) {
	valid := `virtual_server "web" {
  address  = "198.18.0.1:80"
  protocol = "tcp"
  real_server "a" {
    address = "198.18.1.1:80"
    weight  = -1
  }
}
`
	tests := []struct {
		name, src string
		wantErr   bool
	}{
		{"valid", valid[:len(valid)-len("    weight  = -1\n  }\n}\n")] + "  }\n}\n", false},
		{"errors", valid, true},
		{"beyond the limits", valid + string(make([]byte, DefaultMaxBytes)), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := []byte(tt.src)
			body := &hclsyntax.Body{} // (the parser would take minutes on 16 MiB of NULs)
			if len(src) < DefaultMaxBytes {
				file, _ := hclsyntax.ParseConfig(src, "x.hcl", hcl.InitialPos)
				body = file.Body.(*hclsyntax.Body)
			}
			wantCfg, want := Parse(src, "x.hcl")
			gotCfg, got := ParseTree(src, "x.hcl", body)
			if got.HasErrors() != tt.wantErr {
				t.Fatalf("errors %v, want %v: %s", got.HasErrors(), tt.wantErr, got.Error())
			}
			if got.Error() != want.Error() {
				t.Errorf("ParseTree: %s\nParse:     %s", got.Error(), want.Error())
			}
			if !reflect.DeepEqual(gotCfg, wantCfg) {
				t.Errorf("ParseTree's configuration differs from Parse's:\n%#v\n%#v", gotCfg, wantCfg)
			}
		})
	}
}

// TestNumText: the digits of an integer below 10^6, as big.Float's Text('g', -1) writes
// them, and Text's own form elsewhere.
func TestNumText(t *testing.T) {
	for _, tt := range []struct {
		in   cty.Value
		want string
	}{
		{cty.NumberIntVal(0), "0"},
		{cty.NumberIntVal(200), "200"},
		{cty.MustParseNumberVal("-5"), "-5"},
		{cty.MustParseNumberVal("999999"), "999999"},
		{cty.NumberIntVal(1000000), "1e+06"},
		{cty.NumberFloatVal(1.5), "1.5"},
		{cty.MustParseNumberVal("1e99999"), "a number of magnitude 2^332190"},
	} {
		if got := numText(tt.in.AsBigFloat()); got != tt.want {
			t.Errorf("numText(%s) = %q, want %q", tt.in.AsBigFloat().Text('g', 10), got, tt.want)
		}
		if bf := tt.in.AsBigFloat(); bf.MantExp(nil) < 64 {
			if want := bf.Text('g', -1); numText(bf) != want {
				t.Errorf("numText(%v) = %q, Text gives %q", bf, numText(bf), want)
			}
		}
	}
}
