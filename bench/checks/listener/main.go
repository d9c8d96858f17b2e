// Command listener serves the real servers of the checks benchmark: N TCP listeners on
// consecutive ports, each answering any request with a minimal HTTP 200 and closing.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"
)

var response = []byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")

func main() {
	addr := flag.String("addr", "127.0.0.2", "address to listen on")
	base := flag.Int("port", 20000, "first port")
	n := flag.Int("n", 10000, "number of listeners")
	flag.Parse()

	var served atomic.Uint64
	for i := range *n {
		ln, err := net.Listen("tcp", fmt.Sprintf("%s:%d", *addr, *base+i))
		if err != nil {
			log.Fatalf("listen %d of %d: %v", i, *n, err)
		}
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					if ne, ok := err.(net.Error); ok && ne.Timeout() {
						continue
					}
					time.Sleep(10 * time.Millisecond)
					continue
				}
				go serve(c, &served)
			}
		}()
	}
	fmt.Println("ready")
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	fmt.Fprintf(os.Stderr, "served %d\n", served.Load())
}

func serve(c net.Conn, served *atomic.Uint64) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 1024)
	for got := 0; ; {
		n, err := c.Read(buf[got:])
		if err != nil {
			return
		}
		got += n
		if containsEnd(buf[:got]) || got == len(buf) {
			break
		}
	}
	c.Write(response)
	served.Add(1)
}

func containsEnd(b []byte) bool {
	for i := 3; i < len(b); i++ {
		if b[i] == '\n' && b[i-1] == '\r' && b[i-2] == '\n' && b[i-3] == '\r' {
			return true
		}
	}
	return false
}
