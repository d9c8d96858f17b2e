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

// maxStatusHead caps the bytes of a response kept to judge it: the status line and a
// failing redirect's Location.
const maxStatusHead = 1024

// maxResponseHead caps a response's head (status line and header fields) as a
// status-only probe follows it to its end: a server whose header fields go on longer
// fails the check.
const maxResponseHead = 64 << 10

// respHead is what a status-only http probe has read of the response: its first
// maxStatusHead bytes, and how far the head has got towards its end (the empty line after
// the header fields, RFC 9112 §2.1). A probe passes only once the head has ended: a 200
// status line whose header fields never end is a hung server, and fails at the timeout.
type respHead struct {
	buf   []byte
	state uint8 // where the head's end is sought: 0 in a line, 1 after its \n, 2 after \n\r
	ended bool
	n     int // bytes of head seen
}

// add takes the bytes of the next read.
func (h *respHead) add(b []byte) {
	if room := maxStatusHead - len(h.buf); room > 0 {
		if h.buf == nil {
			h.buf = make([]byte, 0, maxStatusHead)
		}
		h.buf = append(h.buf, b[:min(room, len(b))]...)
	}
	for _, c := range b {
		if h.ended {
			return
		}
		h.n++
		switch {
		case c == '\n' && h.state != 0:
			h.ended = true // an empty line: CRLF CRLF, or LF LF as RFC 9112 §2.2 allows
		case c == '\n':
			h.state = 1
		case c == '\r' && h.state == 1:
			h.state = 2
		default:
			h.state = 0
		}
	}
}

// headEnded reports whether b holds a whole response head (the fast path's test).
func headEnded(b []byte) bool {
	if bytes.Contains(b, []byte("\r\n\r\n")) {
		return true
	}
	var h respHead
	h.add(b)
	return h.ended
}

// verdict judges the response so far; done is false while more bytes are needed (and
// eof is false: the server has not closed the connection). Both the goroutine path
// (checkStatusOnly) and the event loop judge with it, so their reasons are the same.
func (h *respHead) verdict(addr netip.AddrPort, want StatusSet, eof bool) (res Result, done bool) {
	res, done = statusVerdict(addr, want, h.buf, eof)
	if !done || !res.OK {
		return res, done
	}
	switch {
	case h.ended:
		return res, true
	case eof:
		return Result{Reason: fmt.Sprintf("http: %s closed the connection before the end of the response's header fields", addr)}, true
	case h.n > maxResponseHead:
		return Result{Reason: fmt.Sprintf("http: %s sent more than %d KiB of header fields", addr, maxResponseHead>>10)}, true
	}
	return Result{}, false
}

// statusVerdict judges the status line of what a status-only http probe has read so far
// from addr (respHead.verdict adds the end of the head to a pass).
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

// pass200 reports whether got is a whole response head with a 200 status line that fp
// accepts: the common pass, judged without building its reason (respHead.verdict would
// say the same).
func pass200(fp *fastProbe, got []byte) bool {
	eol := bytes.IndexByte(got[:min(len(got), maxStatusLine)], '\n')
	if eol < 0 {
		return false
	}
	code, ok := parseStatusLine(got[:eol])
	return ok && code == 200 && fp.status.Contains(200) && headEnded(got)
}
