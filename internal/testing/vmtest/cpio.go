package vmtest

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
)

// cpioWriter writes the "newc" (SVR4, no CRC) cpio format the kernel unpacks as an
// initramfs (Documentation/driver-api/early-userspace/buffer-format.rst): a 110-byte
// ASCII header, the NUL-terminated name and the data, each padded to 4 bytes.
type cpioWriter struct {
	w    *bufio.Writer
	off  int64
	ino  uint32
	dirs map[string]bool
	err  error
}

func newCPIOWriter(w io.Writer) *cpioWriter {
	return &cpioWriter{w: bufio.NewWriterSize(w, 1<<20), ino: 1, dirs: map[string]bool{"": true, ".": true}}
}

const (
	cpioDir     = 0o040000
	cpioFile    = 0o100000
	cpioSymlink = 0o120000
	cpioCharDev = 0o020000
)

func (c *cpioWriter) write(b []byte) {
	if c.err != nil {
		return
	}
	var n int
	n, c.err = c.w.Write(b)
	c.off += int64(n)
}

func (c *cpioWriter) pad() {
	if r := c.off % 4; r != 0 {
		c.write(make([]byte, 4-r))
	}
}

func (c *cpioWriter) header(name string, mode uint32, size int64, rmajor, rminor uint32) {
	nlink := uint32(1)
	if mode&0o170000 == cpioDir {
		nlink = 2
	}
	h := fmt.Sprintf("070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		c.ino, mode, 0, 0, nlink, 0, size, 0, 0, rmajor, rminor, len(name)+1, 0)
	c.ino++
	c.write([]byte(h))
	c.write([]byte(name + "\x00"))
	c.pad()
}

// clean turns an absolute guest path into the relative form the kernel expects.
func cleanName(p string) string {
	return strings.TrimPrefix(path.Clean("/"+p), "/")
}

// mkdirAll adds the parents of name that were not written yet.
func (c *cpioWriter) mkdirAll(name string) {
	dir := path.Dir(name)
	if c.dirs[dir] {
		return
	}
	c.mkdirAll(dir)
	c.dirs[dir] = true
	c.header(dir, cpioDir|0o755, 0, 0, 0)
}

// Dir adds a directory (and its parents).
func (c *cpioWriter) Dir(name string, perm uint32) {
	name = cleanName(name)
	if c.dirs[name] {
		return
	}
	c.mkdirAll(name)
	c.dirs[name] = true
	c.header(name, cpioDir|perm, 0, 0, 0)
}

// File adds a regular file with size bytes read from r.
func (c *cpioWriter) File(name string, perm uint32, size int64, r io.Reader) {
	name = cleanName(name)
	c.mkdirAll(name)
	c.header(name, cpioFile|perm, size, 0, 0)
	if c.err != nil {
		return
	}
	n, err := io.CopyN(c.w, r, size)
	c.off += n
	if err != nil {
		c.err = fmt.Errorf("write %s into initramfs: %w", name, err)
	}
	c.pad()
}

// Bytes adds a regular file holding data.
func (c *cpioWriter) Bytes(name string, perm uint32, data []byte) {
	c.File(name, perm, int64(len(data)), strings.NewReader(string(data)))
}

// CopyFile adds the host file src (following symlinks) as name.
func (c *cpioWriter) CopyFile(name, src string, perm uint32) {
	f, err := os.Open(src)
	if err != nil {
		if c.err == nil {
			c.err = fmt.Errorf("add %s to initramfs: %w", src, err)
		}
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		if c.err == nil {
			c.err = fmt.Errorf("add %s to initramfs: %w", src, err)
		}
		return
	}
	if perm == 0 {
		perm = uint32(st.Mode().Perm())
	}
	c.File(name, perm, st.Size(), f)
}

// Symlink adds name pointing at target.
func (c *cpioWriter) Symlink(name, target string) {
	name = cleanName(name)
	c.mkdirAll(name)
	c.header(name, cpioSymlink|0o777, int64(len(target)), 0, 0)
	c.write([]byte(target))
	c.pad()
}

// CharDev adds a character device node, e.g. /dev/console, which the kernel opens for
// /init's stdio before any devtmpfs is mounted.
func (c *cpioWriter) CharDev(name string, perm, major, minor uint32) {
	name = cleanName(name)
	c.mkdirAll(name)
	c.header(name, cpioCharDev|perm, 0, major, minor)
}

// Close writes the trailer and flushes; it does not close the underlying writer.
func (c *cpioWriter) Close() error {
	c.header("TRAILER!!!", 0, 0, 0, 0)
	if c.err != nil {
		return c.err
	}
	return c.w.Flush()
}
