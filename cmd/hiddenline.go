package cmd

import (
	"errors"
	"unicode/utf8"

	"github.com/okvault/okv/vault"
)

// Bracketed paste (xterm's DECSET 2004): a terminal that supports it wraps
// pasted text in these markers once the program asks for it, so a prompt
// can tell a paste from typing and read a multi-line paste whole.
const (
	bracketedPasteOn  = "\x1b[?2004h"
	bracketedPasteOff = "\x1b[?2004l"
	pasteStart        = "\x1b[200~"
	pasteEnd          = "\x1b[201~"
)

// errInterrupted: Ctrl-C at a hidden prompt (the terminal's signal keys are
// off while it reads, so that a paste cannot raise them).
var errInterrupted = errors.New("interrupted")

// hiddenLine is the line editor of a hidden prompt, fed the raw bytes of a
// terminal in non-canonical mode. It ends at Enter, or at the end of a
// bracketed paste that ends with a newline (the newline a paste carries
// is the Enter it would have been without bracketed paste). Inside a
// bracketed paste every newline is part of the value. It knows backspace,
// Ctrl-U (erase the line), Ctrl-C (interrupt) and Ctrl-D (end of input on
// an empty line); other control characters and escape sequences (arrow
// keys) are dropped.
type hiddenLine struct {
	buf         []byte
	esc         []byte // an escape sequence being read
	inPaste     bool
	pasted      bool // the value came (partly) from a bracketed paste
	done        bool
	interrupted bool
	eof         bool
	overflow    bool
}

// maxHidden bounds what a prompt keeps: one byte more than a value may
// have, so that ValidateValue refuses an oversized one instead of okv
// storing a truncated one.
const maxHidden = vault.MaxValueSize + 1

// feed consumes p up to the end of the line and returns how many bytes it
// used; the rest is input that followed the line.
func (h *hiddenLine) feed(p []byte) int {
	for i, c := range p {
		if h.done {
			return i
		}
		h.feedByte(c)
	}
	return len(p)
}

func (h *hiddenLine) feedByte(c byte) {
	if len(h.esc) > 0 {
		h.escByte(c)
		return
	}
	switch {
	case c == 0x1b:
		h.esc = append(h.esc[:0], c)
	case h.inPaste:
		if c == '\r' {
			c = '\n'
		}
		if c == '\n' || c == '\t' || c >= 0x20 {
			h.add(c)
		}
	case c == '\r' || c == '\n':
		h.done = true
	case c == 0x03: // Ctrl-C
		h.interrupted, h.done = true, true
	case c == 0x04: // Ctrl-D
		if len(h.buf) == 0 {
			h.eof, h.done = true, true
		}
	case c == 0x7f || c == 0x08: // backspace
		if len(h.buf) > 0 {
			_, n := utf8.DecodeLastRune(h.buf)
			clear(h.buf[len(h.buf)-n:])
			h.buf = h.buf[:len(h.buf)-n]
		}
	case c == 0x15: // Ctrl-U
		clear(h.buf)
		h.buf = h.buf[:0]
	case c == '\t' || c >= 0x20:
		h.add(c)
	}
}

// escByte continues an escape sequence: ESC [ params final. Only the two
// paste markers mean anything; the rest are dropped.
func (h *hiddenLine) escByte(c byte) {
	if len(h.esc) == 1 && c != '[' {
		// ESC then a key (Alt-key): drop the ESC, keep the key.
		h.esc = h.esc[:0]
		h.feedByte(c)
		return
	}
	h.esc = append(h.esc, c)
	if len(h.esc) > 2 && c >= 0x40 && c <= 0x7e || len(h.esc) > 16 {
		switch string(h.esc) {
		case pasteStart:
			h.inPaste, h.pasted = true, true
		case pasteEnd:
			h.inPaste = false
			if len(h.buf) > 0 && h.buf[len(h.buf)-1] == '\n' {
				h.done = true
			}
		}
		h.esc = h.esc[:0]
	}
}

func (h *hiddenLine) add(c byte) {
	if len(h.buf) >= maxHidden {
		h.overflow = true
		return
	}
	h.buf = append(h.buf, c)
}

// value is what was read: one trailing newline removed (a bracketed paste
// of a line copied with its newline).
func (h *hiddenLine) value() []byte {
	return vault.TrimValue(h.buf)
}

// hasText reports whether input that followed a line holds text (what a
// shell would run), not only control keys and blanks (a second Enter, a
// Ctrl-D).
func hasText(b []byte) bool {
	for _, c := range b {
		if c > ' ' && c != 0x7f {
			return true
		}
	}
	return false
}
