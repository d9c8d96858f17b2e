//go:build bench

// Package ipvsbench measures vigil's kernel IPVS programming against ipvsadm, side by side
// in one VM boot (build tag bench: GOFLAGS=-tags=bench VIGIL_BENCH=1; see docs/benchmarks.md (Kernel IPVS programming)).
package ipvsbench

import (
	"bytes"
	"context"
	"flag"
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
	// programEnv: re-exec, program nServices x progDests into the empty table of
	// $VIGIL_BENCH_NETNS, then make nEdits weight changes, and print the times.
	programEnv = "VIGIL_BENCH_PROGRAM"
	progDests  = 4
	progRounds = 5 // process pairs (this build, the baseline) per repetition
	netnsEnv   = "VIGIL_BENCH_NETNS"
	// baselineEnv names a test binary of this benchmark built from other code (an older
	// commit), copied into the guest: its lister runs beside vigil's and ipvsadm's in
	// every listing round, so a before/after comparison shares the boot and the load.
	baselineEnv   = "VIGIL_BENCH_BASELINE"
	baselineGuest = "/usr/local/bin/ipvsbench-baseline"
	// nopEnv: re-exec and exit at once, to time this binary's start-up alone.
	nopEnv = "VIGIL_BENCH_NOP"
	// weightsEnv: re-exec, adopt the table of $VIGIL_BENCH_NETNS (nServices x progDests,
	// as desiredN) and make nEdits weight changes to the value of $VIGIL_BENCH_WEIGHTS.
	weightsEnv = "VIGIL_BENCH_WEIGHTS"
)

// entered is when TestMain began (package initialisation done): a lister reports it, so
// that the parent can split its wall time into start-up and listing.
var entered time.Time

// TestMain lets the benchmark run this binary as a separate process that lists the table,
// so that vigil's listing is timed like ipvsadm's: process start included.
func TestMain(m *testing.M) {
	entered = time.Now()
	if os.Getenv(nopEnv) != "" {
		os.Exit(0)
	}
	if os.Getenv(listEnv) != "" {
		os.Exit(listMain())
	}
	if os.Getenv(programEnv) != "" {
		os.Exit(programMain())
	}
	if os.Getenv(weightsEnv) != "" {
		os.Exit(weightsMain())
	}
	os.Exit(m.Run())
}

// listMain lists the table as `ipvsadm -Sn` would, and prints on stderr "times" with
// when TestMain began (Unix ns) and how long opening, reading and writing took (ns).
func listMain() int {
	t0 := time.Now()
	k, err := ipvs.OpenKernel(ipvs.KernelOptions{Netns: os.Getenv(netnsEnv), NoModprobe: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer k.Close()
	t1 := time.Now()
	svcs, err := ipvs.ReadTable(context.Background(), k)
	t2 := time.Now()
	if err == nil {
		err = ipvsadm.WriteSave(os.Stdout, svcs)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "times %d %d %d %d\n", entered.UnixNano(), t1.Sub(t0), t2.Sub(t1), time.Since(t2))
	return 0
}

// programMain programs nServices x progDests into an empty table through a Reconciler,
// as the daemon's first apply does (opening the table included), then makes nEdits
// single weight changes, and prints "program <ns>" and "weights <ns> ..." lines.
func programMain() int {
	ctx := context.Background()
	fail := func(err error) int { fmt.Fprintln(os.Stderr, err); return 1 }
	want := desiredN(progDests)
	start := time.Now()
	k, err := ipvs.OpenKernel(ipvs.KernelOptions{Netns: os.Getenv(netnsEnv), NoModprobe: true})
	if err != nil {
		return fail(err)
	}
	defer k.Close()
	r := ipvs.NewReconciler(k, ipvs.ReconcilerOptions{})
	c, err := r.Apply(ctx, want)
	if err != nil {
		return fail(err)
	}
	if c.Total() != nServices*(progDests+1) {
		return fail(fmt.Errorf("apply wrote %d entries", c.Total()))
	}
	fmt.Printf("program %d\n", time.Since(start))
	line, err := timeWeights(ctx, r, want, 2)
	if err != nil {
		return fail(err)
	}
	fmt.Println(line)
	return 0
}

// timeWeights makes nEdits single weight changes to w through r, which holds want, and
// returns "weights <ns> ...", the time of each.
func timeWeights(ctx context.Context, r *ipvs.Reconciler, want []ipvs.VirtualService, w int) (string, error) {
	var b strings.Builder
	b.WriteString("weights")
	for i := range nEdits {
		vs := want[i%nServices]
		d := vs.Destinations[(i/nServices)%progDests]
		start := time.Now()
		if err := r.SetWeight(ctx, vs.ServiceKey, d.Addr, w); err != nil {
			return "", err
		}
		fmt.Fprintf(&b, " %d", time.Since(start))
	}
	return b.String(), nil
}

// weightsMain adopts the table of $VIGIL_BENCH_NETNS through a Reconciler (untimed: it
// may rewrite the previous round's weights), then makes nEdits single weight changes to
// $VIGIL_BENCH_WEIGHTS and prints "weights <ns> ...".
func weightsMain() int {
	ctx := context.Background()
	fail := func(err error) int { fmt.Fprintln(os.Stderr, err); return 1 }
	var w int
	if _, err := fmt.Sscan(os.Getenv(weightsEnv), &w); err != nil {
		return fail(err)
	}
	want := desiredN(progDests)
	k, err := ipvs.OpenKernel(ipvs.KernelOptions{Netns: os.Getenv(netnsEnv), NoModprobe: true})
	if err != nil {
		return fail(err)
	}
	defer k.Close()
	r := ipvs.NewReconciler(k, ipvs.ReconcilerOptions{})
	if _, err := r.Apply(ctx, want); err != nil {
		return fail(err)
	}
	line, err := timeWeights(ctx, r, want, w)
	if err != nil {
		return fail(err)
	}
	fmt.Println(line)
	return 0
}

// weightOnly: VIGIL_VMTEST_ARGS=-ipvs.weightonly measures the weight change alone: one
// table of nServices x progDests filled by ipvsadm -R, then in weightRounds rotating
// rounds nEdits single changes by this build's process (weightsMain), by the baseline's
// if there is one, by one `ipvsadm -R` of nEdits -e lines (per edit), and ipvsadm -e as
// one process per change (weightSingles of them).
var weightOnly = flag.Bool("ipvs.weightonly", false, "measure only the weight change")

const (
	weightRounds  = 6
	weightSingles = 20
)

func benchWeightOnly(t *testing.T) {
	lab := netlab.New(t)
	h := lab.Host("weights")
	want := desiredN(progDests)
	runIPVSAdm(t, h, rules(want), "-R")
	self, _ := os.Executable()
	weights := func(bin string, w int) []time.Duration {
		cmd := h.Command(context.Background(), bin)
		cmd.Env = append(os.Environ(), weightsEnv+"="+fmt.Sprint(w), netnsEnv+"="+h.Path())
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			t.Fatalf("%s weights process: %v: %s", bin, err, errb.String())
		}
		var ds []time.Duration
		for _, v := range strings.Fields(out.String())[1:] {
			var n int64
			if _, err := fmt.Sscan(v, &n); err != nil {
				t.Fatalf("%s: %q: %v", bin, out.String(), err)
			}
			ds = append(ds, time.Duration(n))
		}
		if len(ds) != nEdits {
			t.Fatalf("%s printed %q", bin, out.String())
		}
		return ds
	}
	edits := func(w, n int) []string {
		var out []string
		for i := range n {
			vs := want[i%nServices]
			d := vs.Destinations[(i/nServices)%progDests]
			out = append(out, fmt.Sprintf("-e -t %s -r %s -m -w %d", vs.Addr, d.Addr, w))
		}
		return out
	}
	_, err := os.Stat(baselineGuest)
	haveBase := err == nil
	var medV, medB, batchA, singleA []time.Duration
	var allV, allB []time.Duration
	for round := range weightRounds {
		w := 2 + round
		sides := []func(){
			func() { ds := weights(self, w); allV = append(allV, ds...); medV = append(medV, median(ds)) },
			func() {
				batchA = append(batchA, runIPVSAdm(t, h, []byte(strings.Join(edits(w+10, nEdits), "\n")+"\n"), "-R")/nEdits)
			},
			func() {
				var ds []time.Duration
				for _, e := range edits(w+20, weightSingles) {
					ds = append(ds, runIPVSAdm(t, h, nil, strings.Fields(e)...))
				}
				singleA = append(singleA, median(ds))
			},
		}
		if haveBase {
			sides = append(sides, func() {
				ds := weights(baselineGuest, w+30)
				allB = append(allB, ds...)
				medB = append(medB, median(ds))
			})
		}
		for j := range sides {
			sides[(round+j)%len(sides)]()
		}
	}
	t.Logf("RESULT weight change, %d rounds: this build median %v p99 %v (per round %v); ipvsadm -R of %d -e lines, per edit: median %v (per round %v); ipvsadm -e, one process per change: median %v (per round %v); this / ipvsadm -R per round %v (median %.3f), this / ipvsadm -e %v (median %.3f)",
		weightRounds, median(allV), pct(allV, 0.99), medV, nEdits, median(batchA), batchA, median(singleA), singleA,
		ratioStrings(medV, batchA), medianOf(medV, batchA), ratioStrings(medV, singleA), medianOf(medV, singleA))
	if haveBase {
		t.Logf("RESULT weight change, baseline build: median %v p99 %v (per round %v); this / baseline per round %v (median %.2f)",
			median(allB), pct(allB, 0.99), medB, ratioStrings(medV, medB), medianOf(medV, medB))
	}
}

// programProcess runs bin's programMain in a fresh namespace of lab and returns the time
// to program and the weight changes.
func programProcess(t *testing.T, lab *netlab.Lab, name, bin string) (time.Duration, []time.Duration) {
	t.Helper()
	h := lab.Host(name)
	cmd := h.Command(context.Background(), bin)
	cmd.Env = append(os.Environ(), programEnv+"=1", netnsEnv+"="+h.Path())
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s program process: %v: %s", bin, err, errb.String())
	}
	var prog time.Duration
	var weights []time.Duration
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		f := strings.Fields(line)
		for i, v := range f[1:] {
			var n int64
			if _, err := fmt.Sscan(v, &n); err != nil {
				t.Fatalf("%s: %q: %v", bin, line, err)
			}
			if f[0] == "program" && i == 0 {
				prog = time.Duration(n)
			} else if f[0] == "weights" {
				weights = append(weights, time.Duration(n))
			}
		}
	}
	if prog == 0 || len(weights) != nEdits {
		t.Fatalf("%s printed %q", bin, out.String())
	}
	return prog, weights
}

// listOnly: VIGIL_VMTEST_ARGS=-ipvs.listonly measures the listing alone, for a short run on
// a loaded host: one table of nServices x nDests filled by ipvsadm -R, listed in
// listOnlyRounds rotating rounds by this build's lister (which reports its own start-up,
// open, read and write times), by `vigil ipvs save` (the shipped binary), by ipvsadm -Sn,
// by the baseline if there is one, and in this process; beside them the start-up alone of
// the lister (it exits in TestMain), of `vigil version` and of `ipvsadm -v`. Then one
// `strace -c -f` of each listing process, for the system-call counts.
var listOnly = flag.Bool("ipvs.listonly", false, "measure only the listing of 11,000 entries")

// saveVariants adds sides to the -ipvs.listonly rounds: `vigil ipvs save` with other
// environments, variants separated by "/", variables in one by "," (for example
// -ipvs.variants=GOMAXPROCS=1/GOGC=off,GOMAXPROCS=1), each also traced once.
var saveVariants = flag.String("ipvs.variants", "", "environments to run vigil ipvs save with beside the default one")

const listOnlyRounds = 12

// listTimes is one listing process's wall time and, for this build's lister, the parts
// it reported: start-up (exec and package initialisation, up to TestMain), opening the
// table, reading it, writing the -Sn text; exit is what is left.
type listTimes struct{ wall, start, open, read, write time.Duration }

func benchListOnly(t *testing.T) {
	ctx := context.Background()
	lab := netlab.New(t)
	h := lab.Host("list")
	runIPVSAdm(t, h, rules(desired()), "-R")
	self, _ := os.Executable()
	const lines = nServices * (nDests + 1)
	// run times one process in h's namespace; env is added to the environment.
	run := func(env []string, wantLines int, bin string, args ...string) (time.Duration, string) {
		cmd := h.Command(ctx, bin, args...)
		cmd.Env = append(os.Environ(), env...)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		start := time.Now()
		if err := cmd.Run(); err != nil {
			t.Fatalf("%s %v: %v: %s", bin, args, err, errb.String())
		}
		d := time.Since(start)
		if wantLines > 0 {
			if n := strings.Count(out.String(), "\n"); n != wantLines {
				t.Fatalf("%s %v listed %d lines", bin, args, n)
			}
		}
		return d, errb.String()
	}
	lister := func(bin string) listTimes {
		start := time.Now()
		wall, errs := run([]string{listEnv + "=1", netnsEnv + "=" + h.Path()}, lines, bin)
		var lt listTimes
		lt.wall = wall
		var ent, o, r, w int64
		if _, err := fmt.Sscanf(errs[strings.LastIndex(errs, "times "):], "times %d %d %d %d", &ent, &o, &r, &w); err == nil {
			lt.start = time.Unix(0, ent).Sub(start)
			lt.open, lt.read, lt.write = time.Duration(o), time.Duration(r), time.Duration(w)
		}
		return lt
	}
	inProcess := func() time.Duration {
		start := time.Now()
		k, err := ipvs.OpenKernel(ipvs.KernelOptions{Netns: h.Path(), NoModprobe: true})
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		svcs, err := ipvs.ReadTable(ctx, k)
		if err == nil {
			err = ipvsadm.WriteSave(&b, svcs)
		}
		k.Close()
		if err != nil {
			t.Fatal(err)
		}
		return time.Since(start)
	}
	_, err := os.Stat(baselineGuest)
	haveBase := err == nil
	var listV []listTimes
	var saveV, listA, listB, inV, nopV, verV, verA []time.Duration
	sides := []func(){
		func() { listV = append(listV, lister(self)) },
		func() { d, _ := run(nil, lines, "vigil", "ipvs", "save"); saveV = append(saveV, d) },
		func() { listA = append(listA, runIPVSAdm(t, h, nil, "-Sn")) },
		func() { inV = append(inV, inProcess()) },
		func() { d, _ := run([]string{nopEnv + "=1"}, 0, self); nopV = append(nopV, d) },
		func() { d, _ := run(nil, 0, "vigil", "version"); verV = append(verV, d) },
		func() { verA = append(verA, runIPVSAdm(t, h, nil, "-v")) }, // start-up and its netlink init (ipvs_init),
	}
	if haveBase {
		sides = append(sides, func() { listB = append(listB, lister(baselineGuest).wall) })
	}
	var variants [][]string
	if *saveVariants != "" {
		for _, v := range strings.Split(*saveVariants, "/") {
			variants = append(variants, strings.Split(v, ","))
		}
	}
	varV := make([][]time.Duration, len(variants))
	for i, env := range variants {
		sides = append(sides, func() { d, _ := run(env, lines, "vigil", "ipvs", "save"); varV[i] = append(varV[i], d) })
	}
	for i := range listOnlyRounds {
		for j := range sides {
			sides[(i+j)%len(sides)]()
		}
	}
	part := func(f func(listTimes) time.Duration) []time.Duration {
		var out []time.Duration
		for _, lt := range listV {
			out = append(out, f(lt))
		}
		return out
	}
	wallV := part(func(lt listTimes) time.Duration { return lt.wall })
	inChild := part(func(lt listTimes) time.Duration { return lt.open + lt.read + lt.write })
	sec := func(ds []time.Duration) string { return fmt.Sprintf("%.3f s", median(ds).Seconds()) }
	t.Logf("RESULT list %d entries (one table, %d rounds), medians: lister process %s, of which start-up %s, open %s, read %s, write %s, exit %s; vigil ipvs save %s; ipvsadm -Sn %s; in this process %s",
		lines, listOnlyRounds, sec(wallV), sec(part(func(lt listTimes) time.Duration { return lt.start })),
		sec(part(func(lt listTimes) time.Duration { return lt.open })), sec(part(func(lt listTimes) time.Duration { return lt.read })),
		sec(part(func(lt listTimes) time.Duration { return lt.write })),
		sec(part(func(lt listTimes) time.Duration { return lt.wall - lt.start - lt.open - lt.read - lt.write })),
		sec(saveV), sec(listA), sec(inV))
	t.Logf("RESULT list ratios to ipvsadm -Sn, per round: lister process %v (median %.2f); vigil ipvs save %v (median %.2f); lister in process (open+read+write) %v (median %.2f); in this process %v (median %.2f)",
		ratioStrings(wallV, listA), medianOf(wallV, listA), ratioStrings(saveV, listA), medianOf(saveV, listA),
		ratioStrings(inChild, listA), medianOf(inChild, listA), ratioStrings(inV, listA), medianOf(inV, listA))
	t.Logf("RESULT start-up alone, medians: lister binary (exits in TestMain) %s %v; vigil version %s %v; ipvsadm -v (with its netlink init) %s %v",
		sec(nopV), nopV, sec(verV), verV, sec(verA), verA)
	t.Logf("RESULT raw: lister %v; vigil ipvs save %v; ipvsadm -Sn %v", wallV, saveV, listA)
	if haveBase {
		t.Logf("RESULT list, baseline build: median %.3f s %v; per-round this/baseline %v (median %.2f), baseline/ipvsadm %v (median %.2f)",
			median(listB).Seconds(), listB, ratioStrings(wallV, listB), medianOf(wallV, listB), ratioStrings(listB, listA), medianOf(listB, listA))
	}
	for i, env := range variants {
		t.Logf("RESULT vigil ipvs save with %v: median %s %v; per round to ipvsadm -Sn %v (median %.2f), to vigil ipvs save %v (median %.2f)",
			env, sec(varV[i]), varV[i], ratioStrings(varV[i], listA), medianOf(varV[i], listA), ratioStrings(varV[i], saveV), medianOf(varV[i], saveV))
	}
	// System calls: one traced run of each listing process.
	type traced struct {
		name string
		env  []string
		args []string
	}
	// Traced, a listing runs several times slower: vigil's 30 s default timeout is not
	// enough under load, and a trace that fails is reported, not fatal.
	save := []string{"vigil", "ipvs", "save", "-timeout", "10m"}
	traces := []traced{
		{"lister", []string{listEnv + "=1", netnsEnv + "=" + h.Path()}, []string{self}},
		{"vigil ipvs save", nil, save},
		{"ipvsadm -Sn", nil, []string{"ipvsadm", "-Sn"}},
	}
	for _, env := range variants {
		traces = append(traces, traced{fmt.Sprintf("vigil ipvs save %v", env), env, save})
	}
	for i, c := range traces {
		f := fmt.Sprintf("%s/strace-%d", t.TempDir(), i)
		cmd := h.Command(ctx, "strace", append([]string{"-c", "-f", "-o", f}, c.args...)...)
		cmd.Env = append(os.Environ(), c.env...)
		var errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = io.Discard, &errb
		if err := cmd.Run(); err != nil {
			t.Logf("strace %s: %v: %s", c.name, err, errb.String())
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("RESULT strace -c -f %s:\n%s", c.name, b)
	}
}

func medianOf(a, b []time.Duration) float64 {
	var rs []float64
	for i := range a {
		rs = append(rs, a[i].Seconds()/b[i].Seconds())
	}
	slices.Sort(rs)
	return rs[len(rs)/2]
}

func TestBenchIPVS(t *testing.T) {
	if !vmtest.InGuest() && os.Getenv("VIGIL_BENCH") != "1" {
		t.Skip("benchmark: run with VIGIL_BENCH=1")
	}
	opts := vmtest.Options{HostBinaries: []string{"ipvsadm", "strace"}, Timeout: 20 * time.Minute, Memory: 2048,
		Binaries: map[string]string{"vigil": "github.com/vigil-lb/vigil/cmd/vigil"}}
	if b := os.Getenv(baselineEnv); b != "" && !vmtest.InGuest() {
		opts.Files = map[string]string{baselineGuest: b}
	}
	vmtest.Run(t, opts, map[string]func(*testing.T){"bench": benchInGuest})
}

// desired is nServices TCP services with nDests NAT destinations each.
func desired() []ipvs.VirtualService { return desiredN(nDests) }

// desiredN is nServices TCP services with n NAT destinations each.
func desiredN(nDests int) []ipvs.VirtualService {
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
	if *listOnly {
		benchListOnly(t)
		return
	}
	if *weightOnly {
		benchWeightOnly(t)
		return
	}
	ctx := context.Background()
	want := desired()
	rs := rules(want)

	_, err := os.Stat(baselineGuest)
	haveBase := err == nil
	if haveBase {
		benchProgramBaseline(t)
	}
	var restoreV, restoreA, listV, listA, listB, listVin []time.Duration
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
		lister := func(bin string) time.Duration {
			cmd := hv.Command(ctx, bin)
			cmd.Env = append(os.Environ(), listEnv+"=1", netnsEnv+"="+hv.Path())
			var out, errb bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &errb
			start := time.Now()
			if err := cmd.Run(); err != nil {
				t.Fatalf("vigil list process: %v: %s", err, errb.String())
			}
			d := time.Since(start)
			if n := strings.Count(out.String(), "\n"); n != nServices*(nDests+1) {
				t.Fatalf("%s listed %d lines", bin, n)
			}
			return d
		}
		// Listing is cheap to repeat: listPairs back-to-back rounds, rotating who goes
		// first, so that host noise hits every side alike.
		round := []func(){
			func() { listV = append(listV, lister(self)) },
			func() { listA = append(listA, runIPVSAdm(t, ha, nil, "-Sn")) },
		}
		if haveBase {
			round = append(round, func() { listB = append(listB, lister(baselineGuest)) })
		}
		for i := range listPairs {
			for j := range round {
				round[(i+j)%len(round)]()
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
	if haveBase {
		t.Logf("RESULT list %d entries, baseline build: median %s %v; per-round ratios vigil/baseline %v (median %.2f), baseline/ipvsadm %v (median %.2f); vigil/ipvsadm in the same rounds median %.2f",
			nServices*(nDests+1), ms(median(listB)), listB, ratios(listV, listB), medianRatio(listV, listB),
			ratios(listB, listA), medianRatio(listB, listA), medianRatio(listV, listA))
	}
}

// benchProgramBaseline compares programming with the baseline build, process against
// process, in the same boot: nServices x progDests into an empty table (each process in a
// fresh namespace, opening the table included), then nEdits single weight changes, with
// `ipvsadm -R` of the same rules beside them; the order rotates every round.
func benchProgramBaseline(t *testing.T) {
	self, _ := os.Executable()
	rs := rules(desiredN(progDests))
	var progV, progB, progA, wV, wB []time.Duration
	var wVmed, wBmed []time.Duration
	for rep := range progRounds {
		lab := netlab.New(t)
		sides := []func(){
			func() {
				p, w := programProcess(t, lab, fmt.Sprintf("pv%d", rep), self)
				progV, wV, wVmed = append(progV, p), append(wV, w...), append(wVmed, median(w))
			},
			func() {
				p, w := programProcess(t, lab, fmt.Sprintf("pb%d", rep), baselineGuest)
				progB, wB, wBmed = append(progB, p), append(wB, w...), append(wBmed, median(w))
			},
			func() { progA = append(progA, runIPVSAdm(t, lab.Host(fmt.Sprintf("pa%d", rep)), rs, "-R")) },
		}
		for j := range sides {
			sides[(rep+j)%len(sides)]()
		}
	}
	ms := func(d time.Duration) string { return fmt.Sprintf("%.3f s", d.Seconds()) }
	t.Logf("RESULT program %dx%d as a process: this build median %s %v; baseline %s %v; ipvsadm -R %s %v; per-round this/baseline %v, this/ipvsadm %v",
		nServices, progDests, ms(median(progV)), progV, ms(median(progB)), progB, ms(median(progA)), progA,
		ratioStrings(progV, progB), ratioStrings(progV, progA))
	t.Logf("RESULT weight change (%d per process): this build median %v p99 %v (per round %v); baseline median %v p99 %v (per round %v)",
		nEdits, median(wV), pct(wV, 0.99), wVmed, median(wB), pct(wB, 0.99), wBmed)
}

func ratioStrings(a, b []time.Duration) []string {
	var out []string
	for i := range a {
		out = append(out, fmt.Sprintf("%.2f", a[i].Seconds()/b[i].Seconds()))
	}
	return out
}
