//go:build unix

package shell

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
	"golang.org/x/term"
)

const ptySupported = true

// superviseOnPTY runs the child on a new pty, under a monitor (see
// PTYMonitor) that is the pty session's leader: okv's terminal goes raw
// and is copied to the pty, the pty's output goes through the masker to
// okv's terminal, window size changes follow SIGWINCH, and signals sent to
// okv itself are forwarded. Keys typed at the terminal (Ctrl-C, Ctrl-Z)
// reach the child through its own terminal, as they would without okv.
//
// Job control works as sudo's use_pty does it: when Ctrl-Z stops the
// child, the monitor stops too; okv then gives the terminal back in its
// normal mode and stops itself with SIGTSTP, so the shell that started okv
// shows "Stopped" and gets the keyboard. On SIGCONT (fg) okv makes the
// terminal raw again and continues the monitor, which continues the child.
//
// stderr goes to the pty only when it is okv's terminal too; otherwise
// (2>file, 2>/dev/null) it is a pipe through its own masker to where it
// went.
func superviseOnPTY(c *Command, m Masked) (Exit, error) {
	path, err := LookPath(c.Args[0], c.Env)
	if err != nil {
		return Exit{}, err
	}
	self, err := os.Executable()
	if err != nil {
		return Exit{}, &StartError{Name: c.Args[0], Code: ExitNotExecutable, Err: err}
	}
	mon := &exec.Cmd{
		Path: self,
		Args: append([]string{"okv", PTYMonitorCommand, path}, c.Args...),
		Env:  c.Env,
		Dir:  c.Dir,
	}
	var errPipe *os.File
	var errMasker *Masker
	if !SameFile(m.Terminal, c.Stderr) {
		r, w, err := os.Pipe()
		if err != nil {
			return Exit{}, &StartError{Name: c.Args[0], Code: ExitNotExecutable, Err: err}
		}
		defer r.Close()
		mon.Stderr, errPipe = w, r
		errMasker = outputMasker(c.Stderr, m.Secrets)
	}
	// Signals are caught before the monitor starts: one sent to okv once
	// the child runs (a kill -TERM after it is ready) must reach the
	// child, not kill okv by its default action while the child runs on.
	// What arrives before the forwarding loop below waits in sigs.
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, append([]os.Signal{syscall.SIGCONT}, ForwardedSignals...)...)
	defer signal.Stop(sigs)
	size, _ := pty.GetsizeFull(m.TermIn) // the child starts with the right size
	ptmx, err := pty.StartWithAttrs(mon, size, &syscall.SysProcAttr{Setsid: true, Setctty: true})
	if f, ok := mon.Stderr.(*os.File); ok && errPipe != nil {
		f.Close() // the monitor and the child hold the write end
	}
	if err != nil {
		return Exit{}, &StartError{Name: c.Args[0], Code: ExitNotExecutable, Err: err}
	}
	defer ptmx.Close()
	pid := mon.Process.Pid
	defer mon.Process.Release()

	tty := &rawTerminal{fd: int(m.TermIn.Fd())}
	tty.raw()
	defer tty.restore()

	// toMonitor sends s to the monitor until it is reaped: then its pid may
	// be another process's.
	var reaped atomic.Bool
	toMonitor := func(s os.Signal) {
		if !reaped.Load() {
			mon.Process.Signal(s)
		}
	}
	// resume: okv runs again (fg, bg, or a stop that never happened).
	resumed := make(chan struct{}, 1)
	resume := func() {
		tty.raw()
		pty.InheritSize(m.TermIn, ptmx)
		toMonitor(syscall.SIGCONT)
		select {
		case resumed <- struct{}{}:
		default:
		}
	}
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			select {
			case s := <-sigs:
				switch s {
				case syscall.SIGWINCH:
					pty.InheritSize(m.TermIn, ptmx)
				case syscall.SIGCONT:
					resume()
				default:
					toMonitor(s)
				}
			case <-done:
				return
			}
		}
	}()

	// Keyboard to the child. This goroutine may stay blocked reading the
	// terminal after the child exits; okv exits right after.
	go tty.copyKeys(ptmx)

	masker := NewTerminalMasker(m.Terminal, m.Secrets)
	masker.SetIdleFlush(maskIdleFlush)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		// Reading the pty fails with EIO once the child and its
		// descendants have closed it: that is the end of output.
		io.Copy(masker, ptmx)
	}()
	if errPipe != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			io.Copy(errMasker, errPipe)
		}()
	}

	ws, err := waitExit(pid, func() {
		// The child stopped (Ctrl-Z), and the monitor with it: stop okv.
		select {
		case <-resumed:
		default:
		}
		tty.restore()
		syscall.Kill(os.Getpid(), syscall.SIGTSTP)
		select {
		case <-resumed:
		case <-time.After(100 * time.Millisecond):
			// An orphaned process group ignores SIGTSTP: go on.
			resume()
		}
	})
	if err != nil {
		return Exit{}, err
	}
	reaped.Store(true)
	wg.Wait()
	masker.Close()
	if errMasker != nil {
		errMasker.Close()
	}
	if ws.Signaled() {
		return Exit{Code: 128 + int(ws.Signal()), Signal: ws.Signal()}, nil
	}
	return Exit{Code: ws.ExitStatus()}, nil
}

// rawTerminal is okv's terminal, raw while okv is in the foreground.
type rawTerminal struct {
	mu    sync.Mutex
	fd    int
	saved *term.State
}

// raw puts the terminal in raw mode if okv is in its foreground process
// group (a background okv must not change a terminal the shell uses).
func (t *rawTerminal) raw() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.saved != nil {
		return
	}
	if !t.foreground() {
		return
	}
	if st, err := term.MakeRaw(t.fd); err == nil {
		t.saved = st
	}
}

// foreground reports whether okv is in its terminal's foreground process
// group.
func (t *rawTerminal) foreground() bool {
	pgrp, err := unix.IoctlGetInt(t.fd, unix.TIOCGPGRP)
	return err == nil && pgrp == unix.Getpgrp()
}

// copyKeys copies what is typed at the terminal to w while okv is in the
// foreground. In the background (after Ctrl-Z and bg, or started with &)
// it does not read: a read would stop okv with SIGTTIN, and the child with
// it, while the child itself may never read; what is typed then is the
// shell's. It waits in poll, which job control does not stop, and reads
// only when okv is in the foreground.
func (t *rawTerminal) copyKeys(w io.Writer) {
	buf := make([]byte, 4096)
	for {
		fds := []unix.PollFd{{Fd: int32(t.fd), Events: unix.POLLIN}}
		if _, err := unix.Poll(fds, -1); err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return
		}
		if !t.foreground() {
			time.Sleep(50 * time.Millisecond)
			continue
		}
		n, err := unix.Read(t.fd, buf)
		if errors.Is(err, unix.EINTR) || errors.Is(err, unix.EAGAIN) {
			continue
		}
		if n <= 0 || err != nil {
			return // end of input or a hung-up terminal
		}
		if _, err := w.Write(buf[:n]); err != nil {
			return
		}
	}
}

func (t *rawTerminal) restore() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.saved != nil {
		term.Restore(t.fd, t.saved)
		t.saved = nil
	}
}
