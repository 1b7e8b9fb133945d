package shell

import (
	"os"
	"time"
)

// Masked describes where a masked child's output goes. When Terminal is
// set (okv's stdin and stdout are a terminal) the child runs on its own
// pseudo-terminal, so colours, line editing and interactive programs keep
// working, and its output passes through the masker on its way to
// Terminal. Otherwise stdout and stderr pass through separate maskers.
type Masked struct {
	Secrets  map[string]string // name -> value to replace by <okv:NAME>
	Terminal *os.File          // okv's terminal (stdout), or nil
	TermIn   *os.File          // okv's terminal input (stdin), with Terminal
}

// maskIdleFlush: how long a masked child may stay quiet before a held-back
// tail (possibly the start of a value) is written anyway, so prompts show.
const maskIdleFlush = 100 * time.Millisecond

// SuperviseMasked runs c like Supervise, with every vault value it prints
// replaced by <okv:NAME>.
func SuperviseMasked(c *Command, m Masked) (int, error) {
	if m.Terminal != nil && m.TermIn != nil && ptySupported {
		return superviseOnPTY(c, m)
	}
	out := NewMasker(c.Stdout, m.Secrets)
	errw := NewMasker(c.Stderr, m.Secrets)
	out.SetIdleFlush(maskIdleFlush)
	errw.SetIdleFlush(maskIdleFlush)
	cc := *c
	cc.Stdout, cc.Stderr = out, errw
	code, err := Supervise(&cc)
	// Close flushes a held-back tail that turned out not to be a secret.
	out.Close()
	errw.Close()
	return code, err
}
