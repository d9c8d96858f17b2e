package conf

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
)

// diagnosticsOf returns "line:col Summary: Detail" of every diagnostic of src.
func diagnosticsOf(t *testing.T, src string) []string {
	t.Helper()
	_, diags := parse([]byte(src), "test.hcl", testOptions(nil))
	var out []string
	for _, d := range diags {
		pos := "-"
		if d.Subject != nil {
			pos = fmt.Sprintf("%d:%d", d.Subject.Start.Line, d.Subject.Start.Column)
		}
		out = append(out, pos+" "+d.Summary+": "+d.Detail)
	}
	return out
}

func TestKeepalivedNamesInDiagnostics(t *testing.T) {
	for _, tc := range []struct {
		name, src, want string
	}{
		{"advert_int", vi("  advert_int = 1"), "5:3 Unsupported argument: `advert_int` is keepalived's name; vigil's is `advert_interval`."},
		{"global_defs", "global_defs {\n}\n", "1:1 Unsupported block type: `global_defs` is keepalived's name; vigil's is `global`."},
		{"virtual_ipaddress block", vi("  virtual_ipaddress {\n  }"), "5:3 Unsupported block type: `virtual_ipaddress` is keepalived's name; vigil's is `virtual_ipaddresses`. It is a list"},
		{"state", vi("  state = \"MASTER\""), "5:3 Unsupported argument: `state` is keepalived's; vigil has no equivalent. vigil has no initial state"},
		{"auth_pass", v2("  authentication {\n    type = \"pass\"\n    password = \"x\"\n    auth_pass = \"x\"\n  }"),
			"9:5 Unsupported argument: `auth_pass` is keepalived's name; vigil's is `password`."},
		{"persistence_timeout", "virtual_server \"web\" {\n  fwmark = 1\n  persistence_timeout = 50\n}\n",
			"3:3 Unsupported argument: `persistence_timeout` is keepalived's name; vigil's is `timeout` in the `persistence` block."},
		{"HTTP_GET", vs("    address = \"198.18.0.21\"\n    HTTP_GET {\n    }"), "6:5 Unsupported block type: `HTTP_GET` is keepalived's name; vigil's is `check \"http\"`."},
		{"status_code in a check", chk("http", "      status_code = 200"), "7:7 Unsupported argument: `status_code` is keepalived's name; vigil's is `expect_status`."},
		{"misc_path", chk("exec", "      command = [\"/bin/true\"]\n      misc_path = \"/bin/true\""), "8:7 Unsupported argument: `misc_path` is keepalived's name; vigil's is `command`."},
		{"inhibit_on_failure in a real server", vs("    address = \"198.18.0.21\"\n    inhibit_on_failure = true"),
			"6:5 Unsupported argument: `inhibit_on_failure` is keepalived's name; vigil's is `on_failure` in the `virtual_server` block."},
		// A name in neither vigil nor the table keeps HCL's own hint.
		{"a plain typo", vi("  advert_intervall = \"1s\""), `5:3 Unsupported argument: An argument named "advert_intervall" is not expected here. Did you mean "advert_interval"?`},
		// A keepalived keyword in a block where keepalived does not take it either.
		{"auth_pass in the instance", vi("  auth_pass = \"x\""), `5:3 Unsupported argument: An argument named "auth_pass" is not expected here.`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := diagnosticsOf(t, tc.src)
			if !slices.ContainsFunc(got, func(s string) bool { return strings.HasPrefix(s, tc.want) }) {
				t.Errorf("want a diagnostic starting %q; got:\n  %s", tc.want, strings.Join(got, "\n  "))
			}
		})
	}
}

// vigilSchema is the schema of a vigil block path, as the table writes paths.
func vigilSchema(path string) (*hcl.BodySchema, bool) {
	if kind, ok := strings.CutPrefix(path, `virtual_server/real_server/check "`); ok {
		kind = strings.TrimSuffix(kind, `"`)
		if kind == "https" {
			kind = string(CheckHTTP)
		}
		return checkSchema(CheckKind(kind), nil), true
	}
	s, ok := map[string]*hcl.BodySchema{
		"": rootSchema, "global": globalSchema, "global/ipvs_timeouts": timeoutsSchema,
		"vrrp_instance": vrrpSchema, "vrrp_instance/authentication": authSchema, "vrrp_instance/ipvs_sync": ipvsSyncSchema,
		"vrrp_sync_group": syncGroupSchema, "virtual_server": vsSchema, "virtual_server/persistence": persistenceSchema,
		"vrrp_script": vrrpScriptSchema, "track_process": trackProcessSchema, "track_file": trackFileSchema,
		"virtual_server/real_server": rsSchema, "virtual_server_group": groupSchema, "virtual_server/real_server/check": {Attributes: attrSchema(commonCheckAttrs...)},
	}[path]
	return s, ok
}

func hasName(s *hcl.BodySchema, name string) bool {
	for _, a := range s.Attributes {
		if a.Name == name {
			return true
		}
	}
	for _, b := range s.Blocks {
		if b.Type == name || len(b.LabelNames) == 1 && strings.HasPrefix(name, b.Type+` "`) {
			return true
		}
	}
	return false
}

// vigilPathOf follows the table's block entries from a keepalived block to the vigil
// block its keywords go in.
func vigilPathOf(t *testing.T, in string) string {
	t.Helper()
	ka, vigil := "", ""
	for seg := range strings.SplitSeq(in, "/") {
		if seg == "" {
			continue
		}
		e, ok := LookupKeepalived(ka, seg)
		if !ok || !e.Opens {
			t.Fatalf("keepalived block %q: no block entry for %q in %q", in, seg, ka)
		}
		ka, vigil = joinPath(ka, seg), e.VigilIn
		if e.Vigil != "" {
			vigil = joinPath(e.VigilIn, e.Vigil)
		}
	}
	return vigil
}

// wrapIn writes line into a minimal configuration inside the vigil block path.
func wrapIn(path, line string) string {
	if kind, ok := strings.CutPrefix(path, `virtual_server/real_server/check "`); ok {
		return chk(strings.TrimSuffix(kind, `"`), "      "+line)
	}
	switch path {
	case "":
		return line + "\n"
	case "global":
		return "global {\n  " + line + "\n}\n"
	case "vrrp_instance":
		return vi("  " + line)
	case "vrrp_instance/authentication":
		return v2("  authentication {\n    type = \"pass\"\n    password = \"x\"\n    " + line + "\n  }")
	case "vrrp_sync_group":
		return vi("") + "vrrp_sync_group \"G\" {\n  instances = [\"VI_1\"]\n  " + line + "\n}\n"
	case "virtual_server":
		return "virtual_server \"web\" {\n  fwmark = 1\n  " + line + "\n}\n"
	case "virtual_server/real_server":
		return vs("    address = \"198.18.0.21\"\n    " + line)
	case "vrrp_script":
		return "vrrp_script \"chk\" {\n  command = [\"true\"]\n  " + line + "\n}\n"
	case "track_process":
		return "track_process \"p\" {\n  process = \"haproxy\"\n  " + line + "\n}\n"
	case "track_file":
		return "track_file \"f\" {\n  path = \"/run/prio\"\n  " + line + "\n}\n"
	case "virtual_server_group":
		return "virtual_server_group \"g\" {\n  fwmarks = [1]\n  " + line + "\n}\n"
	}
	return ""
}

// Every entry of the table holds: its keepalived block is reachable through block
// entries, vigil's equivalent exists where it says, no keyword is listed twice for one
// block, and the keyword written in the corresponding vigil block gets the entry's
// explanation (unless vigil takes the same name there).
func TestKeepalivedKeywordsTable(t *testing.T) {
	seen := map[string]bool{}
	for _, e := range KeepalivedKeywords {
		key := e.In + " " + e.Keyword
		if seen[key] {
			t.Errorf("%s: listed twice", key)
		}
		seen[key] = true
		if e.Vigil != "" {
			s, ok := vigilSchema(e.VigilIn)
			if !ok {
				t.Errorf("%s: vigil block %q unknown", key, e.VigilIn)
			} else if !hasName(s, e.Vigil) {
				t.Errorf("%s: vigil's %q has no %q", key, e.VigilIn, e.Vigil)
			}
		} else if !e.Opens && e.Note == "" {
			t.Errorf("%s: no vigil equivalent and no note saying why", key)
		}
		path := vigilPathOf(t, e.In)
		if e.Vigil == e.Keyword && e.VigilIn == path {
			continue // the same name in the same place: nothing to explain
		}
		src := wrapIn(path, e.Keyword+" = 1")
		if src == "" {
			t.Errorf("%s: no template for vigil block %q", key, path)
			continue
		}
		want := e.explain(path)
		if got := diagnosticsOf(t, src); !slices.ContainsFunc(got, func(s string) bool { return strings.HasSuffix(s, want) }) {
			t.Errorf("%s written in vigil's %q: want %q; got:\n  %s", key, path, want, strings.Join(got, "\n  "))
		}
	}
	if len(KeepalivedKeywords) < 100 {
		t.Errorf("%d keywords; keepalived's VRRP and LVS configurations use more", len(KeepalivedKeywords))
	}
}
