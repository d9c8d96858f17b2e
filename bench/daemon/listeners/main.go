// Command listeners accepts and closes TCP connections on many addresses and ports: the
// real servers of the daemon benchmark (bench/daemon/run.sh).
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	addrs := flag.Int("addrs", 4, "listen on 127.0.0.21 .. 127.0.0.(20+addrs)")
	ports := flag.Int("ports", 1000, "ports per address, from -base")
	base := flag.Int("base", 10000, "first port")
	flag.Parse()
	lim := syscall.Rlimit{Cur: 20000, Max: 20000}
	syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	for a := range *addrs {
		for p := range *ports {
			ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.%d:%d", 21+a, *base+p))
			if err != nil {
				log.Fatal(err)
			}
			go func() {
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					c.Close()
				}
			}()
		}
	}
	fmt.Println("ready")
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
}
