//go:build unix

package vault

import (
	"io/fs"
	"os"
	"syscall"
)

// ownedByOther reports whether fi belongs to another user than the one
// running okv.
func ownedByOther(fi fs.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && int(st.Uid) != os.Getuid()
}

// inOwnGroup reports whether fi's group is okv's own primary group: under
// "user private groups" (Debian, Ubuntu, Fedora; umask 002) that group
// holds the user alone, so group-write grants no one else.
func inOwnGroup(fi fs.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && int(st.Gid) == os.Getgid()
}
