package director

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/vigil-lb/vigil/conf"
	"github.com/vigil-lb/vigil/vrrp"
)

// The glue between conf's vrrp_script, track_process and track_file blocks and vrrp's
// trackers: one tracker per tracked block, shared by every instance (and sync group)
// that names it, restarted only when its own block changes.

// Tracker names, as instances' Track.Name.
const (
	trackScriptPrefix  = "script:"
	trackProcessPrefix = "process:"
	trackFilePrefix    = "file:"
)

// addTracking appends to c the tracks of vi and of its sync group g (which apply to
// every member), and vi's address placements.
func addTracking(c *vrrp.Config, vi *conf.VRRPInstance, g *conf.SyncGroup) {
	add := func(t conf.Tracking) {
		for _, r := range t.Scripts {
			c.Tracks = append(c.Tracks, vrrp.Track{Name: trackScriptPrefix + r.Name, Kind: vrrp.TrackScript, Weight: r.Weight})
		}
		for _, r := range t.Processes {
			c.Tracks = append(c.Tracks, vrrp.Track{Name: trackProcessPrefix + r.Name, Kind: vrrp.TrackProcess, Weight: r.Weight})
		}
		for _, r := range t.Files {
			c.Tracks = append(c.Tracks, vrrp.Track{Name: trackFilePrefix + r.Name, Kind: vrrp.TrackFile, Weight: r.Weight})
		}
	}
	add(vi.Tracking)
	if g != nil {
		add(g.Tracking)
	}
	for _, p := range vi.VIPDevices {
		c.VIPDevices = append(c.VIPDevices, vrrp.VIPDevice{Addr: p.Address, Dev: p.Dev, Label: p.Label})
	}
}

// syncGroupOf returns the sync group of the instance called name, or nil.
func syncGroupOf(cfg *conf.Config, name string) *conf.SyncGroup {
	for _, g := range cfg.SyncGroups {
		if slices.Contains(g.Instances, name) {
			return g
		}
	}
	return nil
}

// trackerSpec is one tracker to run: its configuration (compared across reloads) and
// how to build it.
type trackerSpec struct {
	kind  vrrp.TrackKind
	block string // "vrrp_script" ... for the reload diff
	cfg   any
	build func() (vrrp.Tracker, error)
}

// trackerSpecs lists the trackers cfg's instances and sync groups name, by Track.Name.
// A block nothing tracks does not run (conf warns about it).
func (d *Director) trackerSpecs(cfg *conf.Config) map[string]trackerSpec {
	used := map[string]bool{}
	for _, vi := range cfg.VRRPInstances {
		c := vrrp.Config{}
		addTracking(&c, vi, syncGroupOf(cfg, vi.Name))
		for _, t := range c.Tracks {
			used[t.Name] = true
		}
	}
	out := map[string]trackerSpec{}
	for _, s := range cfg.VRRPScripts {
		sc := vrrp.ScriptConfig{Name: s.Name, Argv: s.Command, User: s.User, Interval: s.Interval, Timeout: s.Timeout, Rise: s.Rise, Fall: s.Fall}
		if used[trackScriptPrefix+s.Name] {
			out[trackScriptPrefix+s.Name] = trackerSpec{vrrp.TrackScript, "vrrp_script", sc, func() (vrrp.Tracker, error) {
				return vrrp.NewScriptTracker(sc, d.o.Clock, nil)
			}}
		}
	}
	for _, p := range cfg.TrackProcesses {
		pc := vrrp.ProcessConfig{Name: p.Name, Process: p.Process, Args: p.Args, Quorum: p.Quorum, Delay: p.Delay}
		if used[trackProcessPrefix+p.Name] {
			out[trackProcessPrefix+p.Name] = trackerSpec{vrrp.TrackProcess, "track_process", pc, func() (vrrp.Tracker, error) {
				return vrrp.NewProcessTracker(pc, nil, d.o.Clock, d.log)
			}}
		}
	}
	for _, f := range cfg.TrackFiles {
		fc := vrrp.FileConfig{Name: f.Name, Path: f.Path, Init: f.Init}
		if used[trackFilePrefix+f.Name] {
			out[trackFilePrefix+f.Name] = trackerSpec{vrrp.TrackFile, "track_file", fc, func() (vrrp.Tracker, error) {
				return vrrp.NewFileTracker(fc, d.o.Clock, d.log)
			}}
		}
	}
	return out
}

// syncTrackers starts the trackers cfg needs that are not running with the same
// configuration and stops those it no longer needs, before the instances that track
// them are (re)started. When a tracker cannot be built (an unknown user), nothing
// changes.
func (d *Director) syncTrackers(ctx context.Context, cfg *conf.Config) (diff []string, err error) {
	if d.track.trackers == nil {
		d.track = trackerSet{trackers: vrrp.NewTrackers(d.log), cfgs: map[string]any{}}
	}
	ts := &d.track
	want := d.trackerSpecs(cfg)
	label := func(name, block string) string {
		_, n, _ := strings.Cut(name, ":")
		return fmt.Sprintf("%s %q", block, n)
	}
	names := make([]string, 0, len(want))
	for n := range want {
		names = append(names, n)
	}
	slices.Sort(names)
	built := map[string]vrrp.Tracker{}
	for _, name := range names {
		spec := want[name]
		if old, running := ts.cfgs[name]; running && reflect.DeepEqual(old, spec.cfg) {
			continue
		}
		tr, err := spec.build()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", label(name, spec.block), err)
		}
		built[name] = tr
	}
	for name, old := range ts.cfgs {
		if _, ok := want[name]; !ok {
			ts.trackers.Stop(name)
			delete(ts.cfgs, name)
			diff = append(diff, "- "+label(name, blockOf(old)))
		}
	}
	for _, name := range names {
		tr, ok := built[name]
		if !ok {
			continue
		}
		spec := want[name]
		_, running := ts.cfgs[name]
		ts.trackers.Start(ctx, name, spec.kind, tr)
		ts.cfgs[name] = spec.cfg
		if running {
			diff = append(diff, "~ "+label(name, spec.block)+" (restarted)")
		} else if d.cur != nil { // not at Start
			diff = append(diff, "+ "+label(name, spec.block))
		}
	}
	return diff, nil
}

func blockOf(cfg any) string {
	switch cfg.(type) {
	case vrrp.ScriptConfig:
		return "vrrp_script"
	case vrrp.ProcessConfig:
		return "track_process"
	}
	return "track_file"
}

// trackerSet is the director's running trackers and the configuration each runs with.
type trackerSet struct {
	trackers *vrrp.Trackers
	cfgs     map[string]any
}

// attach and detach connect an instance to the trackers (before it runs, after it
// stops).
func (t *trackerSet) attach(in *vrrp.Instance) {
	if t.trackers != nil {
		t.trackers.Attach(in)
	}
}

func (t *trackerSet) detach(in *vrrp.Instance) {
	if t.trackers != nil {
		t.trackers.Detach(in)
	}
}

// stop stops every tracker (the director stops).
func (t *trackerSet) stop() {
	if t.trackers != nil {
		t.trackers.Close()
	}
}

// trackedStatus names a track for /status: its kind and the name in the configuration.
func trackedStatus(t vrrp.Track) (kind, name string) {
	switch t.Kind {
	case vrrp.TrackExternal:
		return "virtual_server", strings.TrimPrefix(t.Name, trackVSName(""))
	case vrrp.TrackScript:
		return "script", strings.TrimPrefix(t.Name, trackScriptPrefix)
	case vrrp.TrackProcess:
		return "process", strings.TrimPrefix(t.Name, trackProcessPrefix)
	case vrrp.TrackFile:
		return "file", strings.TrimPrefix(t.Name, trackFilePrefix)
	}
	return "interface", t.Name
}
