package keepalived

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
)

// FS is what the reader needs of a file system. Names are slash-separated paths as
// keepalived forms them: absolute, or relative to the process's working directory. A name
// may hold ".." after a symbolic link, and must then be resolved as the kernel resolves it
// (keepalived changes directory into each file's directory and opens relative names from
// there), which is what OSFS does.
type FS interface {
	// ReadDir lists a directory, for globs.
	ReadDir(name string) ([]fs.DirEntry, error)
	// Stat describes a file, following symbolic links.
	Stat(name string) (fs.FileInfo, error)
	// ReadFile reads a regular file of at most max bytes (more is an error wrapping
	// ErrTooLarge). id identifies the file itself, whatever name reached it, so that an
	// include loop is seen through symbolic links.
	ReadFile(name string, max int64) (data []byte, id string, err error)
	// Realpath is the absolute, physical name of a directory (getcwd's answer after a
	// chdir into it), for ${_PWD}.
	Realpath(dir string) (string, error)
}

// ErrTooLarge is returned (wrapped) for a file above the size limit.
var ErrTooLarge = errors.New("file too large")

// OSFS is the operating system's file system.
func OSFS() FS { return osFS{} }

type osFS struct{}

func (osFS) ReadDir(name string) ([]fs.DirEntry, error) { return os.ReadDir(name) }
func (osFS) Stat(name string) (fs.FileInfo, error)      { return os.Stat(name) }

func (osFS) Realpath(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	return filepath.EvalSymlinks(abs)
}

// ReadFile opens without blocking (a FIFO with no writer would block a plain open),
// refuses anything but a regular file, and never holds more than max+1 bytes.
func (osFS) ReadFile(name string, max int64) ([]byte, string, error) {
	f, err := os.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, "", err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, "", err
	}
	if err := readable(fi, name, max); err != nil {
		return nil, "", err
	}
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, "", err
	}
	if int64(len(data)) > max {
		return nil, "", fmt.Errorf("%s: more than %d bytes: %w", name, max, ErrTooLarge)
	}
	return data, fileID(fi, name), nil
}

// readable refuses what is not a regular file of at most max bytes.
func readable(fi fs.FileInfo, name string, max int64) error {
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", name)
	}
	if fi.Size() > max {
		return fmt.Errorf("%s: %d bytes: %w", name, fi.Size(), ErrTooLarge)
	}
	return nil
}

// FromFS serves an io/fs file system (fstest.MapFS in tests) under "/": the name "/a/b"
// and, from the working directory "/", "a/b" are its "a/b". Its names hold no symbolic
// links, so ".." is resolved by the letter.
func FromFS(fsys fs.FS) FS { return ioFS{fsys} }

type ioFS struct{ fsys fs.FS }

func (f ioFS) name(n string) string {
	n = path.Clean("/" + n)
	if n == "/" {
		return "."
	}
	return strings.TrimPrefix(n, "/")
}

func (f ioFS) ReadDir(name string) ([]fs.DirEntry, error) { return fs.ReadDir(f.fsys, f.name(name)) }
func (f ioFS) Stat(name string) (fs.FileInfo, error)      { return fs.Stat(f.fsys, f.name(name)) }
func (f ioFS) Realpath(dir string) (string, error)        { return path.Clean("/" + dir), nil }

func (f ioFS) ReadFile(name string, max int64) ([]byte, string, error) {
	n := f.name(name)
	fi, err := fs.Stat(f.fsys, n)
	if err != nil {
		return nil, "", err
	}
	if err := readable(fi, name, max); err != nil {
		return nil, "", err
	}
	data, err := fs.ReadFile(f.fsys, n)
	return data, "/" + n, err
}
