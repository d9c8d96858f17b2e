package checks

// State is the health of a check or a real server.
type State uint8

const (
	// Unknown: no result yet. Callers treat it as down for a new real server.
	Unknown State = iota
	Up
	Down
)

func (s State) String() string {
	switch s {
	case Up:
		return "up"
	case Down:
		return "down"
	default:
		return "unknown"
	}
}

// Health is a check's rise/fall state: where it stands and how many consecutive results
// have disagreed with that.
type Health struct {
	State State
	// Streak counts consecutive results against State: passes while Down, failures while
	// Up. It never reaches Rise (or Fall): at that point State flips and Streak resets.
	Streak int
}

// Step applies one result to h. The first result decides at once; afterwards rise
// consecutive passes bring a Down check Up and fall consecutive failures take an Up one
// Down. A result agreeing with the state resets the streak, so an alternating target
// (pass, fail, pass, ...) never moves when rise and fall are both above 1.
func (h Health) Step(ok bool, rise, fall int) Health {
	rise, fall = max(rise, 1), max(fall, 1)
	switch h.State {
	case Up:
		if ok {
			return Health{State: Up}
		}
		if h.Streak+1 >= fall {
			return Health{State: Down}
		}
		return Health{State: Up, Streak: h.Streak + 1}
	case Down:
		if !ok {
			return Health{State: Down}
		}
		if h.Streak+1 >= rise {
			return Health{State: Up}
		}
		return Health{State: Down, Streak: h.Streak + 1}
	default:
		if ok {
			return Health{State: Up}
		}
		return Health{State: Down}
	}
}

// combine is a real server's state from its previous state and its checks' states: Down
// when any check is Down, Up when all are Up, otherwise (some still Unknown) unchanged.
func combine(prev State, checks func(yield func(State) bool)) State {
	allUp := true
	for st := range checks {
		switch st {
		case Down:
			return Down
		case Unknown:
			allUp = false
		}
	}
	if allUp {
		return Up
	}
	return prev
}
