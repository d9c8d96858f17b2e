//go:build !unix

package keepalived

import "io/fs"

// fileID is the file's name where there is no inode.
func fileID(_ fs.FileInfo, name string) string { return name }
