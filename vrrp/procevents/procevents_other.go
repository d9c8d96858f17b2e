//go:build !linux

package procevents

// Listener is unavailable outside Linux.
type Listener struct{}

// Listen fails outside Linux.
func Listen() (*Listener, error) { return nil, ErrUnsupported }

// Next fails outside Linux.
func (*Listener) Next() ([]Event, error) { return nil, ErrUnsupported }

// Close does nothing outside Linux.
func (*Listener) Close() error { return nil }
