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

// ListedService is a service with its destinations, as `ipvsadm -L` shows one.
type ListedService struct {
	ServiceInfo
	Destinations []DestinationInfo
}

// ReadTable reads every service of t with its destinations.
func ReadTable(ctx context.Context, t Table) ([]ListedService, error) {
	svcs, err := t.Services(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]ListedService, 0, len(svcs))
	for _, s := range svcs {
		ds, err := t.Destinations(ctx, s.ServiceKey)
		if err != nil {
			return nil, err
		}
		out = append(out, ListedService{ServiceInfo: s, Destinations: ds})
	}
	return out, nil
}
