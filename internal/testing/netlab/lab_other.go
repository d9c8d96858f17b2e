//go:build !linux

package netlab

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"os/exec"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// This file lets tests that use netlab compile elsewhere; New skips them, so none of
// the methods below is ever reached.

const NetnsDir = "/run/netns"

var errNotLinux = errors.New("netlab needs Linux network namespaces")

type Lab struct{}

type Host struct{}

type Bridge struct {
	*Host
	Name string
}

type Iface struct {
	Host  *Host
	Name  string
	Addrs []netip.Prefix
}

// New skips t: network namespaces exist only on Linux.
func New(t testing.TB) *Lab {
	t.Helper()
	t.Skip(errNotLinux.Error())
	return nil
}

func (l *Lab) Tag() string                                         { return "" }
func (l *Lab) Host(name string) *Host                              { panic(errNotLinux) }
func (l *Lab) Bridge(name string) *Bridge                          { panic(errNotLinux) }
func (l *Lab) Link(*Host, string, *Bridge, ...netip.Prefix) *Iface { panic(errNotLinux) }
func (l *Lab) Pair(*Host, string, *Host, string) (*Iface, *Iface)  { panic(errNotLinux) }
func (i *Iface) Link() (netlink.Link, error)                       { return nil, errNotLinux }
func (i *Iface) Addr() netip.Addr                                  { return netip.Addr{} }
func (h *Host) Name() string                                       { return "" }
func (h *Host) Handle() *netlink.Handle                            { return nil }
func (h *Host) NsHandle() netns.NsHandle                           { return netns.None() }
func (h *Host) Path() string                                       { return "" }
func (h *Host) Do(fn func() error) error                           { return errNotLinux }
func (h *Host) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Err = errNotLinux
	return cmd
}
func (h *Host) Listen(network, addr string) (net.Listener, error)         { return nil, errNotLinux }
func (h *Host) ListenPacket(network, addr string) (net.PacketConn, error) { return nil, errNotLinux }
func (h *Host) Dial(context.Context, string, string) (net.Conn, error)    { return nil, errNotLinux }
func (h *Host) HTTPClient() *http.Client                                  { return nil }
func (h *Host) Sysctl(key, value string) error                            { return errNotLinux }
func (h *Host) SysctlGet(key string) (string, error)                      { return "", errNotLinux }
func (h *Host) AddAddr(ifname string, p netip.Prefix) error               { return errNotLinux }
func (h *Host) AddRoute(dst netip.Prefix, gw netip.Addr) error            { return errNotLinux }
func (h *Host) SetLinkUp(ifname string) error                             { return errNotLinux }
func (h *Host) SetLinkDown(ifname string) error                           { return errNotLinux }
