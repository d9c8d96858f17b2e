package userspace

import (
	"sync/atomic"

	"github.com/vigil-lb/vigil/ipvs"
)

// counters are a service's or real server's traffic counters, updated without a lock by
// the forwarding goroutines.
type counters struct {
	conns, inPkts, outPkts, inBytes, outBytes atomic.Uint64
	est                                       estimator
}

// estimator is the kernel's rate estimator (net/netfilter/ipvs/ip_vs_est.c): every two
// seconds each rate moves a quarter of the way towards the rate of the last period. Rates
// are kept scaled as the kernel keeps them (cps << 10, bps << 5) and only touched by the
// estimator goroutine, except for reads under estMu in Table.
type estimator struct {
	last                              [5]uint64
	cps, inpps, outpps, inbps, outbps int64
}

func (c *counters) tick() {
	e := &c.est
	cur := [5]uint64{c.conns.Load(), c.inPkts.Load(), c.outPkts.Load(), c.inBytes.Load(), c.outBytes.Load()}
	step := func(avg *int64, i int, shift uint) {
		rate := int64(cur[i]-e.last[i]) << shift
		*avg += (rate - *avg) >> 2
	}
	step(&e.cps, 0, 9)
	step(&e.inpps, 1, 9)
	step(&e.outpps, 2, 9)
	step(&e.inbps, 3, 4)
	step(&e.outbps, 4, 4)
	e.last = cur
}

func (c *counters) stats() ipvs.Stats {
	e := &c.est
	rate := func(v int64, shift uint) uint64 {
		if v <= 0 {
			return 0
		}
		return uint64((v + (1<<shift - 1)) >> shift)
	}
	return ipvs.Stats{
		Conns: c.conns.Load(), InPkts: c.inPkts.Load(), OutPkts: c.outPkts.Load(),
		InBytes: c.inBytes.Load(), OutBytes: c.outBytes.Load(),
		CPS: rate(e.cps, 10), InPPS: rate(e.inpps, 10), OutPPS: rate(e.outpps, 10),
		InBPS: rate(e.inbps, 5), OutBPS: rate(e.outbps, 5),
	}
}
