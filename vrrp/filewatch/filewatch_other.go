//go:build !linux

package filewatch

import (
	"context"
	"errors"
)

// Watcher is unavailable outside Linux; callers read the file periodically instead.
type Watcher struct{}

// Open fails outside Linux.
func Open(path string) (*Watcher, error) {
	return nil, errors.New("watch " + path + ": inotify needs Linux")
}

// Run fails outside Linux.
func (*Watcher) Run(ctx context.Context, fn func()) error { return errors.New("inotify needs Linux") }

// Close does nothing outside Linux.
func (*Watcher) Close() error { return nil }
