//go:build !linux

package ipvs

import (
	"context"
	"fmt"
	"net/netip"
)

// Kernel is the Table of kernel IPVS; it exists only on Linux.
type Kernel struct{}

var _ Table = (*Kernel)(nil)

// OpenKernel fails everywhere but Linux.
func OpenKernel(opts KernelOptions) (*Kernel, error) {
	return nil, fmt.Errorf("%w (IPVS is a Linux kernel feature): set dataplane = \"userspace\"", ErrUnavailable)
}

func (k *Kernel) Header() (string, error)                         { return "", ErrUnavailable }
func (k *Kernel) Close() error                                    { return nil }
func (k *Kernel) Services(context.Context) ([]ServiceInfo, error) { return nil, ErrUnavailable }
func (k *Kernel) Destinations(context.Context, ServiceKey) ([]DestinationInfo, error) {
	return nil, ErrUnavailable
}
func (k *Kernel) AddService(context.Context, Service) error    { return ErrUnavailable }
func (k *Kernel) UpdateService(context.Context, Service) error { return ErrUnavailable }
func (k *Kernel) DeleteService(context.Context, ServiceKey) error {
	return ErrUnavailable
}
func (k *Kernel) AddDestination(context.Context, ServiceKey, Destination) error {
	return ErrUnavailable
}
func (k *Kernel) UpdateDestination(context.Context, ServiceKey, Destination) error {
	return ErrUnavailable
}
func (k *Kernel) DeleteDestination(context.Context, ServiceKey, netip.AddrPort) error {
	return ErrUnavailable
}
func (k *Kernel) Timeouts(context.Context) (Timeouts, error)  { return Timeouts{}, ErrUnavailable }
func (k *Kernel) SetTimeouts(context.Context, Timeouts) error { return ErrUnavailable }
func (k *Kernel) Sysctls() (Sysctls, error)                   { return Sysctls{}, ErrUnavailable }
func (k *Kernel) EnsureSysctls(Sysctls) ([]string, error)     { return nil, ErrUnavailable }
