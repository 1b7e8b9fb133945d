//go:build windows

package shell

import (
	"fmt"
	"os"
)

// Windows consoles are not ptys: masked output goes through pipes there.
const ptySupported = false

func superviseOnPTY(c *Command, m Masked) (Exit, error) {
	m.Terminal = nil
	return SuperviseMasked(c, m)
}

// PTYMonitorCommand: see monitor_unix.go; there is no pty monitor here.
const PTYMonitorCommand = "__pty-monitor"

// PTYMonitor refuses: Windows has no ptys.
func PTYMonitor(args []string) int {
	fmt.Fprintf(os.Stderr, "okv: error: %s is okv's own helper for run --mask\n", PTYMonitorCommand)
	return 2
}
