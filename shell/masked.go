package shell

import (
	"io"
	"os"
	"time"

	"golang.org/x/term"
)

// Masked describes where a masked child's output goes. When Terminal is
// set (okv's stdin and stdout are a terminal) the child runs on its own
// pseudo-terminal, so colours, line editing and interactive programs keep
// working, and its output passes through the masker on its way to
// Terminal. Otherwise stdout and stderr pass through maskers on pipes: one
// pipe and one masker for both when they are the same file (2>&1), so a
// value split across the two is masked and their order is kept.
type Masked struct {
	Secrets  map[string]string // name -> value to replace by <okv:NAME>
	Terminal *os.File          // okv's terminal (stdout), or nil
	TermIn   *os.File          // okv's terminal input (stdin), with Terminal
}

// maskIdleFlush: how long a masked child may stay quiet on a terminal
// before the Masker flushes what it may show of a held-back tail (see
// Masker.Flush), so prompts show.
const maskIdleFlush = 100 * time.Millisecond

// SuperviseMasked runs c like Supervise, with every vault value it prints
// replaced by <okv:NAME>.
func SuperviseMasked(c *Command, m Masked) (Exit, error) {
	if m.Terminal != nil && m.TermIn != nil && ptySupported {
		return superviseOnPTY(c, m)
	}
	out := outputMasker(c.Stdout, m.Secrets)
	errw := out
	if !SameFile(c.Stdout, c.Stderr) {
		errw = outputMasker(c.Stderr, m.Secrets)
	}
	cc := *c
	// The same *Masker for both: os/exec then gives the child one pipe
	// as fd 1 and fd 2.
	cc.Stdout, cc.Stderr = out, errw
	e, err := Supervise(&cc)
	// Close writes a held-back tail that turned out not to be a secret.
	out.Close()
	errw.Close()
	return e, err
}

// outputMasker masks what goes to w: held back until decided on a pipe or
// a file, flushed early (within Masker.Flush's bound) on a terminal.
func outputMasker(w io.Writer, secrets map[string]string) *Masker {
	m := NewMasker(w, secrets)
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		m.SetIdleFlush(maskIdleFlush)
	}
	return m
}

// SameFile reports whether a and b are open files on the same file (same
// device and inode), as fd 1 and fd 2 are after 2>&1.
func SameFile(a, b io.Writer) bool {
	fa, ok1 := a.(*os.File)
	fb, ok2 := b.(*os.File)
	if !ok1 || !ok2 || fa == nil || fb == nil {
		return false
	}
	if fa == fb {
		return true
	}
	sa, err1 := fa.Stat()
	sb, err2 := fb.Stat()
	return err1 == nil && err2 == nil && os.SameFile(sa, sb)
}
