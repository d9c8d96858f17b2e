package keepalived

import (
	"testing"
	"testing/fstest"
)

// FuzzRead: any bytes as the main file (which may include itself and a second file) are
// read, or refused with an *Error, within the limits and without a panic.
func FuzzRead(f *testing.F) {
	for _, tc := range oracleCases {
		f.Add([]byte(tc.files["main.conf"]))
	}
	f.Add([]byte("$A=${A}${A}\nx $A\n"))
	f.Add([]byte("~SEQ(a, 1, 100) ~SEQ(b, 1, 100) ~SEQ(c, 1, 100) x\n"))
	f.Add([]byte("$M= \\\n$M \\\nx\n$M\n"))
	f.Add([]byte("include main.conf\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		fsys := fstest.MapFS{
			"k/main.conf":  {Data: data},
			"k/other.conf": {Data: []byte("other {\n x\n}\n")},
		}
		cfg, err := Read("/k/main.conf", Options{FS: FromFS(fsys), ConfigID: "a", MaxLines: 20000, MaxBytes: 1 << 20})
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("error %T %v, want *Error", err, err)
			}
			return
		}
		var count func([]*Node) int
		count = func(ns []*Node) int {
			n := 0
			for _, x := range ns {
				if len(x.Words) == 0 {
					t.Fatalf("%s: a node without words", x.Pos)
				}
				n += 1 + count(x.Children)
			}
			return n
		}
		if n := count(cfg.Nodes); n > 20000 {
			t.Fatalf("%d lines, above the limit", n)
		}
	})
}
