package proxy

import (
	"bufio"
	"compress/gzip"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// upstreamTransport is the proxy's HTTP/1.1 client for its one upstream.
//
// http.Transport costs two goroutines per connection and a hand-off over
// channels for every request; on the proxy's hot path that was a third of
// its CPU time. This client writes the request and reads the response on
// the goroutine that serves the client, over a pool of kept-alive
// connections (TLS for https), and reads responses with parseResponse. It
// asks for gzip and decodes it as http.Transport
// does. It is used when no HTTP(S)_PROXY applies to the upstream; one that
// does sends requests through http.Transport instead (see New).
type upstreamTransport struct {
	addr      string // host:port to dial
	tlsConfig *tls.Config
	dialer    net.Dialer
	idleTTL   time.Duration
	maxIdle   int
	// checkAfter is how long a connection may idle before it is checked
	// (see alive) when taken from the pool.
	checkAfter time.Duration

	mu     sync.Mutex
	idle   []*upConn
	closed bool
}

type upConn struct {
	c         net.Conn
	br        *bufio.Reader
	bw        *bufio.Writer
	idleSince time.Time
	reused    bool
}

func newUpstreamTransport(scheme, host string) *upstreamTransport {
	t := &upstreamTransport{
		dialer:     net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second},
		idleTTL:    60 * time.Second,
		maxIdle:    128,
		checkAfter: time.Second,
	}
	hostname, port, err := net.SplitHostPort(host)
	if err != nil {
		hostname, port = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"), map[string]string{"https": "443", "http": "80"}[scheme]
	}
	t.addr = net.JoinHostPort(hostname, port)
	if scheme == "https" {
		t.tlsConfig = &tls.Config{
			ServerName: hostname,
			NextProtos: []string{"http/1.1"},
			MinVersion: tls.VersionTLS12,
		}
	}
	return t
}

var errTransportClosed = errors.New("proxy: transport closed")

func (t *upstreamTransport) get(ctx context.Context) (*upConn, error) {
	now := time.Now()
	t.mu.Lock()
	for n := len(t.idle); n > 0; n = len(t.idle) {
		uc := t.idle[n-1]
		t.idle[n-1] = nil
		t.idle = t.idle[:n-1]
		if idle := now.Sub(uc.idleSince); idle < t.idleTTL {
			t.mu.Unlock()
			if idle >= t.checkAfter && !alive(uc) {
				uc.c.Close()
				t.mu.Lock()
				continue
			}
			uc.reused = true
			return uc, nil
		}
		uc.c.Close()
	}
	closed := t.closed
	t.mu.Unlock()
	if closed {
		return nil, errTransportClosed
	}
	return t.dial(ctx)
}

// alive reports whether an idle connection is still open: the upstream
// may have closed it while it idled (http.Transport notices that with a
// read it keeps going on each idle connection; this looks once, without
// waiting, when a connection is taken after checkAfter idle).
func alive(uc *upConn) bool {
	if uc.br.Buffered() > 0 {
		return false // bytes nobody asked for: the connection is out of step
	}
	raw := uc.c
	tc, isTLS := raw.(*tls.Conn)
	if isTLS {
		raw = tc.NetConn()
	}
	switch peekSocket(raw) {
	case socketClosed:
		return false
	case socketIdle, socketUnknown:
		return true
	}
	if !isTLS {
		return false // an answer to nothing: out of step
	}
	// TLS records came while it idled: a session ticket (kept, and the
	// connection is fine) or a close_notify alert (then it is closed).
	uc.c.SetReadDeadline(time.Now().Add(time.Millisecond))
	_, err := uc.br.Peek(1)
	uc.c.SetReadDeadline(time.Time{})
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

type socketState int

const (
	socketUnknown socketState = iota // cannot tell here
	socketIdle                       // open, nothing to read
	socketData                       // bytes wait to be read
	socketClosed                     // the peer closed it, or it failed
)

func (t *upstreamTransport) dial(ctx context.Context) (*upConn, error) {
	c, err := t.dialer.DialContext(ctx, "tcp", t.addr)
	if err != nil {
		return nil, err
	}
	c = wrapConn(c)
	if t.tlsConfig != nil {
		tc := tls.Client(c, t.tlsConfig)
		if err := tc.HandshakeContext(ctx); err != nil {
			c.Close()
			return nil, err
		}
		c = tc
	}
	return &upConn{c: c, br: bufio.NewReaderSize(c, 16<<10), bw: bufio.NewWriterSize(c, 16<<10)}, nil
}

func (t *upstreamTransport) put(uc *upConn) {
	uc.idleSince = time.Now()
	t.mu.Lock()
	if t.closed || len(t.idle) >= t.maxIdle {
		t.mu.Unlock()
		uc.c.Close()
		return
	}
	t.idle = append(t.idle, uc)
	t.mu.Unlock()
}

// CloseIdleConnections closes the pooled connections; with shut set, no
// connection is pooled or dialled any more.
func (t *upstreamTransport) closeIdle(shut bool) {
	t.mu.Lock()
	idle := t.idle
	t.idle = nil
	if shut {
		t.closed = true
	}
	t.mu.Unlock()
	for _, uc := range idle {
		uc.c.Close()
	}
}

func (t *upstreamTransport) CloseIdleConnections() { t.closeIdle(false) }

// idempotent is http.Transport's rule for a request it may send twice.
func idempotent(req *http.Request) bool {
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	return len(req.Header["Idempotency-Key"]) > 0 || len(req.Header["X-Idempotency-Key"]) > 0
}

// replayable reports whether req's body can be sent again.
func replayable(req *http.Request) bool {
	_, mem := req.Body.(*memBody)
	return req.Body == nil || req.Body == http.NoBody || mem || req.GetBody != nil
}

// RoundTrip sends req (whose URL names the upstream) and returns the
// response; its Body gives the connection back when read to the end.
func (t *upstreamTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			closeBody(req)
			return nil, err
		}
		uc, err := t.get(ctx)
		if err != nil {
			closeBody(req)
			return nil, err
		}
		resp, err, retry := t.roundTrip(ctx, uc, req)
		if err == nil {
			return resp, nil
		}
		// A kept-alive connection that failed before any byte of an answer
		// was most likely closed by the upstream as it was taken: send
		// again on a fresh one, as http.Transport does, when the request
		// is idempotent (or says it may be sent twice) and its body can
		// be sent again. A POST without an Idempotency-Key is not: the
		// upstream may have run it, and a second run costs a second time.
		if retry && uc.reused && attempt == 0 && idempotent(req) && replayable(req) && ctx.Err() == nil {
			if mb, ok := req.Body.(*memBody); ok {
				mb.off = 0
			} else if req.GetBody != nil {
				b, gerr := req.GetBody()
				if gerr != nil {
					return nil, err
				}
				r2 := *req
				r2.Body = b
				req = &r2
			}
			continue
		}
		closeBody(req)
		if cerr := ctx.Err(); cerr != nil {
			return nil, cerr
		}
		return nil, err
	}
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}

// roundTrip runs one exchange on uc. retry reports that the upstream had
// answered nothing when it failed.
func (t *upstreamTransport) roundTrip(ctx context.Context, uc *upConn, req *http.Request) (resp *http.Response, err error, retry bool) {
	// The response body, made now: it holds the exchange's cancellation.
	b := &pooledBody{t: t, uc: uc}
	// Cancelling the request interrupts whatever blocks on the connection.
	if cc, ok := ctx.(*connCtx); ok {
		b.cc = cc
		if !cc.attach(uc.c) {
			b.canceled.Store(true)
		}
	} else {
		b.stopFunc = context.AfterFunc(ctx, func() {
			b.canceled.Store(true)
			uc.c.SetDeadline(aLongTimeAgo)
		})
	}
	askGzip := first(req.Header, "Accept-Encoding") == "" && first(req.Header, "Range") == "" && req.Method != http.MethodHead
	if werr := writeRequest(uc.bw, req, askGzip); werr != nil {
		// The upstream may have answered (and closed) before taking the
		// whole body, a 413 say: prefer its answer to the write error.
		if _, ok := werr.(bodyReadError); ok || b.canceled.Load() {
			b.stop()
			uc.c.Close()
			return nil, werr, false
		}
		uc.c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		resp, rerr := readResponse(uc.br, req)
		if rerr != nil {
			b.stop()
			uc.c.Close()
			return nil, werr, isNothingAnswered(werr)
		}
		uc.c.SetReadDeadline(time.Time{})
		req.Close = true // the connection is not reusable
		return t.finishResponse(b, req, resp, askGzip), nil, false
	}
	if _, perr := uc.br.Peek(1); perr != nil {
		b.stop()
		uc.c.Close()
		return nil, perr, isNothingAnswered(perr)
	}
	resp, rerr := readResponse(uc.br, req)
	if rerr != nil {
		b.stop()
		uc.c.Close()
		return nil, rerr, false // part of an answer came: never sent again
	}
	return t.finishResponse(b, req, resp, askGzip), nil, false
}

func isNothingAnswered(err error) bool {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return true
	}
	var ne *net.OpError
	return errors.As(err, &ne) && !ne.Timeout()
}

// readResponse reads a response, skipping informational (1xx) ones but
// 101 Switching Protocols. When req is served on one of the proxy's own
// client connections, the response reuses that connection's buffers.
func readResponse(br *bufio.Reader, req *http.Request) (*http.Response, error) {
	var bufs *respBuffers
	if cc, ok := req.Context().(*connCtx); ok {
		bufs = &cc.resp
	}
	for {
		resp, err := parseResponse(br, req, bufs)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode >= 200 || resp.StatusCode == http.StatusSwitchingProtocols || resp.StatusCode < 100 {
			return resp, nil
		}
	}
}

func (t *upstreamTransport) finishResponse(b *pooledBody, req *http.Request, resp *http.Response, gz bool) *http.Response {
	if resp.StatusCode == http.StatusSwitchingProtocols {
		// The connection now belongs to the caller (see upgradeBody).
		b.stop()
		b.uc.c.SetDeadline(time.Time{})
		resp.Body = &upgradeBody{uc: b.uc}
		return resp
	}
	b.rc = resp.Body
	b.reusable = !req.Close && !resp.Close && resp.ProtoAtLeast(1, 1)
	resp.Body = b
	if gz && resp.Body != http.NoBody && strings.EqualFold(first(resp.Header, "Content-Encoding"), "gzip") {
		resp.Header.Del("Content-Encoding")
		resp.Header.Del("Content-Length")
		resp.ContentLength = -1
		resp.Uncompressed = true
		resp.Body = &gzipBody{body: b}
	}
	return resp
}

// pooledBody is a response body that gives its connection back to the pool
// once read to the end, and closes it when abandoned before.
type pooledBody struct {
	rc       io.ReadCloser
	t        *upstreamTransport
	uc       *upConn
	reusable bool
	done     bool

	// The exchange's cancellation: through the client connection's
	// context (cc) or else context.AfterFunc (stopFunc).
	cc       *connCtx
	stopFunc func() bool
	canceled atomic.Bool
}

// stop ends the exchange's cancellation; it reports false if the exchange
// was canceled.
func (b *pooledBody) stop() bool {
	if b.cc != nil {
		if !b.cc.detach(b.uc.c) {
			b.canceled.Store(true)
		}
	} else if b.stopFunc != nil && !b.stopFunc() {
		b.canceled.Store(true) // the context ended: f ran, or runs
	}
	return !b.canceled.Load()
}

func (b *pooledBody) Read(p []byte) (int, error) {
	if b.done {
		return 0, io.EOF
	}
	n, err := b.rc.Read(p)
	if err == io.EOF {
		b.release(true)
	} else if err != nil {
		b.release(false)
	}
	return n, err
}

func (b *pooledBody) release(complete bool) {
	if b.done {
		return
	}
	b.done = true
	notCanceled := b.stop()
	if complete && b.reusable && notCanceled && b.uc.br.Buffered() == 0 {
		b.t.put(b.uc)
		return
	}
	b.uc.c.Close()
}

func (b *pooledBody) Close() error {
	b.release(false)
	return nil
}

// gzipBody decodes a gzip body on the first read.
type gzipBody struct {
	body io.ReadCloser
	zr   *gzip.Reader
	err  error
}

func (g *gzipBody) Read(p []byte) (int, error) {
	if g.zr == nil && g.err == nil {
		g.zr, g.err = gzip.NewReader(g.body)
	}
	if g.err != nil {
		return 0, g.err
	}
	return g.zr.Read(p)
}

func (g *gzipBody) Close() error { return g.body.Close() }

// upgradeBody is the upstream connection after 101 Switching Protocols:
// reads come from it (after what was buffered), writes go to it.
type upgradeBody struct{ uc *upConn }

func (u *upgradeBody) Read(p []byte) (int, error)  { return u.uc.br.Read(p) }
func (u *upgradeBody) Write(p []byte) (int, error) { return u.uc.c.Write(p) }
func (u *upgradeBody) Close() error                { return u.uc.c.Close() }

// CloseWrite half-closes the upstream connection when it can.
func (u *upgradeBody) CloseWrite() error {
	if cw, ok := u.uc.c.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// bodyReadError is a failure to read the request body from the client
// (as opposed to a failure to write it upstream).
type bodyReadError struct{ err error }

func (e bodyReadError) Error() string { return "reading the request body: " + e.err.Error() }
func (e bodyReadError) Unwrap() error { return e.err }

type bodyReader struct{ r io.Reader }

func (b bodyReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil && err != io.EOF {
		err = bodyReadError{err}
	}
	return n, err
}

// writeRequest writes req in HTTP/1.1 to bw and flushes it. The request's
// headers are written as they are (the caller removed hop-by-hop ones);
// Host comes from req.Host or req.URL.Host, the framing from
// req.ContentLength (-1 with a body: chunked).
func writeRequest(bw *bufio.Writer, req *http.Request, askGzip bool) error {
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	bw.WriteString(req.Method)
	bw.WriteByte(' ')
	if u := req.URL; u.Opaque == "" && u.Path != "" {
		bw.WriteString(u.EscapedPath()) // RequestURI, without building it
		if u.ForceQuery || u.RawQuery != "" {
			bw.WriteByte('?')
			bw.WriteString(u.RawQuery)
		}
	} else {
		bw.WriteString(u.RequestURI())
	}
	bw.WriteString(" HTTP/1.1\r\nHost: ")
	bw.WriteString(host)
	bw.WriteString("\r\n")
	for k, vs := range req.Header {
		for _, v := range vs {
			bw.WriteString(k)
			bw.WriteString(": ")
			bw.WriteString(v)
			bw.WriteString("\r\n")
		}
	}
	if askGzip {
		bw.WriteString("Accept-Encoding: gzip\r\n")
	}
	hasBody := req.Body != nil && req.Body != http.NoBody
	chunked := false
	switch {
	case hasBody && req.ContentLength < 0:
		bw.WriteString("Transfer-Encoding: chunked\r\n")
		chunked = true
	case hasBody && req.ContentLength >= 0 || req.Method == http.MethodPost || req.Method == http.MethodPut || req.Method == http.MethodPatch:
		bw.WriteString("Content-Length: ")
		n := req.ContentLength
		if !hasBody {
			n = 0
		}
		bw.Write(strconv.AppendInt(bw.AvailableBuffer(), n, 10))
		bw.WriteString("\r\n")
	}
	bw.WriteString("\r\n")
	if hasBody {
		var err error
		if chunked {
			cw := httputil.NewChunkedWriter(bw)
			if _, err = io.Copy(cw, bodyReader{req.Body}); err == nil {
				if err = cw.Close(); err == nil {
					_, err = bw.WriteString("\r\n")
				}
			}
		} else if mb, ok := req.Body.(*memBody); ok && int64(len(mb.b)-mb.off) == req.ContentLength {
			bw.Write(mb.b[mb.off:])
			mb.off = len(mb.b)
		} else {
			var n int64
			n, err = io.Copy(bw, bodyReader{req.Body})
			if err == nil && n != req.ContentLength {
				err = bodyReadError{fmt.Errorf("body length %d, want %d", n, req.ContentLength)}
			}
		}
		req.Body.Close()
		if err != nil {
			return err
		}
	}
	return bw.Flush()
}

var aLongTimeAgo = time.Unix(1, 0)

// memBody is a request body held in memory, which the upstream
// transport writes in one piece and can send again (after a reset of off).
type memBody struct {
	b   []byte
	off int
}

func (m *memBody) Read(p []byte) (int, error) {
	if m.off >= len(m.b) {
		return 0, io.EOF
	}
	n := copy(p, m.b[m.off:])
	m.off += n
	return n, nil
}

func (m *memBody) Close() error { return nil }
