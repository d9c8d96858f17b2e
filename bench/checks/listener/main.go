//go:build linux

// Command listener serves the real servers of the checks benchmark: N TCP listeners on
// consecutive ports, each answering any request with a minimal HTTP 200 and closing.
//
// One epoll loop serves them all (Linux), so that the servers stay cheap and steady at
// 10,000 HTTP checks a second on one core: with a goroutine per connection the Go runtime's
// own pauses pushed answers past the checkers' 1 s timeout, and a checker whose probes all
// time out is not measuring a health check any more.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"log"
	"net/netip"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

var response = []byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")

type conn struct {
	buf []byte
}

func main() {
	addr := flag.String("addr", "127.0.0.2", "address to listen on")
	base := flag.Int("port", 20000, "first port")
	n := flag.Int("n", 10000, "number of listeners")
	flag.Parse()
	ip, err := netip.ParseAddr(*addr)
	if err != nil || !ip.Is4() {
		log.Fatalf("-addr %q: want an IPv4 address", *addr)
	}

	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		log.Fatal(err)
	}
	listeners := map[int32]bool{}
	for i := range *n {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			log.Fatalf("socket %d of %d: %v", i, *n, err)
		}
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
		if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: ip.As4(), Port: *base + i}); err != nil {
			log.Fatalf("listen %d of %d: bind %s:%d: %v", i, *n, ip, *base+i, err)
		}
		if err := unix.Listen(fd, 4096); err != nil {
			log.Fatalf("listen %d of %d: %v", i, *n, err)
		}
		ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)}
		if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
			log.Fatal(err)
		}
		listeners[int32(fd)] = true
	}
	var served atomic.Uint64
	go serve(epfd, listeners, &served)
	fmt.Println("ready")
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	fmt.Fprintf(os.Stderr, "served %d\n", served.Load())
}

// serve accepts, reads each request head, answers and closes, on one goroutine.
func serve(epfd int, listeners map[int32]bool, served *atomic.Uint64) {
	events := make([]unix.EpollEvent, 256)
	conns := map[int32]*conn{}
	tmp := make([]byte, 1024)
	drop := func(fd int32) {
		delete(conns, fd)
		unix.Close(int(fd))
	}
	for {
		k, err := unix.EpollWait(epfd, events, -1)
		if err != nil {
			continue // EINTR
		}
		for _, ev := range events[:k] {
			if listeners[ev.Fd] {
				for {
					cfd, _, err := unix.Accept4(int(ev.Fd), unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
					if err != nil {
						break // EAGAIN, or a connection reset while queued
					}
					// Level-triggered: the request is usually there already.
					cev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP, Fd: int32(cfd)}
					if unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, cfd, &cev) != nil {
						unix.Close(cfd)
						continue
					}
					conns[int32(cfd)] = &conn{}
				}
				continue
			}
			c := conns[ev.Fd]
			if c == nil {
				continue
			}
			m, err := unix.Read(int(ev.Fd), tmp)
			if err == unix.EAGAIN {
				continue
			}
			if err != nil || m == 0 {
				drop(ev.Fd)
				continue
			}
			c.buf = append(c.buf, tmp[:m]...)
			if bytes.Contains(c.buf, []byte("\r\n\r\n")) || len(c.buf) >= 1024 {
				if _, err := unix.SendmsgN(int(ev.Fd), response, nil, nil, unix.MSG_NOSIGNAL); err == nil {
					served.Add(1)
				}
				drop(ev.Fd)
			}
		}
	}
}
