// Package statuspage renders a director's status.Snapshot as one self-contained HTML
// page (no external assets, escaped, refreshing itself) for the status listener's "/".
package statuspage

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/vigil-lb/vigil/internal/status"
)

//go:embed page.html.tmpl
var pageText string

var page = template.Must(template.New("page").Funcs(template.FuncMap{
	"since":   since,
	"latency": latency,
	"clock":   func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05Z") },
	"upper":   strings.ToUpper,
	"recent":  recent,
	"weight":  weight,
	"rsClass": rsClass,
	"join":    strings.Join,
	"deref":   func(b *bool) bool { return b != nil && *b },
}).Parse(pageText))

// Refresh is how often the page reloads itself.
const Refresh = time.Second

// Render writes the page of s as seen at now.
func Render(w io.Writer, s status.Snapshot, now time.Time) error {
	return page.Execute(w, struct {
		S       status.Snapshot
		Now     time.Time
		Refresh int
	}{s, now, int(Refresh / time.Second)})
}

// since is how long ago t was, in the largest unit or two: 3s, 5m10s, 2h3m, 4d2h.
func since(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := now.Sub(t).Round(time.Second)
	switch {
	case d < 0:
		return "0s"
	case d < time.Minute:
		return d.String()
	case d < time.Hour:
		return fmt.Sprintf("%dm%ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd%dh", int(d.Hours())/24, int(d.Hours())%24)
}

func latency(d time.Duration) string {
	switch {
	case d <= 0:
		return "-"
	case d < time.Millisecond:
		return d.Round(time.Microsecond).String()
	case d < time.Second:
		return d.Round(10 * time.Microsecond).String()
	}
	return d.Round(time.Millisecond).String()
}

// recent is a real server's transitions, newest first ("why is it down" reads from the top).
func recent(h []status.Transition) []status.Transition {
	out := slices.Clone(h)
	slices.Reverse(out)
	return out
}

func weight(rs status.RealServer) string {
	applied := "-"
	if rs.InTable && rs.AppliedWeight != nil {
		applied = fmt.Sprint(*rs.AppliedWeight)
	}
	return fmt.Sprintf("%d / %s", rs.ConfiguredWeight, applied)
}

// rsClass colours a row: the operator's state first, then health.
func rsClass(rs status.RealServer) string {
	switch rs.AdminState {
	case "drain":
		return "drain"
	case "maint":
		return "maint"
	}
	switch rs.Health {
	case "up":
		return "up"
	case "down":
		return "down"
	}
	return "unknown"
}
