//go:build unix

package proxy

import (
	"errors"
	"syscall"
)

// processAlive reports whether a process with id pid exists (EPERM: it
// exists, run by another user).
func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
