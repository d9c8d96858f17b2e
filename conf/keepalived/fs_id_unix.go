//go:build unix

package keepalived

import (
	"fmt"
	"io/fs"
	"syscall"
)

// fileID is the device and inode of a file.
func fileID(fi fs.FileInfo, name string) string {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return fmt.Sprintf("%d:%d", st.Dev, st.Ino)
	}
	return name
}
