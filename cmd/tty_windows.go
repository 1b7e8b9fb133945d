//go:build windows

package cmd

import (
	"fmt"
	"io"
	"os"

	"golang.org/x/term"
)

// openTTY opens the console. Reads go to CONIN$, writes to CONOUT$.
func openTTY() (io.ReadWriteCloser, error) {
	in, err := os.OpenFile("CONIN$", os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	out, err := os.OpenFile("CONOUT$", os.O_WRONLY, 0)
	if err != nil {
		in.Close()
		return nil, err
	}
	return console{in, out}, nil
}

type console struct{ in, out *os.File }

func (c console) Read(p []byte) (int, error)  { return c.in.Read(p) }
func (c console) Write(p []byte) (int, error) { return c.out.Write(p) }
func (c console) Close() error                { c.out.Close(); return c.in.Close() }
func (c console) Fd() uintptr                 { return c.in.Fd() }

// readNoEcho reads a line from the console with echo off. The console
// has no bracketed paste to ask for; pasted lines after the first are
// not drained here (Windows consoles keep them for the next reader).
func readNoEcho(tty io.ReadWriter, prompt string, bracketed bool) (value []byte, extra bool, err error) {
	fmt.Fprint(tty, prompt)
	if c, ok := tty.(console); ok {
		b, err := term.ReadPassword(int(c.in.Fd()))
		return b, false, err
	}
	b, err := readLine(tty)
	return b, false, err
}

func interruptSelf() {}

func drainAfterLine(tty io.ReadWriter) bool { return false }
