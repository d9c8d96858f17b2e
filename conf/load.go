package conf

import (
	"cmp"
	"os"
	"slices"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
)

// Load reads and validates the configuration file at path within the default Limits.
// The diagnostics hold every error found (and no warnings: see Config.Warnings); the
// Config is nil when there is any error.
func Load(path string) (*Config, hcl.Diagnostics) {
	cfg, _, diags := LoadLimited(path, Limits{})
	return cfg, diags
}

// Parse validates configuration source within the default Limits; filename is used in
// diagnostics only. env() reads the process environment.
func Parse(src []byte, filename string) (*Config, hcl.Diagnostics) {
	return parseLimited(src, filename, Limits{}, defaultOptions())
}

// options carry what parse takes from the outside world, so tests can pin it.
type options struct {
	lookupEnv func(string) (string, bool)
	hostname  func() (string, error)
	// files, when a Loader loads, are its decodes of each file (loader_decode.go).
	files *fileDecodes
}

func defaultOptions() options {
	return options{lookupEnv: os.LookupEnv, hostname: os.Hostname}
}

// parseLimited refuses what exceeds lim before HCL sees it (prescan.go), then parses.
func parseLimited(src []byte, filename string, lim Limits, opts options) (*Config, hcl.Diagnostics) {
	lim = lim.withDefaults()
	if int64(len(src)) > lim.MaxBytes {
		return nil, hcl.Diagnostics{tooLarge(filename, int64(len(src)), lim.MaxBytes)}
	}
	splits, d := prescanSplits(src, filename, lim)
	if d != nil {
		return nil, hcl.Diagnostics{d}
	}
	return parseSplit(src, filename, opts, splits)
}

// LoadGlobal reads only the global block of the file at path, within lim: what a client
// such as `vigil reload -f` needs (the API's address) from a file that may not validate
// as a whole, because it is the broken edit being reloaded, or because the rest needs the
// daemon's environment (an env() password). Past a problem the pre-scan finds, only what
// precedes it is parsed (which the pre-scan has shown safe to parse); a global block that
// is itself broken, or beyond the first problem, is an error.
func LoadGlobal(path string, lim Limits) (Global, hcl.Diagnostics) {
	lim = lim.withDefaults()
	src, d := readBounded(path, lim.MaxBytes)
	if d != nil {
		return Global{}, hcl.Diagnostics{d}
	}
	var problems hcl.Diagnostics
	if d := prescan(src, path, lim); d != nil {
		src, problems = src[:d.Subject.Start.Byte], hcl.Diagnostics{d}
	}
	file, diags := hclsyntax.ParseConfig(src, path, hcl.InitialPos)
	problems = append(problems, diags...)
	content, _, _ := file.Body.PartialContent(rootSchema)
	gb := ofType(content.Blocks, "global")
	if len(gb) == 0 && problems.HasErrors() {
		return Global{}, problems // it may lie beyond the damage
	}
	opts := defaultOptions()
	dec := newDecoder(opts)
	var b *hcl.Block
	if len(gb) > 0 {
		b = gb[0]
		// A block the parser had to abandon ends where the damage begins.
		for _, p := range problems {
			if p.Subject != nil && p.Subject.Start.Byte < b.Body.(*hclsyntax.Body).SrcRange.End.Byte {
				return Global{}, problems
			}
		}
	}
	g := dec.decodeGlobal(b, file.Body, opts)
	if dec.diags.HasErrors() {
		return Global{}, dec.diags
	}
	return g, nil
}

// parse parses src, which must have passed the pre-scan: tests of what lies beyond it
// call it directly.
func parse(src []byte, filename string, opts options) (*Config, hcl.Diagnostics) {
	return parseSplit(src, filename, opts, nil)
}

// parseSplit is parse with the pre-scan's split points, where the file may be parsed in
// pieces (parseChunks).
func parseSplit(src []byte, filename string, opts options, splits []int) (*Config, hcl.Diagnostics) {
	body, diags := parseChunks(src, filename, splits)
	if diags.HasErrors() {
		sortDiagnostics(diags)
		return nil, diags
	}
	return decodeBody(body, diags, opts)
}

// decodeBody decodes and validates a parsed configuration (one file's, or several files'
// put together); diags are the parser's warnings.
func decodeBody(body *hclsyntax.Body, diags hcl.Diagnostics, opts options) (*Config, hcl.Diagnostics) {
	if g := opts.guardOf(body); g.HasErrors() {
		// In file order: the walk takes each body's arguments in a map's order.
		diags = append(diags, g...)
		sortDiagnostics(diags)
		return nil, diags
	}
	d := newDecoder(opts)
	d.diags = diags
	cfg := d.decodeRoot(body, opts)
	sortDiagnostics(d.diags)
	// Finding a name walks the file: only the diagnostics that are printed are explained,
	// or 100,000 unknown attributes would take minutes (issue 14).
	explainKeepalivedNames(body, d.diags[:min(len(d.diags), MaxDiagnostics)])
	if d.diags.HasErrors() {
		return nil, d.diags
	}
	return cfg, d.diags
}

// newDecoder evaluates with the one function a configuration has, env().
func newDecoder(opts options) *decoder {
	return &decoder{ctx: &hcl.EvalContext{
		Functions: map[string]function.Function{"env": envFunc(opts.lookupEnv)},
	}}
}

// envFunc is env("NAME") or env("NAME", "default"). An unset variable without a default is
// an error located at the name argument, so a missing secret never becomes "".
func envFunc(lookup func(string) (string, bool)) function.Function {
	return function.New(&function.Spec{
		Description: "Returns the value of an environment variable, or the default when it is unset.",
		Params:      []function.Parameter{{Name: "name", Type: cty.String}},
		VarParam:    &function.Parameter{Name: "default", Type: cty.String},
		Type:        function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			if len(args) > 2 {
				return cty.NilVal, function.NewArgErrorf(2, "env takes a name and at most one default")
			}
			name := args[0].AsString()
			if name == "" {
				return cty.NilVal, function.NewArgErrorf(0, "the environment variable name must not be empty")
			}
			if v, ok := lookup(name); ok {
				return cty.StringVal(v), nil
			}
			if len(args) == 2 {
				return args[1], nil
			}
			return cty.NilVal, function.NewArgErrorf(0,
				"environment variable %s is not set; set it, or give a default: env(%q, \"...\")", name, name)
		},
	})
}

var rootSchema = &hcl.BodySchema{
	Blocks: []hcl.BlockHeaderSchema{
		{Type: "global"},
		{Type: "virtual_server_group", LabelNames: []string{"name"}},
		{Type: "virtual_server", LabelNames: []string{"name"}},
		{Type: "vrrp_instance", LabelNames: []string{"name"}},
		{Type: "vrrp_sync_group", LabelNames: []string{"name"}},
		{Type: "vrrp_script", LabelNames: []string{"name"}},
		{Type: "track_process", LabelNames: []string{"name"}},
		{Type: "track_file", LabelNames: []string{"name"}},
		{Type: "bgp"},
		{Type: "ipvs_sync"},
	},
}

func (d *decoder) decodeRoot(body hcl.Body, opts options) *Config {
	content, diags := body.Content(rootSchema)
	d.diags = append(d.diags, diags...)
	cfg := &Config{}

	cfg.Global = d.decodeGlobal(d.atMostOne(content.Blocks, "global"), body, opts)

	cfg.VirtualServerGroups = d.decodeGroups(ofType(content.Blocks, "virtual_server_group"))

	vsBlocks := ofType(content.Blocks, "virtual_server")
	d.uniqueNames(vsBlocks)
	cfg.VirtualServers = d.virtualServersOf(vsBlocks, opts)
	d.checkVirtualServerKeys(cfg.VirtualServers)
	d.checkLoops(cfg)

	viBlocks := ofType(content.Blocks, "vrrp_instance")
	d.uniqueNames(viBlocks)
	for _, b := range viBlocks {
		if vi := d.decodeVRRPInstance(b); vi != nil {
			cfg.VRRPInstances = append(cfg.VRRPInstances, vi)
		}
	}
	d.checkVRRP(cfg)
	cfg.IPVSSync = d.decodeActiveSync(d.atMostOne(content.Blocks, "ipvs_sync"))
	d.checkIPVSSync(cfg)

	sgBlocks := ofType(content.Blocks, "vrrp_sync_group")
	d.uniqueNames(sgBlocks)
	for _, b := range sgBlocks {
		if sg := d.decodeSyncGroup(b); sg != nil {
			cfg.SyncGroups = append(cfg.SyncGroups, sg)
		}
	}
	d.checkSyncGroups(cfg)
	d.decodeTrackers(content.Blocks, cfg)
	d.checkTracking(cfg)
	cfg.BGP = d.decodeBGP(d.atMostOne(content.Blocks, "bgp"))
	d.checkAnnounce(cfg)
	if len(vsBlocks) == 0 && len(viBlocks) == 0 {
		d.nothingToRun(body)
	}
	return cfg
}

// nothingToRun refuses a file with neither a virtual_server nor a vrrp_instance: it is
// an empty file or a cut-off one far more often than a wish to run nothing, and loading
// it on a reload would delete every virtual server.
func (d *decoder) nothingToRun(body hcl.Body) {
	rng := hcl.Range{Start: hcl.InitialPos, End: hcl.InitialPos}
	if sb, ok := body.(*hclsyntax.Body); ok {
		rng = sb.SrcRange
		rng.End = rng.Start
	}
	d.errorf(rng, "Nothing to run",
		"The file defines no virtual_server and no vrrp_instance. vigil refuses it rather than delete everything it runs: a failed copy or a tool that wrote nothing makes such a file.")
}

// sortDiagnostics orders diagnostics by position so that the output reads like the file.
func sortDiagnostics(diags hcl.Diagnostics) {
	// Sorted on copied keys, with the original index as the last key (stable): a file of
	// 125,000 errors is no longer a third of its check time (SortStableFunc on the
	// pointers took 0.45 s of CPU).
	type key struct {
		noSubject bool
		file      string
		start, i  int
		d         *hcl.Diagnostic
	}
	keys := make([]key, len(diags))
	for i, d := range diags {
		keys[i] = key{noSubject: d.Subject == nil, i: i, d: d}
		if d.Subject != nil {
			keys[i].file, keys[i].start = d.Subject.Filename, d.Subject.Start.Byte
		}
	}
	slices.SortFunc(keys, func(a, b key) int {
		if a.noSubject != b.noSubject {
			if a.noSubject {
				return -1
			}
			return 1
		}
		return cmp.Or(cmp.Compare(a.file, b.file), cmp.Compare(a.start, b.start), cmp.Compare(a.i, b.i))
	})
	for i, k := range keys {
		diags[i] = k.d
	}
}
