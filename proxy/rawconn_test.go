package proxy

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/nettest"
)

// tcpPair returns both ends of a real loopback TCP connection, wrapped as
// the proxy wraps its connections.
func tcpPair(t testing.TB) (a, b net.Conn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	done := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			done <- nil
			return
		}
		done <- c
	}()
	c1, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c2 := <-done
	if c2 == nil {
		t.Fatal("accept failed")
	}
	return wrapConn(c1), wrapConn(c2)
}

// TestRawConnConformance runs x/net's net.Conn conformance suite (reads,
// writes, deadlines, close, concurrency) over the wrapped connections.
func TestRawConnConformance(t *testing.T) {
	nettest.TestConn(t, func() (c1, c2 net.Conn, stop func(), err error) {
		c1, c2 = tcpPair(t)
		return c1, c2, func() { c1.Close(); c2.Close() }, nil
	})
}

// The errors are net.TCPConn's: the proxy tells a client that left from
// one that failed, and a timeout from a closed connection, by them.
func TestRawConnErrors(t *testing.T) {
	a, b := tcpPair(t)
	defer a.Close()

	// The peer's orderly close: io.EOF itself.
	b.Close()
	if n, err := a.Read(make([]byte, 8)); n != 0 || err != io.EOF {
		t.Fatalf("read after the peer closed: %d, %v; want 0, io.EOF", n, err)
	}

	// A deadline: a net.Error that times out, os.ErrDeadlineExceeded inside.
	c, d := tcpPair(t)
	defer d.Close()
	c.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
	_, err := c.Read(make([]byte, 8))
	var ne net.Error
	var oe *net.OpError
	if !errors.As(err, &ne) || !ne.Timeout() || !errors.Is(err, os.ErrDeadlineExceeded) ||
		!errors.As(err, &oe) || oe.Op != "read" {
		t.Fatalf("read past its deadline: %v; want a read timeout", err)
	}
	c.SetReadDeadline(time.Time{})

	// Close while a read waits: the read ends with net.ErrClosed.
	errc := make(chan error, 1)
	go func() { _, err := c.Read(make([]byte, 8)); errc <- err }()
	time.Sleep(20 * time.Millisecond)
	c.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("read interrupted by Close: %v; want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not end a waiting read")
	}

	// A reset: ECONNRESET as a *net.OpError around an *os.SyscallError.
	e, f := tcpPair(t)
	defer e.Close()
	f.(interface{ SetLinger(int) error }).SetLinger(0)
	f.Write([]byte("x"))
	f.Close() // with linger 0: RST
	var got error
	for i := 0; i < 100 && got == nil; i++ {
		_, got = e.Read(make([]byte, 8))
		if got == nil {
			continue
		}
	}
	if got != io.EOF && !errors.Is(got, syscall.ECONNRESET) {
		t.Fatalf("read of a reset connection: %v; want ECONNRESET", got)
	}
	if got != io.EOF && !errors.As(got, &oe) {
		t.Fatalf("read of a reset connection: %T, want *net.OpError", got)
	}
}

// A write larger than the socket's buffers waits for the reader and then
// goes out whole, in order.
func TestRawConnLargeWrite(t *testing.T) {
	a, b := tcpPair(t)
	defer a.Close()
	defer b.Close()
	want := make([]byte, 8<<20)
	for i := range want {
		want[i] = byte(i*7 + i>>11)
	}
	errc := make(chan error, 1)
	go func() {
		n, err := a.Write(want)
		if err == nil && n != len(want) {
			err = io.ErrShortWrite
		}
		a.(interface{ CloseWrite() error }).CloseWrite()
		errc <- err
	}()
	time.Sleep(50 * time.Millisecond) // the writer fills the buffers and waits
	got, err := io.ReadAll(b)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("read %d bytes, not the %d written", len(got), len(want))
	}
}

// A write to a connection the peer reset fails (EPIPE or ECONNRESET),
// never blocks, and reports what it wrote.
func TestRawConnWriteAfterReset(t *testing.T) {
	a, b := tcpPair(t)
	defer a.Close()
	b.(interface{ SetLinger(int) error }).SetLinger(0)
	b.Close()
	buf := make([]byte, 64<<10)
	var err error
	for i := 0; i < 100 && err == nil; i++ {
		_, err = a.Write(buf)
		time.Sleep(time.Millisecond)
	}
	var oe *net.OpError
	if !errors.As(err, &oe) || oe.Op != "write" ||
		!(errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET)) {
		t.Fatalf("write to a reset connection: %v; want EPIPE or ECONNRESET", err)
	}
}
