// Package vmtest runs a package's Go tests inside Debian's kernel under qemu, reporting to
// go test on the host.
//
// The host kernel has no IPVS, so kernel-level tests run in a guest:
//
//	func TestKernelIPVS(t *testing.T) {
//		vmtest.Run(t, vmtest.Options{
//			Binaries:     map[string]string{"vigil": "github.com/vigil-lb/vigil/cmd/vigil"},
//			HostBinaries: []string{"ipvsadm"},
//		}, map[string]func(t *testing.T){
//			"schedulers": testSchedulers,
//			"nat":        testNAT,
//		})
//	}
//
// On the host, Run builds this package's test binary (go test -c, CGO_ENABLED=0), the
// Binaries (go build), copies HostBinaries with the libraries ldd names, and packs them
// with busybox, the cached kernel modules and an /init into an initramfs. It boots the
// cached vmlinux through qemu's PVH entry (TCG, no KVM, -nic none), streams the serial
// console to t.Log as "vm| " lines, and fails the test when the guest's test binary
// fails, naming each "--- FAIL:" subtest, or when the guest dies or times out
// (Options.Timeout, default 5 minutes; qemu is killed).
//
// In the guest (/init sets VIGIL_VMTEST_GUEST=1), the test binary runs only the calling
// test (-test.run '^TestKernelIPVS$' -test.v) and Run calls t.Run for each entry in
// sorted name order. /init has mounted proc, sysfs, devtmpfs, devpts and tmpfs on /run,
// /tmp and /dev/shm, loaded every cached module (IPVS and its 13 schedulers, conntrack,
// veth, bridge, macvlan, dummy, ipip, ip6_tunnel, nf_tables/nft NAT, iptables mangle and
// nat, xt_mark), and brought lo up. busybox provides the userland (sh, ip, modprobe,
// nsenter...); modprobe works from the cached modules.dep, also when the kernel
// auto-loads a module. CI from the host is passed through, so testenv fails, not skips,
// in the guest too. Tests run as root; use internal/netlab for namespaces.
//
// One boot costs a few seconds on top of the tests; put all of a package's kernel tests in
// one Run. Measured for TestVMSmoke on the 2-core TCG host: kernel to /init 2.5 s,
// loading 46 modules 0.8 s, qemu wall time 6 s in all (8-26 s while the host's load
// average was 12-20); building the guest test binary adds 3-7 s when the build cache is
// warm, about 80 s the first time (the standard library is rebuilt with CGO_ENABLED=0).
// The vmtest: lines of -v output give these figures for every run.
//
// # Kernel cache
//
// Run needs the kernel cached by cmd/vmkernel (as root, once per Debian kernel update;
// fast when already cached):
//
//	go run ./internal/vmtest/cmd/vmkernel
//
// It is kept in /var/cache/vigil-vmtest (VIGIL_VMTEST_CACHE overrides), see kernel.go.
// Without it, or without qemu-system-x86_64 and busybox-static, Run skips loudly, or
// fails under CI=true.
//
// # Debugging
//
//	VIGIL_VMTEST_RUN=regexp    run only the matching subtests in the guest
//	VIGIL_VMTEST_ARGS='-test.count=2 -test.failfast'   extra guest test binary arguments
//	VIGIL_VMTEST_KEEP=1        keep the build directory (initrd.cpio, test binary) and
//	                           log its path; boot it by hand with the qemu arguments Run
//	                           logs, or unpack it with `busybox cpio -i -d < initrd.cpio`
//	VIGIL_VMTEST_KERNEL_ARGS='loglevel=7'   extra guest kernel arguments (loglevel=7
//	                           overrides quiet: an RCU stall then prints its backtraces)
//	GOTRACEBACK=...            passed to the guest (default all)
package vmtest
