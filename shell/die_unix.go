//go:build unix

package shell

import (
	"os"
	"syscall"
	"time"
)

// DieOf makes okv die of sig, as the child it supervised did, the way sudo
// and `timeout --foreground` do: the shell that started okv then sees a
// death by signal, so `for …; do okv run --proxy …; done` stops on Ctrl-C
// instead of starting the next job. Stop signals are not deaths and are
// ignored. It returns only where sig cannot be made fatal; the caller then
// exits 128+N.
func DieOf(sig syscall.Signal) {
	switch sig {
	case 0, syscall.SIGSTOP, syscall.SIGTSTP, syscall.SIGTTIN, syscall.SIGTTOU, syscall.SIGCONT:
		return
	}
	if sig != syscall.SIGKILL && !setDefaultAction(sig) {
		return
	}
	syscall.Kill(os.Getpid(), sig)
	// The kernel acts on a fatal signal to oneself at once; a signal whose
	// default is to be ignored (SIGCHLD, SIGURG, SIGWINCH) never kills.
	time.Sleep(100 * time.Millisecond)
}
