package ipvs_test

import (
	"errors"
	"strings"
	"syscall"
	"testing"

	"github.com/vigil-lb/vigil/internal/testing/netlab"
	"github.com/vigil-lb/vigil/ipvs"
)

// suiteClients proves in the kernel which client serves which call: service writes and
// adding or deleting a destination go through moby/ipvs, listings and the weight change
// (UpdateDestination) through ipvsnl (each works with the other closed); a moby/ipvs handle that failed is replaced by the next write, as ipvsnl
// replaces its socket; and the kernel's refusals come back wrapped, with their errno and
// what it means.
func suiteClients(t *testing.T) {
	lab := netlab.New(t)
	ctx := bg()
	key := ipvs.AddrKey(ipvs.TCP, ap("198.18.0.1:80"))
	svc := ipvs.Service{ServiceKey: key, Scheduler: "wrr"}
	dst := ipvs.Destination{Addr: ap("198.18.0.11:80"), Weight: 3, Forwarding: ipvs.NAT}

	t.Run("kernel refusals are wrapped and explained", func(t *testing.T) {
		k := openIn(t, lab.Host("errs"))
		missing := ipvs.AddrKey(ipvs.TCP, ap("198.18.0.99:80"))
		for _, tc := range []struct {
			err   error
			errno syscall.Errno
			want  string
		}{
			{k.AddDestination(ctx, missing, dst), syscall.ESRCH, "add destination 198.18.0.11:80 to TCP 198.18.0.99:80: no such service (ESRCH)"},
			{k.UpdateService(ctx, ipvs.Service{ServiceKey: missing, Scheduler: "rr"}), syscall.ESRCH, "update service TCP 198.18.0.99:80: no such service (ESRCH)"},
			{k.AddService(ctx, ipvs.Service{ServiceKey: missing, Scheduler: "nosuch"}), syscall.ENOENT, "add service TCP 198.18.0.99:80: no such scheduler: the kernel has no ip_vs_<name> module for it (ENOENT)"},
		} {
			if !errors.Is(tc.err, tc.errno) || tc.err.Error() != tc.want {
				t.Errorf("got %q\nwant %q wrapping %v", tc.err, tc.want, tc.errno)
			}
		}
		must(t, k.AddService(ctx, svc))
		err := k.DeleteDestination(ctx, key, dst.Addr)
		if want := "delete destination 198.18.0.11:80 of TCP 198.18.0.1:80: no such destination (ENOENT)"; !errors.Is(err, syscall.ENOENT) || err.Error() != want {
			t.Errorf("got %q\nwant %q", err, want)
		}
	})

	t.Run("writes through moby/ipvs, listings and weight changes through ipvsnl", func(t *testing.T) {
		h := lab.Host("split")
		k := openIn(t, h)
		must(t, ipvs.CloseReader(k))
		mustf(t, k.AddService(ctx, svc), "write with the reader closed")
		mustf(t, k.AddDestination(ctx, key, dst), "write with the reader closed")
		if _, err := k.Services(ctx); !errors.Is(err, ipvs.ErrClosed) {
			t.Errorf("listing with the reader closed: %v, want ErrClosed", err)
		}
		if err := k.UpdateDestination(ctx, key, dst); !errors.Is(err, ipvs.ErrClosed) {
			t.Errorf("weight change with the reader closed: %v, want ErrClosed", err)
		}
		k2 := openIn(t, h)
		must(t, ipvs.CloseWriter(k2))
		up := dst
		up.Weight = 7
		mustf(t, k2.UpdateDestination(ctx, key, up), "weight change with the writer closed")
		ds, err := k2.Destinations(ctx, key)
		mustf(t, err, "listing with the writer closed")
		if len(ds) != 1 || ds[0].Destination != up {
			t.Errorf("listed %+v, want %+v", ds, up)
		}
		if err := k2.AddDestination(ctx, key, ipvs.Destination{Addr: ap("198.18.0.12:80"), Weight: 1, Forwarding: ipvs.NAT}); !errors.Is(err, ipvs.ErrClosed) {
			t.Errorf("write with the writer closed: %v, want ErrClosed", err)
		}
	})

	t.Run("a failed moby/ipvs handle is replaced by the next write", func(t *testing.T) {
		k := openIn(t, lab.Host("recover"))
		must(t, k.AddService(ctx, svc))
		must(t, ipvs.BreakWriter(k))
		err := k.AddDestination(ctx, key, dst)
		var errno syscall.Errno
		if err == nil || errors.As(err, &errno) || !strings.Contains(err.Error(), "moby/ipvs handle failed, the next call opens a new one: ") {
			t.Fatalf("write on the failed handle: %v, want the socket's error, named", err)
		}
		t.Logf("write on the failed handle: %v", err)
		mustf(t, k.AddDestination(ctx, key, dst), "next write")
		up := dst
		up.Weight = 0
		mustf(t, k.UpdateDestination(ctx, key, up), "weight change")
		ds, err := k.Destinations(ctx, key)
		must(t, err)
		if len(ds) != 1 || ds[0].Destination != up {
			t.Errorf("listed %+v, want %+v", ds, up)
		}
	})
}
