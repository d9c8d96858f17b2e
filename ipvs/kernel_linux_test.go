package ipvs

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	moby "github.com/moby/ipvs"
)

// On a kernel without IPVS (this project's build host), OpenKernel must fail at once with
// ErrUnavailable and name the fix, instead of moby/ipvs's silent no-op.
func TestOpenKernelUnavailable(t *testing.T) {
	if _, err := os.Stat("/proc/net/ip_vs"); err == nil {
		t.Skip("this kernel has IPVS; the unavailable path is proven on the host, the available one in the VM tests")
	}
	start := time.Now()
	k, err := OpenKernel(KernelOptions{})
	if err == nil {
		k.Close()
		t.Fatal("OpenKernel succeeded on a kernel without /proc/net/ip_vs")
	}
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("err = %v, want ErrUnavailable", err)
	}
	want := `kernel IPVS is not available (no generic netlink family IPVS, and the kernel could not load ip_vs): load the ip_vs module as root (modprobe ip_vs; at every boot: ip_vs in /etc/modules-load.d/)`
	if err.Error() != want {
		t.Errorf("err = %q\nwant  %q", err, want)
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("OpenKernel took %v to fail; want fast", d)
	}
	if _, err := OpenKernel(KernelOptions{Netns: "/nonexistent/netns"}); err == nil || !strings.Contains(err.Error(), "/nonexistent/netns") {
		t.Errorf("bad netns path: err = %v, want it named", err)
	}
}

// A netlink call that never returns (moby/ipvs retries receive timeouts forever) must come
// back with a deadline error, and the next call must get a fresh socket.
func TestKernelDeadline(t *testing.T) {
	opened := 0
	closed := make(chan struct{}, 1)
	k := &Kernel{
		closeFn: func(*moby.Handle) { closed <- struct{}{} },
		opts:    KernelOptions{Deadline: 50 * time.Millisecond},
		log:     slog.New(slog.NewTextHandler(io.Discard, nil)),
		h:       &moby.Handle{},
		newHandle: func(string) (*moby.Handle, error) {
			opened++
			return &moby.Handle{}, nil
		},
	}
	// The hung call ends only when the watchdog closes its socket, as moby's loop does.
	start := time.Now()
	err := k.do(context.Background(), func(*moby.Handle) error { <-closed; return errors.New("use of closed file") })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("hung call: err = %v, want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("hung call returned after %v", d)
	}
	if err := k.do(context.Background(), func(*moby.Handle) error { return syscall.EEXIST }); !errors.Is(err, syscall.EEXIST) {
		t.Errorf("next call: %v, want its own result", err)
	}
	if opened != 1 {
		t.Errorf("handles opened after the timeout = %d, want 1", opened)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := k.do(ctx, func(*moby.Handle) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: %v", err)
	}
	// Cancelling the caller's context abandons a hung call too.
	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(20*time.Millisecond, cancel)
	k.opts.Deadline = time.Minute
	if err := k.do(ctx, func(*moby.Handle) error { <-closed; return errors.New("closed") }); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled mid-call: %v, want Canceled", err)
	}
	k.Close()
	if err := k.do(context.Background(), func(*moby.Handle) error { return nil }); !errors.Is(err, ErrClosed) {
		t.Errorf("after Close: %v, want ErrClosed", err)
	}
}

var _ SysctlTable = (*Kernel)(nil)
