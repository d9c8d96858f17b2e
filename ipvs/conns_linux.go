package ipvs

import (
	"errors"
	"os"
)

var _ ClosingConnections = (*Kernel)(nil)

// Closing reads the caller's namespace's connection table (/proc/net/ip_vs_conn): a
// Kernel opened on another namespace (KernelOptions.Netns, tests) cannot.
func (k *Kernel) Closing() (map[ConnDest]uint32, error) {
	if k.opts.Netns != "" {
		return nil, errors.New("the connection table of another network namespace is not readable from here")
	}
	f, err := os.Open("/proc/net/ip_vs_conn")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ParseClosing(f)
}
