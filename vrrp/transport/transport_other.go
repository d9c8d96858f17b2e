//go:build !linux

package transport

import (
	"errors"
	"net/netip"
)

// Conn is unavailable outside Linux.
type Conn struct{}

// Open fails outside Linux.
func Open(cfg Config) (*Conn, error) {
	return nil, errors.New("open VRRP socket on " + cfg.Interface + ": raw VRRP sockets need Linux")
}

func (c *Conn) Source() netip.Addr                      { return netip.Addr{} }
func (c *Conn) Send(msg []byte, dst netip.Addr) error   { return errors.New("not supported") }
func (c *Conn) SendAH(pkt []byte, dst netip.Addr) error { return errors.New("not supported") }
func (c *Conn) Receive() (Packet, error)                { return Packet{}, errors.New("not supported") }
func (c *Conn) Close() error                            { return nil }
