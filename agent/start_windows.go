package agent

import (
	"errors"
	"io"
	"io/fs"
	"net"
	"time"
)

// Supported reports whether the agent runs on this system.
const Supported = false

// ErrNotSupported is returned where the agent does not run.
var ErrNotSupported = errors.New("the okv agent is not available on Windows yet")

func checkOwner(fi fs.FileInfo) error { return nil }

// Listen is not available on Windows.
func Listen(socket string) (*net.UnixListener, error) { return nil, ErrNotSupported }

// Ensure is not available on Windows.
func Ensure(dir, path string, args, env []string) (bool, error) { return false, ErrNotSupported }

// dial connects to the agent's socket (the agent does not run on Windows:
// this keeps roundTrip's one code path).
func dial(socket string) (io.ReadWriteCloser, error) {
	c, err := net.DialTimeout("unix", socket, 2*time.Second)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(ioTimeout))
	return c, nil
}
