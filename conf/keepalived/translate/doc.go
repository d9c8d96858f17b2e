// Package translate turns a keepalived configuration, as conf/keepalived reads it, into
// vigil's HCL, with a note for every keyword that vigil does not carry over or that
// behaves differently.
//
// It keeps keepalived's behaviour, not its values: where keepalived's defaults differ
// from vigil's (VRRP version 2, a failed real server removed, one success to come up,
// SSL_GET not verifying certificates, its checker timers), the output says so
// explicitly. The output is formatted as hclwrite formats it (by a writer of its own
// that writes hclwrite's bytes, write.go), each block after a comment naming its
// keepalived file:line, and checked with vigil's own checks on the syntax tree of what
// was written: a block vigil would refuse is written as a comment with a note, so that
// the output always passes vigil check.
package translate
