//go:build !linux

package vrrp

import (
	"errors"
	"log/slog"
)

// OpenLinux fails outside Linux: VRRP needs raw sockets and netlink.
func OpenLinux(cfg Config, logger *slog.Logger) (Deps, error) {
	return Deps{}, errors.New("vrrp instance " + cfg.Name + ": VRRP needs Linux")
}
