//go:build !linux

package link

import (
	"context"
	"errors"
)

// Watcher is unavailable outside Linux.
type Watcher struct{}

// Watch fails outside Linux.
func (Watcher) Watch(context.Context, []string, func(string, bool)) error {
	return errors.New("watch links: needs Linux")
}
