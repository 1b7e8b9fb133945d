//go:build unix

package proxy

import "syscall"

// oNoFollow makes open(2) fail on a symbolic link instead of following it
// (O_NONBLOCK too, so a planted FIFO is opened at once, then refused).
const oNoFollow = syscall.O_NOFOLLOW | syscall.O_NONBLOCK
