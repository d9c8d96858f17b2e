package e2e

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"database/sql"
	"fmt"
	"io"
	"log"
	"math/big"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/vigil-lb/vigil/internal/testing/mariadbtest"
	"github.com/vigil-lb/vigil/internal/testing/netlab"
)

// The real servers and networks of the examples, set up as the seeds do.

// backendProc is a real server's service that the test kills (a crash) and restarts.
type backendProc interface {
	Kill()
	Start()
}

// httpd is busybox httpd serving the real server's name at / (and "ok" at /healthz).
type httpd struct {
	t    *testing.T
	host *netlab.Host
	port int
	dir  string
	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

func startHTTPD(t *testing.T, h *netlab.Host, port int) *httpd {
	t.Helper()
	s := &httpd{t: t, host: h, port: port, dir: t.TempDir()}
	must(t, os.WriteFile(filepath.Join(s.dir, "index.html"), []byte(h.Name()+"\n"), 0o644), "index.html")
	must(t, os.WriteFile(filepath.Join(s.dir, "healthz"), []byte("ok\n"), 0o644), "healthz")
	s.Start()
	t.Cleanup(s.Kill)
	return s
}

// Start runs httpd in the foreground and waits until it accepts connections.
func (s *httpd) Start() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	cmd := s.host.Command(context.Background(), "busybox", "httpd", "-f", "-p", fmt.Sprint(s.port), "-h", s.dir)
	must(s.t, cmd.Start(), "start httpd in "+s.host.Name())
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	s.cmd, s.done = cmd, done
	waitListening(s.t, s.host, fmt.Sprintf("127.0.0.1:%d", s.port), done)
}

// Kill ends httpd with SIGKILL, as a crash would.
func (s *httpd) Kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	<-s.done
	s.cmd = nil
}

// waitListening waits until something accepts TCP connections at addr inside h.
func waitListening(t *testing.T, h *netlab.Host, addr string, exited <-chan struct{}) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			t.Fatalf("the server for %s in %s exited during start", addr, h.Name())
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		c, err := h.Dial(ctx, "tcp4", addr)
		cancel()
		if err == nil {
			c.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("nothing listens on %s in %s after 20s", addr, h.Name())
}

// tlsServer answers HTTPS on port 443 with the real server's name (busybox httpd has no
// TLS), with a self-signed certificate, as the fwmark example's https check expects.
type tlsServer struct {
	t    *testing.T
	host *netlab.Host
	cert tls.Certificate
	mu   sync.Mutex
	srv  *http.Server
}

func startTLSServer(t *testing.T, h *netlab.Host) *tlsServer {
	t.Helper()
	s := &tlsServer{t: t, host: h, cert: selfSigned(t, h.Name())}
	s.Start()
	t.Cleanup(s.Kill)
	return s
}

func (s *tlsServer) Start() {
	s.t.Helper()
	ln, err := s.host.Listen("tcp4", "0.0.0.0:443")
	must(s.t, err, "listen on 443 in "+s.host.Name())
	name := s.host.Name()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, name)
	}), ErrorLog: log.New(io.Discard, "", 0)} // a check timed out mid-handshake: not news
	s.mu.Lock()
	s.srv = srv
	s.mu.Unlock()
	go srv.Serve(tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{s.cert}}))
}

func (s *tlsServer) Kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		s.srv.Close()
		s.srv = nil
	}
}

func selfSigned(t *testing.T, name string) tls.Certificate {
	t.Helper()
	// Ed25519: the cheapest handshake for the emulated CPUs (ECDSA took up to 1 s under load).
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	must(t, err, "generate key")
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, key)
	must(t, err, "self-sign")
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// both kills and starts several services of one real server together (a host going down).
type both []backendProc

func (b both) Kill() {
	for _, p := range b {
		p.Kill()
	}
}

func (b both) Start() {
	for _, p := range b {
		p.Start()
	}
}

// mariadbGuestTemplate is where the host's mariadb-install-db datadir lands in the guest.
const mariadbGuestTemplate = "/var/lib/vigil-e2e/mariadb-template"

// mariadbRS is mariadbd on a DR real server: every address (the VIP on lo too), port 3306,
// server_id naming the host (21 for rs1), and the monitor user with password.
type mariadbRS struct {
	t   *testing.T
	srv *mariadbtest.Server
}

func startMariaDB(t *testing.T, h *netlab.Host, serverID int, user, password string) *mariadbRS {
	t.Helper()
	start := time.Now()
	srv, err := mariadbtest.New(mariadbtest.Options{
		Dir:       t.TempDir(),
		Template:  mariadbGuestTemplate,
		Addr:      netip.MustParseAddrPort("0.0.0.0:3306"),
		ReadyAddr: netip.MustParseAddrPort("127.0.0.1:3306"),
		InitSQL:   fmt.Sprintf("CREATE OR REPLACE USER '%s'@'%%' IDENTIFIED BY '%s';\n", user, password),
		Args:      []string{fmt.Sprintf("--server-id=%d", serverID)},
		Command: func(name string, args ...string) *exec.Cmd {
			return h.Command(context.Background(), name, args...)
		},
		Dial:         h.Dial,
		StartTimeout: 2 * time.Minute, // InnoDB start-up under TCG, beside the other examples
	})
	must(t, err, "start MariaDB in "+h.Name())
	t.Logf("MariaDB in %s accepts connections %s after its start", h.Name(), time.Since(start).Round(time.Millisecond))
	m := &mariadbRS{t: t, srv: srv}
	t.Cleanup(srv.Kill)
	return m
}

func (m *mariadbRS) Kill() { m.srv.Kill() }

func (m *mariadbRS) Start() {
	m.t.Helper()
	must(m.t, m.srv.Start(), "restart MariaDB")
}

// askMySQL logs in through addr on a new connection and returns which real server
// answered ("rs1" for server_id 21).
func askMySQL(h *netlab.Host, addr, user, password string) (string, error) {
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd, cfg.Net, cfg.Addr = user, password, "tcp", addr
	cfg.DialFunc = h.Dial
	cfg.Timeout = 5 * time.Second
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return "", err
	}
	db := sql.OpenDB(conn)
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var id int
	if err := db.QueryRowContext(ctx, "SELECT @@server_id").Scan(&id); err != nil {
		return "", err
	}
	return fmt.Sprintf("rs%d", id-20), nil
}

// setupTUNRealServer is an LVS-TUN real server: ipip decapsulates on tunl0, which holds the
// VIP; no ARP for the VIP; no reverse-path filter on the packets that arrive on tunl0 from
// a client routed through eth0.
func setupTUNRealServer(t *testing.T, h *netlab.Host, vip netip.Addr) {
	t.Helper()
	for _, k := range []string{"all", "eth0", "tunl0"} {
		must(t, h.Sysctl("net/ipv4/conf/"+k+"/arp_ignore", "1"), "arp_ignore")
		must(t, h.Sysctl("net/ipv4/conf/"+k+"/arp_announce", "2"), "arp_announce")
	}
	for _, k := range []string{"all", "default", "eth0", "tunl0"} {
		must(t, h.Sysctl("net/ipv4/conf/"+k+"/rp_filter", "0"), "rp_filter")
	}
	must(t, h.AddAddr("tunl0", netip.PrefixFrom(vip, 32)), "VIP on tunl0")
	must(t, h.SetLinkUp("tunl0"), "tunl0 up")
}

// natLab is the seeds' NAT cluster: the client on the outside network 198.19.0.0/24, the
// director between it and the inside network 198.18.0.0/24 of the real servers, holding
// the VIP on its outside interface and serving as the real servers' default gateway.
type natLab struct {
	client   *netlab.Host
	director *netlab.Host
	rsHosts  []*netlab.Host
}

func newNATLab(t *testing.T, vip netip.Addr) *natLab {
	t.Helper()
	l := netlab.New(t)
	outside, inside := l.Bridge("outside"), l.Bridge("inside")
	x := &natLab{client: l.Host("client"), director: l.Host("lb1")}
	l.Link(x.client, "eth0", outside, pfx("198.19.0.100/24"))
	must(t, x.client.AddRoute(pfx("0.0.0.0/0"), addr("198.19.0.1")), "client default route")
	l.Link(x.director, "eth0", outside, pfx("198.19.0.1/24"), netip.PrefixFrom(vip, 32))
	l.Link(x.director, "eth1", inside, pfx("198.18.0.1/24"))
	must(t, x.director.Sysctl("net.ipv4.ip_forward", "1"), "ip_forward")
	for i := range 2 {
		h := l.Host(fmt.Sprintf("rs%d", i+1))
		l.Link(h, "eth0", inside, netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 18, 0, byte(21 + i)}), 24))
		must(t, h.AddRoute(pfx("0.0.0.0/0"), addr("198.18.0.1")), "real server default route")
		x.rsHosts = append(x.rsHosts, h)
	}
	return x
}

// httpsClient is an HTTP client in h that accepts the real servers' self-signed
// certificates.
func httpsClient(h *netlab.Host) *http.Client {
	c := h.HTTPClient()
	c.Timeout = 5 * time.Second
	c.Transport.(*http.Transport).TLSClientConfig = &tls.Config{InsecureSkipVerify: true}
	return c
}

// exampleCommands returns the commands of program that an example documents in its header
// comment ("#   nft add table ..."), so that the test runs what the operator reads.
func exampleCommands(t *testing.T, path, program string) [][]string {
	t.Helper()
	b, err := os.ReadFile(path)
	must(t, err, "read "+path)
	var out [][]string
	for _, l := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, "#   "+program+" "); ok {
			out = append(out, append([]string{program}, shellWords(rest)...))
		}
	}
	if len(out) == 0 {
		t.Fatalf("%s documents no %s command", path, program)
	}
	return out
}

// shellWords splits a command line on blanks, keeping single-quoted words whole.
func shellWords(s string) []string {
	var words []string
	for s = strings.TrimSpace(s); s != ""; s = strings.TrimSpace(s) {
		if s[0] == '\'' {
			end := strings.IndexByte(s[1:], '\'')
			if end < 0 {
				return append(words, s[1:])
			}
			words = append(words, s[1:1+end])
			s = s[2+end:]
			continue
		}
		w, rest, _ := strings.Cut(s, " ")
		words = append(words, w)
		s = rest
	}
	return words
}
