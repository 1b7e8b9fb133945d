package cmd

import (
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/okvault/okv/vault"
)

// Terminal is the user's terminal, for prompts and for deciding whether a
// stream is one. Prompts use the controlling terminal (/dev/tty), not
// stdin, so `okv set < file` and prompts never mix.
type Terminal interface {
	// IsTerminal reports whether f (os.Stdin, os.Stdout…) is a terminal.
	IsTerminal(f any) bool
	// Open opens the controlling terminal, or fails with vault.ErrNoTerminal.
	Open() (io.ReadWriteCloser, error)
}

type osTerminal struct{}

func (osTerminal) IsTerminal(f any) bool {
	file, ok := f.(*os.File)
	return ok && term.IsTerminal(int(file.Fd()))
}

func (osTerminal) Open() (io.ReadWriteCloser, error) {
	return openTTY()
}

// readHidden prompts on the terminal and reads a line with echo off.
func (a *App) readHidden(prompt string) ([]byte, error) {
	tty, err := a.Terminal.Open()
	if err != nil {
		return nil, vault.ErrNoTerminal
	}
	defer tty.Close()
	b, err := readNoEcho(tty, prompt)
	fmt.Fprintln(tty)
	if err != nil {
		return nil, err
	}
	return b, nil
}

// confirm asks a yes/no question on the terminal; no terminal means no.
func (a *App) confirm(question string) (bool, error) {
	tty, err := a.Terminal.Open()
	if err != nil {
		return false, vault.ErrNoTerminal
	}
	defer tty.Close()
	fmt.Fprintf(tty, "%s [y/N] ", question)
	line, err := readLine(tty)
	if err != nil {
		return false, err
	}
	ans := strings.ToLower(strings.TrimSpace(string(line)))
	return ans == "y" || ans == "yes", nil
}

func readLine(r io.Reader) ([]byte, error) {
	var out []byte
	buf := make([]byte, 1)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if buf[0] == '\n' {
				return vault.TrimValue(append(out, '\n')), nil
			}
			out = append(out, buf[0])
		}
		if err == io.EOF {
			if len(out) == 0 {
				return nil, io.ErrUnexpectedEOF
			}
			return out, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// ttyPrompter adapts the terminal to vault.Prompter.
type ttyPrompter struct{ a *App }

func (p ttyPrompter) Passphrase(prompt string) ([]byte, error) { return p.a.readHidden(prompt) }
