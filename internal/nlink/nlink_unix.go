//go:build unix

package nlink

import (
	"io/fs"
	"syscall"
)

// Of is how many names fi's file has (its hard links); 1 when fi does not
// say.
func Of(fi fs.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Nlink)
	}
	return 1
}
