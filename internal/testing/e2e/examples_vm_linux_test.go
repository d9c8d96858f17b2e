package e2e

import (
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/conf"
	"github.com/vigil-lb/vigil/internal/testing/mariadbtest"
	"github.com/vigil-lb/vigil/internal/testing/netlab"
	"github.com/vigil-lb/vigil/internal/testing/testenv"
	"github.com/vigil-lb/vigil/internal/testing/vmtest"
	"github.com/vigil-lb/vigil/ipvs"
)

// exampleFiles names, for every file under examples/, the scenario of TestExamplesVM that
// runs it end to end. TestExamplesHaveScenarios fails on a file missing here, so a new
// example joins the VM test to be added.
var exampleFiles = map[string]string{
	"dr-web.hcl":             "systemd_unit_dr_web",
	"systemd/vigil.service":  "systemd_unit_dr_web",
	"dr-mysql.hcl":           "dr_mysql",
	"nat-web.hcl":            "nat_web",
	"tun-web.hcl":            "tun_web",
	"fwmark-web.hcl":         "fwmark_web",
	"group-web.hcl":          "group_web",
	"ha-pair/director-a.hcl": "ha_pair",
	"ha-pair/director-b.hcl": "ha_pair",
}

// exampleScenarios run in parallel beside systemd_unit_dr_web. Each builds its network
// and starts its real servers at once, then waits on kernelFound before it starts vigil:
// the unit scenario must be first to ask for kernel IPVS.
var exampleScenarios = map[string]func(t *testing.T, kernelFound <-chan struct{}){
	"dr_mysql":   testDRMySQL,
	"nat_web":    testNATWeb,
	"tun_web":    testTUNWeb,
	"fwmark_web": testFwmarkWeb,
	"group_web":  testGroupWeb,
	"ha_pair":    testHAPairExample,
}

// guestExamples is where examples/ is copied in the guest, unchanged.
const guestExamples = "/examples"

// TestExamplesVM runs every file of examples/ as an operator installs it, in one VM boot
// of Debian's kernel: loaded unchanged (the test sets only environment variables), at the
// example's own addresses, in namespaces set up as the seeds do, against busybox httpd,
// a TLS server and real MariaDB servers. For each: a client through the VIP sees the
// scheduler's pattern over the real servers; a killed real server goes to weight 0 in the
// kernel table, and comes back when restarted. First, with ip_vs unloaded and the unit's
// capabilities: which examples dataplane = "auto" may serve without kernel IPVS, and that
// the shipped systemd unit finds kernel IPVS where modprobe cannot load it.
//
// The examples keep their operator intervals (checks every 2 s, down after 3 failures, up
// after 2 successes; VRRP adverts every 1 s), so the scenarios run in parallel: the boot
// takes about as long as the slowest one.
func TestExamplesVM(t *testing.T) {
	testenv.Short(t, "boots a VM")
	vmtest.Run(t, vmtest.Options{
		Binaries: map[string]string{
			"vigil":   "github.com/vigil-lb/vigil/cmd/vigil",
			"capexec": "github.com/vigil-lb/vigil/internal/testing/e2e/capexec",
		},
		HostBinaries: []string{"nft", "ipvsadm", "mariadbd"},
		Files:        examplesGuestFiles(t),
		Timeout:      8 * time.Minute,
		Memory:       2048,
		// The scenarios mostly wait for health checks: run them all at once.
		GuestArgs: []string{"-test.parallel=8"},
	}, map[string]func(*testing.T){
		"dataplane_auto_without_ipvs": testAutoWithoutIPVS,
		"examples":                    testExamples,
	})
}

// examplesGuestFiles copies examples/ and what mariadbd needs into the guest: its
// messages and character sets, and a datadir made here by mariadb-install-db, which each
// real server copies (the guest has no mariadb-install-db and no time to spare).
func examplesGuestFiles(t *testing.T) map[string]string {
	if vmtest.InGuest() {
		return nil
	}
	mariadbtest.Require(t)
	dir, err := filepath.Abs(filepath.Join("..", "..", "..", "examples"))
	must(t, err, "examples path")
	tmpl := filepath.Join(t.TempDir(), "mariadb-template")
	start := time.Now()
	must(t, mariadbtest.Install(tmpl), "make the MariaDB datadir template")
	t.Logf("MariaDB datadir template made in %.1fs", time.Since(start).Seconds())
	return map[string]string{
		guestExamples:        dir,
		mariadbGuestTemplate: tmpl,
		"/usr/share/mysql":   "/usr/share/mysql",
	}
}

// TestExamplesTakeSocketFromEnvironment runs everywhere (no VM): every example's control
// socket and state directory are the systemd unit's by default and the environment's when
// it names them, which is how TestExamplesVM runs the examples side by side unchanged.
func TestExamplesTakeSocketFromEnvironment(t *testing.T) {
	dir := filepath.Join("..", "..", "..", "examples")
	for f := range exampleFiles {
		if !strings.HasSuffix(f, ".hcl") {
			continue
		}
		g, diags := conf.LoadGlobal(filepath.Join(dir, f), conf.Limits{})
		if diags.HasErrors() || g.ControlSocket != conf.DefaultControlSocket || g.StateDir != conf.DefaultStateDir {
			t.Errorf("examples/%s: control socket %q, state dir %q (%v); want the unit's %s and %s by default", f, g.ControlSocket, g.StateDir, diags, conf.DefaultControlSocket, conf.DefaultStateDir)
		}
	}
	own := t.TempDir()
	for _, kv := range exampleEnv(own) {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	for f := range exampleFiles {
		if !strings.HasSuffix(f, ".hcl") {
			continue
		}
		g, diags := conf.LoadGlobal(filepath.Join(dir, f), conf.Limits{})
		if diags.HasErrors() || g.ControlSocket != filepath.Join(own, "vigil.sock") || g.StateDir != filepath.Join(own, "state") {
			t.Errorf("examples/%s with VIGIL_CONTROL_SOCKET and VIGIL_STATE_DIR set: control socket %q, state dir %q (%v)", f, g.ControlSocket, g.StateDir, diags)
		}
	}
}

// TestExamplesHaveScenarios runs everywhere (no VM): every file under examples/ has a
// scenario in TestExamplesVM, and every scenario a file.
func TestExamplesHaveScenarios(t *testing.T) {
	checkExampleList(t, filepath.Join("..", "..", "..", "examples"))
}

func checkExampleList(t *testing.T, dir string) {
	t.Helper()
	var found []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		found = append(found, filepath.ToSlash(rel))
		return err
	})
	must(t, err, "list "+dir)
	for _, f := range found {
		if _, ok := exampleFiles[f]; !ok {
			t.Errorf("examples/%s has no scenario in TestExamplesVM: add one (exampleFiles) that runs it end to end", f)
		}
	}
	for f, sc := range exampleFiles {
		if !slices.Contains(found, f) {
			t.Errorf("exampleFiles names examples/%s, which does not exist", f)
		}
		if _, ok := exampleScenarios[sc]; !ok && sc != "systemd_unit_dr_web" {
			t.Errorf("examples/%s: no scenario %q", f, sc)
		}
	}
}

func testExamples(t *testing.T) {
	checkExampleList(t, guestExamples)
	kernelFound := make(chan struct{})
	var once sync.Once
	found := func() { once.Do(func() { close(kernelFound) }) }
	t.Run("systemd_unit_dr_web", func(t *testing.T) {
		t.Parallel()
		defer found()
		testSystemdUnitDRWeb(t, found)
	})
	for _, name := range slices.Sorted(mapKeys(exampleScenarios)) {
		fn := exampleScenarios[name]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fn(t, kernelFound)
		})
	}
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func example(name string) string { return guestExamples + "/" + name }

// runExample starts `vigil run -f FILE` on the example file itself inside h, with its own
// control socket and state directory (the examples take them from the environment): the
// scenarios run at once, and on the unit's defaults every daemon would take
// /run/vigil/vigil.sock from the one before and share its state file.
func runExample(t *testing.T, h *netlab.Host, name, file string, env ...string) *vigil {
	t.Helper()
	dir := t.TempDir()
	sock := filepath.Join(dir, "vigil.sock")
	env = append(env, exampleEnv(dir)...)
	v := launch(t, &vigil{t: t, name: name, host: h, dir: dir, log: &syncBuffer{}, cfg: file, env: env})
	// Fails when the example does not take VIGIL_CONTROL_SOCKET.
	waitFor(t, 10*time.Second, name+"'s own control socket at "+sock, func() bool {
		fi, err := os.Stat(sock)
		return err == nil && fi.Mode().Type() == fs.ModeSocket
	})
	return v
}

// exampleEnv is what gives an example's daemon a control socket and a state directory in dir.
func exampleEnv(dir string) []string {
	return []string{"VIGIL_CONTROL_SOCKET=" + filepath.Join(dir, "vigil.sock"), "VIGIL_STATE_DIR=" + filepath.Join(dir, "state")}
}

// exampleTimeout bounds every wait for a health transition: the examples' own timers
// (down after about 7 s, up after about 4 s) on a busy 2-core TCG guest.
const exampleTimeout = 90 * time.Second

// cluster is one example's service as a scenario exercises it.
type cluster struct {
	tables  []*netlab.Host   // directors whose kernel tables must follow
	key     ipvs.ServiceKey  // the virtual service
	dests   []netip.AddrPort // its real servers as the kernel lists them: rs1, rs2
	weights []int            // their configured weights
	procs   []backendProc    // what runs on rs1, rs2
	ask     func() (string, error)
	n       int                              // requests per round
	pattern func(t *testing.T, got []string) // what a round looks like with both up
	// recovered is what a round looks like once rs1 is back (default: pattern).
	recovered func(t *testing.T, got []string)

	kernels []*ipvs.Kernel // the tables, opened by weightsAre
}

// weightsAre waits until every table holds want for the real servers, and returns how
// long that took. It polls every 250 ms on one netlink socket per table: the other
// scenarios share the guest's two emulated CPUs.
func (c *cluster) weightsAre(t *testing.T, what string, want []int) time.Duration {
	t.Helper()
	if c.kernels == nil {
		for _, h := range c.tables {
			k, err := ipvs.OpenKernel(ipvs.KernelOptions{Netns: h.Path(), NoModprobe: true})
			must(t, err, "open IPVS in "+h.Name())
			t.Cleanup(func() { k.Close() })
			c.kernels = append(c.kernels, k)
		}
	}
	start := time.Now()
	var seen []map[netip.AddrPort]int
	for time.Since(start) < exampleTimeout {
		ok := true
		seen = seen[:0]
		for _, k := range c.kernels {
			w := map[netip.AddrPort]int{}
			dests, _ := k.Destinations(t.Context(), c.key)
			for _, d := range dests {
				w[d.Addr] = d.Weight
			}
			seen = append(seen, w)
			for i, d := range c.dests {
				if got, in := w[d]; !in || got != want[i] {
					ok = false
				}
			}
		}
		if ok {
			return time.Since(start)
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s: the kernel tables hold %v", exampleTimeout, what, seen)
	return 0
}

func (c *cluster) round(t *testing.T) []string {
	t.Helper()
	var got []string
	for range c.n {
		who, err := c.ask()
		must(t, err, "request through the VIP")
		got = append(got, who)
	}
	return got
}

// exercise is the story every example tells: balanced, rs1 killed and quiesced, rs1
// restarted and balanced again.
func (c *cluster) exercise(t *testing.T) {
	t.Helper()
	took := c.weightsAre(t, "every real server at its weight", c.weights)
	t.Logf("real servers up %s after start", took.Round(time.Millisecond))
	c.pattern(t, c.round(t))

	c.procs[0].Kill()
	down := slices.Clone(c.weights)
	down[0] = 0
	took = c.weightsAre(t, "rs1 at weight 0", down)
	t.Logf("rs1 killed: weight 0 in the kernel table %s later", took.Round(time.Millisecond))
	for i, who := range c.round(t) {
		if who != "rs2" {
			t.Fatalf("request %d with rs1 down answered by %s, want rs2", i+1, who)
		}
	}

	c.procs[0].Start()
	took = c.weightsAre(t, "rs1 back at its weight", c.weights)
	t.Logf("rs1 restarted: weight %d again %s later", c.weights[0], took.Round(time.Millisecond))
	if c.recovered != nil {
		c.recovered(t, c.round(t))
	} else {
		c.pattern(t, c.round(t))
	}
}

// catchUp is a round of a least-connection scheduler (wlc) once rs1 is back: rs2 holds
// the connections of the outage (IPVS keeps closed ones as inactive for a while), so most
// new connections go to rs1.
func catchUp(t *testing.T, got []string) {
	t.Helper()
	n := 0
	for _, g := range got {
		if g == "rs1" {
			n++
		}
	}
	if n <= len(got)/2 {
		t.Fatalf("answers %v: wlc must send most new connections to rs1, which has fewer", got)
	}
}

// ratio checks a round of wrr with weights 2 and 1: rs1 answers two thirds.
func ratio(t *testing.T, got []string) {
	t.Helper()
	n := map[string]int{}
	for _, g := range got {
		n[g]++
	}
	if n["rs1"] != 2*len(got)/3 || n["rs2"] != len(got)/3 {
		t.Fatalf("answers %v: want rs1 twice as often as rs2 (weights 2 and 1)", got)
	}
}

func webDests(port uint16) []netip.AddrPort {
	return []netip.AddrPort{netip.AddrPortFrom(addr("198.18.0.21"), port), netip.AddrPortFrom(addr("198.18.0.22"), port)}
}

var vipHTTP = ipvs.AddrKey(ipvs.TCP, ap("198.18.0.254:80"))

// drWebServers makes x's real servers the seeds' DR web servers: the VIP on lo, busybox
// httpd on port 80.
func drWebServers(t *testing.T, x *drLab) []backendProc {
	t.Helper()
	var procs []backendProc
	for _, h := range x.rsHosts {
		setupDRRealServer(t, h, x.vip)
		procs = append(procs, startHTTPD(t, h, 80))
	}
	return procs
}

// webCluster is the web service of the examples on the LAN: VIP port 80, real servers .21
// and .22 at weight 1, which round robin alternates between.
func webCluster(x *drLab, procs []backendProc) *cluster {
	return &cluster{
		tables: x.directors, key: vipHTTP, dests: webDests(80), weights: []int{1, 1}, procs: procs,
		ask: func() (string, error) { return ask(x.client, "http://198.18.0.254/") }, n: 10, pattern: assertAlternates,
	}
}

func testNATWeb(t *testing.T, kernelFound <-chan struct{}) {
	x := newNATLab(t, addr("198.18.0.254"))
	procs := []backendProc{startHTTPD(t, x.rsHosts[0], 8080), startHTTPD(t, x.rsHosts[1], 8080)}
	<-kernelFound
	runExample(t, x.director, "nat-web", example("nat-web.hcl"))
	c := &cluster{
		tables: []*netlab.Host{x.director}, key: vipHTTP, dests: webDests(8080), weights: []int{2, 1}, procs: procs,
		ask: func() (string, error) { return ask(x.client, "http://198.18.0.254/") }, n: 9, pattern: ratio,
	}
	c.exercise(t)
}

func testTUNWeb(t *testing.T, kernelFound <-chan struct{}) {
	x := newLAN(t, 1, 2, true)
	var procs []backendProc
	for _, h := range x.rsHosts {
		setupTUNRealServer(t, h, x.vip)
		procs = append(procs, startHTTPD(t, h, 80))
	}
	<-kernelFound
	runExample(t, x.directors[0], "tun-web", example("tun-web.hcl"))
	c := webCluster(x, procs)
	c.recovered = catchUp // wlc, not rr
	c.exercise(t)
}

const mysqlE2EPassword = "e2e-My5ql-monitor-s3cret"

func testDRMySQL(t *testing.T, kernelFound <-chan struct{}) {
	x := newLAN(t, 1, 2, true)
	var procs []backendProc
	for i, h := range x.rsHosts {
		setupDRRealServer(t, h, x.vip)
		procs = append(procs, startMariaDB(t, h, 21+i, "monitor", mysqlE2EPassword))
	}
	// The example reads the password from the environment, as an operator's unit would.
	<-kernelFound
	v := runExample(t, x.directors[0], "dr-mysql", example("dr-mysql.hcl"), "VIGIL_MYSQL_PASSWORD="+mysqlE2EPassword)
	c := &cluster{
		tables: x.directors, key: ipvs.AddrKey(ipvs.TCP, ap("198.18.0.254:3306")), dests: webDests(3306), weights: []int{1, 1}, procs: procs,
		ask: func() (string, error) { return askMySQL(x.client, "198.18.0.254:3306", "monitor", mysqlE2EPassword) },
		n:   6, pattern: assertAlternates,
	}
	c.exercise(t)
	if strings.Contains(v.log.String(), mysqlE2EPassword) {
		t.Errorf("the MySQL password appears in vigil's log")
	}
}

func testHAPairExample(t *testing.T, kernelFound <-chan struct{}) {
	x := newLAN(t, 2, 2, false)
	procs := drWebServers(t, x)
	<-kernelFound
	a := runExample(t, x.directors[0], "director-a", example("ha-pair/director-a.hcl"))
	b := runExample(t, x.directors[1], "director-b", example("ha-pair/director-b.hcl"))
	took := poll(t, exampleTimeout, "A master with the VIP, B backup", func() bool {
		as, _ := vrrpState(a)
		bs, _ := vrrpState(b)
		return as == "master" && bs == "backup" && hasVIP(t, x.directors[0]) && !hasVIP(t, x.directors[1])
	})
	t.Logf("A master, B backup %s after start", took.Round(time.Millisecond))
	webCluster(x, procs).exercise(t)
	if as, _ := vrrpState(a); as != "master" {
		t.Errorf("A is %q after a real server failed and came back, want master", as)
	}
}

// testGroupWeb: a group of two VIPs is two IPVS services with the same real servers;
// a killed real server goes to weight 0 in both, and comes back in both.
func testGroupWeb(t *testing.T, kernelFound <-chan struct{}) {
	x := newLAN(t, 1, 2, true)
	second := addr("198.18.0.253")
	must(t, x.directors[0].AddAddr("eth0", netip.PrefixFrom(second, 32)), "second VIP on the director")
	procs := drWebServers(t, x)
	for _, h := range x.rsHosts {
		must(t, h.AddAddr("lo", netip.PrefixFrom(second, 32)), "second VIP on lo")
	}
	<-kernelFound
	runExample(t, x.directors[0], "group-web", example("group-web.hcl"))
	first := webCluster(x, procs)
	other := webCluster(x, procs)
	other.key = ipvs.AddrKey(ipvs.TCP, ap("198.18.0.253:80"))
	other.ask = func() (string, error) { return ask(x.client, "http://198.18.0.253/") }
	first.exercise(t)
	other.weightsAre(t, "the second VIP's real servers at their weights", other.weights)
	other.pattern(t, other.round(t))
	// One check per real server moves it in every service of the group.
	procs[1].Kill()
	for _, c := range []*cluster{first, other} {
		c.weightsAre(t, "rs2 at weight 0 in "+c.key.String(), []int{1, 0})
	}
	for _, c := range []*cluster{first, other} {
		for i, who := range c.round(t) {
			if who != "rs1" {
				t.Fatalf("%s: request %d with rs2 down answered by %s, want rs1", c.key, i+1, who)
			}
		}
	}
	procs[1].Start()
	for _, c := range []*cluster{first, other} {
		c.weightsAre(t, "rs2 back in "+c.key.String(), c.weights)
	}
}

// testFwmarkWeb: port 80 and 443 are one firewall-mark service with persistence, so each
// client sticks to one real server for both ports; new clients alternate between them.
func testFwmarkWeb(t *testing.T, kernelFound <-chan struct{}) {
	x := newLAN(t, 1, 2, true)
	lb := x.directors[0]
	// The marks, as the example's header documents them.
	for _, c := range exampleCommands(t, example("fwmark-web.hcl"), "nft") {
		out, err := lb.Command(t.Context(), c[0], c[1:]...).CombinedOutput()
		must(t, err, fmt.Sprintf("%q in %s: %s", c, lb.Name(), out))
	}
	var procs []backendProc
	for _, h := range x.rsHosts {
		setupDRRealServer(t, h, x.vip)
		procs = append(procs, both{startHTTPD(t, h, 80), startTLSServer(t, h)})
	}
	clients := []*netlab.Host{x.client}
	for i := range 5 {
		h := x.lab.Host(fmt.Sprintf("client%d", i+2))
		x.lab.Link(h, "eth0", x.lan, netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 18, 0, byte(101 + i)}), 24))
		clients = append(clients, h)
	}
	<-kernelFound
	runExample(t, lb, "fwmark-web", example("fwmark-web.hcl"))
	// whoFor asks over both ports and requires one answer: the point of the example.
	whoFor := func(t *testing.T, h *netlab.Host) string {
		t.Helper()
		plain, err := ask(h, "http://198.18.0.254/")
		must(t, err, "http through the VIP from "+h.Name())
		resp, err := httpsClient(h).Get("https://198.18.0.254/")
		must(t, err, "https through the VIP from "+h.Name())
		b := make([]byte, 64)
		n, _ := resp.Body.Read(b)
		resp.Body.Close()
		if tls := strings.TrimSpace(string(b[:n])); tls != plain {
			t.Fatalf("%s: port 80 answered by %s, port 443 by %s; one firewall-mark service must keep a client on one real server", h.Name(), plain, tls)
		}
		return plain
	}
	c := &cluster{tables: x.directors, key: ipvs.MarkKey(6666, ipvs.Inet4), dests: webDests(0), weights: []int{1, 1}, procs: procs}
	took := c.weightsAre(t, "both real servers up", c.weights)
	t.Logf("real servers up %s after start", took.Round(time.Millisecond))
	first := map[string]string{}
	for _, h := range clients[:4] {
		first[h.Name()] = whoFor(t, h)
		if again := whoFor(t, h); again != first[h.Name()] {
			t.Fatalf("%s answered by %s, then %s: persistence keeps a client on one real server", h.Name(), first[h.Name()], again)
		}
	}
	t.Logf("clients and their real servers: %v", first)
	assertAlternates(t, []string{first["client"], first["client2"], first["client3"], first["client4"]})

	procs[0].Kill()
	took = c.weightsAre(t, "rs1 at weight 0", []int{0, 1})
	t.Logf("rs1 killed: weight 0 in the kernel table %s later", took.Round(time.Millisecond))
	// expire_quiescent_template (vigil sets it for persistent services that quiesce):
	// the clients of rs1 move to rs2 at once instead of after 300 s.
	for _, h := range clients[:4] {
		if who := whoFor(t, h); who != "rs2" {
			t.Fatalf("%s answered by %s with rs1 down, want rs2", h.Name(), who)
		}
	}

	procs[0].Start()
	took = c.weightsAre(t, "rs1 back at weight 1", c.weights)
	t.Logf("rs1 restarted: weight 1 again %s later", took.Round(time.Millisecond))
	// Clients with a template stay where they are; new clients reach rs1 again.
	got := []string{whoFor(t, clients[4]), whoFor(t, clients[5])}
	if !slices.Contains(got, "rs1") || !slices.Contains(got, "rs2") {
		t.Errorf("two new clients answered by %v, want both real servers", got)
	}
}
