//go:build unix && (!linux || mips || mipsle || mips64 || mips64le)

package shell

import (
	"os/signal"
	"syscall"
)

// setDefaultAction makes sig kill okv the way it kills a program with the
// default action, where the standard library allows it: for SIGHUP, SIGINT
// and SIGTERM the Go runtime's own handler does exactly that once Notify is
// undone. Other signals (SIGUSR1, SIGQUIT …) cannot be reset to SIG_DFL
// without cgo here: okv then exits 128+N.
func setDefaultAction(sig syscall.Signal) bool {
	switch sig {
	case syscall.SIGHUP, syscall.SIGINT, syscall.SIGTERM:
		signal.Reset(sig)
		return true
	}
	return false
}
