package shell

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
)

// Command is a child to start.
type Command struct {
	Args   []string // Args[0] is resolved with the PATH in Env
	Env    []string
	Dir    string
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer

	// SharesTerminal: the child runs in okv's foreground process group on
	// okv's terminal, so the terminal already sends it Ctrl-C (SIGINT),
	// Ctrl-\ (SIGQUIT) and resizes (SIGWINCH). okv then catches those
	// without forwarding them: a second SIGINT makes many programs (npm,
	// node, Python's asyncio) abandon their cleanup.
	SharesTerminal bool
}

// ForwardedSignals are passed from okv to a supervised child.
var ForwardedSignals = forwardedSignals

// Start starts c and returns the running process. Failures to start are
// *StartError with the shell's code.
func (c *Command) Start() (*exec.Cmd, error) {
	path, err := LookPath(c.Args[0], c.Env)
	if err != nil {
		return nil, err
	}
	cmd := execCommand(path, c)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = c.Stdin, c.Stdout, c.Stderr
	if err := cmd.Start(); err != nil {
		code := ExitNotExecutable
		if errors.Is(err, os.ErrNotExist) {
			code = ExitNotFound
		}
		return nil, &StartError{Name: c.Args[0], Code: code, Err: err}
	}
	return cmd, nil
}

// Exit is how a supervised child ended.
type Exit struct {
	Code   int            // its exit code; 128+N when signal N killed it
	Signal syscall.Signal // the signal that killed it, or 0
}

// Supervise starts c, forwards ForwardedSignals to it until it exits, and
// returns how it ended. okv keeps running, so the caller should already
// have marked itself non-dumpable.
func Supervise(c *Command) (Exit, error) {
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, ForwardedSignals...)
	defer signal.Stop(sigs)
	cmd, err := c.Start()
	if err != nil {
		return Exit{}, err
	}
	done := make(chan struct{})
	go func() {
		for {
			select {
			case s := <-sigs:
				if c.SharesTerminal && isTerminalSignal(s) {
					continue
				}
				cmd.Process.Signal(s)
			case <-done:
				return
			}
		}
	}()
	err = cmd.Wait()
	close(done)
	return ExitCode(cmd.ProcessState, err)
}

// ExitCode turns a finished process's state into an Exit.
func ExitCode(ps *os.ProcessState, err error) (Exit, error) {
	if ps == nil {
		return Exit{}, err
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return Exit{Code: 128 + int(ws.Signal()), Signal: ws.Signal()}, nil
	}
	return Exit{Code: ps.ExitCode()}, nil
}

func execCommand(path string, c *Command) *exec.Cmd {
	return &exec.Cmd{Path: path, Args: c.Args, Env: c.Env, Dir: c.Dir}
}
