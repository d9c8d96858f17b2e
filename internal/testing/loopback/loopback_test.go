package loopback

import (
	"io"
	"net"
	"testing"
	"time"
)

// TestServer: each connection is served, Close cuts the connections still open and
// returns once their serve has, and the address is refused afterwards.
func TestServer(t *testing.T) {
	srv := Listen(t, func(c net.Conn) { io.Copy(c, c) })
	c, err := net.Dial("tcp", srv.Addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "ping")
	got := make([]byte, 4)
	if _, err := io.ReadFull(c, got); err != nil || string(got) != "ping" {
		t.Fatalf("echo: %q, %v", got, err)
	}
	srv.Close()
	if n, err := c.Read(got); err == nil {
		t.Errorf("read %d bytes after Close; want the connection closed", n)
	}
	if c, err := net.Dial("tcp", srv.Addr.String()); err == nil {
		c.Close()
		t.Errorf("%s still accepts after Close", srv.Addr)
	}
	srv.Close() // again: a no-op
}

func TestClosedAddr(t *testing.T) {
	a := ClosedAddr(t, "127.0.0.1")
	if c, err := net.DialTimeout("tcp", a.String(), time.Second); err == nil {
		c.Close()
		t.Errorf("%s accepts a connection", a)
	}
}
