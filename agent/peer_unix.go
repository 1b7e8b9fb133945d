//go:build linux || darwin

package agent

import (
	"fmt"
	"net"
	"os"
)

// checkPeer refuses a client of another user: peerUID asks the kernel
// which uid the client had when it connected.
func checkPeer(c *net.UnixConn) error {
	raw, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var uid int
	var cerr error
	if err := raw.Control(func(fd uintptr) { uid, cerr = peerUID(int(fd)) }); err != nil {
		return err
	}
	if cerr != nil {
		return fmt.Errorf("cannot check the client's user: %v", cerr)
	}
	if uid != os.Getuid() {
		return fmt.Errorf("refused: the client runs as uid %d, the agent serves uid %d only", uid, os.Getuid())
	}
	return nil
}
