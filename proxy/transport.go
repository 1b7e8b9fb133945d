package proxy

import (
	"bufio"
	"bytes"
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
		dialer:  net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second},
		idleTTL: 60 * time.Second,
		maxIdle: 128,
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
		if now.Sub(uc.idleSince) < t.idleTTL {
			t.mu.Unlock()
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

func (t *upstreamTransport) dial(ctx context.Context) (*upConn, error) {
	var c net.Conn
	var err error
	if t.tlsConfig != nil {
		d := tls.Dialer{NetDialer: &t.dialer, Config: t.tlsConfig}
		c, err = d.DialContext(ctx, "tcp", t.addr)
	} else {
		c, err = t.dialer.DialContext(ctx, "tcp", t.addr)
	}
	if err != nil {
		return nil, err
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

// replayable reports whether req's body can be sent again.
func replayable(req *http.Request) bool {
	return req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
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
		// A kept-alive connection the upstream closed while it idled fails
		// before any byte of an answer: send again on a fresh one, as
		// http.Transport does, when the body can be sent again.
		if retry && uc.reused && attempt == 0 && replayable(req) && ctx.Err() == nil {
			if req.GetBody != nil {
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
	// Cancelling the request interrupts whatever blocks on the connection.
	var canceled atomic.Bool
	var stop func() bool
	if cc, ok := ctx.(*connCtx); ok {
		if !cc.attach(uc.c) {
			canceled.Store(true)
		}
		stop = func() bool {
			if !cc.detach(uc.c) {
				canceled.Store(true)
			}
			return !canceled.Load()
		}
	} else {
		stop = context.AfterFunc(ctx, func() {
			canceled.Store(true)
			uc.c.SetDeadline(aLongTimeAgo)
		})
	}
	fail := func(e error) (*http.Response, error, bool) {
		stop()
		uc.c.Close()
		return nil, e, false
	}
	askGzip := req.Header.Get("Accept-Encoding") == "" && req.Header.Get("Range") == "" && req.Method != http.MethodHead
	if werr := writeRequest(uc.bw, req, askGzip); werr != nil {
		// The upstream may have answered (and closed) before taking the
		// whole body, a 413 say: prefer its answer to the write error.
		if _, ok := werr.(bodyReadError); ok || canceled.Load() {
			return fail(werr)
		}
		uc.c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		resp, rerr := readResponse(uc.br, req)
		if rerr != nil {
			stop()
			uc.c.Close()
			return nil, werr, isNothingAnswered(werr)
		}
		uc.c.SetReadDeadline(time.Time{})
		req.Close = true // the connection is not reusable
		return t.finishResponse(uc, req, resp, stop, askGzip), nil, false
	}
	resp, rerr := readResponse(uc.br, req)
	if rerr != nil {
		stop()
		uc.c.Close()
		return nil, rerr, isNothingAnswered(rerr)
	}
	return t.finishResponse(uc, req, resp, stop, askGzip), nil, false
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

func (t *upstreamTransport) finishResponse(uc *upConn, req *http.Request, resp *http.Response, stop func() bool, gz bool) *http.Response {
	if resp.StatusCode == http.StatusSwitchingProtocols {
		// The connection now belongs to the caller (see upgradeBody).
		stop()
		uc.c.SetDeadline(time.Time{})
		resp.Body = &upgradeBody{uc: uc}
		return resp
	}
	reusable := !req.Close && !resp.Close && resp.ProtoAtLeast(1, 1)
	b := &pooledBody{rc: resp.Body, t: t, uc: uc, stop: stop, reusable: reusable}
	resp.Body = b
	if gz && resp.Body != http.NoBody && strings.EqualFold(resp.Header.Get("Content-Encoding"), "gzip") {
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
	stop     func() bool
	reusable bool
	done     bool
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
	bw.WriteString(req.URL.RequestURI())
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
		var num [20]byte
		bw.WriteString("Content-Length: ")
		n := req.ContentLength
		if !hasBody {
			n = 0
		}
		bw.Write(strconv.AppendInt(num[:0], n, 10))
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

// inMemory returns a request body the upstream transport can replay.
func inMemory(b []byte) (io.ReadCloser, func() (io.ReadCloser, error)) {
	get := func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	rc, _ := get()
	return rc, get
}
