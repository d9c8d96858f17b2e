package keepalived

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
)

// read reads main.conf from files (paths relative to /etc/keepalived) with opts.
func read(t *testing.T, files map[string]string, opts Options) (*Config, error) {
	t.Helper()
	fsys := fstest.MapFS{}
	for name, data := range files {
		fsys["etc/keepalived/"+name] = &fstest.MapFile{Data: []byte(data), Mode: 0o644}
	}
	opts.FS = FromFS(fsys)
	return Read("/etc/keepalived/main.conf", opts)
}

// lines is every line of cfg, indented by block, as "LINE: word|word".
func lines(cfg *Config) []string {
	return strings.Split(strings.TrimSuffix(dump(cfg.Nodes), "\n"), "\n")
}

func mustRead(t *testing.T, files map[string]string, opts Options) *Config {
	t.Helper()
	cfg, err := read(t, files, opts)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func noteTexts(cfg *Config) string {
	var s []string
	for _, n := range cfg.Notes {
		s = append(s, n.String())
	}
	return strings.Join(s, "\n")
}

// Each case is an example of keepalived.conf(5), or what lib/parser.c does where the
// page says nothing, with the lines keepalived's parser then sees.
func TestSyntax(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		id        string
		want      []string
	}{
		{"comments start with # or ! anywhere, not inside double quotes",
			"router_id a # x\nrouter_id b!x\nrouter_id \"c # d\"\n! whole line\n", "",
			[]string{"1: router_id|a", "2: router_id|b", "3: router_id|c # d"}},
		{"\\# and \\! are the characters",
			"auth_pass ab\\#c\\!\n", "", []string{"1: auth_pass|ab#c!"}},
		{"double quotes make one word, single quotes do not",
			"notify \"/bin/a b\" 'c d'\n", "", []string{"1: notify|/bin/a b|'c|d'"}},
		{"a block's { on the same line or the next, } anywhere",
			"vrrp_instance A {\n  priority 1 }\nvrrp_instance B\n{\n  priority 2\n}\nvirtual_server_group G { 10.0.0.1 80 }\n", "",
			[]string{"1: vrrp_instance|A {", "  2: priority|1", "3: vrrp_instance|B {", "  5: priority|2", "7: virtual_server_group|G {", "  7: 10.0.0.1|80"}},
		{"a brace inside double quotes is not one",
			"misc_path \"/bin/x {a}\"\n", "", []string{"1: misc_path|/bin/x {a}"}},
		// keepalived.conf(5), Conditional configuration: -i main.
		{"conditional lines for main",
			"global_defs {\n  @main   router_id main_router\n  @backup router_id backup_router\n}\nvrrp_instance VRRP {\n  @main unicast_src_ip 1.2.3.4\n  @backup unicast_src_ip 1.2.3.5\n  @backup2 unicast_src_ip 1.2.3.6\n  unicast_peer {\n    @^main    1.2.3.4\n    @^backup  1.2.3.5\n    @^backup2 1.2.3.6\n  }\n}\n", "main",
			[]string{"1: global_defs {", "  2: router_id|main_router", "5: vrrp_instance|VRRP {", "  6: unicast_src_ip|1.2.3.4", "  9: unicast_peer {", "    11: 1.2.3.5", "    12: 1.2.3.6"}},
		{"conditional lines for another id", "@main router_id main\n@^main router_id other\n", "elsewhere", []string{"2: router_id|other"}},
		{"a condition alone on a line is dropped", "@main\nrouter_id x\n", "main", []string{"2: router_id|x"}},
		// keepalived.conf(5), Parameter substitution: replacement at use, not definition.
		{"substitution is recursive and at replacement time",
			"$ADDRESS_BASE=10.2.${ADDRESS_BASE_SUB}\n$ADDRESS_BASE_SUB=0\n${ADDRESS_BASE}.100/32\n$ADDRESS_BASE_SUB=10\n${ADDRESS_BASE}.100/32\n", "",
			[]string{"3: 10.2.0.100/32", "5: 10.2.10.100/32"}},
		{"an undefined parameter stays", "script \"${UNDEF_PARAMETER} $HOME/x\"\n", "", []string{"1: script|${UNDEF_PARAMETER} $HOME/x"}},
		// The page says nothing of it, but the parser splits a line at any { outside
		// double quotes, also that of an undefined ${NAME}.
		{"an undefined ${NAME} outside quotes", "x ${UNDEF}\n", "", []string{"1: x|$ {", "  1: UNDEF"}},
		{"$NAME needs white space (or , or ) or the end) after it", "$P=240\npriority $P\nx $P0 $P,y\n", "", []string{"2: priority|240", "3: x|$P0|240,y"}},
		{"a conditional definition",
			"@main $PRIORITY=240\n@backup $PRIORITY=200\nvrrp_instance VI_0 {\n  priority $PRIORITY\n}\n", "main",
			[]string{"3: vrrp_instance|VI_0 {", "  4: priority|240"}},
		{"a condition in a definition (as the page says)", "$IF_MAIN=@main\n$IF_MAIN priority 240\n", "main", []string{"2: priority|240"}},
		{"an empty value", "$E=\nx${E}y\n", "", []string{"2: xy"}},
		// The parser removes comments again after substituting: ${_HASH} is a '#' only
		// inside double quotes.
		{"standard definitions", "a \"${_HASH}${_BANG}\" ${_INSTANCE}\nb ${_PWD}\nc ${_HASH} d\n", "inst", []string{"1: a|#!|inst", "2: b|/etc/keepalived", "3: c"}},
		// keepalived.conf(5): the multiline example, expanded twice.
		{"multiline definitions",
			"$INSTANCE= \\\nvrrp_instance VI_${NUM} { \\\n    interface eth0.${NUM} \\\n    virtual_router_id 1 \\\n    @high priority 130 \\\n    @low priority 120 \\\n    virtual_ipaddress { \\\n        10.0.${NUM}.254/24 \\\n    } \\\n}\n\n$NUM=0\n$INSTANCE\n\n$NUM=1\n$INSTANCE\n", "low",
			[]string{"13: vrrp_instance|VI_0 {", "  13: interface|eth0.0", "  13: virtual_router_id|1", "  13: priority|120", "  13: virtual_ipaddress {", "    13: 10.0.0.254/24",
				"16: vrrp_instance|VI_1 {", "  16: interface|eth0.1", "  16: virtual_router_id|1", "  16: priority|120", "  16: virtual_ipaddress {", "    16: 10.0.1.254/24"}},
		{"a multiline definition ends at a blank line", "$M= \\\na \\\n\nb\n$M\n", "", []string{"4: b", "5: a"}},
		{"a multiline definition is substituted only at the end of a line", "$M= \\\na \\\nb\nx $M y\n", "", []string{"4: x|$M|y"}},
		{"nested multiline definitions",
			"$RS= \\\nreal_server 192.168.${VS_NUM}.${RS_NUM} 80 { \\\n  weight 1 \\\n}\n$VS= \\\nvirtual_server 10.0.${VS_NUM}.4 80 { \\\n  quorum 2 \\\n  $RS_NUM=1 \\\n  $RS \\\n  $RS_NUM=2 \\\n  $RS \\\n}\n$VS_NUM=0\n$VS\n", "",
			[]string{"14: virtual_server|10.0.0.4|80 {", "  14: quorum|2", "  14: real_server|192.168.0.1|80 {", "    14: weight|1", "  14: real_server|192.168.0.2|80 {", "    14: weight|1"}},
		// keepalived.conf(5), Sequence blocks.
		{"~SEQ", "~SEQ(SUBNET, 0, 3) ip_address 10.0.${SUBNET}.1\n", "", []string{"1: ip_address|10.0.0.1", "1: ip_address|10.0.1.1", "1: ip_address|10.0.2.1", "1: ip_address|10.0.3.1"}},
		{"~SEQx", "~SEQx(SUBNET, 0x90, 0x10, 0xc0) ip_address fe80::20:${SUBNET}:1\n", "", []string{"1: ip_address|fe80::20:90:1", "1: ip_address|fe80::20:a0:1", "1: ip_address|fe80::20:b0:1", "1: ip_address|fe80::20:c0:1"}},
		{"~SEQ with a step down and nested", "virtual_ipaddress {\n~SEQx(AD2, 0x90, 0x10, 0xa0) ~SEQx(AD1, 0x12, -1, 0x11) fe81::10:${AD2}:${AD1}\n}\n", "",
			[]string{"1: virtual_ipaddress {", "  2: fe81::10:90:12", "  2: fe81::10:90:11", "  2: fe81::10:a0:12", "  2: fe81::10:a0:11"}},
		{"~SEQ with only an end", "~SEQ(N, 3) n${N}\n~SEQ(M, -2) m${M}\n", "", []string{"1: n1", "1: n2", "1: n3", "2: m-1", "2: m-2"}},
		// keepalived.conf(5), List blocks.
		{"~LST of pairs", "~LST({IP, IP1}, {10,1},{20,4}) 192.168.${IP}.${IP1}\n", "", []string{"1: 192.168.10.1", "1: 192.168.20.4"}},
		{"~LST nested with ~SEQ", "~LST({IP, IP1}, {10,1},{20,4}) ~SEQ(IP2,168,2,170) 192.${IP2}.${IP}.${IP1}\n", "",
			[]string{"1: 192.168.10.1", "1: 192.170.10.1", "1: 192.168.20.4", "1: 192.170.20.4"}},
		{"~LST of one variable", "~LST(IP, 1, 2) ~LST(IP1, 5,6) 192.169.${IP}.${IP1}\n", "", []string{"1: 192.169.1.5", "1: 192.169.1.6", "1: 192.169.2.5", "1: 192.169.2.6"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := mustRead(t, map[string]string{"main.conf": tc.src}, Options{ConfigID: tc.id})
			if diff := cmp.Diff(tc.want, lines(cfg)); diff != "" {
				t.Errorf("lines (-want +got):\n%s\nnotes:\n%s", diff, noteTexts(cfg))
			}
		})
	}
}

func TestConfigIDDefault(t *testing.T) {
	src := map[string]string{"main.conf": "@lb1 router_id one\n@lb2 router_id two\n"}
	cfg := mustRead(t, src, Options{Hostname: func() (string, error) { return "lb2.example.net", nil }})
	if got := lines(cfg); !slices.Equal(got, []string{"2: router_id|two"}) {
		t.Errorf("host lb2.example.net: %v, want lb2's line (the host name up to its first dot)", got)
	}
	if !strings.Contains(noteTexts(cfg), `config-id "lb2"`) {
		t.Errorf("no note naming the config-id: %s", noteTexts(cfg))
	}
	cfg = mustRead(t, src, Options{})
	if got := lines(cfg); len(got) != 1 || got[0] != "" {
		t.Errorf("no host name: %v, want every @ID line left out", got)
	}
}

func TestRandom(t *testing.T) {
	cfg := mustRead(t, map[string]string{"main.conf": "x ${_RANDOM 5 9}\n"}, Options{})
	if got := lines(cfg); !slices.Equal(got, []string{"1: x|5"}) {
		t.Errorf("got %v", got)
	}
	if !strings.Contains(noteTexts(cfg), "random number in 5..9") {
		t.Errorf("notes: %s", noteTexts(cfg))
	}
}

func TestIncludes(t *testing.T) {
	files := map[string]string{
		"main.conf":        "a\ninclude conf.d/*.conf\nb\ninclude /etc/keepalived/{x,y,z}.inc\ninclude missing/*.conf\nincluder \"quoted.conf\"\n",
		"conf.d/20.conf":   "c20\ninclude ../sub/deep.conf\n",
		"conf.d/10.conf":   "c10 ${_PWD}\n",
		"conf.d/.hidden":   "hidden\n",
		"conf.d/x.txt":     "not matched\n",
		"sub/deep.conf":    "deep ${_PWD}\n",
		"y.inc":            "y\n",
		"x.inc":            "x\n",
		"quoted.conf":      "never\n",
		"conf.d/d.conf/in": "a directory named .conf\n",
	}
	cfg := mustRead(t, files, Options{})
	want := []string{"1: a", "1: c10|/etc/keepalived/conf.d", "1: c20", "1: deep|/etc/keepalived/sub", "3: b", "1: x", "1: y"}
	if diff := cmp.Diff(want, lines(cfg)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	wantFiles := []string{"/etc/keepalived/main.conf", "/etc/keepalived/conf.d/10.conf", "/etc/keepalived/conf.d/20.conf", "/etc/keepalived/sub/deep.conf", "/etc/keepalived/x.inc", "/etc/keepalived/y.inc"}
	if diff := cmp.Diff(wantFiles, cfg.Files); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
	notes := noteTexts(cfg)
	for _, want := range []string{
		"main.conf:2: include: /etc/keepalived/conf.d/d.conf is a directory: keepalived skips it",
		"main.conf:4: include: /etc/keepalived/{x,y,z}.inc: 1 of the files it names do not exist",
		"main.conf:5: include: no file matches \"missing/*.conf\"",
		"main.conf:6: include: no file matches \"\\\"quoted.conf\\\"\"",
		"main.conf:6: include: keepalived takes the rest of the line as the pattern, quotes included",
	} {
		if !strings.Contains(notes, want) {
			t.Errorf("no note %q in:\n%s", want, notes)
		}
	}
}

func TestIncludeSkipsExecutables(t *testing.T) {
	fsys := fstest.MapFS{
		"k/main.conf": {Data: []byte("include *.inc\n")},
		"k/a.inc":     {Data: []byte("a\n"), Mode: 0o755},
		"k/b.inc":     {Data: []byte("b\n"), Mode: 0o644},
	}
	cfg, err := Read("/k/main.conf", Options{FS: FromFS(fsys)})
	if err != nil {
		t.Fatal(err)
	}
	if got := lines(cfg); !slices.Equal(got, []string{"1: b"}) {
		t.Errorf("got %v, want only the file without execute permission", got)
	}
	if !strings.Contains(noteTexts(cfg), "a.inc is not a regular file without execute permission") {
		t.Errorf("notes: %s", noteTexts(cfg))
	}
}

// keepalived changes directory into each included file's directory, so a relative
// include is seen from there, and ".." after a symbolic link leads to the link target's
// parent, as the kernel resolves it, not to the link's.
func TestIncludeRelativeThroughSymlink(t *testing.T) {
	root := t.TempDir()
	for name, data := range map[string]string{
		"etc/keepalived/keepalived.conf": "include conf.d/site.conf\n",
		"etc/keepalived/common.conf":     "lexical\n",
		"srv/ka/conf.d/site.conf":        "site\ninclude ../common.conf\n",
		"srv/ka/common.conf":             "physical\n",
	} {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(filepath.Join(root, "srv/ka/conf.d"), filepath.Join(root, "etc/keepalived/conf.d")); err != nil {
		t.Fatal(err)
	}
	cfg, err := Read(filepath.Join(root, "etc/keepalived/keepalived.conf"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := lines(cfg); !slices.Equal(got, []string{"1: site", "1: physical"}) {
		t.Errorf("got %v, want ../common.conf of the link target's directory", got)
	}
}

func TestReadErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files map[string]string
		opts  Options
		want  string
	}{
		{"a missing file", map[string]string{"other.conf": "x\n"}, Options{}, "no readable file matches /etc/keepalived/main.conf"},
		{"an include loop", map[string]string{"main.conf": "a\ninclude b.conf\n", "b.conf": "include main.conf\n"}, Options{},
			"/etc/keepalived/b.conf:1: include loop: /etc/keepalived/b.conf includes /etc/keepalived/main.conf"},
		{"a file including itself", map[string]string{"main.conf": "include *.conf\n"}, Options{}, "include loop"},
		{"a binary file", map[string]string{"main.conf": "a\nb\x00c\n"}, Options{}, "main.conf:2: a NUL byte"},
		{"too many bytes", map[string]string{"main.conf": "include a.conf\ninclude a.conf\n", "a.conf": strings.Repeat("x\n", 40)}, Options{MaxBytes: 100},
			"more than 100 bytes together"},
		{"too many lines", map[string]string{"main.conf": "~SEQ(i, 1, 1000000) x\n"}, Options{MaxLines: 1000}, "main.conf:1: the configuration expands to more than 1000 lines"},
		{"a definition that refers to itself", map[string]string{"main.conf": "$A=$A\nx $A\n"}, Options{}, "main.conf:2: $A: more than 10000 substitutions"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := read(t, tc.files, tc.opts)
			var e *Error
			if !errors.As(err, &e) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want an *Error with %q", err, tc.want)
			}
		})
	}
}

func TestReadNotes(t *testing.T) {
	for _, tc := range []struct {
		name, src, want string
	}{
		{"a stray {", "a {\n}\n{\nb\n}\n", "main.conf:3: {: a '{' that follows no keyword"},
		{"an extra }", "a {\n}\n}\n", "main.conf:3: }: a '}' that closes no block"},
		{"a missing }", "a {\n b {\n", "2 block(s) not closed"},
		{"an unterminated quote", "a \"b\n", "unterminated quote"},
		{"a line longer than 1023 bytes", "a " + strings.Repeat("x", 1100) + "\n", "longer than the 1023 bytes keepalived reads at once"},
		{"a substitution beyond 1023 bytes", "$A=" + strings.Repeat("x", 600) + "\nb $A $A\n", "$A: substituting it would make the line longer"},
		{"an invalid ~SEQ", "~SEQ(i 1, 2\n", "~SEQ: invalid ~SEQ definition"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := mustRead(t, map[string]string{"main.conf": tc.src}, Options{})
			if !strings.Contains(noteTexts(cfg), tc.want) {
				t.Errorf("notes:\n%s\nwant %q", noteTexts(cfg), tc.want)
			}
		})
	}
}

func TestScriptWords(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
		ok   bool
	}{
		// keepalived.conf(5), Quoted strings.
		{`abcd" efg h jkl "mnop`, []string{"abcd efg h jkl mnop"}, true},
		{`abcd "efg h jkl" mnop`, []string{"abcd", "efg h jkl", "mnop"}, true},
		{`/bin/x 'a b' "c\"d" e\ f`, []string{"/bin/x", "a b", `c"d`, "e f"}, true},
		{`a\tb \x41\101\cA \\`, []string{"a\tb", "AA\x01", `\`}, true},
		{`"unterminated`, nil, false},
	} {
		got, ok := ScriptWords(tc.in)
		if ok != tc.ok || !slices.Equal(got, tc.want) {
			t.Errorf("ScriptWords(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestGlobBraces(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"a", []string{"a"}},
		{"{a,b}.conf", []string{"a.conf", "b.conf"}},
		{"{foo/{,cat,dog},bar}", []string{"foo/", "foo/cat", "foo/dog", "bar"}},
		{"x{a,b", []string{"x{a,b"}},
		{`\{a,b}`, []string{`\{a,b}`}},
	} {
		if got := expandBraces(tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("expandBraces(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
