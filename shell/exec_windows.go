//go:build windows

package shell

import (
	"errors"
	"os"
)

// Windows has no exec: okv supervises instead. Console control events
// reach every process attached to the console, child included, so only
// os.Interrupt is listened for (to keep okv alive until the child exits).
var forwardedSignals = []os.Signal{os.Interrupt}

// CanExec reports whether Exec replaces the process on this platform.
const CanExec = false

// Exec is not available on Windows; callers check CanExec.
func Exec(args, env []string) error {
	return errors.New("exec is not supported on windows")
}

// ExecPath is not supported on Windows either.
func ExecPath(path string, args, env []string) error { return Exec(args, env) }

// NoDump is a no-op on Windows.
func NoDump() error { return nil }

// isTerminalSignal: a console's Ctrl-C reaches every process attached to
// it, the child included.
func isTerminalSignal(s os.Signal) bool { return s == os.Interrupt }

// InForeground: a console's Ctrl-C reaches every process attached to it.
func InForeground() bool { return true }
