//go:build linux || darwin

package proxy

import (
	"net"
	"syscall"
)

// peekSocket looks at a socket without reading from it or waiting.
func peekSocket(c net.Conn) socketState {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return socketUnknown
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return socketUnknown
	}
	state := socketUnknown
	err = rc.Read(func(fd uintptr) bool {
		var b [1]byte
		n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case err == syscall.EAGAIN || err == syscall.EWOULDBLOCK || err == syscall.EINTR:
			state = socketIdle
		case err != nil || n == 0:
			state = socketClosed
		default:
			state = socketData
		}
		return true // never wait for the socket
	})
	if err != nil {
		return socketClosed
	}
	return state
}
