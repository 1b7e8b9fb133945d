//go:build unix

package shell

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"

	"golang.org/x/sys/unix"
)

// PTYMonitorCommand is the hidden first argument that makes okv run as the
// monitor of a masked child on a pty: okv PTYMonitorCommand PATH ARGV...
const PTYMonitorCommand = "__pty-monitor"

// PTYMonitor is the process between okv and a child on a pty, as sudo's
// monitor is. It leads the pty's session and runs the child in a process
// group of its own in the pty's foreground. A child whose parent is outside
// its session is in an orphaned process group, where the kernel drops the
// SIGTSTP of Ctrl-Z; with the monitor as its parent it stops. The monitor
// mirrors the child: it stops (SIGSTOP) when the child stops, so okv sees
// it and suspends itself; when okv continues it, it continues the child;
// and it ends as the child did, with the same code or of the same signal.
// Signals okv forwards to it go on to the child.
//
// It returns the exit code for okv to exit with.
func PTYMonitor(args []string) int {
	if len(args) < 2 || syscall.Getpid() != mustSid() {
		fmt.Fprintf(os.Stderr, "okv: error: %s is okv's own helper for run --mask\n", PTYMonitorCommand)
		return 2
	}
	NoDump()
	cont := make(chan os.Signal, 1)
	signal.Notify(cont, syscall.SIGCONT)
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, ForwardedSignals...)

	c := &exec.Cmd{Path: args[0], Args: args[1:], Env: os.Environ(),
		Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr,
		SysProcAttr: &syscall.SysProcAttr{Setpgid: true, Foreground: true, Ctty: 0}}
	if err := c.Start(); err != nil {
		code := ExitNotExecutable
		if errors.Is(err, os.ErrNotExist) {
			code = ExitNotFound
		}
		fmt.Fprintf(os.Stderr, "okv: error: %v\n", &StartError{Name: args[1], Code: code, Err: err})
		return code
	}
	pid := c.Process.Pid
	go func() {
		for s := range sigs {
			if s != syscall.SIGWINCH { // the pty sends it to the child
				c.Process.Signal(s)
			}
		}
	}()
	ws, err := waitExit(pid, func() {
		select {
		case <-cont:
		default:
		}
		// SIGSTOP, not SIGTSTP: the monitor's own group is orphaned too.
		syscall.Kill(os.Getpid(), syscall.SIGSTOP)
		<-cont
		syscall.Kill(-pid, syscall.SIGCONT)
	})
	if err != nil {
		return 1
	}
	if ws.Signaled() {
		signal.Stop(sigs)
		DieOf(ws.Signal())
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}

func mustSid() int {
	sid, err := unix.Getsid(0)
	if err != nil {
		return -1
	}
	return sid
}
