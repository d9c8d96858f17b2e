// Package netlab builds throw-away network namespaces, veth links and bridges for tests.
//
// Every Lab lives in named network namespaces (/run/netns/vigil-PID-RAND-NAME, so
// parallel test binaries never collide) and removes them in t.Cleanup; namespaces left
// by a killed test process are swept by the next New.
// Nothing is created in the caller's namespace: veth pairs are created directly across
// namespaces, so a crashed test leaves at most a few bind mounts under /run/netns.
//
// It speaks netlink only (vishvananda/netlink), so it works without iproute2, for example
// inside the vmtest guest where only busybox exists.
//
// Sockets belong to the namespace of the thread that created them: use Host.Do,
// Host.Listen, Host.Dial or Host.HTTPClient, never a plain net.Dial, to act inside a Host.
// Give hosts addresses from 198.18.0.0/15 (RFC 2544 benchmarking range) only.
package netlab
