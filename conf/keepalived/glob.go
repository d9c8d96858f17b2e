package keepalived

import (
	"errors"
	"io/fs"
	"path"
	"slices"
	"strings"
)

// glob expands an include pattern as keepalived's glob(3) call does (GLOB_MARK |
// GLOB_BRACE, glibc): csh brace lists first, each alternative then matched with *, ? and
// [...] one path element at a time, a leading '.' only matched explicitly, the matches of
// each alternative sorted. A directory match ends in "/" (keepalived then skips it).
// missing counts names of the pattern without wildcards that do not exist (keepalived's
// "Config files missing").
func glob(fsys FS, cwd, pattern string) (matches []string, missing int) {
	for _, p := range expandBraces(pattern) {
		m, miss := globOne(fsys, cwd, p)
		matches = append(matches, m...)
		missing += miss
	}
	return matches, missing
}

// expandBraces expands the first {a,b} of s (nested lists included) and then the rest,
// as glibc's GLOB_BRACE: "{a,{b,c}}d" is "ad", "bd", "cd". A brace without its match is
// an ordinary character; \ escapes a brace or a comma.
func expandBraces(s string) []string {
	open := -1
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' {
			i++
			continue
		}
		if s[i] == '{' {
			open = i
			break
		}
	}
	if open < 0 {
		return []string{s}
	}
	depth, close := 0, -1
	var commas []int
	for i := open; i < len(s) && close < 0; i++ {
		switch s[i] {
		case '\\':
			i++
		case '{':
			depth++
		case '}':
			depth--
			if depth == 0 {
				close = i
			}
		case ',':
			if depth == 1 {
				commas = append(commas, i)
			}
		}
	}
	if close < 0 {
		return []string{s}
	}
	prefix, suffix := s[:open], s[close+1:]
	var out []string
	start := open + 1
	for _, end := range append(commas, close) {
		for _, alt := range expandBraces(prefix + s[start:end] + suffix) {
			out = append(out, alt)
		}
		start = end + 1
	}
	return out
}

func hasMeta(s string) bool { return strings.ContainsAny(s, `*?[\`) }

// globOne matches a pattern without braces.
func globOne(fsys FS, cwd, pattern string) ([]string, int) {
	if pattern == "" {
		return nil, 0
	}
	if !hasMeta(pattern) {
		fi, err := fsys.Stat(join(cwd, pattern))
		if err != nil {
			return nil, 1
		}
		return []string{mark(pattern, fi)}, 0
	}
	var prefix string
	rest := pattern
	if strings.HasPrefix(pattern, "/") {
		prefix, rest = "/", strings.TrimLeft(pattern, "/")
	}
	elems := strings.Split(rest, "/")
	cands := []string{prefix}
	missing := 0
	for i, el := range elems {
		last := i == len(elems)-1
		if el == "" { // a doubled or trailing slash
			if last {
				var dirs []string
				for _, c := range cands {
					if fi, err := fsys.Stat(join(cwd, c)); err == nil && fi.IsDir() {
						dirs = append(dirs, c)
					}
				}
				cands = dirs
			}
			continue
		}
		var next []string
		for _, c := range cands {
			if !hasMeta(el) {
				next = append(next, c+el+"/")
				continue
			}
			dir := strings.TrimSuffix(c, "/")
			if dir == "" && c == "" {
				dir = "."
			} else if dir == "" {
				dir = "/"
			}
			ents, err := fsys.ReadDir(join(cwd, dir))
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					missing++
				}
				continue
			}
			var names []string
			for _, e := range ents {
				n := e.Name()
				if strings.HasPrefix(n, ".") && !strings.HasPrefix(el, ".") {
					continue
				}
				if matchElem(el, n) {
					names = append(names, n)
				}
			}
			slices.Sort(names)
			for _, n := range names {
				next = append(next, c+n+"/")
			}
		}
		cands = next
	}
	var out []string
	for _, c := range cands {
		c = strings.TrimSuffix(c, "/")
		if strings.HasSuffix(pattern, "/") {
			c += "/"
		}
		fi, err := fsys.Stat(join(cwd, c))
		if err != nil {
			missing++
			continue
		}
		out = append(out, mark(c, fi))
	}
	return out, missing
}

func mark(name string, fi fs.FileInfo) string {
	if fi.IsDir() && !strings.HasSuffix(name, "/") {
		return name + "/"
	}
	return name
}

// matchElem is fnmatch(3) on one path element: '!' negates a bracket as '^' does, and a
// malformed pattern matches only itself.
func matchElem(pattern, name string) bool {
	p := strings.ReplaceAll(pattern, "[!", "[^")
	ok, err := path.Match(p, name)
	if err != nil {
		return pattern == name
	}
	return ok
}

// join is name seen from the directory cwd, without resolving ".." by the letter (the
// kernel resolves it, after a symbolic link, physically, as keepalived's chdir does).
func join(cwd, name string) string {
	if strings.HasPrefix(name, "/") || cwd == "" {
		return name
	}
	if name == "" || name == "." {
		return cwd
	}
	return strings.TrimSuffix(cwd, "/") + "/" + name
}

// dirOf is dirname(3) of a name.
func dirOf(name string) string {
	name = strings.TrimRight(name, "/")
	i := strings.LastIndexByte(name, '/')
	switch {
	case i < 0:
		return "."
	case i == 0:
		return "/"
	}
	return strings.TrimRight(name[:i], "/")
}
