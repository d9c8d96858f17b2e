// Command prober runs vigil's check scheduler against the benchmark's N real servers and
// reports checks per second, failures and latency once a second on stderr.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net/netip"
	"os"
	"os/signal"
	"runtime/pprof"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/vigil-lb/vigil/checks"
)

func main() {
	addr := flag.String("addr", "127.0.0.2", "real servers' address")
	base := flag.Int("port", 20000, "first port")
	n := flag.Int("n", 10000, "number of real servers")
	kind := flag.String("kind", "tcp", "tcp or http")
	interval := flag.Duration("interval", time.Second, "check interval")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile here")
	flag.Parse()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			log.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Fatal(err)
		}
		defer pprof.StopCPUProfile()
	}

	var done, failed atomic.Uint64
	var mu sync.Mutex
	var lat []time.Duration
	var lastFail atomic.Value
	// The system clock (the default): with it the scheduler runs connect-only tcp and
	// status-only http probes on its event loop.
	s := checks.NewScheduler(checks.Options{
		OnCheck: func(ev checks.CheckEvent) {
			done.Add(1)
			if !ev.Result.OK {
				failed.Add(1)
				lastFail.Store(ev.Result.Reason)
			}
			mu.Lock()
			if len(lat) < 100000 {
				lat = append(lat, ev.Result.Latency)
			}
			mu.Unlock()
		},
	})
	ip := netip.MustParseAddr(*addr)
	specs := make([]checks.Spec, 0, *n)
	for i := range *n {
		target := netip.AddrPortFrom(ip, uint16(*base+i))
		var cfg any = checks.TCPConfig{}
		if *kind == "http" {
			cfg = checks.HTTPConfig{}
		}
		c, err := checks.New(*kind, target, cfg)
		if err != nil {
			log.Fatal(err)
		}
		id := fmt.Sprintf("s%d", i)
		specs = append(specs, checks.Spec{ID: id, Server: id, Kind: *kind, Checker: c,
			Interval: *interval, Timeout: time.Second, Rise: 2, Fall: 3, Key: *kind})
	}
	if err := s.Set(specs); err != nil {
		log.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	go func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		var prevDone, prevFailed uint64
		for range t.C {
			d, f := done.Load(), failed.Load()
			mu.Lock()
			l := lat
			lat = nil
			mu.Unlock()
			slices.Sort(l)
			p50, p99 := time.Duration(0), time.Duration(0)
			if len(l) > 0 {
				p50, p99 = l[len(l)/2], l[len(l)*99/100]
			}
			reason, _ := lastFail.Load().(string)
			fmt.Fprintf(os.Stderr, "checks/s %d fails/s %d total %d p50 %v p99 %v %s\n", d-prevDone, f-prevFailed, d, p50, p99, reason)
			prevDone, prevFailed = d, f
		}
	}()
	_ = s.Run(ctx)
	fmt.Fprintf(os.Stderr, "total checks %d failures %d\n", done.Load(), failed.Load())
}
