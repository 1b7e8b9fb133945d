package agent

// Hardening is what the agent could do to keep its memory to itself.
type Hardening struct {
	// Dumpable is prctl(PR_GET_DUMPABLE) after hardening: 0 means no core
	// dump and no ptrace or /proc/PID/mem for same-uid processes; -1 where
	// the OS has no such flag.
	Dumpable int
	// MemoryLocked: "all" (mlockall), "identities" (mlock of the pages
	// holding identities) or "no: reason".
	MemoryLocked string
}
