package director

import (
	"fmt"
	"net/http"
	"sort"

	"github.com/vigil-lb/vigil/checks"
	"github.com/vigil-lb/vigil/conf"
)

// newChecker builds the checker a check block describes, aimed at its target (the real
// server, or connect_address / connect_port).
func newChecker(vs *conf.VirtualServer, rs *conf.RealServer, c *conf.Check) (checks.Checker, error) {
	switch c.Kind {
	case conf.CheckHTTP:
		h := c.HTTP
		cfg := checks.HTTPConfig{
			Method:       h.Method,
			Path:         h.Path,
			Host:         h.Host,
			BodyRegexp:   h.ExpectBody,
			BodyMD5:      h.ExpectDigest,
			MaxBodyBytes: h.MaxBodyBytes,
			SourceAddr:   c.Source,
		}
		if len(h.Headers) > 0 {
			cfg.Headers = http.Header{}
			for k, v := range h.Headers {
				cfg.Headers.Set(k, v)
			}
		}
		for _, r := range h.ExpectStatus {
			cfg.ExpectStatus = append(cfg.ExpectStatus, checks.StatusRange{Lo: r.Min, Hi: r.Max})
		}
		if t := h.TLS; t != nil {
			cfg.TLS = true
			cfg.CAFile, cfg.ServerName = t.CAFile, t.ServerName
			cfg.CertFile, cfg.KeyFile = t.CertFile, t.KeyFile
			cfg.TLSSkipVerify = t.SkipVerify
		}
		return checks.NewHTTP(c.Target, cfg)
	case conf.CheckTCP:
		cfg := checks.TCPConfig{SourceAddr: c.Source, Expect: c.TCP.Expect}
		if c.TCP.Send != "" {
			cfg.Send = []byte(c.TCP.Send)
		}
		return checks.NewTCP(c.Target, cfg)
	case conf.CheckMySQL:
		m := c.MySQL
		cfg := checks.MySQLConfig{
			User:     m.User,
			Password: m.Password.Reveal(),
			Database: m.Database,
			Query:    m.Query,
			Expect:   m.Expect,
		}
		switch m.TLS {
		case conf.MySQLTLSOn:
			cfg.TLS = true
		case conf.MySQLTLSSkipVerify:
			cfg.TLS, cfg.TLSSkipVerify = true, true
		}
		return checks.NewMySQL(c.Target, cfg)
	case conf.CheckExec:
		e := c.Exec
		cfg := checks.ExecConfig{Argv: e.Command, User: e.User, Dynamic: e.DynamicWeight}
		if e.Shell {
			cfg.Argv = e.Command[len(e.Command)-1:]
			cfg.Shell = true
		}
		cfg.Env = checks.TargetEnv(rs.Address, vs.Name, rs.Name)
		keys := make([]string, 0, len(e.Env))
		for k := range e.Env {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			cfg.Env = append(cfg.Env, k+"="+e.Env[k])
		}
		return checks.NewExec(rs.Address, cfg)
	case conf.CheckDNS, conf.CheckUDP, conf.CheckPing, conf.CheckSMTP:
		return newLVSChecker(c)
	}
	return nil, fmt.Errorf("check %q of real server %s: unknown kind", c.Kind, rs.Address)
}
