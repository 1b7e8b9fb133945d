//go:build unix

package agent

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/gofrs/flock"
	"golang.org/x/sys/unix"
)

// Supported reports whether the agent runs on this system.
const Supported = true

// ErrNotSupported is returned where the agent does not run.
var ErrNotSupported = errors.New("the okv agent is not available on this system yet")

func checkOwner(fi fs.FileInfo) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if ok && int(st.Uid) != os.Getuid() {
		return fmt.Errorf("owned by uid %d, not by you", st.Uid)
	}
	return nil
}

// Listen creates the socket, 0600 (umask 177 while it is bound; no chmod
// by path afterwards, which would follow a link put in its place).
func Listen(socket string) (*net.UnixListener, error) {
	old := unix.Umask(0o177) // a socket is made 0777 &^ umask: 0600
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: socket, Net: "unix"})
	unix.Umask(old)
	if err != nil {
		return nil, err
	}
	return ln, nil
}

// Ensure returns once an agent answers on dir's socket, starting one when
// none does. Two callers at once
// start one agent: the start is under an flock on the lock file next to the
// socket, and a socket nobody answers on (an agent that was killed) is
// removed first. path is the binary, args its argv (args[0] included), env
// its whole environment. started reports whether this call started it.
func Ensure(dir, path string, args, env []string) (started bool, err error) {
	if err := EnsureDir(dir); err != nil {
		return false, err
	}
	socket := SocketPath(dir)
	if _, err := Call(socket, Request{Op: OpStatus}); err == nil {
		return false, nil
	}
	// O_NOFOLLOW: a planted agent.lock link is not created or locked.
	lk := flock.New(LockPath(dir), flock.SetFlag(os.O_CREATE|os.O_RDWR|unix.O_NOFOLLOW), flock.SetPermissions(0o600))
	if err := lk.Lock(); err != nil {
		return false, fmt.Errorf("locking %s: %w", LockPath(dir), err)
	}
	defer lk.Unlock()
	if _, err := Call(socket, Request{Op: OpStatus}); err == nil {
		return false, nil // another okv unlock started it meanwhile
	}
	if err := os.Remove(socket); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("removing the stale socket %s: %w", socket, err)
	}
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return false, err
	}
	defer null.Close()
	c := &exec.Cmd{Path: path, Args: args}
	c.Env = env
	c.Dir = "/"
	c.Stdin, c.Stdout, c.Stderr = null, null, null
	// Its own session: it survives the shell (and the terminal) that
	// started it, and no signal of the shell's process group reaches it.
	c.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := c.Start(); err != nil {
		return false, fmt.Errorf("starting the okv agent: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- c.Wait() }()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := Call(socket, Request{Op: OpStatus}); err == nil {
			return true, nil
		}
		select {
		case err := <-exited:
			return false, fmt.Errorf("the okv agent exited at start (%v)", err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	return false, errors.New("the okv agent did not start listening within 10s")
}
