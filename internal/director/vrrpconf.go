package director

import (
	"github.com/vigil-lb/vigil/conf"
	"github.com/vigil-lb/vigil/vrrp"
)

// vrrpConfig translates a vrrp_instance block of sync group g (nil: none). Tracked
// virtual servers become external tracks named "virtual_server:NAME", which the director
// reports from quorum state; scripts, processes and files are tracked by the trackers
// (vrrp_track.go).
func vrrpConfig(vi *conf.VRRPInstance, g *conf.SyncGroup) vrrp.Config {
	c := vrrp.Config{
		Name:         vi.Name,
		Interface:    vi.Interface,
		VRID:         vi.VirtualRouterID,
		Priority:     vi.Priority,
		Version:      vi.Version,
		Interval:     vi.AdvertInterval,
		Preempt:      vi.Preempt,
		PreemptDelay: vi.PreemptDelay,
		Accept:       vi.Accept,
		Handover:     vi.Handover,
		VIPs:         vi.VirtualIPAddresses,
		UnicastSrc:   vi.UnicastSource,
		UnicastPeers: vi.UnicastPeers,
		GARP: vrrp.GARPConfig{
			Count:   vi.GARP.MasterRepeat,
			Delay:   vi.GARP.MasterDelay,
			Repeat:  vi.GARP.MasterRepeat,
			Refresh: vi.GARP.MasterRefresh,
		},
		Notify: vrrp.Notify{
			Master:  vi.Notify.Master,
			Backup:  vi.Notify.Backup,
			Fault:   vi.Notify.Fault,
			Any:     vi.Notify.Any,
			Timeout: vi.Notify.Timeout,
		},
	}
	if vi.GARP.MasterDelay == 0 {
		c.GARP.Delay = -1 // conf: 0 means no second burst; vrrp: negative does
	}
	for _, t := range vi.TrackInterfaces {
		c.Tracks = append(c.Tracks, vrrp.Track{Name: t.Name, Kind: vrrp.TrackInterface, Weight: t.Weight})
	}
	for _, t := range vi.TrackVirtualServers {
		c.Tracks = append(c.Tracks, vrrp.Track{Name: trackVSName(t.Name), Kind: vrrp.TrackExternal, Weight: t.Weight})
	}
	addTracking(&c, vi, g)
	c.Auth = vrrpAuth(vi.Authentication)
	return c
}

func trackVSName(vs string) string { return "virtual_server:" + vs }
