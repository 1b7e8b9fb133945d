//go:build unix

package agent

import (
	"errors"
	"io"
	"os"
	"syscall"
)

// dial connects to the agent's socket with a blocking socket that is read
// and written through an os.File: no net package, so no network poller.
// A client makes one connection, writes one request and reads one answer,
// and the net package's first use (its poller's epoll instance and
// eventfd, the socket's registration, waking the reading goroutine
// through the poller) cost about 0.1 ms of every okv run that takes its
// identity from the agent (make bench, issue 21). The socket's send and
// receive timeouts bound the connect and each read and write as the net
// package's deadline bounded the whole exchange.
func dial(socket string) (io.ReadWriteCloser, error) {
	// As the net package opens sockets where SOCK_CLOEXEC may be missing:
	// the fork lock keeps a concurrent fork from inheriting the socket.
	syscall.ForkLock.RLock()
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err == nil {
		syscall.CloseOnExec(fd)
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return nil, err
	}
	tv := syscall.NsecToTimeval(int64(ioTimeout))
	for _, opt := range []int{syscall.SO_SNDTIMEO, syscall.SO_RCVTIMEO} {
		if err := syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, opt, &tv); err != nil {
			syscall.Close(fd)
			return nil, err
		}
	}
	for {
		err = syscall.Connect(fd, &syscall.SockaddrUnix{Name: socket})
		// With a timeout set, a signal (the Go runtime's preemption
		// signal among them) interrupts connect even under SA_RESTART;
		// the socket is still unconnected then and the connect is
		// tried again.
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil && !errors.Is(err, syscall.EISCONN) {
		syscall.Close(fd)
		return nil, err
	}
	// A blocking descriptor: os reads and writes it with plain system
	// calls, and retries those a signal interrupts.
	return os.NewFile(uintptr(fd), socket), nil
}
