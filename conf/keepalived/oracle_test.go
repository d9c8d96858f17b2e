package keepalived

import (
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/vigil-lb/vigil/internal/testing/testenv"
)

// The pre-processor against keepalived's own: every case is a set of files whose lines
// are keywords keepalived does not know (K_...), so that `keepalived -t` reports each
// line its parser produced as "(FILE: Line N) Unknown keyword 'K_...'". Read must produce
// the same keywords, at the same files and lines, in the same order. (How lines nest in
// blocks depends on which keywords keepalived knows, for which Read does not stand in.)
var oracleCases = []struct {
	name     string
	files    map[string]string
	configID string
	// keepalived reports the first part of a line longer than it reads at once at the
	// line before: compare the keywords only.
	keywordsOnly bool
}{
	{"comments and quotes", map[string]string{"main.conf": "K_a # comment\nK_b ! comment\n  K_c\n\"K_d\" x\nK_e\\#x\n\n# only a comment\nK_\"f\"\n"}, "", false},
	{"braces", map[string]string{"main.conf": "global_defs { K_a\n  K_b }\nglobal_defs\n{\nK_c\n}\nglobal_defs { K_d }\nglobal_defs {\n K_e \"x } y\"\n}\n"}, "", false},
	{"definitions", map[string]string{"main.conf": "$A=hello\nK_$A\nK_${A}_x\nK_$A,x\n$B=${A}_b\nK_${B}\n$A=again\nK_${B}\nK_$UNDEFINED\n$E=\nK_x${E}y\n$H=K_hash${_HASH}x\n$H\n"}, "", false},
	{"multiline definitions", map[string]string{"main.conf": "$ML= \\\nK_ml1_${N} \\\n# a comment inside\nK_ml2 \\\n\nK_after\n$N=1\n$ML\n$N=2\n${ML}\nK_$ML x\n"}, "", false},
	{"nested multiline", map[string]string{"main.conf": "$IN= \\\nK_in1 \\\nK_in2\n$OUT= \\\nK_out1 \\\n$IN \\\nK_out2\n$OUT\n"}, "", false},
	{"conditions", map[string]string{"main.conf": "@main K_main\n@backup K_backup\n@^main K_notmain\n@^backup K_notbackup\n@main\n@main global_defs {\n K_inblock\n}\n"}, "main", false},
	{"conditions without an id", map[string]string{"main.conf": "@main K_main\n@^main K_notmain\n"}, "nosuchid", false},
	{"seq", map[string]string{"main.conf": "~SEQ(i, 1, 3) K_s${i}\n~SEQ(j, 3) K_t${j}\n~SEQ(k, 5, -2, 1) K_u${k}\n~SEQx(h, 0x9, 0x1, 0xb) K_h${h}\n~SEQ(a, 1, 2) ~SEQ(b, 1, 2) K_ab${a}_${b}\n$N=3\n~SEQ(n, 1, $N) K_n${n}\n"}, "", false},
	{"lst", map[string]string{"main.conf": "~LST(x, a, b, c) K_l${x}\n~LST({p, q}, {1, 2}, {3, 4}) K_pq${p}_${q}\n~LST(y, 1, 2) ~SEQ(z, 1, 2) K_yz${y}${z}\n"}, "", false},
	{"seq inside multiline", map[string]string{"main.conf": "$R= \\\nK_r${V}_${W}\n$V=0\n~SEQ(W, 1, 2) $R\n"}, "", false},
	{"includes", map[string]string{
		"main.conf":     "K_main1\ninclude conf.d/*.conf\nK_main2\ninclude {x,y}.inc\ninclude nothing/*.conf\n",
		"conf.d/b.conf": "K_b ${_PWD}\ninclude ../sub/c.conf\n",
		"conf.d/a.conf": "K_a\n",
		"conf.d/.hide":  "K_hidden\n",
		"sub/c.conf":    "K_c\n",
		"y.inc":         "K_y\n",
		"x.inc":         "K_x\n",
	}, "", false},
	{"definitions across includes", map[string]string{"main.conf": "$D=defined\ninclude part.conf\nK_${D2}\n", "part.conf": "K_${D}\n$D2=back\n"}, "", false},
	{"long line", map[string]string{"main.conf": "K_long" + strings.Repeat("x", 1023-6) + "K_rest\nK_next\n"}, "", true},
	{"continuation outside a definition", map[string]string{"main.conf": "K_a \\\nK_b\n"}, "", false},
	{"an undefined parameter in braces splits the line", map[string]string{"main.conf": "K_a ${UNDEF} K_b\n"}, "", false},
	{"substituted comments and braces", map[string]string{"main.conf": "$C=K_c # x\nK_a$C\n$B=K_in }\nglobal_defs { $B\n"}, "", false},
	{"a condition inside a split line", map[string]string{"main.conf": "global_defs { @vigiltest K_yes }\nglobal_defs { @other K_no }\n"}, "", false},
	{"dollar in scripts", map[string]string{"main.conf": "$X=1\nK_a \"$HOME ${PATH}\"\nK_b$X\n"}, "", false},
}

var unknownRE = regexp.MustCompile(`^(?:\((?:(.*): )?Line (\d+)\) )?Unknown keyword '(.*)'$`)

func TestAgainstKeepalived(t *testing.T) {
	ka := testenv.RequireBinary(t, "keepalived")
	for _, tc := range oracleCases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, data := range tc.files {
				if name == "main.conf" {
					data += "K_END\n" // the end of keepalived's first reading: its child processes read again
				}
				p := filepath.Join(dir, name)
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			main := filepath.Join(dir, "main.conf")
			id := tc.configID
			if id == "" {
				id = "vigiltest"
			}
			out, _ := exec.Command(ka, "-t", "-n", "-l", "-i", id, "-f", main).CombinedOutput()
			var want []string
			for _, l := range strings.Split(string(out), "\n") {
				m := unknownRE.FindStringSubmatch(l)
				if m == nil {
					continue
				}
				file := m[1]
				if !strings.HasPrefix(m[3], "K_") {
					continue // the block structure depends on keepalived's keywords: compare the lines only
				}
				if file == "" {
					file = "main.conf"
				}
				want = append(want, at(tc.keywordsOnly, path.Base(file)+":"+m[2])+m[3])
				if m[3] == "K_END" {
					break
				}
			}
			cfg, err := Read(main, Options{ConfigID: id})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			var walk func([]*Node)
			walk = func(ns []*Node) {
				for _, n := range ns {
					if strings.HasPrefix(n.Keyword(), "K_") {
						got = append(got, at(tc.keywordsOnly, path.Base(n.Pos.File)+":"+itoa(n.Pos.Line))+n.Keyword())
					}
					walk(n.Children)
				}
			}
			walk(cfg.Nodes)
			if !slices.Equal(got, want) {
				t.Errorf("keepalived read:\n  %s\nRead:\n  %s\nkeepalived said:\n%s", strings.Join(want, "\n  "), strings.Join(got, "\n  "), out)
			}
		})
	}
}

func at(keywordsOnly bool, pos string) string {
	if keywordsOnly {
		return ""
	}
	return pos + " "
}

func itoa(i int) string { return Pos{Line: i}.String()[1:] }
