package conf

import (
	"cmp"
	"fmt"
	"os"
	"slices"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
)

// Load reads and validates the configuration file at path. The diagnostics hold every
// error found (and no warnings: see Config.Warnings); the Config is nil when there is any
// error.
func Load(path string) (*Config, hcl.Diagnostics) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Cannot read configuration file",
			Detail:   fmt.Sprintf("read %s: %v", path, err),
		}}
	}
	return Parse(src, path)
}

// Parse validates configuration source; filename is used in diagnostics only. env() reads
// the process environment.
func Parse(src []byte, filename string) (*Config, hcl.Diagnostics) {
	return parse(src, filename, options{lookupEnv: os.LookupEnv, hostname: os.Hostname})
}

// options carry what parse takes from the outside world, so tests can pin it.
type options struct {
	lookupEnv func(string) (string, bool)
	hostname  func() (string, error)
}

func parse(src []byte, filename string, opts options) (*Config, hcl.Diagnostics) {
	file, diags := hclsyntax.ParseConfig(src, filename, hcl.InitialPos)
	if diags.HasErrors() {
		return nil, diags
	}
	if body, ok := file.Body.(*hclsyntax.Body); ok {
		if g := guardExpressions(body); g.HasErrors() {
			return nil, append(diags, g...)
		}
	}
	d := &decoder{ctx: &hcl.EvalContext{
		Functions: map[string]function.Function{"env": envFunc(opts.lookupEnv)},
	}}
	d.diags = diags
	cfg := d.decodeRoot(file.Body, opts)
	if body, ok := file.Body.(*hclsyntax.Body); ok {
		explainKeepalivedNames(body, d.diags)
	}
	sortDiagnostics(d.diags)
	if d.diags.HasErrors() {
		return nil, d.diags
	}
	return cfg, d.diags
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
	for _, b := range vsBlocks {
		if vs := d.decodeVirtualServer(b); vs != nil {
			cfg.VirtualServers = append(cfg.VirtualServers, vs)
		}
	}
	d.checkVirtualServerKeys(cfg.VirtualServers)

	viBlocks := ofType(content.Blocks, "vrrp_instance")
	d.uniqueNames(viBlocks)
	for _, b := range viBlocks {
		if vi := d.decodeVRRPInstance(b); vi != nil {
			cfg.VRRPInstances = append(cfg.VRRPInstances, vi)
		}
	}
	d.checkVRRP(cfg)

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
	return cfg
}

// sortDiagnostics orders diagnostics by position so that the output reads like the file.
func sortDiagnostics(diags hcl.Diagnostics) {
	slices.SortStableFunc(diags, func(a, b *hcl.Diagnostic) int {
		switch {
		case a.Subject == nil && b.Subject == nil:
			return 0
		case a.Subject == nil:
			return -1
		case b.Subject == nil:
			return 1
		}
		return cmp.Or(cmp.Compare(a.Subject.Filename, b.Subject.Filename), cmp.Compare(a.Subject.Start.Byte, b.Subject.Start.Byte))
	})
}
