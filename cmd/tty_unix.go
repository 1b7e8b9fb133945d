//go:build !windows

package cmd

import (
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

func openTTY() (io.ReadWriteCloser, error) { return os.OpenFile("/dev/tty", os.O_RDWR, 0) }

// readNoEcho turns echo off *before* showing the prompt, so text typed or
// pasted the instant the prompt appears is not echoed (term.ReadPassword
// prints nothing itself, so a prompt printed before it races the user).
func readNoEcho(tty io.ReadWriter, prompt string) ([]byte, error) {
	f, ok := tty.(*os.File)
	if !ok {
		fmt.Fprint(tty, prompt)
		return readLine(tty)
	}
	fd := int(f.Fd())
	old, err := unix.IoctlGetTermios(fd, ioctlGetTermios)
	if err != nil {
		fmt.Fprint(tty, prompt)
		return readLine(tty)
	}
	noEcho := *old
	noEcho.Lflag &^= unix.ECHO
	noEcho.Lflag |= unix.ICANON | unix.ISIG
	noEcho.Iflag |= unix.ICRNL
	if err := unix.IoctlSetTermios(fd, ioctlSetTermios, &noEcho); err != nil {
		return nil, err
	}
	defer unix.IoctlSetTermios(fd, ioctlSetTermios, old)
	fmt.Fprint(tty, prompt)
	return readLine(tty)
}
