package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"syscall"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
	"github.com/hashicorp/hcl/v2"
	"golang.org/x/sys/unix"

	"github.com/vigil-lb/vigil/conf"
	"github.com/vigil-lb/vigil/internal/api"
	"github.com/vigil-lb/vigil/internal/director"
	"github.com/vigil-lb/vigil/internal/metrics"
	"github.com/vigil-lb/vigil/internal/state"
	"github.com/vigil-lb/vigil/vrrp"
)

const defaultConfigPath = "/etc/vigil/vigil.hcl"

// realtimePriority is the SCHED_RR priority vigil runs at when it runs VRRP, as
// keepalived's vrrp_rt_priority, bounded by vrrp.RealtimeGuard (RLIMIT_RTTIME,
// SCHED_RESET_ON_FORK) rather than by the kernel's RT throttling alone.
const realtimePriority = 10

// cmdRun is the daemon: it programs the table, runs the checks and VRRP, serves the API,
// reloads on SIGHUP and stops on SIGTERM/SIGINT (a second signal ends the VRRP handover and exits).
func cmdRun(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("vigil run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("f", defaultConfigPath, "configuration `file`, or a directory of *.hcl files (conf.d)")
	pidFile := fs.String("pid-file", "", "write the process ID to this `file` (for vigil reload)")
	removeOnStop := fs.Bool("remove-on-shutdown", false, "delete vigil's virtual servers from the table when stopping (default: leave IPVS in place so connections survive a restart)")
	noRealtime := fs.Bool("no-realtime", false, "do not run at SCHED_RR priority 10 when VRRP instances are configured")
	limits := configLimits(fs)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: vigil run [-f FILE] [--pid-file FILE] [--remove-on-shutdown] [--no-realtime] [--max-config-size 16MiB]\n\n"+
			"Run the director: program the virtual servers, health-check the real servers, run\n"+
			"VRRP and serve /metrics, /status and /healthz on global.listen.\n"+
			"SIGHUP reloads the configuration; SIGTERM or SIGINT stops (a second one ends the VRRP handover and exits).\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return code
	}
	path, err := filepath.Abs(*file)
	if err != nil {
		fmt.Fprintf(stderr, "vigil run: %v\n", err)
		return 1
	}
	// One Loader for the start and every reload: a reload parses again only the files
	// whose content changed (a conf.d directory, includes).
	loader := &conf.Loader{Limits: limits()}
	cfg, sources, diags := loader.Load(path)
	if diags.HasErrors() {
		conf.WriteDiagnostics(stderr, diags, sources)
		fmt.Fprintf(stderr, "vigil run: %s: %d error(s); nothing was changed\n", path, len(diags.Errs()))
		return 1
	}

	level := new(slog.LevelVar)
	level.Set(cfg.Global.LogLevel.SlogLevel())
	log := newLogger(stderr, cfg.Global.LogFormat, level)
	for _, w := range cfg.Warnings() {
		log.Warn("configuration: "+w.Summary, "detail", w.Detail, "at", rangeString(w.Subject))
	}

	if len(cfg.VRRPInstances) > 0 && !*noRealtime {
		// A starved director misses its adverts and its peer takes over for nothing
		// (keepalived #2066, #1955, #2271). Measured here: 42 spurious failovers in 5
		// minutes of CPU starvation at default priority, 0 at SCHED_RR 10 (docs/benchmarks.md).
		// Guarded (vrrp.RealtimeGuard): a thread that runs 250 ms at SCHED_RR without
		// sleeping puts the process back to SCHED_OTHER for 30 s, and children start at
		// SCHED_OTHER, so that nothing vigil runs can starve the kernel's own threads
		// (a CI VM hung with RCU stalls and softirqs dead while vigil ran at SCHED_RR).
		g := &vrrp.RealtimeGuard{Priority: realtimePriority, Logger: log}
		if err := g.Start(context.Background()); err != nil {
			log.Warn("cannot run at real-time priority; VRRP may fail over spuriously when the CPU is starved",
				"err", err, "fix", "run as root, grant CAP_SYS_NICE or LimitRTPRIO=10 (systemd), or pass --no-realtime")
		} else {
			log.Info("VRRP timing protected: running at SCHED_RR", "priority", realtimePriority)
		}
	}

	d := &runner{path: path, limits: limits(), loader: loader, log: log, level: level, removeOnStop: *removeOnStop || cfg.Global.RemoveOnShutdown}
	if err := d.run(cfg, *pidFile); err != nil {
		log.Error("vigil stopped", "err", err)
		return 1
	}
	return 0
}

type runner struct {
	path         string
	limits       conf.Limits
	loader       *conf.Loader
	log          *slog.Logger
	level        *slog.LevelVar
	removeOnStop bool
	format       conf.LogFormat
	// started is the global block vigil started with: the control socket and the state
	// directory change only at the next start.
	started conf.Global
	// autoUserspace: dataplane auto found no kernel IPVS at start; a reload must stay
	// servable by the userspace proxy (userspaceCanServe).
	autoUserspace bool
}

func (d *runner) run(cfg *conf.Config, pidFile string) error {
	d.format = cfg.Global.LogFormat
	d.started = cfg.Global
	table, dataplane, err := openTable(cfg, d.log, openKernelTable)
	if err != nil {
		return err
	}
	defer table.Close()
	d.autoUserspace = dataplane == "userspace" && cfg.Global.Dataplane == conf.DataplaneAuto

	if pidFile != "" {
		if err := os.WriteFile(pidFile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
			return fmt.Errorf("write pid file: %w", err)
		}
		defer os.Remove(pidFile)
	}

	var m *metrics.Metrics
	dir := director.New(director.Options{
		Logger:     d.log,
		Table:      table,
		Dataplane:  dataplane,
		Version:    version,
		ConfigPath: d.path,
		Observer: func(vs, rs, kind string, took time.Duration, ok bool) {
			if m != nil {
				m.ObserveCheck(vs, rs, kind, took, ok)
			}
		},
		StateFile: d.stateFile(cfg),
		Loader:    d.loader,
	})
	m = metrics.New(dir, metrics.BuildInfo{Version: version, Revision: revision()})

	// Signals first: a SIGTERM during start-up must still stop cleanly.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	apiDone := make(chan error, 1)
	if cfg.Global.Listen.IsValid() {
		h := api.New(dir, m, d.log)
		go func() { apiDone <- api.Serve(ctx, cfg.Global.Listen.String(), h, d.log) }()
	} else {
		d.log.Info("API disabled (global.listen is empty)")
	}

	if err := dir.Start(ctx, cfg); err != nil {
		return fmt.Errorf("start: %w", err)
	}
	debug.FreeOSMemory() // what parsing the file took, as after every reload
	controlDone := d.serveControl(ctx, cfg, dir)
	d.log.Info("vigil running", "version", version, "config", d.path, "dataplane", dataplane,
		"virtual_servers", len(cfg.VirtualServers), "vrrp_instances", len(cfg.VRRPInstances))
	daemon.SdNotify(false, daemon.SdNotifyReady)

	for {
		select {
		case err := <-apiDone:
			if err != nil {
				d.log.Error("API server failed; the director keeps running", "err", err)
			}
			apiDone = nil
		case err, ok := <-controlDone:
			if ok && err != nil {
				d.log.Error("control socket failed; the director keeps running", "err", err)
			}
			controlDone = nil
		case sig := <-sigs:
			if sig == syscall.SIGHUP {
				d.reload(ctx, dir)
				continue
			}
			d.log.Info("stopping", "signal", sig.String(), "remove_ipvs", d.removeOnStop)
			daemon.SdNotify(false, daemon.SdNotifyStopping)
			stopped := make(chan struct{})
			stopCtx, stopCancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer stopCancel()
			go func() {
				dir.Stop(stopCtx, d.removeOnStop)
				close(stopped)
			}()
			select {
			case <-stopped:
			case sig := <-sigs:
				// Do not leave the virtual addresses behind: a host that keeps answering ARP
				// for them after the peer took over splits the clients between two MACs.
				d.log.Warn("second signal: releasing the virtual addresses and exiting", "signal", sig.String())
				stopCancel()
				select {
				case <-stopped:
				case <-time.After(3 * time.Second):
				}
				os.Exit(1)
			}
			cancel()
			return nil
		}
	}
}

// stateFile is the state file of cfg's state_dir, the directory made if it is missing
// ("" when state_dir is empty: the administrative states live in memory only).
func (d *runner) stateFile(cfg *conf.Config) string {
	dir := cfg.Global.StateDir
	if dir == "" {
		d.log.Info("no state file (global.state_dir is empty): administrative states are lost at a restart")
		return ""
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		d.log.Warn("cannot make the state directory; administrative states may not survive a restart", "state_dir", dir, "err", err)
	}
	return state.Path(dir)
}

// reload reads, validates and applies the file again (director.ReloadFile); on any error
// in the file nothing changes.
func (d *runner) reload(ctx context.Context, dir *director.Director) {
	daemon.SdNotify(false, daemon.SdNotifyReloading+"\nMONOTONIC_USEC="+strconv.FormatInt(monotonicMicros(), 10))
	defer daemon.SdNotify(false, daemon.SdNotifyReady)
	// Parsing a large or hostile file takes memory the daemon will not need again: give it
	// back now rather than when the scavenger gets to it (docs/benchmarks.md, issue 14).
	defer debug.FreeOSMemory()
	d.log.Info("reloading", "config", d.path)
	// Both kinds of failure are logged (and shown in /status) by the director.
	cfg, _ := dir.ReloadFile(ctx, d.path, d.limits)
	if cfg == nil {
		return // rejected: nothing changed
	}
	if err := d.reloadDataplaneError(cfg); err != nil {
		d.log.Error("reload rejected; everything keeps running as it was", "err", err)
		dir.ReloadFailed(err)
		return
	}
	if cfg.Global.LogFormat != d.format {
		d.log.Warn("log_format changes take effect at the next start", "running", d.format, "configured", cfg.Global.LogFormat)
	}
	if g := cfg.Global; g.ControlSocket != d.started.ControlSocket || g.StateDir != d.started.StateDir {
		d.log.Warn("control_socket and state_dir changes take effect at the next start",
			"running_control_socket", d.started.ControlSocket, "running_state_dir", d.started.StateDir,
			"configured_control_socket", g.ControlSocket, "configured_state_dir", g.StateDir)
	}
	d.level.Set(cfg.Global.LogLevel.SlogLevel())
}

func newLogger(w io.Writer, format conf.LogFormat, level *slog.LevelVar) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if format == conf.LogJSON {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// monotonicMicros is CLOCK_MONOTONIC in microseconds, which systemd wants beside RELOADING=1.
func monotonicMicros() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0
	}
	return ts.Nano() / 1e3
}

// rangeString renders a diagnostic's location as file:line:col.
func rangeString(r *hcl.Range) string {
	if r == nil {
		return ""
	}
	return fmt.Sprintf("%s:%d:%d", r.Filename, r.Start.Line, r.Start.Column)
}
