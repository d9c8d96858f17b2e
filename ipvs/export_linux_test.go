package ipvs

import (
	"context"

	mobyipvs "github.com/moby/ipvs"
)

// CloseReader closes k's ipvsnl client (listings, weight changes, timeouts, sync daemons) alone.
func CloseReader(k *Kernel) error { return k.c.Close() }

// CloseWriter closes k's moby/ipvs client (service writes, destination adds and deletes) alone.
func CloseWriter(k *Kernel) error { return k.w.close() }

// BreakWriter closes the moby/ipvs handle behind the session's back, as a socket that
// failed would be: the session still holds it.
func BreakWriter(k *Kernel) error {
	return k.w.do(context.Background(), func(h *mobyipvs.Handle) error { h.Close(); return nil })
}
