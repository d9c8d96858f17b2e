package checks

import (
	"bufio"
	"bytes"
	"context"
	"crypto/md5"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// HTTPConfig configures an http check. The zero value sends "GET /" over plain HTTP and
// accepts 200-299.
type HTTPConfig struct {
	Method string // default GET
	Path   string // default "/"; may carry a query
	// Host is the Host header (and, over TLS, the default server name). Default: the
	// target address, with the port unless it is the scheme's default.
	Host    string
	Headers http.Header
	// ExpectStatus is the accepted status set; default 200-299. Redirects are not followed:
	// a 301 is judged as a 301.
	ExpectStatus StatusSet
	// BodyRegexp, when set, must match the body (its first MaxBodyBytes).
	BodyRegexp *regexp.Regexp
	// BodyMD5 is a hex MD5 digest the body (its first MaxBodyBytes) must have, as
	// keepalived's digest (genhash). The body is read only when BodyRegexp or BodyMD5 is set.
	BodyMD5 string
	// MaxBodyBytes caps the body bytes read; default 1 MiB.
	MaxBodyBytes int64

	ConnectAddr netip.Addr // connect here instead of the target's address
	ConnectPort uint16     // connect to this port instead of the target's port
	SourceAddr  netip.Addr // bind the probe's source address

	// TLS turns the check into HTTPS. The server certificate is verified unless
	// TLSSkipVerify is set (keepalived's SSL_GET never verifies; vigil does by default).
	TLS bool
	// CAFile is a PEM bundle of roots to verify against; default: the system roots.
	CAFile string
	// ServerName is the name verified in the certificate and sent as SNI; default Host
	// without its port, else the connect address (verified against IP SANs, no SNI).
	ServerName string
	// CertFile and KeyFile are a client certificate and key (PEM) for mutual TLS.
	CertFile, KeyFile string
	TLSSkipVerify     bool
}

type httpChecker struct {
	addr     netip.AddrPort
	cfg      HTTPConfig
	d        *dialer
	tls      *tls.Config
	request  []byte // the whole request, built once
	wantBody bool
	md5      []byte
	fast     *fastProbe
}

// NewHTTP returns an http(s) check of target. It opens one fresh connection per probe,
// sends one request with "Connection: close", reads the status line and headers (and the
// body only when a body match is configured), and aborts the connection with an RST.
func NewHTTP(target netip.AddrPort, cfg HTTPConfig) (Checker, error) {
	if !target.IsValid() {
		return nil, fmt.Errorf("new http check: invalid target %v", target)
	}
	h := &httpChecker{cfg: cfg, addr: dialTarget(target, cfg.ConnectAddr, cfg.ConnectPort)}
	if h.cfg.Method == "" {
		h.cfg.Method = http.MethodGet
	}
	if h.cfg.Path == "" {
		h.cfg.Path = "/"
	}
	if !strings.HasPrefix(h.cfg.Path, "/") {
		return nil, fmt.Errorf("new http check for %s: path %q must start with /", target, cfg.Path)
	}
	if strings.ContainsAny(h.cfg.Method+h.cfg.Path, " \r\n") {
		return nil, fmt.Errorf("new http check for %s: method %q or path %q has a space or line break", target, cfg.Method, cfg.Path)
	}
	if len(h.cfg.ExpectStatus) == 0 {
		h.cfg.ExpectStatus = DefaultStatus
	}
	if h.cfg.MaxBodyBytes <= 0 {
		h.cfg.MaxBodyBytes = 1 << 20
	}
	if cfg.BodyMD5 != "" {
		sum, err := hex.DecodeString(cfg.BodyMD5)
		if err != nil || len(sum) != md5.Size {
			return nil, fmt.Errorf("new http check for %s: body digest %q is not a hex MD5", target, cfg.BodyMD5)
		}
		h.md5 = sum
	}
	h.wantBody = h.md5 != nil || cfg.BodyRegexp != nil
	if h.cfg.Host == "" {
		defPort := uint16(80)
		if cfg.TLS {
			defPort = 443
		}
		if target.Port() == defPort {
			h.cfg.Host = hostLiteral(target.Addr())
		} else {
			h.cfg.Host = target.String()
		}
	}
	if cfg.TLS {
		tc, err := h.tlsConfig()
		if err != nil {
			return nil, fmt.Errorf("new https check for %s: %w", target, err)
		}
		h.tls = tc
	}
	req, err := h.buildRequest()
	if err != nil {
		return nil, fmt.Errorf("new http check for %s: %w", target, err)
	}
	h.request = req
	// An HTTP check speaks first, so the handshake's last ACK rides on the request.
	h.d = newDialer(cfg.SourceAddr, true)
	if h.tls == nil && !h.wantBody && h.addr.Addr().Zone() == "" {
		h.fast = &fastProbe{addr: h.addr, source: cfg.SourceAddr, request: h.request, status: h.cfg.ExpectStatus,
			passReason: "http 200 from " + h.addr.String()}
	}
	return h, nil
}

func (h *httpChecker) fastProbe() *fastProbe { return h.fast }

func hostLiteral(a netip.Addr) string {
	if a.Is6() && !a.Is4In6() {
		return "[" + a.String() + "]"
	}
	return a.String()
}

func (h *httpChecker) tlsConfig() (*tls.Config, error) {
	tc := &tls.Config{
		ServerName:         h.cfg.ServerName,
		InsecureSkipVerify: h.cfg.TLSSkipVerify, // #nosec G402 -- only when the operator asks
		// A probe never resumes: each one is a fresh handshake like a new client's.
		ClientSessionCache: nil,
	}
	if tc.ServerName == "" {
		host := h.cfg.Host
		if hst, _, err := net.SplitHostPort(host); err == nil {
			host = hst
		}
		tc.ServerName = strings.Trim(host, "[]")
	}
	if h.cfg.CAFile != "" {
		pem, err := readPEMFile(h.cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("read CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA file %s holds no PEM certificate", h.cfg.CAFile)
		}
		tc.RootCAs = pool
	}
	if h.cfg.CertFile != "" || h.cfg.KeyFile != "" {
		certPEM, err := readPEMFile(h.cfg.CertFile)
		if err != nil {
			return nil, fmt.Errorf("load client certificate %s: %w", h.cfg.CertFile, err)
		}
		keyPEM, err := readPEMFile(h.cfg.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("load client certificate key %s: %w", h.cfg.KeyFile, err)
		}
		cert, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return nil, fmt.Errorf("load client certificate %s: %w", h.cfg.CertFile, err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

func (h *httpChecker) buildRequest() ([]byte, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\n", h.cfg.Method, h.cfg.Path, h.cfg.Host)
	hasUA := false
	for k, vs := range h.cfg.Headers {
		ck := http.CanonicalHeaderKey(k)
		switch ck {
		case "Host", "Connection", "Content-Length", "Transfer-Encoding":
			return nil, fmt.Errorf("header %q is set by the check itself", k)
		case "User-Agent":
			hasUA = true
		}
		for _, v := range vs {
			if strings.ContainsAny(k+v, "\r\n") {
				return nil, fmt.Errorf("header %q has a line break", k)
			}
			fmt.Fprintf(&b, "%s: %s\r\n", ck, v)
		}
	}
	if !hasUA {
		b.WriteString("User-Agent: vigil-check\r\n")
	}
	b.WriteString("Accept: */*\r\nConnection: close\r\n\r\n")
	return []byte(b.String()), nil
}

func (h *httpChecker) Check(ctx context.Context) Result {
	start := time.Now()
	res := h.check(ctx, start)
	res.Latency = time.Since(start)
	res.Weight = NoWeight
	return res
}

func (h *httpChecker) check(ctx context.Context, start time.Time) Result {
	if rawConnectSupported && h.tls == nil && !h.wantBody && h.addr.Addr().Zone() == "" {
		return h.checkStatusOnly(ctx, start)
	}
	tc, err := h.d.dial(ctx, h.addr)
	if err != nil {
		return Result{Reason: connectReason(ctx, start, h.addr, err)}
	}
	defer abort(tc)
	stop := deadlineConn(ctx, tc)
	defer stop()
	var c net.Conn = tc
	if h.tls != nil {
		tlsc := tls.Client(tc, h.tls)
		if err := tlsc.HandshakeContext(ctx); err != nil {
			if ctx.Err() != nil || errors.Is(err, os.ErrDeadlineExceeded) {
				return Result{Reason: timeoutReason(ctx, start, "in TLS handshake with "+h.addr.String())}
			}
			return Result{Reason: fmt.Sprintf("tls handshake with %s: %v", h.addr, tlsReason(err))}
		}
		c = tlsc
	}
	if _, err := c.Write(h.request); err != nil {
		return Result{Reason: ioReason(ctx, start, "send request to "+h.addr.String(), err)}
	}
	// net/http reads header fields without end: the probe reads no more than a head and
	// the body it may judge.
	br := bufio.NewReaderSize(&cappedReader{r: c, left: maxResponseHead + int(h.cfg.MaxBodyBytes)}, 2048)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		if errors.Is(err, errTooLong) {
			return Result{Reason: fmt.Sprintf("http: %s sent more than %d KiB of header fields", h.addr, maxResponseHead>>10)}
		}
		if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
			return Result{Reason: fmt.Sprintf("http: %s closed the connection without a response", h.addr)}
		}
		return Result{Reason: ioReason(ctx, start, "read response from "+h.addr.String(), err)}
	}
	defer resp.Body.Close()
	scheme := "http"
	if h.tls != nil {
		scheme = "https"
	}
	if !h.cfg.ExpectStatus.Contains(resp.StatusCode) {
		why := fmt.Sprintf("%s %d from %s (want %s)", scheme, resp.StatusCode, h.addr, h.cfg.ExpectStatus)
		if loc := resp.Header.Get("Location"); loc != "" && resp.StatusCode >= 300 && resp.StatusCode < 400 {
			why += ", redirect to " + strconv.Quote(loc) + " not followed"
		}
		return Result{Reason: why}
	}
	if !h.wantBody {
		return Result{OK: true, Reason: fmt.Sprintf("%s %d from %s", scheme, resp.StatusCode, h.addr)}
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, h.cfg.MaxBodyBytes))
	if err != nil {
		return Result{Reason: ioReason(ctx, start, "read body from "+h.addr.String(), err)}
	}
	if h.md5 != nil {
		sum := md5.Sum(body)
		if string(sum[:]) != string(h.md5) {
			return Result{Reason: fmt.Sprintf("%s %d from %s: body md5 %x, want %x (%d bytes read)", scheme, resp.StatusCode, h.addr, sum, h.md5, len(body))}
		}
	}
	if h.cfg.BodyRegexp != nil && !h.cfg.BodyRegexp.Match(body) {
		return Result{Reason: fmt.Sprintf("%s %d from %s: body does not match /%s/ (%d bytes read, starts %s)", scheme, resp.StatusCode, h.addr, h.cfg.BodyRegexp, len(body), quoteHead(body))}
	}
	return Result{OK: true, Reason: fmt.Sprintf("%s %d from %s, body matched", scheme, resp.StatusCode, h.addr)}
}

// tlsReason shortens certificate errors to what the operator needs.
func tlsReason(err error) error {
	var ue x509.UnknownAuthorityError
	if errors.As(err, &ue) {
		return fmt.Errorf("certificate signed by unknown authority (set ca_file, or tls_skip_verify to accept it): %w", err)
	}
	var he x509.HostnameError
	if errors.As(err, &he) {
		return fmt.Errorf("certificate not valid for %q (set server_name): %w", he.Host, err)
	}
	return err
}

// checkStatusOnly is the common plain-HTTP check with no body match: it needs only the
// status line, so it reads that and aborts the connection, over a raw socket (rawDial)
// rather than net.Dialer and net/http's response parser.
func (h *httpChecker) checkStatusOnly(ctx context.Context, start time.Time) Result {
	f, stop, err := rawDial(ctx, h.addr, h.cfg.SourceAddr)
	if err != nil {
		return Result{Reason: connectReason(ctx, start, h.addr, err)}
	}
	defer f.Close()
	defer stop()
	if _, err := f.Write(h.request); err != nil {
		return Result{Reason: ioReason(ctx, start, "send request to "+h.addr.String(), err)}
	}
	// Reads are small: that keeps the probe's goroutine stack small, which matters when
	// thousands of probes are in flight.
	var head respHead
	buf := make([]byte, maxStatusLine)
	for {
		m, err := f.Read(buf)
		head.add(buf[:m])
		if res, done := head.verdict(h.addr, h.cfg.ExpectStatus, false); done {
			return res
		}
		if err != nil {
			if ctx.Err() != nil || isTimeout(err) {
				return Result{Reason: ioReason(ctx, start, "read response from "+h.addr.String(), err)}
			}
			if err == io.EOF || bytes.IndexByte(head.buf, '\n') >= 0 {
				res, _ := head.verdict(h.addr, h.cfg.ExpectStatus, true)
				return res
			}
			return Result{Reason: ioReason(ctx, start, "read response from "+h.addr.String(), err)}
		}
	}
}

// headerValue finds a header in raw "\r\nName: value" lines.
func headerValue(raw []byte, name string) string {
	for _, line := range strings.Split(string(raw), "\n") {
		k, v, ok := strings.Cut(strings.TrimRight(line, "\r"), ":")
		if ok && strings.EqualFold(strings.TrimSpace(k), name) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// parseStatusLine returns the code of an HTTP/1.x status line ("HTTP/1.1 200 OK", with
// or without its CR; RFC 9112 §4), ok false for anything else.
func parseStatusLine(line []byte) (code int, ok bool) {
	l := strings.TrimSuffix(string(line), "\r")
	proto, rest, found := strings.Cut(l, " ")
	if !found || !strings.HasPrefix(proto, "HTTP/") {
		return 0, false
	}
	c, _, _ := strings.Cut(rest, " ")
	if len(c) != 3 {
		return 0, false
	}
	for _, d := range []byte(c) {
		if d < '0' || d > '9' {
			return 0, false
		}
	}
	code, _ = strconv.Atoi(c)
	if code < 100 {
		return 0, false
	}
	return code, true
}
