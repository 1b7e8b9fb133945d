//go:build !linux

package shell

// noDump: only Linux has PR_SET_DUMPABLE; elsewhere this is a no-op.
func noDump() error { return nil }
