package proxy

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// The proxy serves its clients itself rather than through http.Server: one
// goroutine per connection reads a request (readRequest), forwards it on the same goroutine and writes the
// answer, with no goroutine started per request. http.Server starts one
// per request to notice a client that goes away; here a watcher starts
// only once a request has been upstream for watchDelay, which real OpenAI
// requests are and a fast answer is not.

const (
	idleTimeout    = 2 * time.Minute
	maxHeaderBytes = 1 << 20
	// watchDelay is how long a request may wait upstream before the proxy
	// watches its client for a disconnect (which then cancels it upstream).
	watchDelay = 25 * time.Millisecond
)

// server tracks the proxy's listeners and connections.
type server struct {
	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[*clientConn]struct{}
	shutdown  atomic.Bool
	ctx       context.Context // canceled by Close: cuts requests in flight
	cancel    context.CancelFunc
}

func newServer() *server {
	s := &server{listeners: map[net.Listener]struct{}{}, conns: map[*clientConn]struct{}{}}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s
}

// Serve accepts connections on l until Shutdown or Close; the Host header
// must then name l's port. Like http.Server.Serve it returns
// http.ErrServerClosed after Shutdown or Close.
func (p *Proxy) Serve(l net.Listener) error {
	if ta, ok := l.Addr().(*net.TCPAddr); ok {
		ap := ta.AddrPort()
		p.listenAddr.Store(&ap)
	}
	s := p.srv
	s.mu.Lock()
	if s.shutdown.Load() {
		s.mu.Unlock()
		l.Close()
		return http.ErrServerClosed
	}
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
		l.Close()
	}()
	var backoff time.Duration
	for {
		c, err := l.Accept()
		if err != nil {
			if s.shutdown.Load() {
				return http.ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || isTemporary(err) {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				p.errLog.Printf("okv proxy: accept: %v; retrying in %v", err, backoff)
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		cc := p.newClientConn(c)
		s.mu.Lock()
		if s.shutdown.Load() {
			s.mu.Unlock()
			c.Close()
			return http.ErrServerClosed
		}
		s.conns[cc] = struct{}{}
		s.mu.Unlock()
		go cc.serve()
	}
}

func isTemporary(err error) bool {
	t, ok := err.(interface{ Temporary() bool })
	return ok && t.Temporary()
}

func (s *server) closeListeners() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.shutdown.Store(true)
	for l := range s.listeners {
		l.Close()
	}
}

// Shutdown stops the proxy gracefully: it stops accepting, closes idle
// connections, then waits for requests in flight (and their usage records)
// until ctx ends.
func (p *Proxy) Shutdown(ctx context.Context) error {
	s := p.srv
	s.closeListeners()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		if s.closeIdle() {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
	p.closeUpstream()
	// Every request has finished, so no record is added any more.
	p.Wait()
	return nil
}

// closeIdle closes the connections waiting for a request and reports
// whether none is left.
func (s *server) closeIdle() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for cc := range s.conns {
		if cc.state.CompareAndSwap(stateIdle, stateClosed) {
			cc.c.Close()
		}
	}
	return len(s.conns) == 0
}

// Close stops the proxy at once, cutting requests in flight.
func (p *Proxy) Close() error {
	s := p.srv
	s.closeListeners()
	s.cancel()
	s.mu.Lock()
	for cc := range s.conns {
		cc.state.Store(stateClosed)
		cc.c.Close()
		cc.ctx.cancel()
	}
	s.mu.Unlock()
	p.closeUpstream()
	return nil
}

func (p *Proxy) closeUpstream() {
	if t, ok := p.transport.(*upstreamTransport); ok {
		t.closeIdle(true)
	} else if t, ok := p.transport.(interface{ CloseIdleConnections() }); ok {
		t.CloseIdleConnections()
	}
}

const (
	stateIdle int32 = iota
	stateActive
	stateClosed
)

// clientConn is one client connection.
type clientConn struct {
	p      *Proxy
	c      net.Conn
	r      connReader
	br     *bufio.Reader
	bw     *bufio.Writer
	remote string
	ci     connInfo
	state  atomic.Int32

	ctx    *connCtx // the context of the connection's requests
	linger bool     // close with closeWriteAndWait

	// Reused from one request to the next: the answer's writer and
	// header, and the request sent upstream (see outRequest).
	req       http.Request // the request
	reqZero   http.Request // a zero request with the connection's context
	reqBufs   reqBuffers   // for reading the request
	body      reqBody      // the request's body
	w         respWriter
	whdr      http.Header // the answer's header, but where forward sets another
	out       http.Request
	outURL    url.URL
	outHeader http.Header
	// The request's state, and the buffer that collected the last JSON
	// answer for its usage (see Proxy.serve).
	st       reqState
	jsonHead []byte

	// The watcher: see startWatch.
	wmu      sync.Mutex
	wcond    *sync.Cond
	wtimer   *time.Timer
	armed    bool // wtimer will fire
	inFlight bool // a request may be watched: upstream since wsince
	wsince   time.Time
	watching bool // a watch is reading
	aborting bool // stopWatch is interrupting it
	wbuf     [1]byte
}

// connInfo is what the checks need to know about a client's connection.
type connInfo struct {
	remoteOK bool           // loopback or an allowed network
	local    netip.AddrPort // where the connection came in
	// okHost, when set, holds the last Host header accepted on the
	// connection: the same one again needs no new check.
	okHost *string
}

func (p *Proxy) newClientConn(c net.Conn) *clientConn {
	c = wrapConn(c)
	cc := &clientConn{p: p, c: c, remote: c.RemoteAddr().String()}
	cc.r.c = c
	cc.br = bufio.NewReaderSize(&cc.r, 8<<10)
	cc.bw = bufio.NewWriterSize(c, 16<<10)
	cc.ci.remoteOK = p.clientAllowed(cc.remote)
	if a, ok := c.LocalAddr().(*net.TCPAddr); ok {
		cc.ci.local = a.AddrPort()
	} else if a := p.listenAddr.Load(); a != nil {
		cc.ci.local = *a
	}
	cc.ci.okHost = new(string)
	cc.wcond = sync.NewCond(&cc.wmu)
	cc.whdr = make(http.Header, 8)
	cc.outHeader = make(http.Header, 8)
	cc.ctx = newConnCtx(p.srv.ctx)
	cc.reqZero = *new(http.Request).WithContext(cc.ctx)
	return cc
}

// connCtx is the context of the requests read from one client connection:
// canceled when the client goes away (see watch) or the proxy closes. The
// upstream transport registers the connection a request is using with it,
// to be interrupted on cancel, which costs less than context.AfterFunc.
type connCtx struct {
	context.Context
	cancelCtx context.CancelFunc
	mu        sync.Mutex
	up        net.Conn // the upstream connection in use

	resp respBuffers // for the upstream's answers (see readResponse)
}

func newConnCtx(parent context.Context) *connCtx {
	c := &connCtx{}
	c.Context, c.cancelCtx = context.WithCancel(parent)
	return c
}

func (c *connCtx) cancel() {
	c.cancelCtx()
	c.mu.Lock()
	if c.up != nil {
		c.up.SetDeadline(aLongTimeAgo)
		c.up = nil
	}
	c.mu.Unlock()
}

// attach arranges for conn to be interrupted on cancel; it reports false,
// having interrupted it, when the context is already canceled.
func (c *connCtx) attach(conn net.Conn) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.Err() != nil {
		conn.SetDeadline(aLongTimeAgo)
		return false
	}
	c.up = conn
	return true
}

// detach undoes attach; it reports false if conn was interrupted.
func (c *connCtx) detach(conn net.Conn) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.up == conn {
		c.up = nil
		return true
	}
	return false
}

// connReader reads the client connection, giving first the byte a watcher
// read, and limits how much a request's header may take.
type connReader struct {
	c       net.Conn
	limit   int64 // < 0: none
	hasByte bool
	b       byte
}

func (r *connReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if r.limit == 0 {
		return 0, errHeaderTooLarge
	}
	if r.limit > 0 && int64(len(p)) > r.limit {
		p = p[:r.limit]
	}
	var n int
	var err error
	if r.hasByte {
		p[0], r.hasByte, n = r.b, false, 1
	} else {
		n, err = r.c.Read(p)
	}
	if r.limit > 0 {
		r.limit -= int64(n)
	}
	return n, err
}

var errHeaderTooLarge = errors.New("request header too large")

func (cc *clientConn) close() {
	cc.ctx.cancel()
	cc.state.Store(stateClosed)
	cc.c.Close()
	s := cc.p.srv
	s.mu.Lock()
	delete(s.conns, cc)
	s.mu.Unlock()
}

func (cc *clientConn) serve() {
	defer func() {
		if cc.linger {
			cc.closeWriteAndWait()
		}
		cc.close()
	}()
	defer func() {
		if v := recover(); v != nil && v != http.ErrAbortHandler {
			cc.p.errLog.Printf("okv proxy: panic serving %s: %v", cc.remote, v)
		}
	}()
	for {
		// Also when part of the next request is buffered: the rest of its
		// head must come within the idle timeout too.
		cc.c.SetReadDeadline(time.Now().Add(idleTimeout))
		cc.r.limit = maxHeaderBytes
		cc.req = cc.reqZero
		req, err := readRequest(cc.br, &cc.req, &cc.reqBufs)
		cc.r.limit = -1
		if err != nil {
			cc.badRequest(err)
			return
		}
		if !cc.state.CompareAndSwap(stateIdle, stateActive) {
			return // shut down while the request arrived
		}
		cc.c.SetReadDeadline(time.Time{})
		keep := cc.serveRequest(req)
		if !keep || !cc.state.CompareAndSwap(stateActive, stateIdle) {
			return
		}
	}
}

// badRequest answers a request that could not be read, when it can.
func (cc *clientConn) badRequest(err error) {
	var ne net.Error
	if errors.Is(err, io.EOF) || errors.As(err, &ne) || errors.Is(err, net.ErrClosed) {
		return // the client left or idled out
	}
	cc.linger = true // the client may still be sending
	switch {
	case errors.Is(err, errHeaderTooLarge):
		cc.writeError(errInvalidRequest(http.StatusRequestHeaderFieldsTooLarge, "header_too_large",
			"the request header exceeds 1 MiB"))
	default:
		cc.writeError(errInvalidRequest(http.StatusBadRequest, "malformed_request",
			"the request is not valid HTTP/1.1"))
	}
}

func (cc *clientConn) writeError(e *apiError) {
	w := &respWriter{cc: cc, proto11: true, closeAfter: true, header: http.Header{}}
	e.write(w)
	w.finish()
}

// serveRequest answers one request and reports whether the connection can
// take another.
func (cc *clientConn) serveRequest(req *http.Request) bool {
	h := cc.whdr // cc.w.header may be the last response's (see forward)
	clear(h)
	w := &cc.w
	*w = respWriter{cc: cc, header: h, proto11: req.ProtoAtLeast(1, 1), head: req.Method == http.MethodHead}
	w.closeAfter = req.Close || !w.proto11
	req.RemoteAddr = cc.remote
	if req.RequestURI == "*" && req.Method == http.MethodOptions {
		// Asks about the server, not a resource: answered here, as
		// http.Server does, and never forwarded.
		if req.ContentLength != 0 {
			w.closeAfter = true
		}
		w.finish()
		return !w.closeAfter && w.err == nil
	}
	// Another RoundTripper than the proxy's own (http.Transport, for an
	// HTTPS_PROXY) may still read the body after it answered: see sharedBody.
	_, own := cc.p.transport.(*upstreamTransport)
	if ex := req.Header["Expect"]; len(ex) > 0 {
		if len(ex) == 1 && asciiEqualFold(ex[0], "100-continue") && req.ContentLength != 0 {
			if own {
				req.Body = &expectContinue{rc: req.Body, cc: cc}
			} else if (&expectContinue{cc: cc}).send() != nil {
				return false // its goroutine must not write to the client
			}
		} else if len(ex) > 1 || !asciiEqualFold(ex[0], "100-continue") {
			w.closeAfter = true
			errInvalidRequest(http.StatusExpectationFailed, "expectation_failed",
				"the only Expect this proxy supports is 100-continue").write(w)
			w.finish()
			return false
		}
		delete(req.Header, "Expect")
	}
	var body *reqBody
	var shared *sharedBody
	if req.Body != nil && req.Body != http.NoBody {
		cc.body = reqBody{rc: req.Body}
		body = &cc.body
		req.Body = body
		if !own {
			shared = &sharedBody{rc: body}
			shared.cond.L = &shared.mu
			req.Body = shared
		}
	}
	cc.p.serve(w, req, cc.ci, cc)
	cc.stopWatch()
	if w.hijacked {
		return false
	}
	w.finish()
	if shared != nil {
		shared.stop() // after the answer is out: the client may wait for it before it sends more
	}
	// Read what is left of the body, so the next request can be read, or
	// at least the client reads this answer before the connection closes
	// (closing with unread input resets it, and the answer can be lost).
	drained := true
	if body != nil && !body.eof {
		if ec, ok := body.rc.(*expectContinue); ok && !ec.sent {
			return false // the client waits for a 100 Continue that never came; it sends nothing
		}
		n, err := io.CopyN(io.Discard, body.rc, 256<<10)
		drained = err == io.EOF || err == nil && n < 256<<10
	}
	if !drained {
		cc.linger = true
		return false
	}
	return !w.closeAfter && w.err == nil
}

// reqBody is a request body as read from the connection. Closing it does
// not read the rest (net/http's would, however long); serveRequest does,
// within bounds.
type reqBody struct {
	rc  io.ReadCloser
	eof bool
}

func (b *reqBody) Read(p []byte) (int, error) {
	if b.eof {
		return 0, io.EOF
	}
	n, err := b.rc.Read(p)
	if err == io.EOF {
		b.eof = true
	}
	return n, err
}

func (b *reqBody) Close() error { return nil }

// closeWriteAndWait ends a connection that may still hold unread input:
// it sends FIN, then reads and drops what the client still sends for a
// while, so the client sees the answer rather than a reset.
func (cc *clientConn) closeWriteAndWait() {
	if cw, ok := cc.c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	cc.c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	io.CopyN(io.Discard, cc.c, 1<<20)
}

// startWatch arranges for the request to be canceled if the client goes away while
// the request is upstream: after watchDelay a goroutine reads the client
// connection, which nothing else reads until stopWatch.
//
// The connection's timer is not stopped when a request ends (stopping and
// resetting it cost two timer operations per request): one that fires for
// an earlier request sees that the current one started later and waits
// out the rest of its delay.
func (cc *clientConn) startWatch() {
	if cc.br.Buffered() > 0 || cc.r.hasByte {
		return // a pipelined request is waiting: the client is there
	}
	now := time.Now()
	cc.wmu.Lock()
	cc.inFlight, cc.wsince = true, now
	if !cc.armed {
		cc.armed = true
		if cc.wtimer == nil {
			cc.wtimer = time.AfterFunc(watchDelay, cc.watch)
		} else {
			cc.wtimer.Reset(watchDelay)
		}
	}
	cc.wmu.Unlock()
}

func (cc *clientConn) watch() {
	cc.wmu.Lock()
	cc.armed = false
	if !cc.inFlight {
		cc.wmu.Unlock()
		return
	}
	if d := watchDelay - time.Since(cc.wsince); d > 0 {
		cc.armed = true
		cc.wtimer.Reset(d)
		cc.wmu.Unlock()
		return
	}
	cc.inFlight = false
	cc.watching = true
	cc.wmu.Unlock()
	n, err := cc.c.Read(cc.wbuf[:])
	cc.wmu.Lock()
	if n == 1 {
		cc.r.hasByte, cc.r.b = true, cc.wbuf[0]
	}
	if err != nil && !cc.aborting {
		cc.ctx.cancel() // the client closed its connection or failed
	}
	cc.watching = false
	cc.wcond.Broadcast()
	cc.wmu.Unlock()
}

// stopWatch ends the watch of startWatch, if any, before the connection is
// read again.
func (cc *clientConn) stopWatch() {
	cc.wmu.Lock()
	cc.inFlight = false
	if cc.watching {
		cc.aborting = true
		cc.c.SetReadDeadline(aLongTimeAgo)
		for cc.watching {
			cc.wcond.Wait()
		}
		cc.aborting = false
		cc.c.SetReadDeadline(time.Time{})
	}
	cc.wmu.Unlock()
}

// expectContinue sends "100 Continue" when the request body is first read.
type expectContinue struct {
	rc   io.ReadCloser
	cc   *clientConn
	sent bool
}

func (e *expectContinue) Read(p []byte) (int, error) {
	if !e.sent {
		if err := e.send(); err != nil {
			return 0, err
		}
	}
	return e.rc.Read(p)
}

func (e *expectContinue) send() error {
	e.sent = true
	if _, err := e.cc.bw.WriteString("HTTP/1.1 100 Continue\r\n\r\n"); err != nil {
		return err
	}
	return e.cc.bw.Flush()
}

// sharedBody is a request body handed to a RoundTripper that may go on
// reading it after it answered, on a goroutine of its own (http.Transport
// does, when the upstream answers before taking the whole body). Once stop
// returns, no read is under way and none will be, so the connection is the
// server's alone again: it reads the next request, or the rest of this
// body, from it.
type sharedBody struct {
	rc      io.Reader
	mu      sync.Mutex
	cond    sync.Cond
	reading bool
	stopped bool
}

var errBodyStopped = errors.New("proxy: the request is over")

func (b *sharedBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	if b.stopped {
		b.mu.Unlock()
		return 0, errBodyStopped
	}
	b.reading = true
	b.mu.Unlock()
	n, err := b.rc.Read(p)
	b.mu.Lock()
	b.reading = false
	b.cond.Broadcast()
	b.mu.Unlock()
	return n, err
}

func (b *sharedBody) Close() error { return nil }

// stop ends the reads: later ones fail, and it waits for one under way
// (which takes what the client sends next, as reading the rest of the body
// would).
func (b *sharedBody) stop() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.stopped = true
	for b.reading {
		b.cond.Wait()
	}
}

func (e *expectContinue) Close() error { return e.rc.Close() }

// respWriter is the http.ResponseWriter of a request read by clientConn.
// The status line and headers are written with the first body bytes, so a
// short answer leaves in one write(2).
type respWriter struct {
	cc         *clientConn
	header     http.Header
	proto11    bool
	head       bool
	closeAfter bool

	wroteHeader bool
	status      int
	chunked     bool
	noBody      bool
	length      int64 // declared Content-Length; -1 if none
	written     int64
	hijacked    bool
	err         error
}

func (w *respWriter) Header() http.Header { return w.header }

func (w *respWriter) WriteHeader(code int) {
	if w.wroteHeader || w.hijacked {
		return
	}
	if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		return // informational answers are not passed on
	}
	w.wroteHeader = true
	w.status = code
	h := w.header
	w.length = -1
	if cl := h["Content-Length"]; len(cl) == 1 {
		if n, err := strconv.ParseInt(cl[0], 10, 64); err == nil && n >= 0 {
			w.length = n
		}
	}
	delete(h, "Content-Length")
	delete(h, "Transfer-Encoding")
	delete(h, "Connection")
	w.noBody = w.head || code == http.StatusNoContent || code == http.StatusNotModified || code == http.StatusSwitchingProtocols
	bw := w.cc.bw
	bw.WriteString("HTTP/1.1 ")
	bw.Write(strconv.AppendInt(bw.AvailableBuffer(), int64(code), 10))
	bw.WriteByte(' ')
	if text := http.StatusText(code); text != "" {
		bw.WriteString(text)
	} else {
		bw.WriteString("status code")
	}
	bw.WriteString("\r\n")
	for k, vs := range h {
		for _, v := range vs {
			bw.WriteString(k)
			bw.WriteString(": ")
			bw.WriteString(v)
			bw.WriteString("\r\n")
		}
	}
	switch {
	case code == http.StatusSwitchingProtocols:
		bw.WriteString("Connection: Upgrade\r\n")
	case w.length >= 0 && code != http.StatusNoContent && code != http.StatusNotModified:
		bw.WriteString("Content-Length: ")
		bw.Write(strconv.AppendInt(bw.AvailableBuffer(), w.length, 10))
		bw.WriteString("\r\n")
	case w.noBody && !w.head:
	case w.proto11 && !w.head:
		bw.WriteString("Transfer-Encoding: chunked\r\n")
		w.chunked = true
	default:
		if !w.head {
			w.closeAfter = true // the body ends when the connection does
		}
	}
	if w.closeAfter && code != http.StatusSwitchingProtocols {
		bw.WriteString("Connection: close\r\n")
	}
	bw.WriteString("\r\n")
}

func (w *respWriter) Write(b []byte) (int, error) {
	if w.hijacked {
		return 0, http.ErrHijacked
	}
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if w.err != nil {
		return 0, w.err
	}
	if w.noBody || len(b) == 0 {
		return len(b), nil
	}
	if w.length >= 0 && w.written+int64(len(b)) > w.length {
		w.err = http.ErrContentLength
		return 0, w.err
	}
	bw := w.cc.bw
	if w.chunked {
		bw.Write(strconv.AppendInt(bw.AvailableBuffer(), int64(len(b)), 16))
		bw.WriteString("\r\n")
	}
	n, err := bw.Write(b)
	if err == nil && w.chunked {
		_, err = bw.WriteString("\r\n")
	}
	w.written += int64(n)
	if err != nil {
		w.err = err
	}
	return n, err
}

// Flush sends what was written so far.
func (w *respWriter) Flush() {
	if w.hijacked {
		return
	}
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if w.err == nil {
		w.err = w.cc.bw.Flush()
	}
}

// finish ends the answer: the last chunk, and the connection's end when
// the body fell short of its Content-Length.
func (w *respWriter) finish() {
	if w.hijacked {
		return
	}
	if !w.wroteHeader {
		if first(w.header, "Content-Length") == "" {
			w.header.Set("Content-Length", "0")
		}
		w.WriteHeader(http.StatusOK)
	}
	if w.chunked && w.err == nil {
		_, w.err = w.cc.bw.WriteString("0\r\n\r\n")
	}
	if w.length >= 0 && w.written < w.length && !w.noBody {
		w.closeAfter = true // the client must see the answer cut short
	}
	if w.err == nil {
		w.err = w.cc.bw.Flush()
	}
}

var errAborted = errors.New("answer aborted")

// abort cuts the answer short: no last chunk, and the connection closes.
func (w *respWriter) abort() {
	if w.err == nil {
		w.err = errAborted
	}
	w.closeAfter = true
}

// Hijack hands the client connection over, with what is buffered from it;
// the caller then owns it.
func (w *respWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if w.err == nil {
		w.err = w.cc.bw.Flush()
	}
	if w.err != nil {
		return nil, nil, w.err
	}
	w.hijacked = true
	return w.cc.c, bufio.NewReadWriter(w.cc.br, w.cc.bw), nil
}
