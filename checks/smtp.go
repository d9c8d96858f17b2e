package checks

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"net/textproto"
	"os"
	"strconv"
	"strings"
	"time"
)

// SMTPConfig configures an smtp check.
type SMTPConfig struct {
	// HELOName is the name given in HELO; default keepalived's "smtpchecker.keepalived.org".
	HELOName string
	// SourceAddr binds the probe's source address.
	SourceAddr netip.Addr
}

// smtpMaxConversation bounds what a server may send in one check (greeting, HELO and QUIT
// replies together): a server that streams an endless line is cut off, not buffered.
const smtpMaxConversation = 64 << 10

type smtpChecker struct {
	addr netip.AddrPort
	cfg  SMTPConfig
	d    *dialer
}

// NewSMTP returns a check with keepalived's SMTP_CHECK conversation: it waits for a 220
// greeting, sends HELO, wants 250, sends QUIT and waits for the reply. Multi-line replies
// ("220-...", then "220 ...") are read whole (RFC 5321 §4.2.1); keepalived reads only the
// first line, and so reads the rest of a multi-line greeting as the reply to its HELO. Any other code, a silent server or a closed connection fails the check.
func NewSMTP(target netip.AddrPort, cfg SMTPConfig) (Checker, error) {
	if !target.IsValid() || target.Port() == 0 {
		return nil, fmt.Errorf("new smtp check: invalid target %v", target)
	}
	if cfg.HELOName == "" {
		cfg.HELOName = "smtpchecker.keepalived.org"
	}
	// The server speaks first: no delayed ACK (see newDialer).
	return &smtpChecker{addr: target, cfg: cfg, d: newDialer(cfg.SourceAddr, false)}, nil
}

func (s *smtpChecker) Check(ctx context.Context) Result {
	start := time.Now()
	res := s.check(ctx, start)
	res.Latency = time.Since(start)
	res.Weight = NoWeight
	return res
}

func (s *smtpChecker) check(ctx context.Context, start time.Time) Result {
	c, err := s.d.dial(ctx, s.addr)
	if err != nil {
		return Result{Reason: "smtp " + connectReason(ctx, start, s.addr, err)}
	}
	defer abort(c)
	stop := deadlineConn(ctx, c)
	defer stop()
	r := textproto.NewReader(bufio.NewReader(&cappedReader{r: c, left: smtpMaxConversation}))
	step := func(send string, want int, waiting string) *Result {
		if send != "" {
			if _, err := io.WriteString(c, send+"\r\n"); err != nil {
				return &Result{Reason: "smtp " + ioReason(ctx, start, "sending "+verb(send)+" to "+s.addr.String(), err)}
			}
		}
		code, text, err := readReply(r)
		var bad errNotSMTP
		switch {
		case err == nil && code == want:
			return nil
		case err == nil:
			return &Result{Reason: fmt.Sprintf("smtp %s answered %s with %d %s, want %d", s.addr, waiting, code, quoteLine(text), want)}
		case errors.Is(err, errTooLong):
			return &Result{Reason: fmt.Sprintf("smtp %s sent more than %d KiB without completing %s", s.addr, smtpMaxConversation>>10, waiting)}
		case errors.As(err, &bad):
			return &Result{Reason: fmt.Sprintf("smtp %s sent %s, not an SMTP reply to %s", s.addr, quoteLine(string(bad)), waiting)}
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
			return &Result{Reason: fmt.Sprintf("smtp %s closed the connection instead of %s", s.addr, waiting)}
		case errors.Is(err, os.ErrDeadlineExceeded) || ctx.Err() != nil || isTimeout(err):
			return &Result{Reason: "smtp " + timeoutReason(ctx, start, "waiting for "+waiting+" from "+s.addr.String())}
		}
		return &Result{Reason: "smtp " + ioReason(ctx, start, "reading "+waiting+" from "+s.addr.String(), err)}
	}
	if res := step("", 220, "the greeting"); res != nil {
		return *res
	}
	if res := step("HELO "+s.cfg.HELOName, 250, "HELO"); res != nil {
		return *res
	}
	// keepalived passes on any reply to QUIT (normally 221); so does vigil.
	if _, err := io.WriteString(c, "QUIT\r\n"); err != nil {
		return Result{Reason: "smtp " + ioReason(ctx, start, "sending QUIT to "+s.addr.String(), err)}
	}
	line, err := r.ReadLine()
	if err != nil {
		if ctx.Err() != nil || isTimeout(err) {
			return Result{Reason: "smtp " + timeoutReason(ctx, start, "waiting for the reply to QUIT from "+s.addr.String())}
		}
		return Result{Reason: fmt.Sprintf("smtp %s closed the connection instead of answering QUIT", s.addr)}
	}
	return Result{OK: true, Reason: fmt.Sprintf("smtp %s: greeting 220, HELO 250, QUIT %s", s.addr, quoteLine(line))}
}

var errTooLong = errors.New("too much data")

// cappedReader reads at most left bytes from r, then fails with errTooLong.
type cappedReader struct {
	r    io.Reader
	left int
}

func (c *cappedReader) Read(p []byte) (int, error) {
	if c.left <= 0 {
		return 0, errTooLong
	}
	n, err := c.r.Read(p[:min(len(p), c.left)])
	c.left -= n
	return n, err
}

// errNotSMTP is a line that is not part of an SMTP reply.
type errNotSMTP string

func (e errNotSMTP) Error() string { return "not an SMTP reply: " + strconv.Quote(string(e)) }

// readReply reads one SMTP reply (RFC 5321 §4.2.1): lines "250-text" continued until one
// "250 text" (or a bare "250"), every line with the same code.
func readReply(r *textproto.Reader) (code int, text string, err error) {
	var lines []string
	for {
		line, err := r.ReadLine()
		if err != nil {
			return 0, "", err
		}
		c, more, msg, ok := parseReplyLine(line)
		if !ok || (len(lines) > 0 && c != code) {
			return 0, "", errNotSMTP(line)
		}
		code = c
		lines = append(lines, msg)
		if !more {
			return code, strings.Join(lines, "\n"), nil
		}
	}
}

// parseReplyLine splits "250-text" or "250 text" into the code, whether more lines
// follow, and the text.
func parseReplyLine(line string) (code int, more bool, text string, ok bool) {
	if len(line) < 3 || (len(line) > 3 && line[3] != ' ' && line[3] != '-') {
		return 0, false, "", false
	}
	for i := range 3 {
		if line[i] < '0' || line[i] > '9' {
			return 0, false, "", false
		}
	}
	code = int(line[0]-'0')*100 + int(line[1]-'0')*10 + int(line[2]-'0')
	if code < 200 || code > 599 {
		return 0, false, "", false
	}
	if len(line) == 3 {
		return code, false, "", true
	}
	return code, line[3] == '-', line[4:], true
}

func verb(cmd string) string {
	for i := range len(cmd) {
		if cmd[i] == ' ' {
			return cmd[:i]
		}
	}
	return cmd
}

// quoteLine quotes the start of a line a server sent, for a reason.
func quoteLine(s string) string {
	const max = 80
	if len(s) > max {
		return strconv.Quote(s[:max]) + "..."
	}
	return strconv.Quote(s)
}
