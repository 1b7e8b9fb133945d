//go:build unix

package shell

import (
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/creack/pty"
	"golang.org/x/term"
)

const ptySupported = true

// superviseOnPTY runs the child on a new pty: okv's terminal goes raw and
// is copied to the pty, the pty's output goes through the masker to okv's
// terminal, window size changes follow SIGWINCH, and signals sent to okv
// itself are forwarded. Keys typed at the terminal (Ctrl-C) reach the
// child through its own terminal, as they would without okv.
func superviseOnPTY(c *Command, m Masked) (int, error) {
	path, err := LookPath(c.Args[0], c.Env)
	if err != nil {
		return 0, err
	}
	cmd := execCommand(path, c)
	ptmx, err := pty.StartWithAttrs(cmd, nil, &syscall.SysProcAttr{Setsid: true, Setctty: true})
	if err != nil {
		return 0, &StartError{Name: c.Args[0], Code: ExitNotExecutable, Err: err}
	}
	defer ptmx.Close()
	pty.InheritSize(m.TermIn, ptmx)

	if st, err := term.MakeRaw(int(m.TermIn.Fd())); err == nil {
		defer term.Restore(int(m.TermIn.Fd()), st)
	}

	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, ForwardedSignals...)
	defer signal.Stop(sigs)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case s := <-sigs:
				if s == syscall.SIGWINCH {
					pty.InheritSize(m.TermIn, ptmx)
					continue
				}
				cmd.Process.Signal(s)
			case <-done:
				return
			}
		}
	}()

	// Keyboard to the child. This goroutine may stay blocked reading the
	// terminal after the child exits; okv exits right after.
	go io.Copy(ptmx, m.TermIn)

	masker := NewMasker(m.Terminal, m.Secrets)
	masker.SetIdleFlush(maskIdleFlush)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		// Reading the pty fails with EIO once the child and its
		// descendants have closed it: that is the end of output.
		io.Copy(masker, ptmx)
	}()
	werr := cmd.Wait()
	wg.Wait()
	masker.Close()
	close(done)
	return ExitCode(cmd.ProcessState, werr)
}
