//go:build !linux

package vip

import (
	"context"
	"errors"
	"net/netip"
)

// Manager is unavailable outside Linux.
type Manager struct{ ifname string }

// New returns a Manager whose calls fail outside Linux.
func New(ifname string) *Manager { return &Manager{ifname: ifname} }

// NewPlaced returns a Manager whose calls fail outside Linux.
func NewPlaced(ifname string, _ map[netip.Addr]Placement) *Manager { return &Manager{ifname: ifname} }

func (m *Manager) Add(context.Context, []netip.Prefix) error {
	return errors.New("add virtual addresses to " + m.ifname + ": needs Linux")
}

func (m *Manager) Remove(context.Context, []netip.Prefix) error {
	return errors.New("remove virtual addresses from " + m.ifname + ": needs Linux")
}

// Close does nothing outside Linux.
func (m *Manager) Close() error { return nil }
