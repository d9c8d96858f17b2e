package main

import (
	"fmt"
	"io"
)

// cmdCheck is replaced by the conf work; see conf.
func cmdCheck(args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "vigil check: not yet built")
	return 1
}
