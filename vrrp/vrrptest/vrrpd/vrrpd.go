// Package vrrpd is a minimal VRRP daemon for wire tests and benchmarks: one vrrp.Instance
// from a JSON Config, run inside a network namespace as its own process so that
// kill -9 is real.
//
// A test binary re-executes itself with VRRPD_CONFIG set; its TestMain calls Main first.
// The daemon writes its vrrp.Status as JSON to VRRPD_STATUS every 20 ms and at exit,
// logs to stderr, and shuts down cleanly on SIGTERM or SIGINT. The authentication key
// comes from VRRPD_AUTH_KEY. Lines "track NAME up" /
// "track NAME down" on stdin call SetTracked.
package vrrpd

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vigil-lb/vigil/vrrp"
	"github.com/vigil-lb/vigil/vrrp/advert"
)

// EnvConfig and EnvStatus name the files the daemon reads and writes.
const (
	EnvConfig = "VRRPD_CONFIG"
	EnvStatus = "VRRPD_STATUS"
	EnvNice   = "VRRPD_NICE"
	EnvRT     = "VRRPD_RT_PRIORITY"
	// EnvAuthKey is the password of Config.Auth, which the JSON form leaves out.
	EnvAuthKey = "VRRPD_AUTH_KEY"
)

// MaybeRun runs the daemon and exits if EnvConfig is set; otherwise it returns.
func MaybeRun() {
	path := os.Getenv(EnvConfig)
	if path == "" {
		return
	}
	os.Exit(Main(path, os.Getenv(EnvStatus)))
}

// Main runs the daemon with the config at cfgPath and returns the exit code.
func Main(cfgPath, statusPath string) int {
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	b, err := os.ReadFile(cfgPath)
	if err != nil {
		logger.Error("read config", "err", err)
		return 2
	}
	var cfg vrrp.Config
	if err := json.Unmarshal(b, &cfg); err != nil {
		logger.Error("decode config", "path", cfgPath, "err", err)
		return 2
	}
	if pw := os.Getenv(EnvAuthKey); pw != "" {
		if cfg.Auth.Key, err = advert.NewKey(pw); err != nil {
			logger.Error("authentication key", "env", EnvAuthKey, "err", err)
			return 2
		}
	}
	// VRRPD_NICE runs the daemon ahead of (negative) other processes, to measure what a
	// raised priority buys on a starved CPU; by default it runs at keepalived's nice 0.
	if v := os.Getenv(EnvNice); v != "" {
		n, err := strconv.Atoi(v)
		if err == nil {
			err = vrrp.SetNice(n)
		}
		if err != nil {
			logger.Warn("set scheduling priority", "nice", v, "err", err)
		}
	}
	if v := os.Getenv(EnvRT); v != "" {
		n, err := strconv.Atoi(v)
		if err == nil {
			// As `vigil run` does: guarded (RLIMIT_RTTIME, SCHED_RESET_ON_FORK).
			err = (&vrrp.RealtimeGuard{Priority: n, Logger: logger}).Start(context.Background())
		}
		if err != nil {
			logger.Warn("set real-time priority", "priority", v, "err", err)
		}
	}
	deps, err := vrrp.OpenLinux(cfg, logger)
	if err != nil {
		logger.Error("open", "err", err)
		return 1
	}
	in, err := vrrp.NewInstance(cfg, deps)
	if err != nil {
		logger.Error("new instance", "err", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	go func() {
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) == 3 && f[0] == "track" {
				in.SetTracked(f[1], f[2] == "up")
			}
		}
	}()
	if statusPath != "" {
		go func() {
			for {
				writeStatus(statusPath, in.Status())
				select {
				case <-ctx.Done():
					return
				case <-time.After(20 * time.Millisecond):
				}
			}
		}()
	}
	err = in.Run(ctx)
	if statusPath != "" {
		writeStatus(statusPath, in.Status())
	}
	if err != nil {
		logger.Error("run", "err", err)
		return 1
	}
	return 0
}

func writeStatus(path string, s vrrp.Status) {
	b, err := json.Marshal(s)
	if err != nil {
		fmt.Fprintln(os.Stderr, "encode status:", err)
		return
	}
	tmp := path + ".tmp"
	if os.WriteFile(tmp, b, 0o644) == nil {
		os.Rename(tmp, path)
	}
}
