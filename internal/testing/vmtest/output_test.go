package vmtest

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestGuestReport(t *testing.T) {
	for _, tc := range []struct {
		name, out string
		want      guestReport
	}{
		{
			name: "pass",
			out:  "=== RUN   TestX\n--- PASS: TestX (0.01s)\nPASS\r\n<<vigil-vmtest exit=0>>\r\n[ 1.2] reboot: Power down\n",
			want: guestReport{exited: true, status: 0},
		},
		{
			name: "subtest fails",
			out: "=== RUN   TestX/nat\n    x_test.go:9: boom\n    --- FAIL: TestX/nat (0.20s)\n" +
				"--- FAIL: TestX (0.30s)\nFAIL\n<<vigil-vmtest exit=1>>\n",
			want: guestReport{exited: true, status: 1, failed: []string{"TestX/nat", "TestX"}},
		},
		{
			name: "kernel panic",
			out:  "[ 0.5] Kernel panic - not syncing: Attempted to kill init!\n",
			want: guestReport{panic: true},
		},
		{
			name: "marker after other output on the same line",
			out:  "no newline at end of test output<<vigil-vmtest exit=2>>\n",
			want: guestReport{exited: true, status: 2},
		},
		{
			name: "rcu stalls and a soft lockup",
			out: "[   34.249490] rcu: INFO: rcu_preempt self-detected stall on CPU\n" +
				"[   34.249490] rcu: \t0-....: (1 GPs behind) idle=72f4/1/0x4000000000000000 softirq=1184/1185 fqs=2608\n" +
				"[   97.301] rcu: INFO: rcu_preempt detected stalls on CPUs/tasks:\n" +
				"[  120.0] watchdog: BUG: soft lockup - CPU#0 stuck for 22s! [vigil:201]\n" +
				"vmtest-klog| [   34.249490] rcu: INFO: rcu_preempt self-detected stall on CPU\n",
			want: guestReport{stalls: 3, firstStall: "[   34.249490] rcu: INFO: rcu_preempt self-detected stall on CPU"},
		},
		{
			name: "truncated marker",
			out:  "<<vigil-vmtest exit=\n",
			want: guestReport{},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got guestReport
			for _, l := range strings.Split(tc.out, "\n") {
				got.line(l)
			}
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(guestReport{})); diff != "" {
				t.Errorf("report (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFailedLeaves(t *testing.T) {
	r := guestReport{failed: []string{"TestX/a/b", "TestX/a", "TestX/c", "TestX", "TestY"}}
	want := []string{"TestX/a/b", "TestX/c", "TestY"}
	if diff := cmp.Diff(want, r.failedLeaves()); diff != "" {
		t.Errorf("failedLeaves (-want +got):\n%s", diff)
	}
}

func FuzzGuestReport(f *testing.F) {
	for _, s := range []string{"<<vigil-vmtest exit=0>>", "    --- FAIL: TestX/y (0.1s)", "Kernel panic - not syncing", "<<vigil-vmtest exit=-1>>x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, l string) {
		var r guestReport
		r.line(l)
		if r.exited && !strings.Contains(l, exitMarker) {
			t.Errorf("exited without marker in %q", l)
		}
	})
}

func TestParseLdd(t *testing.T) {
	out := "\tlinux-vdso.so.1 (0x00007ffd)\n" +
		"\tlibpopt.so.0 => /lib/x86_64-linux-gnu/libpopt.so.0 (0x00007f82224bc000)\n" +
		"\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f82222b0000)\n" +
		"\t/lib64/ld-linux-x86-64.so.2 (0x00007f82224f3000)\n"
	want := []string{"/lib/x86_64-linux-gnu/libpopt.so.0", "/lib/x86_64-linux-gnu/libc.so.6", "/lib64/ld-linux-x86-64.so.2"}
	if diff := cmp.Diff(want, parseLdd(out)); diff != "" {
		t.Errorf("parseLdd (-want +got):\n%s", diff)
	}
}

func TestTestName(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"TestKernelIPVS", "^TestKernelIPVS$"},
		{"TestA/sub.1", `^TestA$/^sub\.1$`},
	} {
		if got := testName(tc.in); got != tc.want {
			t.Errorf("testName(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
