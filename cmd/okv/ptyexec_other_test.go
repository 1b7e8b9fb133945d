//go:build !linux

package main

import (
	"os"
	"os/exec"

	"github.com/creack/pty"
)

// startOnPty starts c on a new pseudo-terminal; here the parent does not
// keep the terminal side, so leftOnTerminal has nothing to read.
func startOnPty(c *exec.Cmd) (ptm, tty *os.File, err error) {
	ptm, err = pty.Start(c)
	return ptm, nil, err
}

func leftOnTerminal(tty *os.File) (mode string, left []byte) {
	return "termios unknown", nil
}
