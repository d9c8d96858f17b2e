// Command userspacebench runs the two halves of the userspace data plane benchmark: a
// small HTTP real server, and a userspace ipvs table proxying a VIP to real servers.
// run.sh drives it against HAProxy; it is not part of go test.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"

	"github.com/vigil-lb/vigil/ipvs"
	"github.com/vigil-lb/vigil/ipvs/userspace"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: userspacebench backend -listen ADDR | proxy -listen VIP -backends A,B [-sched rr] [-cpuprofile F]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "backend":
		err = backend(os.Args[2:])
	case "proxy":
		err = proxy(os.Args[2:])
	default:
		err = fmt.Errorf("unknown mode %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "userspacebench:", err)
		os.Exit(1)
	}
}

// backend serves a fixed 13-byte body on every path.
func backend(args []string) error {
	fs := flag.NewFlagSet("backend", flag.ExitOnError)
	listen := fs.String("listen", "127.0.0.1:9001", "address to serve HTTP on")
	fs.Parse(args)
	body := []byte("hello, world\n")
	return http.ListenAndServe(*listen, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write(body)
	}))
}

func proxy(args []string) error {
	fs := flag.NewFlagSet("proxy", flag.ExitOnError)
	listen := fs.String("listen", "127.0.0.1:9000", "virtual service address")
	backends := fs.String("backends", "127.0.0.1:9001,127.0.0.1:9002", "real servers, comma separated")
	sched := fs.String("sched", "rr", "scheduler")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile here until interrupted")
	fs.Parse(args)
	vip, err := netip.ParseAddrPort(*listen)
	if err != nil {
		return err
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return err
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	ctx := context.Background()
	t := userspace.New(userspace.Options{Logger: slog.New(slog.NewTextHandler(os.Stderr, nil))})
	k := ipvs.AddrKey(ipvs.TCP, vip)
	if err := t.AddService(ctx, ipvs.Service{ServiceKey: k, Scheduler: *sched}); err != nil {
		return err
	}
	for _, b := range strings.Split(*backends, ",") {
		ap, err := netip.ParseAddrPort(b)
		if err != nil {
			return err
		}
		if err := t.AddDestination(ctx, k, ipvs.Destination{Addr: ap, Weight: 1}); err != nil {
			return err
		}
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
	return t.Close()
}
