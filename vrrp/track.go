package vrrp

// The effective priority from tracking, with keepalived's rules (keepalived.conf(5),
// "VRRP script(s)" and "VRRP track files"; vrrp_track.c), as one pure function.

// trackKey is where a track's value is kept: watched interfaces apart from reported
// items of the same name.
func trackKey(t Track) string {
	if t.Kind == TrackInterface {
		return linkKey(t.Name)
	}
	return t.Name
}

// awaited reports whether an instance waits for the first report of a track of this
// kind before it starts: a tracker reports its first state within its first run (a
// script's timeout, a /proc scan, a file read), and an instance that started before it
// could advertise a priority its failing script would not allow.
func (k TrackKind) awaited() bool { return k == TrackScript || k == TrackProcess || k == TrackFile }

// MinFileStatus is keepalived's fault threshold for a track_file: a value x weight at or
// below it puts the instance in Fault, as weight 0 does for a non-zero value.
const MinFileStatus = -254

// contribution is what one track adds to the priority and whether it holds the
// instance in Fault. v is its value (1 up, 0 down; the number for TrackFile); known is
// false before the first report.
func (t Track) contribution(v int, known bool) (add int, fault bool) {
	if t.Kind == TrackFile {
		if !known {
			return 0, false
		}
		if t.Weight == 0 {
			return 0, v != 0 // keepalived: with weight 0 a non-zero value is a failure
		}
		s := min(max(int64(v)*int64(t.Weight), MinFileStatus), 253)
		if s == MinFileStatus {
			return 0, true
		}
		return int(s), false
	}
	// Up/down kinds. An interface or a virtual server not yet reported counts as up
	// (their state is set before the instance runs); a tracker's item not yet reported
	// adds nothing (the instance waits for it, see awaited).
	if !known {
		if t.Kind.awaited() {
			return 0, false
		}
		v = 1
	}
	up := v != 0
	switch {
	case t.Weight == 0:
		return 0, !up
	case t.Weight > 0 && up, t.Weight < 0 && !up:
		return t.Weight, false
	}
	return 0, false
}

// effective is the priority of a router with base priority base and tracks, given the
// tracks' values by trackKey; fault: an item holds it in Fault; pending: an awaited
// track has not reported yet. An owner (255) keeps its priority; any other router's is
// clamped to 1..254.
func effective(base uint8, tracks []Track, values map[string]int) (prio uint8, fault, pending bool) {
	p := int(base)
	for _, t := range tracks {
		v, known := values[trackKey(t)]
		if !known && t.Kind.awaited() {
			pending = true
		}
		add, f := t.contribution(v, known)
		p += add
		fault = fault || f
	}
	if base == 255 {
		return 255, fault, pending
	}
	return uint8(min(max(p, 1), 254)), fault, pending
}

// trackUp is the state Status shows for a track: up, or (TrackFile) not holding the
// instance in Fault.
func trackUp(t Track, v int, known bool) bool {
	if t.Kind == TrackFile {
		_, f := t.contribution(v, known)
		return !f
	}
	if !known {
		return !t.Kind.awaited()
	}
	return v != 0
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
