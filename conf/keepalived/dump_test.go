package keepalived

import (
	"fmt"
	"strings"
)

// dump renders a tree as "LINE: words" lines, indented by block.
func dump(nodes []*Node) string {
	var b strings.Builder
	var walk func([]*Node, string)
	walk = func(ns []*Node, ind string) {
		for _, n := range ns {
			fmt.Fprintf(&b, "%s%d: %s", ind, n.Pos.Line, strings.Join(n.Words, "|"))
			if n.Block {
				b.WriteString(" {")
			}
			b.WriteString("\n")
			walk(n.Children, ind+"  ")
		}
	}
	walk(nodes, "")
	return b.String()
}
