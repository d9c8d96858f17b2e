package conf

import (
	"fmt"
	"strings"
	"testing"
)

// v2 wraps authentication lines in a version 2 instance (vi's lines, then line 5
// version = 2, 6.. body).
func v2(body string) string { return vi("  version = 2\n" + body) }

func TestAuthentication(t *testing.T) {
	for _, tc := range []struct {
		body string
		want Authentication
	}{
		{"  authentication {\n    type = \"pass\"\n    password = \"s3cr3t\"\n  }", Authentication{Type: AuthPass, Password: "s3cr3t"}},
		{"  authentication {\n    type = \"ah\"\n    password = env(\"PW\")\n  }", Authentication{Type: AuthAH, Password: "8-chars!"}},
	} {
		cfg := mustParse(t, v2(tc.body), map[string]string{"PW": "8-chars!"})
		got := cfg.VRRPInstances[0].Authentication
		if got == nil || got.Type != tc.want.Type || got.Password.Reveal() != tc.want.Password.Reveal() {
			t.Errorf("%s: got %+v, want %+v", tc.body, got, tc.want)
		}
	}
	if cfg := mustParse(t, v2(""), nil); cfg.VRRPInstances[0].Authentication != nil {
		t.Error("no block, yet authentication")
	}
}

func TestAuthenticationInvalid(t *testing.T) {
	block := func(lines string) string { return "  authentication {\n" + lines + "\n  }" }
	for _, tc := range []struct {
		name, src, want, pos string
	}{
		{"with version 3", vi(block("    type = \"pass\"\n    password = \"x\"")), "RFC 5798 §9", "5:3"},
		{"keepalived's spelling of the type", v2(block("    type = \"PASS\"\n    password = \"x\"")), `Did you mean "pass"?`, "7:12"},
		{"unknown type", v2(block("    type = \"md5\"\n    password = \"x\"")), `use one of pass, ah`, "7:12"},
		{"no type", v2(block("    password = \"x\"")), `"type" is required ("pass" or "ah")`, "6:3"},
		{"no password", v2(block("    type = \"ah\"")), `"password" is required`, "6:3"},
		{"empty password", v2(block("    type = \"ah\"\n    password = \"\"")), "Empty password", "8:5"},
		{"password of 9", v2(block("    type = \"ah\"\n    password = \"123456789\"")), "first 8 characters", "8:5"},
		{"password not a string", v2(block("    type = \"pass\"\n    password = 12345")), "string required", "8:5"},
		{"password with NUL", v2(block("    type = \"pass\"\n    password = \"a\\u0000b\"")), "NUL", "8:5"},
		{"two blocks", v2(block("    type = \"pass\"\n    password = \"x\"") + "\n" + block("    type = \"pass\"\n    password = \"x\"")), "Duplicate authentication block", "10:3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, diags := parse([]byte(tc.src), "test.hcl", testOptions(nil))
			if cfg != nil {
				t.Fatalf("parse succeeded, want %q at %s", tc.want, tc.pos)
			}
			var got []string
			for _, d := range diags {
				pos := fmt.Sprintf("%d:%d", d.Subject.Start.Line, d.Subject.Start.Column)
				if msg := d.Summary + ": " + d.Detail; pos == tc.pos && strings.Contains(msg, tc.want) {
					return
				}
				got = append(got, pos+" "+d.Summary+": "+d.Detail)
			}
			t.Errorf("no diagnostic %q at %s; got:\n  %s", tc.want, tc.pos, strings.Join(got, "\n  "))
		})
	}
}

// The password is a secret: not in check --print's JSON, nor in any diagnostic, even one
// that quotes the line the password is written on.
func TestAuthenticationPasswordNeverPrinted(t *testing.T) {
	const pw = "hunt3r2!"
	src := v2("  authentication {\n    type = \"ah\"\n    password = \"" + pw + "\"\n  }")
	cfg := mustParse(t, src, nil)
	js, err := cfg.JSON()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(js), pw) || !strings.Contains(string(js), `"authentication"`) {
		t.Errorf("JSON: %s", js)
	}
	for _, bad := range []string{pw + "X", "", "12345\\u00006"} {
		src := v2("  authentication {\n    type = \"ah\"\n    password = \"" + bad + "\"\n  }")
		_, diags := parse([]byte(src), "test.hcl", testOptions(nil))
		var b strings.Builder
		WriteDiagnostics(&b, diags, map[string][]byte{"test.hcl": []byte(src)})
		out := b.String()
		if !strings.Contains(out, "password = <redacted>") || bad != "" && strings.Contains(out, bad) || strings.Contains(out, pw) {
			t.Errorf("diagnostics for password %q:\n%s", bad, out)
		}
	}
}
