package agent

import (
	"fmt"
	"net"
	"os"

	"golang.org/x/sys/unix"
)

// checkPeer refuses a client of another user (LOCAL_PEERCRED, what
// getpeereid(3) reads on macOS).
func checkPeer(c *net.UnixConn) error {
	raw, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var cred *unix.Xucred
	var cerr error
	if err := raw.Control(func(fd uintptr) { cred, cerr = unix.GetsockoptXucred(int(fd), unix.SOL_LOCAL, unix.LOCAL_PEERCRED) }); err != nil {
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
