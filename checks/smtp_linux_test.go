package checks

import (
	"bufio"
	"bytes"
	"net"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"
)

// smtpServer is a small SMTP listener on loopback: it greets, answers HELO and QUIT as
// the given behaviour says, and records the commands it received.
type smtpServer struct {
	mu   sync.Mutex
	cmds []string
}

func (s *smtpServer) commands() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.cmds...)
}

// listen serves greeting (sent as is; "" sends nothing) on loopback, then answers each
// line with reply(line) ("" closes the connection).
func (s *smtpServer) listen(t *testing.T, greeting string, reply func(cmd string) string) Checker {
	t.Helper()
	target := rawServer(t, func(c net.Conn) {
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if greeting != "" {
			c.Write([]byte(greeting))
		}
		r := bufio.NewReader(c)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			line = strings.TrimRight(line, "\r\n")
			s.mu.Lock()
			s.cmds = append(s.cmds, line)
			s.mu.Unlock()
			out := reply(line)
			if out == "" {
				return
			}
			c.Write([]byte(out))
		}
	})
	c, err := New("smtp", target, SMTPConfig{HELOName: "lb1.vigil.test"})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// postfixLike answers as a well-behaved MTA.
func postfixLike(cmd string) string {
	switch {
	case strings.HasPrefix(cmd, "HELO "):
		return "250 mx.vigil.test\r\n"
	case cmd == "QUIT":
		return "221 2.0.0 Bye\r\n"
	}
	return "502 5.5.2 Error: command not recognized\r\n"
}

// TestSMTPCheck runs keepalived's SMTP_CHECK conversation against listeners that behave
// and misbehave: a multi-line greeting passes, no greeting, a 5xx greeting or HELO reply,
// a dropped connection and an endless line fail with a reason naming what was wrong.
func TestSMTPCheck(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		greeting string
		reply    func(string) string
		ok       bool
		reason   string
	}{
		{"good", "220 mx.vigil.test ESMTP\r\n", postfixLike, true, `greeting 220, HELO 250, QUIT "221 2.0.0 Bye"`},
		{"multi-line greeting", "220-mx.vigil.test ESMTP\r\n220-no UCE\r\n220 ready\r\n", postfixLike, true, "greeting 220, HELO 250"},
		{"no greeting", "", postfixLike, false, "timeout after 1s waiting for the greeting"},
		{"5xx greeting", "554 5.3.2 no service here\r\n", postfixLike, false, `answered the greeting with 554 "5.3.2 no service here", want 220`},
		{"HELO refused", "220 mx\r\n", func(string) string { return "501 5.5.4 bad HELO\r\n" }, false, `answered HELO with 501 "5.5.4 bad HELO", want 250`},
		{"closed after greeting", "220 mx\r\n", func(string) string { return "" }, false, "closed the connection instead of HELO"},
		{"no reply to QUIT", "220 mx\r\n", func(cmd string) string {
			if cmd == "QUIT" {
				return ""
			}
			return "250 ok\r\n"
		}, false, "closed the connection instead of answering QUIT"},
		{"garbage greeting", "SSH-2.0-OpenSSH_9.2\r\n", postfixLike, false, "not an SMTP reply to the greeting"},
		{"endless greeting", "220 " + strings.Repeat("x", 200<<10), postfixLike, false, "sent more than 64 KiB without completing the greeting"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := &smtpServer{}
			c := srv.listen(t, tc.greeting, tc.reply)
			// Generous except where the timeout is the verdict: the machine may be loaded.
			timeout := 5 * time.Second
			if strings.Contains(tc.reason, "timeout after") {
				timeout = time.Second
			}
			res := check(t, c, timeout)
			if res.OK != tc.ok || !strings.Contains(res.Reason, tc.reason) {
				t.Errorf("got OK=%v %q, want OK=%v and %q", res.OK, res.Reason, tc.ok, tc.reason)
			}
		})
	}
	srv := &smtpServer{}
	c := srv.listen(t, "220 mx\r\n", postfixLike)
	if res := check(t, c, time.Second); !res.OK {
		t.Fatal(res.Reason)
	}
	if got, want := strings.Join(srv.commands(), "|"), "HELO lb1.vigil.test|QUIT"; got != want {
		t.Errorf("the server received %q, want %q (keepalived's HELO, then QUIT)", got, want)
	}
}

func TestSMTPCheckRefused(t *testing.T) {
	t.Parallel()
	c, err := New("smtp", closedPort(t), SMTPConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if res := check(t, c, time.Second); res.OK || !strings.Contains(res.Reason, "connection refused") {
		t.Errorf("got OK=%v %q, want connection refused", res.OK, res.Reason)
	}
}

// FuzzSMTPReply: any bytes from a server give a reply with a code in 200..599, or an error.
func FuzzSMTPReply(f *testing.F) {
	for _, s := range []string{"220 ok\r\n", "220-a\r\n220 b\r\n", "250\r\n", "SSH-2.0\r\n", "220-a\r\n221 b\r\n", "99 x\r\n", ""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		code, _, err := readReply(textproto.NewReader(bufio.NewReader(bytes.NewReader(b))))
		if err == nil && (code < 200 || code > 599) {
			t.Fatalf("readReply(%q) = %d without an error", b, code)
		}
	})
}
