package agent

import (
	"golang.org/x/sys/unix"
)

// Harden makes this process non-dumpable and locks its memory where the
// limits allow. mlockall(MCL_FUTURE) is only used when RLIMIT_MEMLOCK is
// unlimited: under a small limit it would make the Go runtime's later
// allocations fail; then only the pages holding identities are locked.
func Harden() Hardening {
	h := Hardening{Dumpable: -1}
	unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0)
	if d, err := unix.PrctlRetInt(unix.PR_GET_DUMPABLE, 0, 0, 0, 0); err == nil {
		h.Dumpable = d
	}
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_MEMLOCK, &rl); err == nil && rl.Cur == unix.RLIM_INFINITY {
		if err := unix.Mlockall(unix.MCL_CURRENT | unix.MCL_FUTURE); err == nil {
			h.MemoryLocked = "all"
			return h
		}
	}
	h.MemoryLocked = "identities"
	return h
}

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
