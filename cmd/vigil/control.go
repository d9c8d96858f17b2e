package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"

	"github.com/vigil-lb/vigil/conf"
	"github.com/vigil-lb/vigil/internal/control"
	"github.com/vigil-lb/vigil/internal/director"
)

// The daemon's side of the control socket: what `vigil drain / maint / ready / plan` ask
// and how the director answers.

// adminResult answers an admin request: every real server it selected, and a warning when
// the change stands but the state file could not be written.
type adminResult struct {
	Changes []director.AdminChange `json:"changes"`
	Warning string                 `json:"warning,omitempty"`
}

// planResult answers a plan request: the plan, or the file's diagnostics as `vigil check`
// prints them when it does not load.
type planResult struct {
	Invalid     bool          `json:"invalid,omitempty"`
	Diagnostics string        `json:"diagnostics,omitempty"`
	Plan        director.Plan `json:"plan"`
}

// controlDirector is what the control socket drives.
type controlDirector interface {
	SetAdmin(ctx context.Context, sel string, to director.AdminState, remove bool) ([]director.AdminChange, error)
	Connections(ctx context.Context, sel string) ([]director.RealServerConns, error)
	Plan(ctx context.Context, cfg *conf.Config) (director.Plan, error)
}

// controlHandler serves the requests of the control socket. Every state change is logged
// with who asked (the peer's uid and pid); so is the director's change itself.
func controlHandler(dir controlDirector, lim conf.Limits, log *slog.Logger) control.Handler {
	return func(ctx context.Context, peer control.Peer, req control.Request) (any, error) {
		switch req.Op {
		case "admin":
			to, err := director.ParseAdminState(req.State)
			if err != nil {
				return nil, err
			}
			log.Info("control: administrative state requested", "selector", req.Selector, "state", req.State,
				"remove", req.Remove, "uid", peer.UID, "pid", peer.PID)
			changes, err := dir.SetAdmin(ctx, req.Selector, to, req.Remove)
			if err != nil && len(changes) == 0 {
				return nil, err
			}
			res := adminResult{Changes: changes}
			if err != nil {
				res.Warning = err.Error()
			}
			return res, nil
		case "conns":
			return dir.Connections(ctx, req.Selector)
		case "plan":
			if !filepath.IsAbs(req.Path) {
				return nil, fmt.Errorf("plan: %q is not an absolute path", req.Path)
			}
			cfg, sources, diags := (&conf.Loader{Limits: lim}).Load(req.Path)
			if diags.HasErrors() {
				var b strings.Builder
				conf.WriteDiagnostics(&b, diags, sources)
				fmt.Fprintf(&b, "%s: %d error(s)\n", req.Path, len(diags.Errs()))
				return planResult{Invalid: true, Diagnostics: b.String()}, nil
			}
			p, err := dir.Plan(ctx, cfg)
			if err != nil {
				return nil, err
			}
			return planResult{Plan: p}, nil
		}
		return nil, fmt.Errorf("unknown request %q (admin, conns or plan)", req.Op)
	}
}

// serveControl opens the control socket of cfg and serves it until ctx ends. A socket that
// cannot be opened is logged: the director runs on, without runtime control.
func (d *runner) serveControl(ctx context.Context, cfg *conf.Config, dir controlDirector) <-chan error {
	done := make(chan error, 1)
	path := cfg.Global.ControlSocket
	if path == "" {
		d.log.Info("control socket disabled (global.control_socket is empty): vigil drain, maint, ready and plan cannot reach this vigil")
		close(done)
		return done
	}
	srv, err := control.Listen(path, controlHandler(dir, d.limits, d.log), d.log)
	if err != nil {
		d.log.Error("no control socket: vigil drain, maint, ready and plan cannot reach this vigil; the director runs on", "err", err)
		close(done)
		return done
	}
	d.log.Info("control socket listening", "path", srv.Path())
	go func() {
		if err := srv.Serve(ctx); err != nil && !errors.Is(err, context.Canceled) {
			done <- err
		}
		close(done)
	}()
	return done
}
