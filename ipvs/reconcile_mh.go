package ipvs

import (
	"context"
	"errors"
	"net/netip"
	"slices"
)

// The kernel's mh table (ip_vs_mh.c) is filled in the order of the service's destination
// list, and the kernel puts each added destination at the head of that list: two directors
// that added the same destinations in a different order (different reload or recovery
// histories) send the same client to different real servers. The reconciler therefore
// keeps the list of an mh service in one order, CompareMaglevOrder (by address then port,
// descending in the list, so added ascending), on every director.
//
// A destination added later than one that sorts after it cannot be put in its place; the
// reconciler then deletes the destinations ahead of the longest tail already in order and
// adds them again, ascending. What that costs: each such destination is out of the table
// for the two writes (new connections pick among the others, and the table is rebuilt a few
// times in between); connections already established to it are kept (the kernel moves a
// deleted destination to its trash while connections use it, and ip_vs_add_dest takes it
// back from there). With net.ipv4.vs.expire_nodest_conn = 1, which vigil sets only when a
// virtual server has on_failure = "remove" (manage_sysctls), a connection whose packet
// arrives between the delete and the add is expired; at the default, 0, none is. A
// destination at weight 0 is re-added at weight 0, so like one first added while it was
// down it has no slots (the kernel's last_weight) until its weight is raised again.

// isMH reports whether s's table depends on its destinations' order.
func isMH(s Service) bool { return s.Scheduler == "mh" }

// addOrder is ds's destinations in the order to add them: configuration order, or for an
// mh service ascending, so that the kernel's list ends up descending.
func (r *Reconciler) addOrder(ds *desiredService) []RealServer {
	if !isMH(ds.svc) {
		return ds.dests
	}
	out := slices.Clone(ds.dests)
	slices.SortFunc(out, func(a, b RealServer) int { return a.Addr.Compare(b.Addr) })
	return out
}

// orderMH reads an mh service's destinations and re-adds those out of the canonical order.
func (r *Reconciler) orderMH(ctx context.Context, k ServiceKey, c *Changes) error {
	have, err := r.table.Destinations(ctx, k)
	if err != nil {
		return err
	}
	addrs := make([]netip.AddrPort, len(have))
	for i, d := range have {
		addrs[i] = d.Addr
	}
	n := maglevMisplaced(addrs)
	if n == 0 {
		return nil
	}
	redo := slices.Clone(have[:n])
	slices.SortFunc(redo, func(a, b DestinationInfo) int { return a.Addr.Compare(b.Addr) })
	r.log.Info("IPVS mh: re-adding destinations in canonical order", "service", k, "destinations", n)
	var errs []error
	for _, d := range redo {
		if err := r.table.DeleteDestination(ctx, k, d.Addr); err != nil {
			errs = append(errs, err)
			continue
		}
		c.DestinationsDeleted++
		if err := r.table.AddDestination(ctx, k, d.Destination); err != nil {
			errs = append(errs, err)
			continue
		}
		c.DestinationsAdded++
	}
	return errors.Join(errs...)
}

// maglevMisplaced returns how many destinations at the head of list (the kernel's order)
// must be deleted and re-added, ascending, to put list in the canonical order: those ahead
// of the longest tail that is in order and sorts after all of them.
func maglevMisplaced(list []netip.AddrPort) int {
	n := len(list)
	for n > 0 && (n == len(list) || CompareMaglevOrder(list[n-1], list[n]) < 0) {
		n--
	}
	// list[n:] is the longest ordered tail; every destination re-added goes ahead of it, so
	// it must sort after them all.
	for n < len(list) && slices.ContainsFunc(list[:n], func(a netip.AddrPort) bool {
		return CompareMaglevOrder(a, list[n]) >= 0
	}) {
		n++
	}
	return n
}
