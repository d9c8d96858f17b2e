package ipvs

import (
	"context"
	"net/netip"
)

// Table is a virtual-server table: kernel IPVS (see OpenKernel), the userspace data plane, or a
// fake in tests. Every method is one operation on the table; errors say what was being done
// and keep the kernel's errno reachable with errors.Is.
type Table interface {
	Services(ctx context.Context) ([]ServiceInfo, error)
	Destinations(ctx context.Context, svc ServiceKey) ([]DestinationInfo, error)
	AddService(ctx context.Context, svc Service) error
	UpdateService(ctx context.Context, svc Service) error
	DeleteService(ctx context.Context, svc ServiceKey) error
	AddDestination(ctx context.Context, svc ServiceKey, d Destination) error
	UpdateDestination(ctx context.Context, svc ServiceKey, d Destination) error
	DeleteDestination(ctx context.Context, svc ServiceKey, addr netip.AddrPort) error
	Timeouts(ctx context.Context) (Timeouts, error)
	SetTimeouts(ctx context.Context, t Timeouts) error
	Close() error
}
