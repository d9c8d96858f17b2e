package checks

import (
	"fmt"
	"strconv"
	"strings"
)

// StatusRange is an inclusive range of HTTP status codes; a single code has Lo == Hi.
type StatusRange struct{ Lo, Hi int }

// StatusSet is the set of HTTP status codes a check accepts.
type StatusSet []StatusRange

// DefaultStatus accepts 200-299, as keepalived's HTTP_GET does by default.
var DefaultStatus = StatusSet{{200, 299}}

// ParseStatusSet parses codes and ranges such as "200", "200-299" or "200,204,301-302";
// each argument may itself be a comma-separated list. Codes must be within 100-599.
func ParseStatusSet(specs ...string) (StatusSet, error) {
	var set StatusSet
	for _, spec := range specs {
		for _, part := range strings.Split(spec, ",") {
			part = strings.TrimSpace(part)
			if part == "" {
				return nil, fmt.Errorf("parse status %q: empty element", spec)
			}
			lo, hi, isRange := strings.Cut(part, "-")
			l, err := parseStatusCode(lo)
			if err != nil {
				return nil, fmt.Errorf("parse status %q: %w", spec, err)
			}
			h := l
			if isRange {
				if h, err = parseStatusCode(hi); err != nil {
					return nil, fmt.Errorf("parse status %q: %w", spec, err)
				}
				if h < l {
					return nil, fmt.Errorf("parse status %q: range %d-%d is reversed", spec, l, h)
				}
			}
			set = append(set, StatusRange{l, h})
		}
	}
	if len(set) == 0 {
		return nil, fmt.Errorf("parse status: no codes given")
	}
	return set, nil
}

func parseStatusCode(s string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("status code %q is not a number", s)
	}
	if n < 100 || n > 599 {
		return 0, fmt.Errorf("status code %d is outside 100-599", n)
	}
	return n, nil
}

// Contains reports whether code is in the set.
func (s StatusSet) Contains(code int) bool {
	for _, r := range s {
		if code >= r.Lo && code <= r.Hi {
			return true
		}
	}
	return false
}

// String renders the set as ParseStatusSet accepts it: "200-299,301".
func (s StatusSet) String() string {
	var b strings.Builder
	for i, r := range s {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(r.Lo))
		if r.Hi != r.Lo {
			b.WriteByte('-')
			b.WriteString(strconv.Itoa(r.Hi))
		}
	}
	return b.String()
}
