package checks

import (
	"fmt"
	"io"
	"os"
	"syscall"
)

// maxPEMFile bounds a CA bundle, certificate or key file (the system bundle is about
// 200 KB).
const maxPEMFile = 4 << 20

// readPEMFile reads a TLS file named in the configuration without blocking on it or
// reading without end: checks are built while a reload holds the director, so a path to a
// FIFO or to /dev/zero must fail, not hang it.
func readPEMFile(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxPEMFile+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxPEMFile {
		return nil, fmt.Errorf("%s is larger than %d MiB", path, maxPEMFile>>20)
	}
	return b, nil
}
