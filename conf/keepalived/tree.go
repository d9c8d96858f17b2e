package keepalived

import (
	"strconv"
	"strings"
)

// Pos is where a line came from: the file as keepalived named it and the line in it. A
// line that an include, a definition or a ~SEQ produced is at the line that produced it.
type Pos struct {
	File string
	Line int
}

func (p Pos) String() string {
	if p.Line == 0 {
		return p.File
	}
	return p.File + ":" + strconv.Itoa(p.Line)
}

// Node is one line of keepalived configuration after its pre-processor ran, with the
// lines of its { } block.
type Node struct {
	Pos Pos
	// Words are the line's words as keepalived splits them for its keywords: the keyword
	// first, then its arguments.
	Words []string
	// Line is the line as keepalived's handlers see it, which its script keywords
	// (misc_path, notify_up, script, ...) split again with ScriptWords.
	Line string
	// Block is set when a { } block followed the line; Children are its lines.
	Block    bool
	Children []*Node
}

// Keyword is the line's first word.
func (n *Node) Keyword() string { return n.Words[0] }

// Args are the words after the keyword.
func (n *Node) Args() []string { return n.Words[1:] }

// Arg is the i-th argument (0 the first after the keyword), "" when there is none.
func (n *Node) Arg(i int) string {
	if i+1 < len(n.Words) {
		return n.Words[i+1]
	}
	return ""
}

// Note is something keepalived itself would warn about while reading (an unknown '{', a
// missing file), or that vigil import must say about how it read the file.
type Note struct {
	Pos     Pos
	Keyword string
	Text    string
}

func (n Note) String() string { return n.Pos.String() + ": " + n.Keyword + ": " + n.Text }

// Error is a configuration that cannot be read (an include loop, a limit exceeded).
type Error struct {
	Pos Pos
	Msg string
}

func (e *Error) Error() string {
	if e.Pos.File == "" {
		return e.Msg
	}
	return e.Pos.String() + ": " + e.Msg
}

// builder nests lines into blocks as keepalived's process_stream does: a '{' line opens
// the block of the line before it, a '}' line closes the innermost block.
type builder struct {
	root  []*Node
	stack []*Node // open blocks
	last  *Node   // the line before, when it may still open a block
	notes *[]Note
}

func (b *builder) add(pos Pos, line string) {
	words, ok := Words(line)
	if !ok {
		*b.notes = append(*b.notes, Note{pos, firstWord(line), "unterminated quote: keepalived reads the line only up to the unmatched \" (" + strconv.Quote(line) + ")"})
	}
	if len(words) == 0 {
		return
	}
	switch words[0] {
	case "{":
		if b.last != nil && !b.last.Block {
			b.last.Block = true
			b.stack = append(b.stack, b.last)
		} else {
			*b.notes = append(*b.notes, Note{pos, "{", "a '{' that follows no keyword: keepalived ignores it (\"Unexpected '{'\"), and reads the lines after it as part of the enclosing block"})
		}
		b.last = nil
		return
	case "}":
		if len(b.stack) == 0 {
			*b.notes = append(*b.notes, Note{pos, "}", "a '}' that closes no block: keepalived ignores it (\"Extra '}' found\")"})
		} else {
			b.stack = b.stack[:len(b.stack)-1]
		}
		b.last = nil
		return
	}
	n := &Node{Pos: pos, Words: words, Line: line}
	if len(b.stack) == 0 {
		b.root = append(b.root, n)
	} else {
		top := b.stack[len(b.stack)-1]
		top.Children = append(top.Children, n)
	}
	b.last = n
}

func (b *builder) end(pos Pos) {
	if len(b.stack) > 0 {
		open := b.stack[len(b.stack)-1]
		*b.notes = append(*b.notes, Note{pos, "}", strconv.Itoa(len(b.stack)) + " block(s) not closed at the end of the configuration, the innermost `" + open.Keyword() + "` at " + open.Pos.String() + ": keepalived closes them there"})
	}
}

func firstWord(s string) string {
	f := strings.Fields(s)
	if len(f) == 0 {
		return ""
	}
	return f[0]
}
