//go:build windows

package shell

// Windows consoles are not ptys: masked output goes through pipes there.
const ptySupported = false

func superviseOnPTY(c *Command, m Masked) (int, error) {
	m.Terminal = nil
	return SuperviseMasked(c, m)
}
