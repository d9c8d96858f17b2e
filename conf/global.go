package conf

import (
	"net/netip"
	"path/filepath"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
)

// Defaults of the global block.
const (
	DefaultListen         = "127.0.0.1:9110"
	DefaultResyncInterval = 30 * time.Second
	// DefaultControlSocket is in the systemd unit's RuntimeDirectory=vigil.
	DefaultControlSocket = "/run/vigil/vigil.sock"
	// DefaultStateDir is the systemd unit's StateDirectory=vigil.
	DefaultStateDir = "/var/lib/vigil"
)

var globalSchema = &hcl.BodySchema{
	Attributes: attrSchema("router_id", "listen", "log_level", "log_format", "dataplane",
		"resync_interval", "manage_sysctls", "remove_on_shutdown", "control_socket", "state_dir", "include"),
	Blocks: []hcl.BlockHeaderSchema{{Type: "ipvs_timeouts"}},
}

var timeoutsSchema = &hcl.BodySchema{Attributes: attrSchema("tcp", "tcpfin", "udp")}

func (d *decoder) decodeGlobal(b *hcl.Block, root hcl.Body, opts options) Global {
	g := Global{
		Listen:         netip.MustParseAddrPort(DefaultListen),
		LogLevel:       LogInfo,
		LogFormat:      LogText,
		Dataplane:      DataplaneAuto,
		ResyncInterval: DefaultResyncInterval,
		ManageSysctls:  true,
		ControlSocket:  DefaultControlSocket,
		StateDir:       DefaultStateDir,
	}
	if b == nil {
		g.DeclRange = hcl.Range{Filename: root.MissingItemRange().Filename, Start: hcl.InitialPos, End: hcl.InitialPos}
		g.RouterID = defaultRouterID(opts)
		return g
	}
	g.DeclRange = b.DefRange
	content, diags := b.Body.Content(globalSchema)
	d.diags = append(d.diags, diags...)
	at := content.Attributes

	g.RouterID = defaultRouterID(opts)
	if a := at["router_id"]; a != nil {
		if s, ok := d.nonEmpty(a); ok {
			g.RouterID = s
		}
	}
	if a := at["listen"]; a != nil {
		if s, ok := d.str(a); ok {
			if strings.TrimSpace(s) == "" {
				g.Listen = netip.AddrPort{}
			} else if ip, port, err := parseEndpoint(s); err != nil {
				d.errorf(a.Expr.Range(), "Invalid address", "listen: %s.", err)
			} else if port < 0 {
				d.errorf(a.Expr.Range(), "Missing port", "listen must be \"ip:port\" (IPv6: \"[ip]:port\"), or \"\" to disable the HTTP endpoint.")
			} else {
				g.Listen = netip.AddrPortFrom(ip, uint16(port))
			}
		}
	}
	if a := at["log_level"]; a != nil {
		if v, ok := enum(d, a, []LogLevel{LogDebug, LogInfo, LogWarn, LogError}); ok {
			g.LogLevel = v
		}
	}
	if a := at["log_format"]; a != nil {
		if v, ok := enum(d, a, []LogFormat{LogText, LogJSON}); ok {
			g.LogFormat = v
		}
	}
	if a := at["dataplane"]; a != nil {
		if v, ok := enum(d, a, []Dataplane{DataplaneAuto, DataplaneKernel, DataplaneUserspace}); ok {
			g.Dataplane = v
		}
	}
	if a := at["resync_interval"]; a != nil {
		if v, ok := d.duration(a, time.Second, 24*time.Hour); ok {
			g.ResyncInterval = v
		}
	}
	if a := at["manage_sysctls"]; a != nil {
		if v, ok := d.boolean(a); ok {
			g.ManageSysctls = v
		}
	}
	if a := at["remove_on_shutdown"]; a != nil {
		if v, ok := d.boolean(a); ok {
			g.RemoveOnShutdown = v
		}
	}
	for _, f := range []struct {
		name string
		dst  *string
	}{{"control_socket", &g.ControlSocket}, {"state_dir", &g.StateDir}} {
		if a := at[f.name]; a != nil {
			if s, ok := d.str(a); ok {
				s = strings.TrimSpace(s)
				if s != "" && !filepath.IsAbs(s) {
					d.errorf(a.Expr.Range(), "Relative path", "%s must be an absolute path, or \"\" to turn it off.", f.name)
					continue
				}
				*f.dst = s
			}
		}
	}
	if a := at["include"]; a != nil {
		g.Include = d.includePatterns(a)
	}
	if tb := d.atMostOne(content.Blocks, "ipvs_timeouts"); tb != nil {
		tc, diags := tb.Body.Content(timeoutsSchema)
		d.diags = append(d.diags, diags...)
		// The kernel keeps these in whole seconds (ip_vs_ctl.c set_timeout takes seconds).
		for _, f := range []struct {
			name string
			dst  *time.Duration
		}{{"tcp", &g.IPVSTimeouts.TCP}, {"tcpfin", &g.IPVSTimeouts.TCPFin}, {"udp", &g.IPVSTimeouts.UDP}} {
			name, dst := f.name, f.dst
			if a := tc.Attributes[name]; a != nil {
				if v, ok := d.duration(a, time.Second, 31*24*time.Hour); ok {
					if v%time.Second != 0 {
						d.errorf(a.Expr.Range(), "Invalid duration", "%s must be whole seconds; the kernel keeps IPVS timeouts in seconds.", name)
						continue
					}
					*dst = v
				}
			}
		}
	}
	return g
}

func defaultRouterID(opts options) string {
	if opts.hostname != nil {
		if h, err := opts.hostname(); err == nil && h != "" {
			return h
		}
	}
	return "vigil"
}
