package checks

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/md5"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/testing/loopback"
)

func addrOf(t *testing.T, a net.Addr) netip.AddrPort {
	t.Helper()
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		t.Fatal(err)
	}
	return ap
}

func check(t *testing.T, c Checker, timeout time.Duration) Result {
	t.Helper()
	ctx, cancel := WithTimeout(context.Background(), timeout)
	defer cancel()
	return c.Check(ctx)
}

func mustHTTP(t *testing.T, target netip.AddrPort, cfg HTTPConfig) Checker {
	t.Helper()
	c, err := New("http", target, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestHTTPCheck(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var lastHost, lastHeader string
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		lastHost, lastHeader = r.Host, r.Header.Get("X-Probe")
		mu.Unlock()
		w.Write([]byte("hello vigil"))
	})
	mux.HandleFunc("/503", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) })
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/ok", http.StatusFound)
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(strings.Repeat("x", 100000) + "needle"))
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	target := addrOf(t, srv.Listener.Addr())
	sum := md5.Sum([]byte("hello vigil"))

	for _, tc := range []struct {
		name       string
		cfg        HTTPConfig
		wantOK     bool
		wantReason string
	}{
		{"pass", HTTPConfig{Path: "/ok"}, true, "http 200 from " + target.String()},
		{"wrong status", HTTPConfig{Path: "/503"}, false, "http 503 from " + target.String() + " (want 200-299)"},
		{"status in list", HTTPConfig{Path: "/503", ExpectStatus: StatusSet{{200, 200}, {503, 503}}}, true, "http 503"},
		{"not found", HTTPConfig{Path: "/nope"}, false, "http 404"},
		{"redirect judged by its own status", HTTPConfig{Path: "/redirect"}, false, `http 302 from ` + target.String() + ` (want 200-299), redirect to "/ok" not followed`},
		{"redirect accepted when asked", HTTPConfig{Path: "/redirect", ExpectStatus: StatusSet{{300, 399}}}, true, "http 302"},
		{"body regexp match", HTTPConfig{Path: "/ok", BodyRegexp: regexp.MustCompile(`^hello`)}, true, "body matched"},
		{"body regexp mismatch", HTTPConfig{Path: "/ok", BodyRegexp: regexp.MustCompile(`^goodbye`)}, false, `body does not match /^goodbye/ (11 bytes read, starts "hello vigil")`},
		{"digest match", HTTPConfig{Path: "/ok", BodyMD5: hex.EncodeToString(sum[:])}, true, "body matched"},
		{"digest mismatch", HTTPConfig{Path: "/ok", BodyMD5: strings.Repeat("0", 32)}, false, "body md5 " + hex.EncodeToString(sum[:])},
		{"body cap hides the needle", HTTPConfig{Path: "/big", BodyRegexp: regexp.MustCompile(`needle`), MaxBodyBytes: 1000}, false, "1000 bytes read"},
		{"body within cap", HTTPConfig{Path: "/big", BodyRegexp: regexp.MustCompile(`needle`)}, true, "body matched"},
		{"connect port override", HTTPConfig{Path: "/ok", ConnectPort: target.Port()}, true, "http 200"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tgt := target
			if tc.cfg.ConnectPort != 0 {
				tgt = netip.AddrPortFrom(target.Addr(), 1) // the override must win
			}
			res := check(t, mustHTTP(t, tgt, tc.cfg), 5*time.Second)
			if res.OK != tc.wantOK || !strings.Contains(res.Reason, tc.wantReason) {
				t.Errorf("got OK=%v %q, want OK=%v containing %q", res.OK, res.Reason, tc.wantOK, tc.wantReason)
			}
			if res.Latency <= 0 || res.Weight != NoWeight {
				t.Errorf("latency %v weight %d", res.Latency, res.Weight)
			}
		})
	}

	t.Run("host and headers sent", func(t *testing.T) {
		res := check(t, mustHTTP(t, target, HTTPConfig{Path: "/ok", Host: "www.example.test", Headers: http.Header{"X-Probe": {"vigil"}}}), 5*time.Second)
		if !res.OK {
			t.Fatal(res.Reason)
		}
		mu.Lock()
		defer mu.Unlock()
		if lastHost != "www.example.test" || lastHeader != "vigil" {
			t.Errorf("server saw Host %q X-Probe %q", lastHost, lastHeader)
		}
	})
	t.Run("default host is the target", func(t *testing.T) {
		check(t, mustHTTP(t, target, HTTPConfig{Path: "/ok"}), 5*time.Second)
		mu.Lock()
		defer mu.Unlock()
		if lastHost != target.String() {
			t.Errorf("server saw Host %q, want %q", lastHost, target)
		}
	})
	t.Run("source address", func(t *testing.T) {
		res := check(t, mustHTTP(t, target, HTTPConfig{Path: "/ok", SourceAddr: netip.MustParseAddr("127.0.0.1")}), 5*time.Second)
		if !res.OK {
			t.Error(res.Reason)
		}
		res = check(t, mustHTTP(t, target, HTTPConfig{Path: "/ok", SourceAddr: netip.MustParseAddr("198.18.255.254")}), 5*time.Second)
		if res.OK || !strings.Contains(res.Reason, "cannot assign requested address") {
			t.Errorf("binding a foreign source: OK=%v %q", res.OK, res.Reason)
		}
	})
}

func TestHTTPCheckConfigErrors(t *testing.T) {
	t.Parallel()
	target := netip.MustParseAddrPort("127.0.0.1:80")
	for name, cfg := range map[string]HTTPConfig{
		"relative path":   {Path: "health"},
		"path with space": {Path: "/a b"},
		"bad digest":      {BodyMD5: "xyz"},
		"host header":     {Headers: http.Header{"Host": {"x"}}},
		"header newline":  {Headers: http.Header{"X": {"a\r\nB: c"}}},
		"missing CA":      {TLS: true, CAFile: "/nonexistent"},
	} {
		if _, err := NewHTTP(target, cfg); err == nil {
			t.Errorf("%s: NewHTTP succeeded", name)
		}
	}
	// A TLS file that is a FIFO or a device fails at once: checks are built while a reload
	// holds the director, and on main reading one hung it (a FIFO) or ran it out of memory
	// (/dev/zero).
	fifo := filepath.Join(t.TempDir(), "ca.pem")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for name, cfg := range map[string]HTTPConfig{
		"CA FIFO":        {TLS: true, CAFile: fifo},
		"CA /dev/zero":   {TLS: true, CAFile: "/dev/zero"},
		"cert /dev/zero": {TLS: true, CertFile: "/dev/zero", KeyFile: "/dev/zero"},
		"CA a directory": {TLS: true, CAFile: t.TempDir()},
	} {
		done := make(chan error, 1)
		go func() { _, err := NewHTTP(target, cfg); done <- err }()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), "not a regular file") {
				t.Errorf("%s: NewHTTP: %v", name, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: NewHTTP still reading after 10s", name)
		}
	}
	if _, err := New("http", target, TCPConfig{}); err == nil {
		t.Error("New(http, TCPConfig) succeeded")
	}
	if _, err := New("gopher", target, nil); err == nil {
		t.Error("New(gopher) succeeded")
	}
}

// TestHTTPCheckHungServer: a server that accepts and never answers fails at the timeout.
func TestHTTPCheckHungServer(t *testing.T) {
	t.Parallel()
	srv := loopback.Listen(t, func(c net.Conn) { io.Copy(io.Discard, c) }) // reads, never answers
	c := mustHTTP(t, srv.Addr, HTTPConfig{})
	start := time.Now()
	res := check(t, c, 300*time.Millisecond)
	took := time.Since(start)
	if res.OK || !strings.Contains(res.Reason, "timeout after") || !strings.Contains(res.Reason, "read response from") {
		t.Errorf("got OK=%v %q, want a 300ms timeout", res.OK, res.Reason)
	}
	if took < 250*time.Millisecond || took > 5*time.Second {
		t.Errorf("check returned after %v, want about the 300ms timeout", took)
	}
}

func TestHTTPCheckClosedPort(t *testing.T) {
	t.Parallel()
	target := loopback.ClosedAddr(t, "127.0.0.1")
	res := check(t, mustHTTP(t, target, HTTPConfig{}), 5*time.Second)
	if want := "connect " + target.String() + ": connection refused"; res.OK || res.Reason != want {
		t.Errorf("got OK=%v %q, want %q", res.OK, res.Reason, want)
	}
}

// testPKI is a throw-away CA and a server certificate for 127.0.0.1 and "rs1.test".
type testPKI struct {
	caFile     string
	serverCert tls.Certificate
	clientFile string // client cert+key signed by the CA, PEM, in one file
	clientKey  string
	clientCAs  *x509.CertPool
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	dir := t.TempDir()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "vigil test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	p := &testPKI{caFile: filepath.Join(dir, "ca.pem"), clientCAs: x509.NewCertPool()}
	p.clientCAs.AddCert(ca)
	writePEM(t, p.caFile, "CERTIFICATE", caDER)

	leaf := func(serial int64, usage x509.ExtKeyUsage) ([]byte, *ecdsa.PrivateKey) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "rs1.test"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			DNSNames: []string{"rs1.test"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return der, key
	}
	sDER, sKey := leaf(2, x509.ExtKeyUsageServerAuth)
	p.serverCert = tls.Certificate{Certificate: [][]byte{sDER}, PrivateKey: sKey}
	cDER, cKey := leaf(3, x509.ExtKeyUsageClientAuth)
	p.clientFile = filepath.Join(dir, "client.pem")
	p.clientKey = filepath.Join(dir, "client.key")
	writePEM(t, p.clientFile, "CERTIFICATE", cDER)
	kDER, err := x509.MarshalECPrivateKey(cKey)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, p.clientKey, "EC PRIVATE KEY", kDER)
	return p
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestHTTPSCheck(t *testing.T) {
	t.Parallel()
	pki := newTestPKI(t)
	var mu sync.Mutex
	var sni string
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		sni = r.TLS.ServerName
		mu.Unlock()
		w.Write([]byte("secure"))
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{pki.serverCert}}
	srv.StartTLS()
	defer srv.Close()
	target := addrOf(t, srv.Listener.Addr())

	// Another server with a self-signed certificate from httptest's own CA: a bad cert.
	bad := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer bad.Close()
	badTarget := addrOf(t, bad.Listener.Addr())

	for _, tc := range []struct {
		name       string
		target     netip.AddrPort
		cfg        HTTPConfig
		wantOK     bool
		wantReason string
	}{
		{"verified against the CA by IP", target, HTTPConfig{TLS: true, CAFile: pki.caFile}, true, "https 200 from"},
		{"verified by server name", target, HTTPConfig{TLS: true, CAFile: pki.caFile, ServerName: "rs1.test"}, true, "https 200"},
		{"host header gives the server name", target, HTTPConfig{TLS: true, CAFile: pki.caFile, Host: "rs1.test"}, true, "https 200"},
		{"wrong server name", target, HTTPConfig{TLS: true, CAFile: pki.caFile, ServerName: "other.test"}, false, `certificate not valid for "other.test"`},
		{"unknown CA fails by default", target, HTTPConfig{TLS: true}, false, "certificate signed by unknown authority"},
		{"bad cert fails", badTarget, HTTPConfig{TLS: true, CAFile: pki.caFile}, false, "tls handshake with " + badTarget.String()},
		{"bad cert passes with tls_skip_verify", badTarget, HTTPConfig{TLS: true, TLSSkipVerify: true}, true, "https 200"},
		{"plain http to a TLS port", target, HTTPConfig{}, false, "http 400"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := check(t, mustHTTP(t, tc.target, tc.cfg), 5*time.Second)
			if res.OK != tc.wantOK || !strings.Contains(res.Reason, tc.wantReason) {
				t.Errorf("got OK=%v %q, want OK=%v containing %q", res.OK, res.Reason, tc.wantOK, tc.wantReason)
			}
		})
	}
	res := check(t, mustHTTP(t, target, HTTPConfig{TLS: true, CAFile: pki.caFile, ServerName: "rs1.test"}), 5*time.Second)
	mu.Lock()
	if !res.OK || sni != "rs1.test" {
		t.Errorf("SNI seen by the server = %q (result %q), want rs1.test", sni, res.Reason)
	}
	mu.Unlock()
}

func TestHTTPSClientCertificate(t *testing.T) {
	t.Parallel()
	pki := newTestPKI(t)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{pki.serverCert}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pki.clientCAs}
	srv.StartTLS()
	defer srv.Close()
	target := addrOf(t, srv.Listener.Addr())

	res := check(t, mustHTTP(t, target, HTTPConfig{TLS: true, CAFile: pki.caFile}), 5*time.Second)
	if res.OK {
		t.Errorf("without a client certificate: passed %q", res.Reason)
	}
	res = check(t, mustHTTP(t, target, HTTPConfig{TLS: true, CAFile: pki.caFile, CertFile: pki.clientFile, KeyFile: pki.clientKey}), 5*time.Second)
	if !res.OK {
		t.Errorf("with a client certificate: %q", res.Reason)
	}
}
