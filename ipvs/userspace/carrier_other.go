//go:build !linux

package userspace

import "errors"

// engine is the Linux epoll data path; elsewhere TCP goes through goroutines (tcp.go).
type engine struct{ ringErr error }

func newEngine(bool) (*engine, error) { return nil, errors.ErrUnsupported }

func (e *engine) stop() {}

type loop struct{}

func (s *service) listenTCP(e *engine) error { return errors.ErrUnsupported }

func (s *service) closeListener() {}
