package keepalived

import "strings"

const whiteSpace = " \t\f\n\r\v"

// Words splits a line into keepalived's words (alloc_strvec): runs of anything but white
// space, a word beginning with '"' running to the next '"' (the quotes dropped, no
// escapes). An unmatched quote ends the line there; ok is false then.
func Words(line string) (words []string, ok bool) {
	s := line
	for {
		s = strings.TrimLeft(s, whiteSpace)
		if s == "" {
			return words, true
		}
		if s[0] == '"' {
			end := strings.IndexByte(s[1:], '"')
			if end < 0 {
				return words, false
			}
			words = append(words, s[1:1+end])
			s = s[end+2:]
			continue
		}
		end := strings.IndexAny(s, whiteSpace+`"`)
		if end < 0 {
			end = len(s)
		}
		words = append(words, s[:end])
		s = s[end:]
	}
}

// ScriptWords splits a line as keepalived splits script command lines
// (alloc_strvec_quoted_escaped): words separated by white space, where "..." and '...'
// quote white space, the quotes are removed wherever they are ("a"b is ab), and a
// backslash escapes as in C (\n, \t, \x41, \101, \cA; \C is C). ok is false for an
// unterminated quote or a backslash at the end, where keepalived refuses the line.
func ScriptWords(line string) (words []string, ok bool) {
	s := line
	for {
		s = strings.TrimLeft(s, whiteSpace)
		if s == "" {
			return words, true
		}
		var w strings.Builder
		var quote byte
		for s != "" {
			c := s[0]
			switch {
			case c == '\\':
				if len(s) == 1 {
					return words, false
				}
				r, n := unescape(s[1:])
				w.WriteByte(r)
				s = s[1+n:]
				continue
			case quote != 0 && c == quote:
				quote = 0
				s = s[1:]
				continue
			case quote == 0 && (c == '"' || c == '\''):
				quote = c
				s = s[1:]
				continue
			case quote == 0 && strings.IndexByte(whiteSpace, c) >= 0:
			default:
				w.WriteByte(c)
				s = s[1:]
				continue
			}
			break
		}
		if quote != 0 {
			return words, false
		}
		words = append(words, w.String())
	}
}

// unescape decodes the escape after a backslash, returning the byte and how much of s it
// took.
func unescape(s string) (byte, int) {
	isHex := func(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }
	hexVal := func(c byte) byte {
		switch {
		case c <= '9':
			return c - '0'
		case c >= 'a':
			return c - 'a' + 10
		}
		return c - 'A' + 10
	}
	switch c := s[0]; {
	case c == 'x' && len(s) > 1 && isHex(s[1]):
		var v byte
		n := 1
		for n < len(s) && isHex(s[n]) {
			v = v<<4 | hexVal(s[n])
			n++
		}
		return v, n
	case c == 'c' && len(s) > 1:
		return s[1] & 0x1f, 2
	case c >= '0' && c <= '7':
		v, n := c-'0', 1
		for n < 3 && n < len(s) && s[n] >= '0' && s[n] <= '7' {
			v = v<<3 + s[n] - '0'
			n++
		}
		return v, n
	default:
		if r, ok := map[byte]byte{'a': '\a', 'b': '\b', 'E': 0x1b, 'f': '\f', 'n': '\n', 'r': '\r', 't': '\t', 'v': '\v'}[c]; ok {
			return r, 1
		}
		return c, 1
	}
}
