package conf

import (
	"path/filepath"
	"slices"
	"time"

	"github.com/hashicorp/hcl/v2"
)

// Defaults and limits of vrrp_script, track_process and track_file (keepalived's, but
// durations in vigil's units).
const (
	DefaultScriptInterval = time.Second
	DefaultScriptRise     = 1
	DefaultScriptFall     = 1
	MinScriptInterval     = 100 * time.Millisecond
	MaxScriptInterval     = time.Hour
	DefaultProcessQuorum  = 1
	MaxProcessQuorum      = 65535
	MaxProcessDelay       = time.Hour
	DefaultFileWeight     = 1
	// MaxTrackFileWeight bounds track_process and track_file weights, as keepalived does
	// (a file's value x weight of -254 puts the instance in FAULT).
	MaxTrackFileWeight = 254
	// MaxTrackFileInit bounds a track_file's init value (keepalived's sensible range).
	MaxTrackFileInit = 254
)

// VRRPScript is a vrrp_script block: a command run every Interval whose exit status,
// after Rise passes or Fall failures in a row, is the state of the tracks that name it.
type VRRPScript struct {
	Name string `json:"name"`
	// Command is the argv; with Shell, ["/bin/sh", "-c", LINE].
	Command  []string      `json:"command"`
	Shell    bool          `json:"shell"`
	Interval time.Duration `json:"interval"`
	// Timeout ends a run that takes longer: its process group is killed and the run
	// counts as a failure. Default: the interval.
	Timeout time.Duration `json:"timeout"`
	Rise    int           `json:"rise"`
	Fall    int           `json:"fall"`
	// Weight is the default of the track_script blocks that name it.
	Weight int `json:"weight"`
	// User runs the command as "user" or "user:group"; empty: vigil's user.
	User string `json:"user"`

	DeclRange hcl.Range `json:"-"`
}

// TrackProcess is a track_process block: up while at least Quorum processes match.
type TrackProcess struct {
	Name string `json:"name"`
	// Process is the name as ps -o comm shows it (the first 15 bytes of the program's
	// file name), or, with a '/', the command line's first word.
	Process string `json:"process"`
	// Args, when set (not nil), must equal the rest of the command line.
	Args   []string `json:"args"`
	Quorum int      `json:"quorum"`
	// Weight is the default of the track_process blocks that name it.
	Weight int `json:"weight"`
	// Delay is how long a change must last before it counts.
	Delay time.Duration `json:"delay"`

	DeclRange hcl.Range `json:"-"`
}

// TrackFile is a track_file block: the integer in the file times the weight is added to
// the priority.
type TrackFile struct {
	Name string `json:"name"`
	Path string `json:"path"`
	// Weight is the default of the track_file blocks that name it.
	Weight int `json:"weight"`
	// Init, when set, is written to the file at start if it does not exist.
	Init *int `json:"init"`

	DeclRange hcl.Range `json:"-"`
}

// TrackRef is a track_script, track_process or track_file block inside a vrrp_instance
// or a vrrp_sync_group: it names a top-level block, with that block's weight unless it
// sets its own.
type TrackRef struct {
	Name   string `json:"name"`
	Weight int    `json:"weight"`

	weightSet bool
	DeclRange hcl.Range `json:"-"`
}

// Tracking is what a vrrp_instance or vrrp_sync_group tracks by name.
type Tracking struct {
	Scripts   []TrackRef `json:"track_scripts"`
	Processes []TrackRef `json:"track_processes"`
	Files     []TrackRef `json:"track_files"`
}

// Empty reports whether nothing is tracked.
func (t Tracking) Empty() bool { return len(t.Scripts)+len(t.Processes)+len(t.Files) == 0 }

// VRRPScript, TrackProcessNamed and TrackFileNamed return the block called name, or nil.
func (c *Config) VRRPScript(name string) *VRRPScript {
	i := slices.IndexFunc(c.VRRPScripts, func(s *VRRPScript) bool { return s.Name == name })
	if i < 0 {
		return nil
	}
	return c.VRRPScripts[i]
}

func (c *Config) TrackProcessNamed(name string) *TrackProcess {
	i := slices.IndexFunc(c.TrackProcesses, func(p *TrackProcess) bool { return p.Name == name })
	if i < 0 {
		return nil
	}
	return c.TrackProcesses[i]
}

func (c *Config) TrackFileNamed(name string) *TrackFile {
	i := slices.IndexFunc(c.TrackFiles, func(f *TrackFile) bool { return f.Name == name })
	if i < 0 {
		return nil
	}
	return c.TrackFiles[i]
}

var (
	vrrpScriptSchema   = &hcl.BodySchema{Attributes: attrSchema("command", "shell", "interval", "timeout", "rise", "fall", "weight", "user")}
	trackProcessSchema = &hcl.BodySchema{Attributes: attrSchema("process", "args", "quorum", "weight", "delay")}
	trackFileSchema    = &hcl.BodySchema{Attributes: attrSchema("path", "weight", "init")}
	// trackRefBlocks are the blocks vrrp_instance and vrrp_sync_group take to name them.
	trackRefBlocks = []hcl.BlockHeaderSchema{
		{Type: "track_script", LabelNames: []string{"name"}},
		{Type: "track_process", LabelNames: []string{"name"}},
		{Type: "track_file", LabelNames: []string{"name"}},
	}
)

// decodeTrackers reads the top-level vrrp_script, track_process and track_file blocks.
func (d *decoder) decodeTrackers(blocks hcl.Blocks, cfg *Config) {
	for _, typ := range []string{"vrrp_script", "track_process", "track_file"} {
		bs := ofType(blocks, typ)
		d.uniqueNames(bs)
		for _, b := range bs {
			switch typ {
			case "vrrp_script":
				cfg.VRRPScripts = append(cfg.VRRPScripts, d.decodeVRRPScript(b))
			case "track_process":
				cfg.TrackProcesses = append(cfg.TrackProcesses, d.decodeTrackProcess(b))
			case "track_file":
				cfg.TrackFiles = append(cfg.TrackFiles, d.decodeTrackFile(b))
			}
		}
	}
}

func (d *decoder) decodeVRRPScript(b *hcl.Block) *VRRPScript {
	s := &VRRPScript{Name: d.checkName(b), Interval: DefaultScriptInterval, Rise: DefaultScriptRise, Fall: DefaultScriptFall, DeclRange: b.DefRange}
	content, diags := b.Body.Content(vrrpScriptSchema)
	d.diags = append(d.diags, diags...)
	at := content.Attributes
	if a := at["shell"]; a != nil {
		if v, ok := d.boolean(a); ok {
			s.Shell = v
		}
	}
	if a := d.required(at, "command", b, " for a vrrp_script"); a != nil {
		s.Command = d.command(a, s.Shell, `["/usr/bin/pgrep", "-x", "haproxy"]`)
	}
	if a := at["interval"]; a != nil {
		if v, ok := d.duration(a, MinScriptInterval, MaxScriptInterval); ok {
			s.Interval = v
		}
	}
	s.Timeout = s.Interval
	if a := at["timeout"]; a != nil {
		if v, ok := d.duration(a, 10*time.Millisecond, MaxScriptInterval); ok {
			s.Timeout = v
		}
	}
	d.intAttr(at, "rise", 1, 1000, &s.Rise)
	d.intAttr(at, "fall", 1, 1000, &s.Fall)
	d.intAttr(at, "weight", -MaxTrackWeight, MaxTrackWeight, &s.Weight)
	if a := at["user"]; a != nil {
		if v, ok := d.nonEmpty(a); ok {
			s.User = v
		}
	}
	return s
}

func (d *decoder) decodeTrackProcess(b *hcl.Block) *TrackProcess {
	p := &TrackProcess{Name: d.checkName(b), Quorum: DefaultProcessQuorum, DeclRange: b.DefRange}
	content, diags := b.Body.Content(trackProcessSchema)
	d.diags = append(d.diags, diags...)
	at := content.Attributes
	if a := d.required(at, "process", b, " for a track_process"); a != nil {
		if v, ok := d.nonEmpty(a); ok {
			p.Process = v
		}
	}
	if a := at["args"]; a != nil {
		if v, ok := d.strList(a); ok {
			p.Args = v
		}
	}
	d.intAttr(at, "quorum", 1, MaxProcessQuorum, &p.Quorum)
	d.intAttr(at, "weight", -MaxTrackFileWeight, MaxTrackFileWeight, &p.Weight)
	if a := at["delay"]; a != nil {
		if v, ok := d.duration(a, 0, MaxProcessDelay); ok {
			p.Delay = v
		}
	}
	return p
}

func (d *decoder) decodeTrackFile(b *hcl.Block) *TrackFile {
	f := &TrackFile{Name: d.checkName(b), Weight: DefaultFileWeight, DeclRange: b.DefRange}
	content, diags := b.Body.Content(trackFileSchema)
	d.diags = append(d.diags, diags...)
	at := content.Attributes
	if a := d.required(at, "path", b, " for a track_file"); a != nil {
		if v, ok := d.nonEmpty(a); ok {
			if !filepath.IsAbs(v) {
				d.errorf(a.Expr.Range(), "Relative path", "path must be absolute (it is watched from vigil's working directory, /): not %q.", v)
			} else {
				f.Path = filepath.Clean(v)
			}
		}
	}
	d.intAttr(at, "weight", -MaxTrackFileWeight, MaxTrackFileWeight, &f.Weight)
	if a := at["init"]; a != nil {
		if n, ok := d.integer(a, -MaxTrackFileInit, MaxTrackFileInit); ok {
			v := int(n)
			f.Init = &v
		}
	}
	return f
}

// decodeTracking reads the track_script, track_process and track_file blocks of a
// vrrp_instance or vrrp_sync_group; the names are resolved by checkTracking.
func (d *decoder) decodeTracking(blocks hcl.Blocks) Tracking {
	var t Tracking
	for _, f := range []struct {
		typ    string
		dst    *[]TrackRef
		maxAbs int64
	}{{"track_script", &t.Scripts, MaxTrackWeight}, {"track_process", &t.Processes, MaxTrackFileWeight}, {"track_file", &t.Files, MaxTrackFileWeight}} {
		bs := ofType(blocks, f.typ)
		d.uniqueNames(bs)
		for _, b := range bs {
			ref := TrackRef{Name: b.Labels[0], DeclRange: b.DefRange}
			content, diags := b.Body.Content(trackSchema)
			d.diags = append(d.diags, diags...)
			if a := content.Attributes["weight"]; a != nil {
				if n, ok := d.integer(a, -f.maxAbs, f.maxAbs); ok {
					ref.Weight, ref.weightSet = int(n), true
				}
			}
			*f.dst = append(*f.dst, ref)
		}
	}
	return t
}

// checkTracking resolves the names tracked by instances and sync groups: each names a
// block of its kind (with a "did you mean"), takes its weight unless it sets one, and is
// tracked by an instance or by its sync group, not both.
func (d *decoder) checkTracking(cfg *Config) {
	names := func(n int, name func(int) string) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = name(i)
		}
		return out
	}
	scripts := names(len(cfg.VRRPScripts), func(i int) string { return cfg.VRRPScripts[i].Name })
	procs := names(len(cfg.TrackProcesses), func(i int) string { return cfg.TrackProcesses[i].Name })
	files := names(len(cfg.TrackFiles), func(i int) string { return cfg.TrackFiles[i].Name })
	resolve := func(t *Tracking) {
		for _, k := range []struct {
			refs   []TrackRef
			kind   string
			known  []string
			weight func(string) (int, bool)
		}{
			{t.Scripts, "vrrp_script", scripts, func(n string) (int, bool) {
				s := cfg.VRRPScript(n)
				return ifNotNil(s, func() int { return s.Weight })
			}},
			{t.Processes, "track_process", procs, func(n string) (int, bool) {
				p := cfg.TrackProcessNamed(n)
				return ifNotNil(p, func() int { return p.Weight })
			}},
			{t.Files, "track_file", files, func(n string) (int, bool) {
				f := cfg.TrackFileNamed(n)
				return ifNotNil(f, func() int { return f.Weight })
			}},
		} {
			for i := range k.refs {
				r := &k.refs[i]
				w, ok := k.weight(r.Name)
				if !ok {
					d.errorf(r.DeclRange, "Unknown "+k.kind, "%q names no %s block.%s", r.Name, k.kind, didYouMean(r.Name, k.known))
					continue
				}
				if !r.weightSet {
					r.Weight = w
				}
			}
		}
	}
	for _, vi := range cfg.VRRPInstances {
		resolve(&vi.Tracking)
	}
	for _, sg := range cfg.SyncGroups {
		resolve(&sg.Tracking)
		for _, n := range sg.Instances {
			vi := cfg.VRRPInstance(n)
			if vi == nil {
				continue
			}
			for _, k := range []struct {
				kind       string
				group, own []TrackRef
			}{{"track_script", sg.Tracking.Scripts, vi.Tracking.Scripts}, {"track_process", sg.Tracking.Processes, vi.Tracking.Processes}, {"track_file", sg.Tracking.Files, vi.Tracking.Files}} {
				for _, r := range k.own {
					if slices.ContainsFunc(k.group, func(g TrackRef) bool { return g.Name == r.Name }) {
						d.errorf(r.DeclRange, "Tracked twice",
							"vrrp_instance %q tracks %s %q, and so does its vrrp_sync_group %q, which applies it to every member: track it in one place.", vi.Name, k.kind, r.Name, sg.Name)
					}
				}
			}
		}
	}
}

func ifNotNil[T any](p *T, f func() int) (int, bool) {
	if p == nil {
		return 0, false
	}
	return f(), true
}

// trackingWarnings: tracking blocks nothing uses, and weights in sync groups.
func (c *Config) trackingWarnings(warn func(rng hcl.Range, summary, format string, args ...any)) {
	used := map[string]bool{}
	all := []Tracking{}
	for _, vi := range c.VRRPInstances {
		all = append(all, vi.Tracking)
	}
	for _, sg := range c.SyncGroups {
		all = append(all, sg.Tracking)
	}
	for _, t := range all {
		for _, r := range t.Scripts {
			used["vrrp_script."+r.Name] = true
		}
		for _, r := range t.Processes {
			used["track_process."+r.Name] = true
		}
		for _, r := range t.Files {
			used["track_file."+r.Name] = true
		}
	}
	unused := func(kind, name string, rng hcl.Range) {
		if !used[kind+"."+name] {
			warn(rng, "Not tracked", "%s %q is tracked by no vrrp_instance or vrrp_sync_group, so it does not run.", kind, name)
		}
	}
	for _, s := range c.VRRPScripts {
		unused("vrrp_script", s.Name, s.DeclRange)
	}
	for _, p := range c.TrackProcesses {
		unused("track_process", p.Name, p.DeclRange)
	}
	for _, f := range c.TrackFiles {
		unused("track_file", f.Name, f.DeclRange)
	}
	// keepalived ignores tracking weights inside a sync group (unless
	// sync_group_tracking_weight): members whose priorities do not all cross the
	// peer's together split the group, and it flaps. vigil applies them, and says so.
	for _, sg := range c.SyncGroups {
		refs := slices.Concat(sg.Tracking.Scripts, sg.Tracking.Processes, sg.Tracking.Files)
		for _, n := range sg.Instances {
			if vi := c.VRRPInstance(n); vi != nil {
				refs = slices.Concat(refs, vi.Tracking.Scripts, vi.Tracking.Processes, vi.Tracking.Files)
				for _, t := range vi.TrackInterfaces {
					refs = append(refs, TrackRef{Name: t.Name, Weight: t.Weight, DeclRange: t.DeclRange})
				}
				for _, t := range vi.TrackVirtualServers {
					refs = append(refs, TrackRef{Name: t.Name, Weight: t.Weight, DeclRange: t.DeclRange})
				}
			}
		}
		for _, r := range refs {
			if r.Weight != 0 {
				warn(r.DeclRange, "Weighted tracking in a sync group",
					"%q has weight %d in vrrp_sync_group %q: the group moves together only if every member's priority crosses its peer's at once; use weight = 0 (FAULT for the whole group), as keepalived requires.", r.Name, r.Weight, sg.Name)
			}
		}
	}
}

// intAttr decodes the optional whole-number attribute name in [lo, hi] into dst.
func (d *decoder) intAttr(at hcl.Attributes, name string, lo, hi int64, dst *int) {
	if a := at[name]; a != nil {
		if n, ok := d.integer(a, lo, hi); ok {
			*dst = int(n)
		}
	}
}
