// Package keepalived reads a keepalived configuration as keepalived 2.2's parser reads it
// (lib/parser.c: include, @ID conditional lines, $NAME definitions, ~SEQ and ~LST lines,
// comments, quoting, and { } blocks) into a tree of keyword lines.
//
// It knows keepalived's syntax, not its keywords: what a keyword means is for its caller
// (conf/keepalived/translate). Files are read only through an FS, so that tests are
// hermetic, and everything it reads or expands is bounded.
package keepalived
