//go:build windows

package shell

import "syscall"

// DieOf: Windows has no death by signal; okv exits 128+N instead.
func DieOf(sig syscall.Signal) {}
