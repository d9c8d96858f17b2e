//go:build bench

// Package ipvsbench measures vigil's kernel IPVS programming against ipvsadm, side by side
// in one VM boot (build tag bench: GOFLAGS=-tags=bench VIGIL_BENCH=1; see docs/benchmarks.md (Kernel IPVS programming)).
package ipvsbench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/testing/netlab"
	"github.com/vigil-lb/vigil/internal/testing/testenv"
	"github.com/vigil-lb/vigil/internal/testing/vmtest"
	"github.com/vigil-lb/vigil/ipvs"
	"github.com/vigil-lb/vigil/ipvs/ipvsadm"
	"github.com/vigil-lb/vigil/ipvs/ipvstest"
)

const (
	nServices = 1000
	nDests    = 10
	nEdits    = 1000
	reps      = 3
	listPairs = 5                  // listing pairs per repetition
	listEnv   = "VIGIL_BENCH_LIST" // re-exec: list the table of $VIGIL_BENCH_NETNS as -Sn
	netnsEnv  = "VIGIL_BENCH_NETNS"
)

// TestMain lets the benchmark run this binary as a separate process that lists the table,
// so that vigil's listing is timed like ipvsadm's: process start included.
func TestMain(m *testing.M) {
	if os.Getenv(listEnv) != "" {
		os.Exit(listMain())
	}
	os.Exit(m.Run())
}

func listMain() int {
	k, err := ipvs.OpenKernel(ipvs.KernelOptions{Netns: os.Getenv(netnsEnv), NoModprobe: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer k.Close()
	svcs, err := ipvs.ReadTable(context.Background(), k)
	if err == nil {
		err = ipvsadm.WriteSave(os.Stdout, svcs)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

func TestBenchIPVS(t *testing.T) {
	if !vmtest.InGuest() && os.Getenv("VIGIL_BENCH") != "1" {
		t.Skip("benchmark: run with VIGIL_BENCH=1")
	}
	vmtest.Run(t, vmtest.Options{HostBinaries: []string{"ipvsadm"}, Timeout: 20 * time.Minute, Memory: 2048},
		map[string]func(*testing.T){"bench": benchInGuest})
}

// desired is nServices TCP services with nDests NAT destinations each.
func desired() []ipvs.VirtualService {
	out := make([]ipvs.VirtualService, 0, nServices)
	for i := range nServices {
		vip := netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 18, byte(i / 250), byte(i%250 + 1)}), 80)
		vs := ipvs.VirtualService{Service: ipvs.Service{ServiceKey: ipvs.AddrKey(ipvs.TCP, vip), Scheduler: "wlc"}}
		for j := range nDests {
			rs := netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 19, byte(j), byte(i%250 + 1)}), uint16(8000+i/250))
			vs.Destinations = append(vs.Destinations, ipvs.RealServer{Destination: ipvs.Destination{Addr: rs, Weight: 1, Forwarding: ipvs.NAT}})
		}
		out = append(out, vs)
	}
	return out
}

// rules renders desired as `ipvsadm -R` input (what `ipvsadm -Sn` prints).
func rules(ds []ipvs.VirtualService) []byte {
	var ls []ipvs.ListedService
	for _, vs := range ds {
		l := ipvs.ListedService{ServiceInfo: ipvs.ServiceInfo{Service: vs.Service}}
		for _, d := range vs.Destinations {
			l.Destinations = append(l.Destinations, ipvs.DestinationInfo{Destination: d.Destination})
		}
		ls = append(ls, l)
	}
	var b bytes.Buffer
	ipvsadm.WriteSave(&b, ls)
	return b.Bytes()
}

func runIPVSAdm(t *testing.T, h *netlab.Host, stdin []byte, args ...string) time.Duration {
	t.Helper()
	cmd := h.Command(context.Background(), "ipvsadm", args...)
	cmd.Stdin = bytes.NewReader(stdin)
	var errb bytes.Buffer
	cmd.Stderr = &errb
	cmd.Stdout = io.Discard
	start := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("ipvsadm %v: %v: %s", args, err, errb.String())
	}
	return time.Since(start)
}

func count(t *testing.T, k ipvs.Table) (svcs, dests int) {
	t.Helper()
	ls, err := ipvs.ReadTable(context.Background(), k)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range ls {
		dests += len(s.Destinations)
	}
	return len(ls), dests
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func pct(ds []time.Duration, p float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(float64(len(s))*p+0.5) - 1
	return s[max(0, min(i, len(s)-1))]
}

func benchInGuest(t *testing.T) {
	testenv.RequireRoot(t)
	ctx := context.Background()
	want := desired()
	rs := rules(want)

	var restoreV, restoreA, listV, listA, listVin []time.Duration
	var editV []time.Duration
	var editA []time.Duration
	var editsWritten int
	for rep := range reps {
		lab := netlab.New(t)
		hv, ha := lab.Host(fmt.Sprintf("v%d", rep)), lab.Host(fmt.Sprintf("a%d", rep))
		k, err := ipvs.OpenKernel(ipvs.KernelOptions{Netns: hv.Path(), NoModprobe: true})
		if err != nil {
			t.Fatal(err)
		}
		ka, err := ipvs.OpenKernel(ipvs.KernelOptions{Netns: ha.Path(), NoModprobe: true})
		if err != nil {
			t.Fatal(err)
		}

		// 1. Program 1,000 x 10 into an empty table. Alternate who goes first.
		var dv, da time.Duration
		programV := func() {
			r := ipvs.NewReconciler(k, ipvs.ReconcilerOptions{})
			start := time.Now()
			c, err := r.Apply(ctx, want)
			dv = time.Since(start)
			if err != nil || c.Total() != nServices*(nDests+1) {
				t.Fatalf("Apply: %+v, %v", c, err)
			}
		}
		programA := func() { da = runIPVSAdm(t, ha, rs, "-R") }
		if rep%2 == 0 {
			programV()
			programA()
		} else {
			programA()
			programV()
		}
		restoreV, restoreA = append(restoreV, dv), append(restoreA, da)
		for _, kk := range []ipvs.Table{k, ka} {
			if s, d := count(t, kk); s != nServices || d != nServices*nDests {
				t.Fatalf("table holds %d services, %d destinations", s, d)
			}
		}

		// 2. Weight changes: vigil's SetWeight one at a time (each exactly one
		// UpdateDestination, i.e. one netlink request), against one ipvsadm -R batch.
		rec := ipvstest.Record(k)
		r := ipvs.NewReconciler(rec, ipvs.ReconcilerOptions{})
		if c, err := r.Apply(ctx, want); err != nil || c.Total() != 0 {
			t.Fatalf("adopt: %+v, %v", c, err)
		}
		var edits strings.Builder
		for i := range nEdits {
			vs := want[i%nServices]
			d := vs.Destinations[(i/nServices)%nDests]
			w := 2 + rep
			start := time.Now()
			if err := r.SetWeight(ctx, vs.ServiceKey, d.Addr, w); err != nil {
				t.Fatal(err)
			}
			editV = append(editV, time.Since(start))
			fmt.Fprintf(&edits, "-e -t %s -r %s -m -w %d\n", vs.Addr, d.Addr, w)
		}
		editsWritten += len(rec.Ops())
		editA = append(editA, runIPVSAdm(t, ha, []byte(edits.String()), "-R")/nEdits)

		// 3. Listing 11,000 entries: in process, and as a process like ipvsadm -Sn.
		start := time.Now()
		svcs, err := ipvs.ReadTable(ctx, k)
		if err == nil {
			err = ipvsadm.WriteSave(io.Discard, svcs)
		}
		if err != nil {
			t.Fatal(err)
		}
		listVin = append(listVin, time.Since(start))
		self, _ := os.Executable()
		listVigil := func() time.Duration {
			cmd := hv.Command(ctx, self)
			cmd.Env = append(os.Environ(), listEnv+"=1", netnsEnv+"="+hv.Path())
			var out, errb bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &errb
			start := time.Now()
			if err := cmd.Run(); err != nil {
				t.Fatalf("vigil list process: %v: %s", err, errb.String())
			}
			d := time.Since(start)
			if n := strings.Count(out.String(), "\n"); n != nServices*(nDests+1) {
				t.Fatalf("vigil listed %d lines", n)
			}
			return d
		}
		// Listing is cheap to repeat: listPairs back-to-back pairs, alternating who goes
		// first, so that host noise hits both sides alike.
		for i := range listPairs {
			if i%2 == 0 {
				listV = append(listV, listVigil())
				listA = append(listA, runIPVSAdm(t, ha, nil, "-Sn"))
			} else {
				listA = append(listA, runIPVSAdm(t, ha, nil, "-Sn"))
				listV = append(listV, listVigil())
			}
		}
		k.Close()
		ka.Close()
	}

	ms := func(d time.Duration) string { return fmt.Sprintf("%.3f s", d.Seconds()) }
	// The host is shared and noisy: the ratio within each repetition (both sides measured
	// back to back from the same state) says more than the medians.
	ratios := func(a, b []time.Duration) []string {
		var out []string
		for i := range a {
			out = append(out, fmt.Sprintf("%.2f", a[i].Seconds()/b[i].Seconds()))
		}
		return out
	}
	medianRatio := func(a, b []time.Duration) float64 {
		var rs []float64
		for i := range a {
			rs = append(rs, a[i].Seconds()/b[i].Seconds())
		}
		slices.Sort(rs)
		return rs[len(rs)/2]
	}
	t.Logf("RESULT per-repetition ratios vigil/ipvsadm: program %v (median %.2f), list %v (median %.2f)",
		ratios(restoreV, restoreA), medianRatio(restoreV, restoreA), ratios(listV, listA), medianRatio(listV, listA))
	t.Logf("RESULT program %dx%d: vigil Apply median %s %v; ipvsadm -R median %s %v; ratio vigil/ipvsadm %.2f",
		nServices, nDests, ms(median(restoreV)), restoreV, ms(median(restoreA)), restoreA,
		median(restoreV).Seconds()/median(restoreA).Seconds())
	t.Logf("RESULT weight change: vigil SetWeight median %v p99 %v max %v over %d; ipvsadm -R batch %v per edit %v; netlink writes per change %.2f",
		median(editV), pct(editV, 0.99), slices.Max(editV), len(editV), median(editA), editA,
		float64(editsWritten)/float64(len(editV)))
	t.Logf("RESULT list %d entries: vigil process median %s %v (in-process %s); ipvsadm -Sn median %s %v; ratio %.2f",
		nServices*(nDests+1), ms(median(listV)), listV, ms(median(listVin)), ms(median(listA)), listA,
		median(listV).Seconds()/median(listA).Seconds())
}
