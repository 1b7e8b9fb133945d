package cmd

import (
	"bytes"
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

// readHidden prompts on the terminal and reads one line with echo off: a
// passphrase. A multi-line paste is refused (see readHiddenValue).
func (a *App) readHidden(prompt string) ([]byte, error) {
	return a.readHiddenInput(prompt, false)
}

// readHiddenValue prompts on the terminal for a secret value with echo
// off. A bracketed paste is taken whole, newlines included (a PEM key);
// lines that follow the value unbracketed are read to their end and
// refused, so none of them reaches the shell.
func (a *App) readHiddenValue(prompt string) ([]byte, error) {
	return a.readHiddenInput(prompt, true)
}

func (a *App) readHiddenInput(prompt string, multiline bool) ([]byte, error) {
	tty, err := a.Terminal.Open()
	if err != nil {
		return nil, vault.ErrNoTerminal
	}
	defer tty.Close()
	b, extra, err := readNoEcho(tty, prompt, a.Getenv("TERM") != "dumb")
	fmt.Fprintln(tty)
	if err != nil {
		return nil, err
	}
	lines := bytes.Count(b, []byte("\n")) + 1
	if extra || lines > 1 && !multiline {
		wipe(b)
		e := &usageError{msg: "more than one line was pasted or typed at the prompt: nothing was changed",
			hints: []string{"okv read the lines to their end and discarded them: none reached your shell"}}
		if multiline {
			e.hints = append(e.hints, "to store a multi-line value (a PEM key, a JSON file), pipe it: 'okv set NAME < FILE'",
				"or paste it in a terminal with bracketed paste (most do), where okv reads it whole")
		}
		return nil, e
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
	// Lines pasted with the answer must not reach the shell either.
	if drainAfterLine(tty) {
		return false, &usageError{msg: "more than one line was pasted or typed at the question: nothing was done",
			hints: []string{"okv read the lines to their end and discarded them: none reached your shell"}}
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
