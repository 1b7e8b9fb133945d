//go:build linux

package main

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
	"golang.org/x/term"
)

// startOnPty starts c on a new pseudo-terminal as its controlling
// terminal, and keeps the terminal side open in the parent too, so that
// leftOnTerminal can read what c left unread.
func startOnPty(c *exec.Cmd) (ptm, tty *os.File, err error) {
	ptm, tty, err = pty.Open()
	if err != nil {
		return nil, nil, err
	}
	c.Stdin, c.Stdout, c.Stderr = tty, tty, tty
	c.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true}
	if err := c.Start(); err != nil {
		ptm.Close()
		tty.Close()
		return nil, nil, err
	}
	return ptm, tty, nil
}

// leftOnTerminal reports the modes the program left the terminal in and
// what the next reader of the terminal gets: it switches the terminal to
// raw mode (so a partial line is readable too) and reads until it is quiet.
func leftOnTerminal(tty *os.File) (mode string, left []byte) {
	fd := int(tty.Fd())
	mode = "termios unreadable"
	if tio, err := unix.IoctlGetTermios(fd, unix.TCGETS); err == nil {
		mode = fmt.Sprintf("echo=%v icanon=%v isig=%v", tio.Lflag&unix.ECHO != 0, tio.Lflag&unix.ICANON != 0, tio.Lflag&unix.ISIG != 0)
	}
	st, err := term.MakeRaw(fd)
	if err != nil {
		return mode, nil
	}
	defer term.Restore(fd, st)
	if tio, err := unix.IoctlGetTermios(fd, unix.TCGETS); err == nil {
		tio.Cc[unix.VMIN], tio.Cc[unix.VTIME] = 0, 3
		unix.IoctlSetTermios(fd, unix.TCSETS, tio)
	}
	buf := make([]byte, 4096)
	for {
		n, _ := tty.Read(buf)
		if n == 0 {
			return mode, left
		}
		left = append(left, buf[:n]...)
	}
}
