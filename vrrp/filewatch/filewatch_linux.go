package filewatch

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Watcher watches one file's directory.
type Watcher struct {
	path, dir, name string
	f               *os.File
}

// Open starts watching the directory of path, so that a file that does not exist yet,
// or is replaced by a rename, is seen too. Changes made from then on are reported by Run.
func Open(path string) (*Watcher, error) {
	dir, name := filepath.Split(filepath.Clean(path))
	if dir == "" {
		dir = "."
	}
	if d, err := filepath.EvalSymlinks(dir); err == nil {
		dir = d
	}
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("watch %s: inotify_init1: %w", path, err)
	}
	// A non-blocking descriptor goes to the runtime poller: Read blocks without a thread
	// and Close wakes it.
	f := os.NewFile(uintptr(fd), "inotify")
	if _, err := unix.InotifyAddWatch(fd, dir, unix.IN_CLOSE_WRITE|unix.IN_MOVED_FROM|unix.IN_MOVED_TO|unix.IN_DELETE|unix.IN_ONLYDIR); err != nil {
		f.Close()
		return nil, fmt.Errorf("watch directory %s: %w", dir, err)
	}
	return &Watcher{path: path, dir: dir, name: name, f: f}, nil
}

// Run calls fn each time the file may have changed (written and closed, moved in or
// out, deleted), until ctx ends, and then closes the watcher. It returns an error when
// the directory stops existing.
func (w *Watcher) Run(ctx context.Context, fn func()) error {
	defer w.f.Close()
	stop := context.AfterFunc(ctx, func() { w.f.Close() })
	defer stop()
	buf := make([]byte, 64*(headerLen+unix.NAME_MAX+1))
	for {
		n, err := w.f.Read(buf)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return fmt.Errorf("watch directory %s: %w", w.dir, err)
		}
		evs, perr := parseEvents(buf[:n])
		changed, gone := false, false
		for _, ev := range evs {
			c, g := concerns(ev, w.name)
			changed, gone = changed || c, gone || g
		}
		if changed || perr != nil {
			fn()
		}
		if gone {
			return fmt.Errorf("watch directory %s: it was removed", w.dir)
		}
	}
}

// Close stops watching (when Run is not called).
func (w *Watcher) Close() error { return w.f.Close() }
