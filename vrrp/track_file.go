package vrrp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"strconv"
	"syscall"
	"time"

	"github.com/vigil-lb/vigil/internal/clock"
	"github.com/vigil-lb/vigil/vrrp/filewatch"
)

// FileConfig is a track_file: the integer in a file, read whenever the file changes.
type FileConfig struct {
	Name, Path string
	// Init, when set, is written to the file at start if the file does not exist
	// (keepalived's init_file), so that the operator finds it to write into.
	Init *int
}

// FilePollInterval is how often the file is read when it cannot be watched.
const FilePollInterval = time.Second

// FileTracker reports the integer in a file (keepalived's track_file): read at start and
// whenever inotify says the file was written and closed, moved or deleted. A missing or
// empty file counts as 0; a number is read as strtol(3) reads it (leading space, a sign,
// 0x for hex, 0 for octal, stopping at the first other character); a number out of the
// int32 range is ignored (the last value stays).
type FileTracker struct {
	cfg   FileConfig
	clock clock.Clock
	log   *slog.Logger
	open  func(path string) (fileWatcher, error)
	poll  time.Duration // FilePollInterval; tests shorten it
}

type fileWatcher interface {
	Run(ctx context.Context, fn func()) error
	Close() error
}

// NewFileTracker checks cfg; clock and log may be nil.
func NewFileTracker(cfg FileConfig, clk clock.Clock, log *slog.Logger) (*FileTracker, error) {
	if cfg.Path == "" {
		return nil, fmt.Errorf("track_file %q: no path", cfg.Name)
	}
	clk = clock.OrSystem(clk)
	if log == nil {
		log = slog.Default()
	}
	return &FileTracker{cfg: cfg, clock: clk, log: log.With("track_file", cfg.Name, "path", cfg.Path),
		open: func(p string) (fileWatcher, error) { return filewatch.Open(p) }, poll: FilePollInterval}, nil
}

// Run reports the value at start and then every change.
func (f *FileTracker) Run(ctx context.Context, report func(TrackReport)) {
	if f.cfg.Init != nil {
		f.initFile(*f.cfg.Init)
	}
	changed := make(chan struct{}, 1)
	failed := make(chan error, 1)
	// Watch first, then read: a write between the two is seen twice, never missed.
	w, err := f.open(f.cfg.Path)
	if err != nil {
		failed <- err
	} else {
		go func() {
			err := w.Run(ctx, func() {
				select {
				case changed <- struct{}{}:
				default:
				}
			})
			if err != nil && ctx.Err() == nil {
				failed <- err
			}
		}()
	}
	var poll clock.Timer
	defer func() {
		if poll != nil {
			poll.Stop()
		}
	}()
	pollC := func() <-chan time.Time {
		if poll == nil {
			return nil
		}
		return poll.C()
	}
	last, known := 0, false
	read := func() {
		v, err := readValue(f.cfg.Path)
		if err != nil {
			f.log.Warn("track file: ignoring its content", "err", err)
			if known {
				return
			}
			v = 0
		}
		if !known || v != last {
			last, known = v, true
			report(TrackReport{Value: v, Reason: "value " + strconv.Itoa(v)})
		}
	}
	read()
	for {
		select {
		case <-ctx.Done():
			return
		case <-changed:
			read()
		case err := <-failed:
			f.log.Warn("cannot watch the track file: reading it every second instead", "err", err)
			poll = f.clock.NewTimer(f.poll)
			read()
		case <-pollC():
			read()
			poll.Reset(f.poll)
		}
	}
}

func (f *FileTracker) initFile(v int) {
	fh, err := os.OpenFile(f.cfg.Path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, fs.ErrExist) {
		return // keepalived's init_file without overwrite: an existing file stays
	}
	if err == nil {
		_, err = fmt.Fprintf(fh, "%d\n", v)
		if cerr := fh.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		f.log.Warn("create the track file with its init value", "init", v, "err", err)
	}
}

// readValue reads the number in path: a missing file is 0. At most 127 bytes are read
// (keepalived reads 127), without blocking on a FIFO.
func readValue(path string) (int, error) {
	fh, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	defer fh.Close()
	buf := make([]byte, 127)
	n, err := io.ReadFull(fh, buf)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return 0, fmt.Errorf("read %s: %w", path, err)
	}
	return parseValue(buf[:n])
}

// parseValue reads a leading integer as strtol(s, NULL, 0) does, within int32.
func parseValue(b []byte) (int, error) {
	i := 0
	for i < len(b) && (b[i] == ' ' || b[i] >= '\t' && b[i] <= '\r') {
		i++
	}
	neg := false
	if i < len(b) && (b[i] == '+' || b[i] == '-') {
		neg = b[i] == '-'
		i++
	}
	base := 10
	switch {
	case i+2 < len(b) && b[i] == '0' && b[i+1]|0x20 == 'x' && digit(b[i+2], 16) >= 0:
		base, i = 16, i+2
	case i < len(b) && b[i] == '0':
		base = 8
	}
	var v int64
	for ; i < len(b); i++ {
		d := digit(b[i], base)
		if d < 0 {
			break
		}
		v = v*int64(base) + int64(d)
		if v > 1<<31 {
			return 0, fmt.Errorf("%q is out of range", b)
		}
	}
	if neg {
		v = -v
	}
	if v > 1<<31-1 || v < -1<<31 {
		return 0, fmt.Errorf("%q is out of range", b)
	}
	return int(v), nil
}

func digit(c byte, base int) int {
	d := -1
	switch {
	case c >= '0' && c <= '9':
		d = int(c - '0')
	case c >= 'a' && c <= 'f':
		d = int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		d = int(c-'A') + 10
	}
	if d >= base {
		return -1
	}
	return d
}
