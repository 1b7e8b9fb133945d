package proxy

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
)

// rawConn is a TCP connection whose reads and writes are raw system calls
// on its non-blocking socket, waiting in the runtime's poller as
// net.TCPConn does when the socket is not ready.
//
// Why: net.TCPConn makes every read and write as a system call that may
// block, so the scheduler's monitor takes the goroutine's P from a thread
// that has been in one for over 20 µs and hands it to another thread. On a
// loaded machine a loopback write often takes that long: the kernel runs
// the receiver's side of TCP in it and may switch to the receiver it
// wakes. Under `make bench-proxy` load that was a thread switch every two
// requests and the monitor polling every 20 µs to find them. A read or
// write on a non-blocking socket never waits, so it keeps its P, as an
// nginx worker keeps its CPU. Under bench/proxy's load, against
// net.TCPConn in the same run, context switches per request fell from about
// 0.5 to 0.3 and CPU time per request by about a tenth.
type rawConn struct {
	*net.TCPConn
	rc syscall.RawConn
	r  rawOp
	w  rawOp
}

// rawOp is one direction's call in progress; mu keeps two calls in the
// same direction from sharing it (the socket's own lock orders them too).
type rawOp struct {
	mu    sync.Mutex
	buf   []byte
	n     int
	errno syscall.Errno
	fn    func(fd uintptr) bool // made once: no allocation per call
}

// wrapConn returns c as a rawConn when it is a TCP connection, or else c.
func wrapConn(c net.Conn) net.Conn {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return c
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return c
	}
	rw := &rawConn{TCPConn: tc, rc: rc}
	rw.r.fn = rw.r.read
	rw.w.fn = rw.w.write
	return rw
}

// read is one read(2); false means the socket has nothing yet.
func (o *rawOp) read(fd uintptr) bool {
	for {
		n, e := sysRead(fd, o.buf)
		switch e {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false
		case 0:
			o.n = n
		default:
			o.errno = e
		}
		return true
	}
}

// write writes all of o.buf; false means the socket's buffer is full.
func (o *rawOp) write(fd uintptr) bool {
	for o.n < len(o.buf) {
		b := o.buf[o.n:]
		n, e := sysWrite(fd, b)
		switch e {
		case 0:
			o.n += int(n)
		case syscall.EINTR:
		case syscall.EAGAIN:
			return false
		default:
			o.errno = e
			return true
		}
	}
	return true
}

// opError is the error net.TCPConn would return for err in op.
func (c *rawConn) opError(op string, err error) error {
	var oe *net.OpError
	if errors.As(err, &oe) {
		err = oe.Err // RawConn's own, as "raw-read"
	}
	return &net.OpError{Op: op, Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
}

func (c *rawConn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	o := &c.r
	o.mu.Lock()
	defer o.mu.Unlock()
	o.buf, o.n, o.errno = p, 0, 0
	err := c.rc.Read(o.fn)
	o.buf = nil
	switch {
	case err != nil:
		return 0, c.opError("read", err)
	case o.errno != 0:
		return 0, c.opError("read", os.NewSyscallError("read", o.errno))
	case o.n == 0:
		return 0, io.EOF
	}
	return o.n, nil
}

func (c *rawConn) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	o := &c.w
	o.mu.Lock()
	defer o.mu.Unlock()
	o.buf, o.n, o.errno = p, 0, 0
	err := c.rc.Write(o.fn)
	o.buf = nil
	switch {
	case err != nil:
		return o.n, c.opError("write", err)
	case o.errno != 0:
		return o.n, c.opError("write", os.NewSyscallError("write", o.errno))
	}
	return o.n, nil
}
