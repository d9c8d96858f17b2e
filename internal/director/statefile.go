package director

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/vigil-lb/vigil/conf"
	"github.com/vigil-lb/vigil/internal/state"
	"github.com/vigil-lb/vigil/ipvs"
)

// The state file (Options.StateFile) keeps, across restarts, the real servers'
// administrative states and the IPVS services the director owns. The loop writes it after
// every change of either (start, reload, vigil drain / maint / ready, stop); Start reads
// it.

// loadedState is what Start takes from the state file.
type loadedState struct {
	admin map[string]adminState // by rsKey.String()
	owned []ipvs.ServiceKey
	lo    []netip.Prefix // the virtual IPs a previous run put on lo
}

// loadState reads the state file. A corrupt one is set aside with a warning and vigil
// starts without it: the administrative states are lost (every real server ready) and
// the services a stopped vigil's configuration dropped stay in the table.
func (d *Director) loadState() (loadedState, []string) {
	out := loadedState{admin: map[string]adminState{}}
	if d.o.StateFile == "" {
		return out, nil
	}
	f, err := state.Read(d.o.StateFile)
	if err != nil {
		msg := fmt.Sprintf("state file %s: %v; starting without it (every real server ready)", d.o.StateFile, err)
		if errors.Is(err, state.ErrCorrupt) {
			if to, kerr := state.KeepAside(d.o.StateFile, d.o.Clock.Now()); kerr == nil {
				msg += "; the file is kept as " + to
			} else {
				msg += "; " + kerr.Error()
			}
		}
		d.log.Warn(msg)
		return out, []string{msg}
	}
	for _, a := range f.Admin {
		st, _ := ParseAdminState(a.State) // state.Read accepts drain and maint only
		out.admin[a.Service+" -> "+a.Address.String()] = adminState{state: st, remove: a.Remove, since: a.Since}
	}
	for _, s := range f.Owned {
		if k, ok := serviceKeyOfState(s); ok {
			out.owned = append(out.owned, k)
		}
	}
	out.lo = f.Loopback
	d.saved = f
	return out, nil
}

// saveState writes the state file when what it holds changed. A failed write is logged
// and returned; the running state is not affected.
func (d *Director) saveState() error {
	if d.o.StateFile == "" {
		return nil
	}
	f := state.File{Version: state.Version}
	for _, e := range adminEntries(d.cur) {
		f.Admin = append(f.Admin, state.Admin{Service: e.key.svc.String(), Address: e.key.addr,
			VirtualServer: e.vs, RealServer: e.rs, State: e.admin.state.String(), Remove: e.admin.remove, Since: e.admin.since})
	}
	for _, k := range d.rec.Owned() {
		f.Owned = append(f.Owned, stateService(k))
	}
	f.Loopback = d.routes.ownedLo()
	if state.Equal(f, d.saved) && d.saved.Version != 0 {
		return nil
	}
	f.WrittenAt = d.o.Clock.Now()
	if err := state.Write(d.o.StateFile, f); err != nil {
		d.log.Error("save the state file; administrative states may not survive a restart", "path", d.o.StateFile, "err", err)
		return err
	}
	d.saved = f
	return nil
}

func stateService(k ipvs.ServiceKey) state.Service {
	if k.IsFWMark() {
		return state.Service{FWMark: k.FWMark, Family: k.Family.String()}
	}
	return state.Service{Protocol: k.Protocol.String(), Address: k.Addr}
}

func serviceKeyOfState(s state.Service) (ipvs.ServiceKey, bool) {
	if s.FWMark != 0 {
		fam := ipvs.Inet4
		if s.Family == "inet6" {
			fam = ipvs.Inet6
		}
		return ipvs.MarkKey(s.FWMark, fam), true
	}
	var p ipvs.Protocol
	switch s.Protocol {
	case "tcp":
		p = ipvs.TCP
	case "udp":
		p = ipvs.UDP
	case "sctp":
		p = ipvs.SCTP
	default:
		return ipvs.ServiceKey{}, false
	}
	if !s.Address.IsValid() {
		return ipvs.ServiceKey{}, false
	}
	return ipvs.AddrKey(p, s.Address), true
}

// logDropped says which services the state file owns that cfg no longer configures: Start
// deletes them (a virtual server removed from the file while vigil was stopped).
func (d *Director) logDropped(cfg *conf.Config, owned []ipvs.ServiceKey) {
	want := map[ipvs.ServiceKey]bool{}
	for _, vs := range cfg.VirtualServers {
		for _, k := range kernelKeys(vs) {
			want[ipvs.AddrKey(k.Protocol, k.Addr)] = true
			want[k] = true
		}
	}
	for _, k := range owned {
		if !want[k] {
			d.log.Info("deleting a service vigil created that the configuration no longer has", "service", k.String())
		}
	}
}
