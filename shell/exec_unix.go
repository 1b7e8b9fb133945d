//go:build unix

package shell

import (
	"errors"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

var forwardedSignals = []os.Signal{
	syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT,
	syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGWINCH,
}

// CanExec reports whether Exec replaces the process on this platform.
const CanExec = true

// Exec replaces okv with the child: the child owns the terminal, signals
// and exit status, and no okv process lingers holding the keys. It returns
// only on failure.
func Exec(args, env []string) error {
	path, err := LookPath(args[0], env)
	if err != nil {
		return err
	}
	return ExecPath(path, args, env)
}

// ExecPath is Exec for a command LookPath has already resolved to path
// (okv run resolves it before auditing): PATH is not searched twice.
func ExecPath(path string, args, env []string) error {
	err := syscall.Exec(path, args, env)
	code := ExitNotExecutable
	if err == syscall.ENOENT {
		code = ExitNotFound
	}
	return &StartError{Name: args[0], Code: code, Err: err}
}

// waitExit waits for the child pid to exit or be killed, calling
// stopped each time it stops instead (WUNTRACED: a Ctrl-Z in its pty).
func waitExit(pid int, stopped func()) (syscall.WaitStatus, error) {
	var ws syscall.WaitStatus
	for {
		_, err := syscall.Wait4(pid, &ws, syscall.WUNTRACED, nil)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil || !ws.Stopped() {
			return ws, err
		}
		stopped()
	}
}

// NoDump marks okv non-dumpable (Linux PR_SET_DUMPABLE 0): no core dump
// and no same-user ptrace of a process that holds keys in memory.
func NoDump() error { return noDump() }

// isTerminalSignal: signals a terminal sends to its whole foreground
// process group.
func isTerminalSignal(s os.Signal) bool {
	return s == syscall.SIGINT || s == syscall.SIGQUIT || s == syscall.SIGWINCH
}

// InForeground reports whether okv belongs to the foreground process group
// of its controlling terminal: then the terminal's Ctrl-C, Ctrl-\ and
// resizes reach a child in that group without okv's help.
func InForeground() bool {
	tty, err := os.Open("/dev/tty")
	if err != nil {
		return false
	}
	defer tty.Close()
	pgrp, err := unix.IoctlGetInt(int(tty.Fd()), unix.TIOCGPGRP)
	return err == nil && pgrp == unix.Getpgrp()
}
