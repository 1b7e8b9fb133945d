//go:build !windows

package cmd

import (
	"io"
	"os"
)

func openTTY() (io.ReadWriteCloser, error) { return os.OpenFile("/dev/tty", os.O_RDWR, 0) }
