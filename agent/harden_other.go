//go:build !linux && !darwin && !freebsd && !openbsd && !netbsd

package agent

// Harden: nothing is available here.
func Harden() Hardening {
	return Hardening{Dumpable: -1, MemoryLocked: "no: not supported on this system"}
}

func lockMem(b []byte)   {}
func unlockMem(b []byte) {}
