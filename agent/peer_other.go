//go:build !linux && !darwin

package agent

import (
	"errors"
	"net"
)

// checkPeer: where okv cannot ask the kernel who the client is, it serves
// nobody.
func checkPeer(c *net.UnixConn) error {
	return errors.New("refused: okv cannot check the client's user on this system")
}
