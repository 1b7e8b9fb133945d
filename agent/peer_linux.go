package agent

import (
	"fmt"
	"net"
	"os"

	"golang.org/x/sys/unix"
)

// checkPeer refuses a client of another user (SO_PEERCRED: the uid the
// kernel recorded when the client connected).
func checkPeer(c *net.UnixConn) error {
	raw, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var cred *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) { cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED) }); err != nil {
		return err
	}
	if cerr != nil {
		return fmt.Errorf("cannot check the client's user: %v", cerr)
	}
	if int(cred.Uid) != os.Getuid() {
		return fmt.Errorf("refused: the client runs as uid %d, the agent serves uid %d only", cred.Uid, os.Getuid())
	}
	return nil
}
