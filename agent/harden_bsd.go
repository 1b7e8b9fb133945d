//go:build darwin || freebsd || openbsd || netbsd

package agent

import "golang.org/x/sys/unix"

// Harden: these systems have no PR_SET_DUMPABLE; the pages holding
// identities are mlocked (RLIMIT_MEMLOCK permitting).
func Harden() Hardening { return Hardening{Dumpable: -1, MemoryLocked: "identities"} }

func lockMem(b []byte) {
	if len(b) > 0 {
		unix.Mlock(b)
	}
}

func unlockMem(b []byte) {
	if len(b) > 0 {
		unix.Munlock(b)
	}
}
