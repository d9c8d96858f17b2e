package director

import (
	"strings"
	"time"

	"github.com/vigil-lb/vigil/checks"
	"github.com/vigil-lb/vigil/internal/status"
)

// maxHistory is how many transitions of each real server the status page shows ("why is
// it down"): 4,000 real servers of 20 take a few MB at most.
const maxHistory = 20

// appendHistory returns h with t added, the oldest dropped beyond maxHistory. It never
// writes into h's array, which views published before may share.
func appendHistory(h []status.Transition, t status.Transition) []status.Transition {
	if len(h) >= maxHistory {
		h = h[len(h)-maxHistory+1:]
	}
	out := make([]status.Transition, 0, len(h)+1)
	return append(append(out, h...), t)
}

// healthTransition records a health change of s caused by ev: its time in the state
// starts again, a change between up and down is a flap, and the history says which check
// saw what.
func healthTransition(s *rsState, was Health, ev checks.ServerEvent, now time.Time) {
	if was == s.health {
		return
	}
	s.since = now
	if was != Unknown {
		s.flaps++
	}
	reason := ev.Reason
	if ev.Check != "" && reason != "" {
		// The check's ID ends in its kind (checkID).
		reason = ev.Check[strings.LastIndexByte(ev.Check, ':')+1:] + ": " + reason
	}
	s.history = appendHistory(s.history, status.Transition{At: now, Kind: "health", From: was.String(), To: s.health.String(), Reason: reason})
}
