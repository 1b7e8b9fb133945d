//go:build unix

package vault

import "syscall"

// oNoFollow makes open(2) fail on a symbolic link instead of following it.
// O_NONBLOCK as well, so that a FIFO planted where a vault file goes is
// opened without waiting for a writer (and then refused as not a regular
// file); it changes nothing for regular files.
const oNoFollow = syscall.O_NOFOLLOW | syscall.O_NONBLOCK
