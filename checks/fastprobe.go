package checks

import (
	"bytes"
	"fmt"
	"net/netip"
	"strconv"
)

// fastProbe describes a probe simple enough for the scheduler's event loop (loop_linux.go):
// a TCP connect, aborted with an RST, optionally after one request whose status line is
// judged. Connect-only tcp checks and status-only plain http checks are such probes; they
// are most checks, and at thousands per second a goroutine, a runtime timer and a poller
// registration per probe cost more CPU than the probe's own system calls.
type fastProbe struct {
	addr    netip.AddrPort
	source  netip.Addr
	request []byte    // nil: connect only
	status  StatusSet // accepted statuses when request is set
	// passReason is the Reason of the common pass ("connected to ...", "http 200 from
	// ..."), built once rather than per probe.
	passReason string
}

// fastProber is implemented by checkers that may hand their probes to the event loop.
type fastProber interface {
	// fastProbe returns the probe, or nil when this check needs the general path.
	fastProbe() *fastProbe
}

// maxStatusLine caps the bytes searched for a status line's end.
const maxStatusLine = 128

// maxStatusHead caps the bytes read after a failing redirect's status line to find its
// Location.
const maxStatusHead = 1024

// statusVerdict judges what a status-only http probe has read so far from addr. done is
// false while more bytes are needed (and eof is false). Both the goroutine path
// (checkStatusOnly) and the event loop judge with it, so their reasons are the same.
func statusVerdict(addr netip.AddrPort, want StatusSet, buf []byte, eof bool) (res Result, done bool) {
	eol := bytes.IndexByte(buf[:min(len(buf), maxStatusLine)], '\n')
	if eol < 0 {
		if len(buf) >= maxStatusLine {
			return Result{Reason: fmt.Sprintf("http: %s sent a status line longer than %d bytes: %s", addr, maxStatusLine, quoteHead(buf[:maxStatusLine]))}, true
		}
		if eof {
			return Result{Reason: fmt.Sprintf("http: %s closed the connection without a response", addr)}, true
		}
		return Result{}, false
	}
	status, ok := parseStatusLine(buf[:eol])
	if !ok {
		return Result{Reason: fmt.Sprintf("http: %s answered %s, not an HTTP status line", addr, quoteHead(buf))}, true
	}
	if want.Contains(status) {
		return Result{OK: true, Reason: fmt.Sprintf("http %d from %s", status, addr)}, true
	}
	why := fmt.Sprintf("http %d from %s (want %s)", status, addr, want)
	if status >= 300 && status < 400 {
		// Failing is not the hot path: read on for the Location to name it.
		if !eof && len(buf) < maxStatusHead && !bytes.Contains(buf, []byte("\r\n\r\n")) {
			return Result{}, false
		}
		if loc := headerValue(buf[eol:], "Location"); loc != "" {
			why += ", redirect to " + strconv.Quote(loc) + " not followed"
		} else {
			why += ", redirect not followed"
		}
	}
	return Result{Reason: why}, true
}

// pass200 reports whether got starts with a 200 status line that fp accepts: the common
// pass, judged without building its reason (statusVerdict would say the same).
func pass200(fp *fastProbe, got []byte) bool {
	eol := bytes.IndexByte(got[:min(len(got), maxStatusLine)], '\n')
	if eol < 0 {
		return false
	}
	code, ok := parseStatusLine(got[:eol])
	return ok && code == 200 && fp.status.Contains(200)
}
