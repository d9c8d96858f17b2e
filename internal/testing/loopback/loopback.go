// Package loopback runs the throwaway TCP servers that tests talk to: an accept loop
// that hands each connection to a function, on loopback or on a listener of the test's.
package loopback

import (
	"net"
	"net/netip"
	"sync"
	"testing"
)

// Server accepts on a listener and serves each connection in its own goroutine.
type Server struct {
	// Addr is the listener's address (an IPv4-mapped address unmapped).
	Addr netip.AddrPort

	ln    net.Listener
	serve func(net.Conn)
	mu    sync.Mutex
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// Listen serves on a new listener on 127.0.0.1 (a free port); see Serve.
func Listen(t testing.TB, serve func(net.Conn)) *Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return Serve(t, ln, serve)
}

// Serve accepts on ln until Close, running serve on each connection in its own
// goroutine and closing the connection when serve returns. The test's cleanup closes
// the server.
func Serve(t testing.TB, ln net.Listener, serve func(net.Conn)) *Server {
	t.Helper()
	ap, err := netip.ParseAddrPort(ln.Addr().String())
	if err != nil {
		ln.Close()
		t.Fatalf("listener address %s: %v", ln.Addr(), err)
	}
	s := &Server{Addr: netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), ln: ln, serve: serve, conns: map[net.Conn]struct{}{}}
	s.wg.Add(1)
	go s.accept()
	t.Cleanup(s.Close)
	return s
}

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			defer func() {
				s.mu.Lock()
				delete(s.conns, c)
				s.mu.Unlock()
				c.Close()
			}()
			s.serve(c)
		}()
	}
}

// Close stops the server as a crashed process would: the listener and every connection
// close. It returns once every serve has returned; it may be called more than once.
func (s *Server) Close() {
	s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// ClosedAddr returns an address on ip (127.0.0.1, ::1) with a port nobody listens on
// right now: one the kernel just gave a listener that is closed again.
func ClosedAddr(t testing.TB, ip string) netip.AddrPort {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ap := ln.Addr().(*net.TCPAddr).AddrPort()
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}
