//go:build unix

package proxy

import (
	"os"
	"syscall"
)

// oNoFollow makes open(2) fail on a symbolic link instead of following it
// (O_NONBLOCK too, so a planted FIFO is opened at once, then refused).
const oNoFollow = syscall.O_NOFOLLOW | syscall.O_NONBLOCK

// linkCount is how many names the file has (its hard links).
func linkCount(fi os.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Nlink)
	}
	return 1
}
