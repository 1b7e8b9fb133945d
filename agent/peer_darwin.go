package agent

import "golang.org/x/sys/unix"

// peerUID is the client's uid by LOCAL_PEERCRED (what getpeereid(3) reads).
func peerUID(fd int) (int, error) {
	cred, err := unix.GetsockoptXucred(fd, unix.SOL_LOCAL, unix.LOCAL_PEERCRED)
	if err != nil {
		return 0, err
	}
	return int(cred.Uid), nil
}
