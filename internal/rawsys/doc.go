// Package rawsys is the system calls of vigil's event loops (the health checks' probe
// loop and the userspace data plane): sockets and epoll with RawSyscall, and the Poller
// both kinds of loop wait on.
//
// None of the raw calls blocks: the sockets are non-blocking, a connect returns
// EINPROGRESS, a close with SO_LINGER 0 sends an RST and returns, epoll_ctl and a
// zero-timeout epoll_pwait return at once. A plain Syscall tells the runtime the thread
// may block (entersyscall/exitsyscall, and sysmon may hand the P to another thread
// meanwhile): at tens of thousands of calls a second that bookkeeping showed in the
// profiles beside the calls themselves. A loop waits by parking its goroutine in the
// runtime's poller (Poller). These also skip x/sys/unix's Sockaddr interface, whose
// connect allocates on every call.
//
// Errors of the raw calls come back as unix.Errno; 0 is success.
package rawsys
